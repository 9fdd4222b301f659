//! Password hashing with argon2id (the crate's defaults follow the OWASP recommendation).

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use std::sync::LazyLock;

/// Hashing is CPU-bound for tens of milliseconds: run it off the async executor.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await?
}

pub fn hash_blocking(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| anyhow::anyhow!("hashing a password: {error}"))
}

/// A hash of a password nobody has, checked when the e-mail is unknown so that a login for an
/// unknown address takes as long as one with a wrong password.
static DECOY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_blocking("decoy password that matches no account").expect("argon2 with default parameters"));

/// `None` as the stored hash means "no such user": still spends the time, always false.
pub async fn verify(password: String, stored_hash: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let (hash, known) = match &stored_hash {
            Some(hash) => (hash.as_str(), true),
            None => (DECOY_HASH.as_str(), false),
        };
        let parsed =
            PasswordHash::new(hash).map_err(|error| anyhow::anyhow!("stored password hash is malformed: {error}"))?;
        let matches = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        Ok(known && matches)
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_salted() {
        let first = hash("correct horse".into()).await.unwrap();
        let second = hash("correct horse".into()).await.unwrap();
        assert!(first.starts_with("$argon2id$"));
        assert_ne!(first, second, "each hash has its own salt");
        assert!(verify("correct horse".into(), Some(first.clone())).await.unwrap());
        assert!(!verify("wrong horse".into(), Some(first)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
    }
}
