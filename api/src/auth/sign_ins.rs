//! Whether an access token still stands after it was issued: its user exists with the role
//! and organisation the token names, and its sign-in (refresh-token family) has not been ended
//! by `logout` or by the reuse of a rotated refresh token. Checked on every request and on
//! every WebSocket operation and subscription event; answers are cached for `ttl`, which bounds
//! how long a revoked, demoted or deleted user's token keeps working on any gateway.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use entity::{refresh_token, user};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

use super::Credential;
use crate::error::ApiResult;

/// Cached answers kept at most; past it, expired ones are dropped (then all, if need be).
const MAX_CACHED: usize = 10_000;

#[derive(Clone)]
pub struct SignIns {
    db: DatabaseConnection,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<Credential, (Instant, bool)>>>,
}

impl SignIns {
    pub fn new(db: DatabaseConnection, ttl: Duration) -> Self {
        Self { db, ttl, cache: Arc::default() }
    }

    /// Whether `credential` still stands.
    pub async fn stands(&self, credential: &Credential) -> ApiResult<bool> {
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

    async fn look_up(&self, credential: &Credential) -> ApiResult<bool> {
        let viewer = &credential.viewer;
        let Some(user) = user::Entity::find_by_id(viewer.user_id).one(&self.db).await? else { return Ok(false) };
        if user.role != viewer.role || user.organisation_id != viewer.organisation_id {
            return Ok(false);
        }
        let Some(sign_in) = credential.sign_in else { return Ok(true) };
        let live = refresh_token::Entity::find()
            .filter(refresh_token::Column::FamilyId.eq(sign_in))
            .filter(refresh_token::Column::UserId.eq(viewer.user_id))
            .filter(refresh_token::Column::RevokedAt.is_null())
            .count(&self.db)
            .await?;
        Ok(live > 0)
    }
}
