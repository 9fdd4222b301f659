//! Refresh tokens: random, stored only as SHA-256, rotated on every use and revocable.
//!
//! Reuse detection: a token that was already exchanged and is presented again has leaked (or
//! the client is confused); the whole family is revoked so the thief's copy dies too.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{Duration, Utc};
use entity::refresh_token;
use rand::RngCore;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, TransactionSession,
    TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

pub struct NewRefreshToken {
    pub token: String,
    /// The sign-in it belongs to.
    pub family_id: Uuid,
}

fn digest(token: &str) -> String {
    crate::digest::sha256_hex(token.as_bytes())
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Starts a new family (a login) or continues one (a rotation).
pub async fn issue(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    family_id: Option<Uuid>,
    ttl_secs: u64,
) -> ApiResult<NewRefreshToken> {
    let token = random_token();
    let now = Utc::now();
    let expires_at = now + Duration::seconds(ttl_secs as i64);
    let family_id = family_id.unwrap_or_else(Uuid::now_v7);
    refresh_token::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        family_id: Set(family_id),
        token_hash: Set(digest(&token)),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(NewRefreshToken { token, family_id })
}

/// Exchanges a refresh token for a new one of the same family. Returns the user id.
pub async fn rotate<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    presented: &str,
    ttl_secs: u64,
) -> ApiResult<(Uuid, NewRefreshToken)> {
    let txn = crate::db::begin_write(db).await?;
    let now = Utc::now();
    let Some(stored) =
        refresh_token::Entity::find().filter(refresh_token::Column::TokenHash.eq(digest(presented))).one(&txn).await?
    else {
        return Err(ApiError::Unauthenticated);
    };
    if stored.revoked_at.is_some() || stored.expires_at <= now {
        return Err(ApiError::Unauthenticated);
    }
    // Mark used only if nobody else did in the meantime: two concurrent exchanges of one token
    // must not both succeed.
    let marked = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
        .filter(refresh_token::Column::Id.eq(stored.id))
        .filter(refresh_token::Column::UsedAt.is_null())
        // A logout that lands between the read above and this update wins.
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(&txn)
        .await?;
    if marked.rows_affected == 0 {
        revoke_family(&txn, stored.family_id).await?;
        txn.commit().await?;
        tracing::warn!(user_id = %stored.user_id, "refresh token reused; revoked its family");
        return Err(ApiError::Unauthenticated);
    }
    let next = issue(&txn, stored.user_id, Some(stored.family_id), ttl_secs).await?;
    txn.commit().await?;
    Ok((stored.user_id, next))
}

/// Revokes the family the token belongs to (logout), and says whose it was. Unknown tokens are
/// ignored: logging out twice is not an error.
pub async fn revoke(db: &impl ConnectionTrait, presented: &str) -> ApiResult<Option<Uuid>> {
    let Some(stored) =
        refresh_token::Entity::find().filter(refresh_token::Column::TokenHash.eq(digest(presented))).one(db).await?
    else {
        return Ok(None);
    };
    revoke_family(db, stored.family_id).await?;
    Ok(Some(stored.user_id))
}

async fn revoke_family(db: &impl ConnectionTrait, family_id: Uuid) -> ApiResult<()> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(Utc::now()))
        .filter(refresh_token::Column::FamilyId.eq(family_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
