use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::{api_key, enums::ApiKeyScope};

use crate::{
    error::ApiResult,
    graphql::{context::ContextExt, ids::Kind},
    third_party::keys,
};

pub struct ApiKey(pub api_key::Model);

/// A third party's credential for the organisation (admins only). It only reads, within its
/// scope, and never watches videos; it stands until revoked or expired, and while the admin
/// who created it is an admin of the organisation.
#[Object]
impl ApiKey {
    pub async fn id(&self) -> ID {
        Kind::ApiKey.id(self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn scope(&self) -> ApiKeyScope {
        self.0.scope
    }

    /// The children the key is restricted to; null: every child of the organisation.
    async fn child_ids(&self, ctx: &Context<'_>) -> ApiResult<Option<Vec<ID>>> {
        let children = keys::children_of(&ctx.state().db, &self.0).await?;
        Ok(children.map(|ids| ids.into_iter().map(|id| Kind::Child.id(id)).collect()))
    }

    /// The admin who created the key and answers for it.
    async fn created_by_id(&self) -> ID {
        Kind::User.id(self.0.created_by)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }

    /// When the key was last used, to the minute.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }

    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// A key just created, with its secret: shown this once and never again (only a hash of it is
/// kept). Send it as `Authorization: Bearer imk_…`.
pub struct CreatedApiKey {
    pub key: api_key::Model,
    pub secret: String,
}

#[Object]
impl CreatedApiKey {
    async fn key(&self) -> ApiKey {
        ApiKey(self.key.clone())
    }

    async fn secret(&self) -> &str {
        &self.secret
    }
}
