use async_graphql::{Context, ID, Object};
use entity::{enums::Role, user};

use crate::{
    access,
    error::{ApiError, ApiResult},
    graphql::{context::ContextExt, ids::Kind},
};

pub struct User(pub user::Model);

/// A person who signs in: an administrator, a counsellor or a guardian.
#[Object]
impl User {
    pub async fn id(&self) -> ID {
        Kind::User.id(self.0.id)
    }

    /// `FORBIDDEN` for an API key, but for the admin who answers for it (`me`).
    async fn email(&self, ctx: &Context<'_>) -> ApiResult<&str> {
        self.personal(ctx, &self.0.email)
    }

    async fn role(&self) -> Role {
        self.0.role
    }

    /// `FORBIDDEN` for an API key, but for the admin who answers for it (`me`).
    async fn name(&self, ctx: &Context<'_>) -> ApiResult<&str> {
        self.personal(ctx, &self.0.name)
    }
}

impl User {
    /// What names the person, for those who may see them (every edge to a user comes here).
    /// Without a credential the only way here is a sign-in's own payload (`login`,
    /// `refreshToken`): every other edge to a user needs one.
    fn personal<'a>(&self, ctx: &Context<'_>, value: &'a str) -> ApiResult<&'a str> {
        match ctx.viewer() {
            Ok(viewer) if !access::may_see_user(&viewer, self.0.id) => Err(ApiError::Forbidden),
            _ => Ok(value),
        }
    }
}
