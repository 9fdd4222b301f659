//! An organisation's API keys: created by an admin with a name, a scope, an optional list of
//! children and an optional expiry; the secret is returned once and only its hash is kept.

use chrono::{DateTime, Utc};
use entity::{api_key, api_key_child, child, enums::ApiKeyScope};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use uuid::Uuid;

use crate::{
    audit::{self, AuditEntry},
    auth::api_keys,
    domain::Label,
    error::{ApiError, ApiResult},
};

/// The most children one key may be restricted to.
pub const MAX_CHILDREN: usize = 1000;

/// What `createApiKey` asks for, checked.
pub struct NewKey {
    pub name: String,
    pub scope: ApiKeyScope,
    /// `None`: every child of the organisation.
    pub children: Option<Vec<Uuid>>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl NewKey {
    pub fn parse(
        name: &str,
        scope: ApiKeyScope,
        children: Option<Vec<Uuid>>,
        expires_at: Option<DateTime<Utc>>,
    ) -> ApiResult<Self> {
        let name = Label::parse("a key's name", name, 100)?.into_inner();
        if expires_at.is_some_and(|at| at <= Utc::now()) {
            return Err(ApiError::bad_input("expiresAt must be in the future"));
        }
        let children = match children {
            Some(ids) if ids.is_empty() => {
                return Err(ApiError::bad_input("childIds: name at least one child, or leave it out for all"));
            }
            Some(ids) if ids.len() > MAX_CHILDREN => {
                return Err(ApiError::bad_input(format!("a key may be restricted to at most {MAX_CHILDREN} children")));
            }
            Some(mut ids) => {
                ids.sort_unstable();
                ids.dedup();
                Some(ids)
            }
            None => None,
        };
        Ok(Self { name, scope, children, expires_at })
    }
}

/// A key just made, with its secret (shown this once).
pub struct CreatedKey {
    pub key: api_key::Model,
    pub secret: String,
}

/// Creates a key of `organisation` for `admin`. Children not of the organisation answer
/// `NOT_FOUND` (as if they did not exist).
pub async fn create(
    db: &DatabaseConnection,
    organisation: Uuid,
    admin: Uuid,
    new: NewKey,
    entry: AuditEntry,
) -> ApiResult<CreatedKey> {
    let txn = crate::db::begin_write(db).await?;
    if let Some(children) = &new.children {
        let found = child::Entity::find()
            .filter(child::Column::OrganisationId.eq(organisation))
            .filter(child::Column::Id.is_in(children.iter().copied()))
            .count(&txn)
            .await?;
        if found != children.len() as u64 {
            return Err(ApiError::NotFound);
        }
    }
    let (secret, hash) = api_keys::generate();
    let key = api_key::ActiveModel {
        id: Set(Uuid::now_v7()),
        organisation_id: Set(organisation),
        name: Set(new.name),
        scope: Set(new.scope),
        secret_hash: Set(hash.0),
        restricted: Set(new.children.is_some()),
        created_by: Set(admin),
        created_at: Set(Utc::now()),
        expires_at: Set(new.expires_at),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(&txn)
    .await?;
    if let Some(children) = new.children {
        let rows = children
            .into_iter()
            .map(|child_id| api_key_child::ActiveModel { key_id: Set(key.id), child_id: Set(child_id) });
        api_key_child::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    }
    audit::append(&txn, entry).await?;
    txn.commit().await?;
    Ok(CreatedKey { key, secret })
}

/// The organisation's keys, newest first (revoked ones too: their history matters).
pub async fn list(db: &impl ConnectionTrait, organisation: Uuid) -> ApiResult<Vec<api_key::Model>> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::OrganisationId.eq(organisation))
        .order_by_desc(api_key::Column::Id)
        .all(db)
        .await?)
}

/// The children a restricted key sees (`None`: every child of its organisation).
pub async fn children_of(db: &impl ConnectionTrait, key: &api_key::Model) -> ApiResult<Option<Vec<Uuid>>> {
    if !key.restricted {
        return Ok(None);
    }
    let rows = api_key_child::Entity::find().filter(api_key_child::Column::KeyId.eq(key.id)).all(db).await?;
    Ok(Some(rows.into_iter().map(|row| row.child_id).collect()))
}

/// Revokes a key of `organisation`; revoking it again changes nothing (and logs nothing).
pub async fn revoke(
    db: &DatabaseConnection,
    organisation: Uuid,
    key: Uuid,
    entry: AuditEntry,
) -> ApiResult<api_key::Model> {
    let txn = crate::db::begin_write(db).await?;
    let found = api_key::Entity::find_by_id(key)
        .filter(api_key::Column::OrganisationId.eq(organisation))
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound)?;
    if found.revoked_at.is_some() {
        return Ok(found);
    }
    let mut revoked: api_key::ActiveModel = found.into();
    revoked.revoked_at = Set(Some(Utc::now()));
    let revoked = revoked.update(&txn).await?;
    audit::append(&txn, entry).await?;
    txn.commit().await?;
    Ok(revoked)
}
