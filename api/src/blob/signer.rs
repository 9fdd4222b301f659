//! The gateway's own signed URLs for the local store: HMAC-SHA256 over method, key, size and
//! expiry, with a key derived from the server secret.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Signs and checks the gateway's own URLs (local store).
#[derive(Clone)]
pub struct UrlSigner {
    key: Vec<u8>,
}

impl UrlSigner {
    pub fn new(secret: &[u8]) -> Self {
        Self::for_purpose(secret, b"imind blob urls")
    }

    /// A signer whose key is derived from the server secret for `purpose` alone, so one kind of
    /// signature can never be mistaken for another (nor for a token's).
    pub fn for_purpose(secret: &[u8], purpose: &[u8]) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(purpose);
        Self { key: mac.finalize().into_bytes().to_vec() }
    }

    fn mac(&self, method: &str, key: &str, size: Option<u64>, expires: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("{method}\n{key}\n{}\n{expires}", size.map_or(String::new(), |s| s.to_string())).as_bytes());
        mac
    }

    pub fn sign(&self, method: &str, key: &str, size: Option<u64>, expires: i64) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(method, key, size, expires).finalize().into_bytes())
    }

    /// Whether `signature` is valid and unexpired (constant-time comparison).
    pub fn verify(&self, method: &str, key: &str, size: Option<u64>, expires: i64, signature: &str) -> bool {
        if expires < Utc::now().timestamp() {
            return false;
        }
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(signature) else { return false };
        self.mac(method, key, size, expires).verify_slice(&bytes).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_method_key_size_and_expiry() {
        let signer = UrlSigner::new(b"secret");
        let expires = Utc::now().timestamp() + 60;
        let signature = signer.sign("PUT", "a/b", Some(10), expires);
        assert!(signer.verify("PUT", "a/b", Some(10), expires, &signature));
        assert!(!signer.verify("GET", "a/b", Some(10), expires, &signature));
        assert!(!signer.verify("PUT", "a/c", Some(10), expires, &signature));
        assert!(!signer.verify("PUT", "a/b", Some(11), expires, &signature));
        assert!(!signer.verify("PUT", "a/b", Some(10), expires + 1, &signature));
        let past = Utc::now().timestamp() - 1;
        assert!(!signer.verify("PUT", "a/b", Some(10), past, &signer.sign("PUT", "a/b", Some(10), past)));
    }
}
