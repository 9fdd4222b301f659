//! Whether an access token still stands after it was issued: its user exists with the role
//! and organisation the token names, and its sign-in (refresh-token family) has not been ended
//! by `logout` or by the reuse of a rotated refresh token. Checked on every request and on
//! every WebSocket operation and subscription event; answers are cached for `ttl`, which bounds
//! how long a revoked, demoted or deleted user's token keeps working on any gateway. An API
//! key's credential is asked of [`ApiKeys`] instead, with its own (shorter) bound.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use entity::enums::Role;
use sea_orm::{DatabaseConnection, FromQueryResult};
use uuid::Uuid;

use super::{ApiKeys, Credential, Principal};
use crate::{error::ApiResult, sql};

/// Cached answers kept at most; past it, expired ones are dropped (then all, if need be).
const MAX_CACHED: usize = 10_000;

#[derive(Clone)]
pub struct SignIns {
    db: DatabaseConnection,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<Credential, (Instant, bool)>>>,
    keys: ApiKeys,
}

impl SignIns {
    pub fn new(db: DatabaseConnection, ttl: Duration, key_ttl: Duration) -> Self {
        Self { keys: ApiKeys::new(db.clone(), key_ttl), db, ttl, cache: Arc::default() }
    }

    /// The API keys' side.
    pub fn keys(&self) -> &ApiKeys {
        &self.keys
    }

    /// Whether `credential` still stands.
    pub async fn stands(&self, credential: &Credential) -> ApiResult<bool> {
        if let Principal::Key(_) = credential.viewer.principal {
            return self.keys.stands(credential).await;
        }
        if let Some((at, stands)) = self.cache.lock().expect("not poisoned").get(credential)
            && at.elapsed() < self.ttl
        {
            return Ok(*stands);
        }
        let stands = self.look_up(credential).await?;
        let mut cache = self.cache.lock().expect("not poisoned");
        if cache.len() >= MAX_CACHED {
            cache.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(*credential, (Instant::now(), stands));
        Ok(stands)
    }

    /// Forgets what is known of `user`'s credentials (after a change made on this gateway).
    pub fn forget(&self, user_id: Uuid) {
        self.cache.lock().expect("not poisoned").retain(|credential, _| credential.viewer.user_id != user_id);
    }

    /// One statement: the user as stored, and whether the sign-in has a token not revoked.
    async fn look_up(&self, credential: &Credential) -> ApiResult<bool> {
        let viewer = &credential.viewer;
        let text = "SELECT u.role AS role, u.organisation_id AS organisation_id, \
             (SELECT COUNT(*) FROM refresh_tokens r \
               WHERE r.family_id = ? AND r.user_id = u.id AND r.revoked_at IS NULL) AS live \
             FROM users u WHERE u.id = ?";
        let sign_in = credential.sign_in.unwrap_or_else(Uuid::nil);
        let statement =
            sql::statement(self.db.get_database_backend(), text, vec![sign_in.into(), viewer.user_id.into()]);
        let Some(user) = Standing::find_by_statement(statement).one(&self.db).await? else { return Ok(false) };
        let same_user = viewer.role() == Some(user.role) && user.organisation_id == viewer.organisation_id;
        // Tokens minted before sign-ins were named stand on their user alone.
        Ok(same_user && (credential.sign_in.is_none() || user.live > 0))
    }
}

#[derive(FromQueryResult)]
struct Standing {
    role: Role,
    organisation_id: Uuid,
    live: i64,
}
