//! Signing in and out, and adding users.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{enums::Role, user};
use sea_orm::EntityTrait;

use crate::{
    access::{self, OrganisationAction},
    auth::{Viewer, password, refresh},
    domain::Email,
    error::{ApiError, ApiResult},
    graphql::{context::ContextExt, types::User},
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
    /// organisations: the password picks the account, and where it fits more than one,
    /// `organisation` (its name) says which.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
        organisation: Option<String>,
    ) -> ApiResult<AuthPayload> {
        let state = ctx.state();
        let email = Email::parse(&email).ok();
        let account = email.as_ref().map(Email::as_str);
        state.login_throttle.attempt(account, ctx.request().client_address).map_err(ApiError::TooManyRequests)?;
        let accounts = match account {
            Some(email) => users::accounts_of(&state.db, email, organisation.as_deref()).await?,
            None => Vec::new(),
        };
        // Checked even for unknown addresses, so timing does not tell which addresses exist.
        let hashes = accounts.iter().map(|user| user.password_hash.clone()).collect();
        let fits = password::verify_each(password, hashes).await?;
        let mut matching = accounts.into_iter().zip(fits).filter_map(|(user, fits)| fits.then_some(user));
        match (matching.next(), matching.next()) {
            (Some(user), None) => {
                state.login_throttle.signed_in(&user.email, ctx.request().client_address);
                issue_tokens(ctx, user, None).await
            }
            (None, _) => Err(ApiError::InvalidCredentials),
            // Only someone who holds the password of both accounts learns this.
            (Some(_), Some(_)) => Err(ApiError::bad_input(
                "this e-mail and password sign in to more than one organisation: name one with `organisation`",
            )),
        }
    }

    /// Exchanges a refresh token for a new access token and a new refresh token. The old one
    /// stops working; presenting it again revokes the whole sign-in.
    async fn refresh_token(&self, ctx: &Context<'_>, refresh_token: String) -> ApiResult<AuthPayload> {
        let state = ctx.state();
        state.login_throttle.attempt(None, ctx.request().client_address).map_err(ApiError::TooManyRequests)?;
        let (user_id, next) = refresh::rotate(&state.db, &refresh_token, state.settings.refresh_token_ttl_secs).await?;
        let user = user::Entity::find_by_id(user_id).one(&state.db).await?.ok_or(ApiError::Unauthenticated)?;
        issue_tokens(ctx, user, Some(next)).await
    }

    /// Revokes a refresh token and every token rotated from it (signs that device out).
    async fn logout(&self, ctx: &Context<'_>, refresh_token: String) -> ApiResult<bool> {
        let state = ctx.state();
        if let Some(user_id) = refresh::revoke(&state.db, &refresh_token).await? {
            // Other gateways notice within `sign_in_check_secs`.
            state.sign_ins.forget(user_id);
        }
        Ok(true)
    }

    /// Adds a user to the caller's organisation. Admins only.
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> ApiResult<User> {
        let viewer = ctx.viewer()?;
        access::authorize_in_organisation(&viewer, OrganisationAction::ManageUsers)?;
        let new = NewUser::parse(&input.email, &input.name, input.role, input.password)?;
        Ok(User(users::create_user(&ctx.state().db, viewer.organisation_id, new).await?))
    }
}

async fn issue_tokens(
    ctx: &Context<'_>,
    user: user::Model,
    refresh: Option<refresh::NewRefreshToken>,
) -> ApiResult<AuthPayload> {
    let state = ctx.state();
    let viewer = Viewer { user_id: user.id, organisation_id: user.organisation_id, role: user.role };
    let refresh = match refresh {
        Some(token) => token,
        None => refresh::issue(&state.db, user.id, None, state.settings.refresh_token_ttl_secs).await?,
    };
    let access = state.jwt.issue(&viewer, refresh.family_id)?;
    Ok(AuthPayload {
        access_token: access.token,
        refresh_token: refresh.token,
        expires_at: access.expires_at,
        user: User(user),
    })
}
