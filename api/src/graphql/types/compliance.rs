use async_graphql::{Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{
    audit_entry, consent,
    enums::{ConsentKind, Role},
    organisation,
};

use super::User;
use crate::{
    access,
    audit::AuditAction,
    error::{ApiError, ApiResult},
    graphql::{context::ContextExt, ids::Kind, loaders::UserById},
};

pub struct Consent(pub consent::Model);

/// One consent a guardian gave for a child, and its withdrawal. Records are history: giving
/// again adds a record; what is in force is each kind's records without `withdrawnAt`.
#[Object]
impl Consent {
    async fn kind(&self) -> ConsentKind {
        self.0.kind
    }

    /// The guardian who gave it, or the counsellor or admin who recorded a guardian's paper
    /// form (see `givenByRole`); null once that user is deleted.
    async fn given_by(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
        let Some(user) = self.0.given_by else { return Ok(None) };
        Ok(ctx.loader().load_one(UserById(user)).await?.map(User))
    }

    async fn given_by_role(&self) -> Role {
        self.0.given_by_role
    }

    async fn given_at(&self) -> DateTime<Utc> {
        self.0.given_at
    }

    /// The version of the consent text that was agreed to.
    async fn text_version(&self) -> &str {
        &self.0.text_version
    }

    async fn withdrawn_at(&self) -> Option<DateTime<Utc>> {
        self.0.withdrawn_at
    }
}

pub struct AuditEntry(pub audit_entry::Model);

impl AuditEntry {
    /// Whether the caller may see where the entry came from.
    fn origin(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        Ok(access::may_see_audit_origin(&ctx.viewer()?))
    }
}

/// One entry of the access audit log: who read or changed what, when and from where. Entries
/// name people, children and sessions by id only and are never changed or deleted; those of
/// an erased child keep its id and nothing else.
#[Object]
impl AuditEntry {
    pub async fn id(&self) -> ID {
        Kind::AuditEntry.id(self.0.id)
    }

    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }

    /// Who acted: a user's global id, an API key's (`ApiKey`), or `system` for the server's own
    /// scheduled work.
    async fn actor(&self) -> String {
        let key = self.0.actor.strip_prefix("apikey:").and_then(|key| uuid::Uuid::parse_str(key).ok());
        match (self.0.actor_user_id, key) {
            (Some(user), _) => Kind::User.id(user).to_string(),
            (None, Some(key)) => Kind::ApiKey.id(key).to_string(),
            (None, None) => self.0.actor.clone(),
        }
    }

    /// The actor's role when they acted.
    async fn role(&self) -> Option<&str> {
        self.0.role.as_deref()
    }

    /// What was done: `child.read`, `video.watch`, `child.create`, `child.update`,
    /// `child.assign`, `child.delete`, `session.create`, `session.delete`,
    /// `video.upload_start`, `video.upload`, `analysis.start`, `analysis.cancel`,
    /// `analysis.retry`, `object.label`, `interval.review`, `interval.add`, `marker.add`,
    /// `session.review_state`, `review_policy.set`, `consent.give`, `consent.withdraw`, `user.create`,
    /// `apikey.create`, `apikey.revoke`, `trusted_documents.register`,
    /// `trusted_documents.require`, `auth.sign_in`, `auth.sign_in_failed`, `auth.sign_out`, and
    /// the server's own `video.retention_delete`, `child.retention_erase`, `export.expire`.
    async fn action(&self) -> &str {
        &self.0.action
    }

    async fn child_id(&self) -> Option<ID> {
        self.0.child_id.map(|id| Kind::Child.id(id))
    }

    async fn session_id(&self) -> Option<ID> {
        self.0.session_id.map(|id| Kind::Session.id(id))
    }

    /// The GraphQL operation's name, as the client sent it. Admins only (null for others).
    async fn operation_name(&self, ctx: &Context<'_>) -> ApiResult<Option<&str>> {
        Ok(if self.origin(ctx)? { self.0.operation_name.as_deref() } else { None })
    }

    /// The request's id (the `x-request-id` header of the answer). Admins only.
    async fn request_id(&self, ctx: &Context<'_>) -> ApiResult<Option<&str>> {
        Ok(if self.origin(ctx)? { self.0.request_id.as_deref() } else { None })
    }

    /// The client's address. Admins only.
    async fn client_address(&self, ctx: &Context<'_>) -> ApiResult<Option<&str>> {
        Ok(if self.origin(ctx)? { self.0.client_address.as_deref() } else { None })
    }
}

/// How long an organisation keeps what it records. Null: kept until deleted by hand.
#[derive(SimpleObject)]
pub struct RetentionPolicy {
    /// Days a session's video is kept after its analysis finished (default 30). The analysis
    /// results stay.
    pub video_days_after_analysis: Option<i32>,
    /// Days everything of a child is kept after their last session (default: kept until the
    /// child is deleted).
    pub child_days_after_last_session: Option<i32>,
}

impl RetentionPolicy {
    pub fn of(organisation: &organisation::Model) -> Self {
        Self {
            video_days_after_analysis: organisation.video_retention_days,
            child_days_after_last_session: organisation.child_retention_days,
        }
    }
}

/// An `action` filter, checked to name an audit action.
pub fn action_filter(action: Option<String>) -> ApiResult<Option<String>> {
    action
        .map(|name| match AuditAction::parse(&name) {
            Some(action) => Ok(action.as_str().to_owned()),
            None => Err(ApiError::bad_input(format!(
                "`{}` is not an audit action",
                name.chars().take(64).collect::<String>()
            ))),
        })
        .transpose()
}
