//! API keys: `imk_` and 32 random bytes, stored only as SHA-256. A key stands while it is not
//! revoked or expired and the admin who created it is still an admin of its organisation (a
//! key never outlives the rights of whoever answers for it). Answers are cached for `ttl`
//! (`api_key_check_ms`, under a second), which bounds how long a revoked key keeps working on
//! any gateway; a look-up also stamps the key's last use, at most once a minute.

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use entity::enums::{ApiKeyScope, Role};
use rand::RngCore;
use sea_orm::{DatabaseConnection, FromQueryResult, Value};
use uuid::Uuid;

use super::{Credential, KeyGrant, Principal, Viewer};
use crate::{digest, error::ApiResult, sql};

/// What every key's secret starts with, so a leaked one is recognisable (secret scanners).
pub const KEY_PREFIX: &str = "imk_";
/// Cached answers kept at most per cache; past it, they are all dropped.
const MAX_CACHED: usize = 10_000;
/// How stale a key's `last_used_at` may get.
const LAST_USE_PRECISION: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// The SHA-256 (hex) of a key's secret: how a key is found, and all that is kept of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SecretHash(pub String);

impl SecretHash {
    /// The hash of `token`, if it is an API key's secret (by its prefix).
    pub fn of_key(token: &str) -> Option<Self> {
        token.starts_with(KEY_PREFIX).then(|| Self(digest::sha256_hex(token.as_bytes())))
    }
}

/// A new secret and its hash.
pub fn generate() -> (String, SecretHash) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = SecretHash::of_key(&secret).expect("the secret has the prefix");
    (secret, hash)
}

#[derive(Clone)]
pub struct ApiKeys {
    db: DatabaseConnection,
    ttl: Duration,
    by_secret: Arc<Mutex<Cache<SecretHash>>>,
    by_id: Arc<Mutex<Cache<Uuid>>>,
    /// Bumped by every `forget`: a look-up that began before one does not cache its answer.
    forgotten: Arc<AtomicU64>,
}

/// When each key was last looked at, and the credential it then gave (`None`: refused).
type Cache<K> = HashMap<K, (Instant, Option<Credential>)>;

impl ApiKeys {
    pub fn new(db: DatabaseConnection, ttl: Duration) -> Self {
        Self { db, ttl, by_secret: Arc::default(), by_id: Arc::default(), forgotten: Arc::default() }
    }

    /// The credential the key with this secret gives, if it stands.
    pub async fn resolve(&self, secret: &SecretHash) -> ApiResult<Option<Credential>> {
        let condition = || sql::Sql::new("k.secret_hash = ?", [Value::from(secret.0.clone())]);
        self.cached(&self.by_secret, secret, condition).await
    }

    /// The credential the key with this id gives, if it stands (a signed link names its key so).
    pub async fn by_id(&self, id: Uuid) -> ApiResult<Option<Credential>> {
        let condition = || sql::Sql::new("k.id = ?", [Value::from(id)]);
        self.cached(&self.by_id, &id, condition).await
    }

    /// Whether `credential`'s key still stands, granting what it did.
    pub async fn stands(&self, credential: &Credential) -> ApiResult<bool> {
        let Principal::Key(grant) = credential.viewer.principal else { return Ok(false) };
        let condition = || sql::Sql::new("k.id = ?", [Value::from(grant.id)]);
        Ok(self.cached(&self.by_id, &grant.id, condition).await?.as_ref() == Some(credential))
    }

    /// Forgets what is known of `key` (revoked on this gateway: refused here at once).
    pub fn forget(&self, key: Uuid) {
        self.forgotten.fetch_add(1, Ordering::SeqCst);
        self.by_id.lock().expect("not poisoned").remove(&key);
        let mut by_secret = self.by_secret.lock().expect("not poisoned");
        by_secret.retain(|_, (_, credential)| credential.and_then(|c| c.viewer.key()).is_none_or(|k| k.id != key));
    }

    /// Forgets every key's answer (the organisation's policy changed on this gateway).
    pub fn forget_all(&self) {
        self.forgotten.fetch_add(1, Ordering::SeqCst);
        self.by_id.lock().expect("not poisoned").clear();
        self.by_secret.lock().expect("not poisoned").clear();
    }

    async fn cached<K: Hash + Eq + Clone>(
        &self,
        cache: &Mutex<Cache<K>>,
        key: &K,
        condition: impl FnOnce() -> sql::Sql,
    ) -> ApiResult<Option<Credential>> {
        if let Some((at, credential)) = cache.lock().expect("not poisoned").get(key)
            && at.elapsed() < self.ttl
        {
            return Ok(*credential);
        }
        let generation = self.forgotten.load(Ordering::SeqCst);
        let credential = self.look_up(condition()).await?;
        let mut cache = cache.lock().expect("not poisoned");
        // A revocation while this looked: its answer may predate it.
        if self.forgotten.load(Ordering::SeqCst) != generation {
            return Ok(credential);
        }
        if cache.len() >= MAX_CACHED {
            // Refused answers go first: forged keys must not push out the real ones.
            cache.retain(|_, (at, credential)| credential.is_some() && at.elapsed() < self.ttl);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(key.clone(), (Instant::now(), credential));
        Ok(credential)
    }

    /// One statement: the key, its organisation's policy and its creator as they are now.
    async fn look_up(&self, condition: sql::Sql) -> ApiResult<Option<Credential>> {
        let text = format!(
            "SELECT k.id AS id, k.organisation_id AS organisation_id, k.scope AS scope, \
               k.restricted AS restricted, k.created_by AS created_by, k.expires_at AS expires_at, \
               k.revoked_at AS revoked_at, k.last_used_at AS last_used_at, \
               o.trusted_documents_only AS trusted_documents_only, \
               u.role AS owner_role, u.organisation_id AS owner_organisation \
             FROM api_keys k JOIN organisations o ON o.id = k.organisation_id \
               JOIN users u ON u.id = k.created_by WHERE {}",
            condition.text
        );
        let backend = self.db.get_database_backend();
        let statement = sql::statement(backend, &text, condition.values);
        let Some(key) = KeyRow::find_by_statement(statement).one(&self.db).await? else { return Ok(None) };
        let now = Utc::now();
        let stands = key.revoked_at.is_none()
            && key.expires_at.is_none_or(|at| at > now)
            && key.owner_role == Role::Admin
            && key.owner_organisation == key.organisation_id;
        if !stands {
            return Ok(None);
        }
        if key.last_used_at.is_none_or(|at| at < now - LAST_USE_PRECISION) {
            let stamp = sql::statement(
                backend,
                "UPDATE api_keys SET last_used_at = ? WHERE id = ?",
                vec![now.into(), key.id.into()],
            );
            sea_orm::ConnectionTrait::execute_raw(&self.db, stamp).await?;
        }
        let grant = KeyGrant {
            id: key.id,
            scope: key.scope,
            restricted: key.restricted,
            trusted_documents_only: key.trusted_documents_only,
        };
        Ok(Some(Credential {
            viewer: Viewer {
                user_id: key.created_by,
                organisation_id: key.organisation_id,
                principal: Principal::Key(grant),
            },
            sign_in: None,
            expires_at: key.expires_at.unwrap_or(DateTime::<Utc>::MAX_UTC),
        }))
    }
}

#[derive(FromQueryResult)]
struct KeyRow {
    id: Uuid,
    organisation_id: Uuid,
    scope: ApiKeyScope,
    restricted: bool,
    created_by: Uuid,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    trusted_documents_only: bool,
    owner_role: Role,
    owner_organisation: Uuid,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_recognisable_and_distinct() {
        let (first, hash) = generate();
        let (second, _) = generate();
        assert!(first.starts_with("imk_") && first.len() == 4 + 43, "{first}");
        assert_ne!(first, second);
        assert_eq!(SecretHash::of_key(&first), Some(hash));
        assert_eq!(SecretHash::of_key("eyJhbGciOiJIUzI1NiJ9.e30.x"), None, "a JWT is no key");
    }
}
