//! Signing in and out, and adding users.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{enums::Role, user};
use sea_orm::EntityTrait;

use crate::{
    access::{self, OrganisationAction},
    audit::{self, Actor, AuditAction, AuditEntry},
    auth::{Viewer, password, refresh},
    domain::Email,
    error::{ApiError, ApiResult},
    graphql::{
        context::{ContextExt, actor},
        types::User,
    },
    users::{self, NewUser},
};

#[derive(Default)]
pub struct AccountMutation;

/// What a successful sign-in or refresh returns.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Send as `Authorization: Bearer …`; short-lived.
    access_token: String,
    /// Exchange with `refreshToken` for a new pair; each one works once.
    refresh_token: String,
    /// When the access token expires.
    expires_at: DateTime<Utc>,
    user: User,
}

#[derive(InputObject)]
pub struct CreateUserInput {
    email: String,
    name: String,
    role: Role,
    /// At least 10 characters.
    password: String,
}

#[Object]
impl AccountMutation {
    /// Signs in with e-mail and password. An address may have accounts in several
    /// organisations: `organisation` (its name) says which; without it, the address's first
    /// account is meant.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        organisation: Option<String>,
    ) -> ApiResult<AuthPayload> {
        let state = ctx.state();
        let address = ctx.request().client_address;
        let email = Email::parse(&email).ok();
        let account = match &email {
            Some(email) => users::account_for_sign_in(&state.db, email.as_str(), organisation.as_deref()).await?,
            None => None,
        };
        let user_id = account.as_ref().map(|user| user.id);
        state
            .login_throttle
            .attempt(email.as_ref().map(Email::as_str), user_id, address)
            .map_err(ApiError::TooManyRequests)?;
        // Checked even for unknown addresses, so timing does not tell which addresses exist.
        let verified = password::verify(password, account.as_ref().map(|user| user.password_hash.clone())).await?;
        match account {
            Some(user) if verified => {
                state.login_throttle.signed_in(user.id, address);
                issue_tokens(ctx, user, None).await
            }
            account => {
                // Logged against the account that was tried, so its organisation's admins see it.
                let actor = account.map(|user| actor(&viewer_of(&user))).unwrap_or(Actor::SYSTEM);
                audit::append(&state.db, AuditEntry::new(AuditAction::SignInFailed, actor, ctx.request().origin()))
                    .await?;
                Err(ApiError::InvalidCredentials)
            }
        }
    }

    /// Exchanges a refresh token for a new access token and a new refresh token. The old one
    /// stops working; presenting it again revokes the whole sign-in.
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> ApiResult<AuthPayload> {
        let state = ctx.state();
        state.login_throttle.attempt(None, None, ctx.request().client_address).map_err(ApiError::TooManyRequests)?;
        let (user_id, next) = refresh::rotate(&state.db, &refresh_token, state.settings.refresh_token_ttl_secs).await?;
        let user = user::Entity::find_by_id(user_id).one(&state.db).await?.ok_or(ApiError::Unauthenticated)?;
        issue_tokens(ctx, user, Some(next)).await
    }

    /// Revokes a refresh token and every token rotated from it (signs that device out).
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> ApiResult<bool> {
        let state = ctx.state();
        let txn = crate::db::begin_write(&state.db).await?;
        let Some(user_id) = refresh::revoke(&txn, &refresh_token).await? else { return Ok(true) };
        if let Some(user) = user::Entity::find_by_id(user_id).one(&txn).await? {
            let entry = AuditEntry::new(AuditAction::SignOut, actor(&viewer_of(&user)), ctx.request().origin());
            audit::append(&txn, entry).await?;
        }
        txn.commit().await?;
        // Other gateways notice within `sign_in_check_secs`.
        state.sign_ins.forget(user_id);
        Ok(true)
    }

    /// Adds a user to the caller's organisation. Admins only.
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> ApiResult<User> {
        let viewer = ctx.viewer()?;
        access::authorize_in_organisation(&viewer, OrganisationAction::ManageUsers)?;
        let new = NewUser::parse(&input.email, &input.name, input.role, input.password)?;
        let txn = crate::db::begin_write(&ctx.state().db).await?;
        let user = users::create_user(&txn, viewer.organisation_id, new).await?;
        audit::append(&txn, ctx.audit_entry(AuditAction::UserCreate)?).await?;
        txn.commit().await?;
        Ok(User(user))
    }
}

async fn issue_tokens(
    ctx: &Context<'_>,
    user: user::Model,
    refresh: Option<refresh::NewRefreshToken>,
) -> ApiResult<AuthPayload> {
    let state = ctx.state();
    let viewer = viewer_of(&user);
    let refresh = match refresh {
        Some(token) => token,
        None => {
            let txn = crate::db::begin_write(&state.db).await?;
            let token = refresh::issue(&txn, user.id, None, state.settings.refresh_token_ttl_secs).await?;
            audit::append(&txn, AuditEntry::new(AuditAction::SignIn, actor(&viewer), ctx.request().origin())).await?;
            txn.commit().await?;
            token
        }
    };
    let access = state.jwt.issue(&viewer, refresh.family_id)?;
    Ok(AuthPayload {
        access_token: access.token,
        refresh_token: refresh.token,
        expires_at: access.expires_at,
        user: User(user),
    })
}

fn viewer_of(user: &user::Model) -> Viewer {
    Viewer::user(user.id, user.organisation_id, user.role)
}
