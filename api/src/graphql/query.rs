use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::{
    analysis_job, api_key, audit_entry, behaviour_code, behaviour_interval, child, child_export, coded_interval,
    emotion_interval, organisation, session, session_marker, tracked_object, user,
};
use sea_orm::{ColumnTrait, EntityTrait, PrimaryKeyTrait, QueryFilter};
use uuid::Uuid;

use super::{
    context::ContextExt,
    guard::{self, Guarded},
    ids::{self, Kind},
    loaders::{AuditFilter, AuditList, ChildList},
    pagination::{Listing, PageRequest, PagedConnection, connection_cost, fetch_pages, into_connection},
    types::{
        AnalysisJob, ApiKey, AuditEntry, BehaviourCode, BehaviourInterval, Child, ChildExport, CodedInterval,
        CodingScheme, EmotionInterval, Node, RetentionPolicy, Session, SessionMarker, TrackedObject, User,
        action_filter,
    },
};
use crate::{
    access::{self, ChildAction, OrganisationAction},
    audit::AuditAction,
    error::{ApiError, ApiResult},
    third_party::keys,
};

pub struct Query;

#[Object]
impl Query {
    /// The signed-in user; for an API key, the admin who created it and answers for it.
    async fn me(&self, ctx: &Context<'_>) -> ApiResult<User> {
        let viewer = ctx.viewer()?;
        // A token can outlive its user; such a token proves nothing any more.
        let user = user::Entity::find_by_id(viewer.user_id).one(&ctx.state().db).await?;
        user.map(User).ok_or(ApiError::Unauthenticated)
    }

    /// Fetches anything by its global id, if the caller may see it.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Node>> {
        let (kind, uuid) = ids::decode(&id)?;
        let node = match kind {
            Kind::User => fetch_user(ctx, uuid).await?.map(Node::User),
            Kind::Child => readable::<child::Entity>(ctx, uuid).await?.map(|row| Node::Child(Child(row))),
            Kind::Session => readable::<session::Entity>(ctx, uuid).await?.map(|row| Node::Session(Session(row))),
            Kind::AnalysisJob => {
                readable::<analysis_job::Entity>(ctx, uuid).await?.map(|row| Node::AnalysisJob(AnalysisJob(row.into())))
            }
            Kind::TrackedObject => readable::<tracked_object::Entity>(ctx, uuid)
                .await?
                .map(|row| Node::TrackedObject(TrackedObject::alone(row))),
            Kind::EmotionInterval => readable::<emotion_interval::Entity>(ctx, uuid)
                .await?
                .map(|row| Node::EmotionInterval(EmotionInterval(row))),
            Kind::BehaviourInterval => readable::<behaviour_interval::Entity>(ctx, uuid)
                .await?
                .map(|row| Node::BehaviourInterval(BehaviourInterval(row))),
            Kind::AuditEntry => fetch_audit_entry(ctx, uuid).await?.map(Node::AuditEntry),
            Kind::ChildExport => Some(Node::ChildExport(visible_export(ctx, uuid).await?)),
            Kind::ApiKey => Some(Node::ApiKey(visible_key(ctx, uuid).await?)),
            Kind::SessionMarker => {
                readable::<session_marker::Entity>(ctx, uuid).await?.map(|row| Node::SessionMarker(SessionMarker(row)))
            }
            Kind::CodedInterval => match readable::<coded_interval::Entity>(ctx, uuid).await? {
                Some(row) => {
                    let code = behaviour_code::Entity::find_by_id(row.code_id).one(&ctx.state().db).await?;
                    code.map(|code| Node::CodedInterval(CodedInterval(row, code)))
                }
                None => None,
            },
            Kind::BehaviourCode => {
                let action = OrganisationAction::ReadCodingScheme;
                let code = organisation_row::<behaviour_code::Entity>(
                    ctx,
                    uuid,
                    action,
                    behaviour_code::Column::OrganisationId,
                )
                .await?;
                Some(Node::BehaviourCode(BehaviourCode(code)))
            }
        };
        Ok(node)
    }

    /// The children the caller may see, by name. `search` matches part of the name.
    #[graphql(complexity = "connection_cost(first, last, ChildList::DEFAULT_PAGE_SIZE, child_complexity)")]
    async fn children(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        search: Option<String>,
    ) -> ApiResult<PagedConnection<Child>> {
        let viewer = ctx.viewer()?;
        let page = PageRequest::new(first, after, last, before, ChildList::DEFAULT_PAGE_SIZE)?;
        let listing = ChildList { viewer, search };
        let mut pages = fetch_pages(&ctx.state().db, &[viewer.organisation_id], &listing, &page).await?;
        let page = pages.remove(&viewer.organisation_id).unwrap_or_else(super::pagination::Page::empty);
        for child in &page.rows {
            ctx.audit_read(AuditAction::ChildRead, child.id, None)?;
        }
        Ok(into_connection::<ChildList, _>(page, Child))
    }

    /// The organisation's access audit log, oldest first (page from the end with `last`).
    /// Admins only. `childId` and `userId` (the actor) may name erased children and users.
    #[graphql(complexity = "connection_cost(first, last, AuditList::DEFAULT_PAGE_SIZE, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        child_id: Option<ID>,
        user_id: Option<ID>,
        action: Option<String>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> ApiResult<PagedConnection<AuditEntry>> {
        let viewer = ctx.viewer()?;
        access::authorize_in_organisation(&viewer, OrganisationAction::ReadAuditLog)?;
        let page = PageRequest::new(first, after, last, before, AuditList::DEFAULT_PAGE_SIZE)?;
        let filter = AuditFilter {
            organisation: viewer.organisation_id,
            child: child_id.map(|id| ids::decode_as(&id, Kind::Child)).transpose()?,
            user: user_id.map(|id| ids::decode_as(&id, Kind::User)).transpose()?,
            action: action_filter(action)?,
            from,
            to,
            // The whole log is for admins, who see every session.
            sessions_seen_by: None,
        };
        // What this gateway has read so far is in the log before it is listed.
        ctx.state().reads.flush().await;
        let listing = AuditList(filter);
        let mut pages = fetch_pages(&ctx.state().db, &[viewer.organisation_id], &listing, &page).await?;
        let page = pages.remove(&viewer.organisation_id).unwrap_or_else(super::pagination::Page::empty);
        Ok(into_connection::<AuditList, _>(page, AuditEntry))
    }

    /// The organisation's API keys, newest first, revoked ones too. Admins only.
    async fn api_keys(&self, ctx: &Context<'_>) -> ApiResult<Vec<ApiKey>> {
        let viewer = ctx.viewer()?;
        access::authorize_in_organisation(&viewer, OrganisationAction::ManageApiKeys)?;
        Ok(keys::list(&ctx.state().db, viewer.organisation_id).await?.into_iter().map(ApiKey).collect())
    }

    /// Whether the organisation's API keys may run only its trusted documents. Admins only.
    async fn trusted_documents_only(&self, ctx: &Context<'_>) -> ApiResult<bool> {
        let viewer = ctx.viewer()?;
        access::authorize_in_organisation(&viewer, OrganisationAction::ManageApiKeys)?;
        let organisation = organisation::Entity::find_by_id(viewer.organisation_id)
            .one(&ctx.state().db)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        Ok(organisation.trusted_documents_only)
    }

    /// Whether the caller's organisation shows guardians reviewed sessions only
    /// (`setReviewPolicy`).
    async fn review_policy(&self, ctx: &Context<'_>) -> ApiResult<super::mutation::ReviewPolicy> {
        super::mutation::review_policy(ctx).await
    }

    /// The caller's organisation's coding scheme: the built-in labels and its own codes
    /// (`defineBehaviourCode`); retired codes too with `includeRetired`.
    async fn coding_scheme(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] include_retired: bool,
    ) -> ApiResult<CodingScheme> {
        super::mutation::coding_scheme(ctx, include_retired).await
    }

    /// How long the caller's organisation keeps videos and records.
    async fn retention_policy(&self, ctx: &Context<'_>) -> ApiResult<RetentionPolicy> {
        let viewer = ctx.viewer()?;
        access::authorize_in_organisation(&viewer, OrganisationAction::ReadRetentionPolicy)?;
        let organisation = organisation::Entity::find_by_id(viewer.organisation_id)
            .one(&ctx.state().db)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        Ok(RetentionPolicy::of(&organisation))
    }

    /// An export of a child's data (see `exportChild`).
    async fn child_export(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<ChildExport>> {
        Ok(Some(visible_export(ctx, ids::decode_as(&id, Kind::ChildExport)?).await?))
    }

    async fn child(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Child>> {
        Ok(readable::<child::Entity>(ctx, ids::decode_as(&id, Kind::Child)?).await?.map(Child))
    }

    async fn session(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Session>> {
        Ok(readable::<session::Entity>(ctx, ids::decode_as(&id, Kind::Session)?).await?.map(Session))
    }

    async fn job(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<AnalysisJob>> {
        let job = readable::<analysis_job::Entity>(ctx, ids::decode_as(&id, Kind::AnalysisJob)?).await?;
        Ok(job.map(|row| AnalysisJob(row.into())))
    }
}

/// The row, if the caller may read it (`NOT_FOUND` otherwise, like a row that does not exist).
async fn readable<E: Guarded>(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<E::Model>> {
    Ok(Some(guard::load_uuid::<E>(ctx, id, ChildAction::Read).await?.row))
}

async fn fetch_user(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<User>> {
    let viewer = ctx.viewer()?;
    if !access::may_see_user(&viewer, id) {
        return Err(ApiError::NotFound);
    }
    let user = user::Entity::find_by_id(id)
        .filter(user::Column::OrganisationId.eq(access::user_scope(&viewer)))
        .one(&ctx.state().db)
        .await?;
    user.map(User).map(Some).ok_or(ApiError::NotFound)
}

/// A row of the caller's organisation (its `organisation` column) that only those allowed
/// `action` there may see; `NOT_FOUND` to everyone else, as if it did not exist.
async fn organisation_row<E: EntityTrait>(
    ctx: &Context<'_>,
    id: Uuid,
    action: OrganisationAction,
    organisation: E::Column,
) -> ApiResult<E::Model>
where
    <E::PrimaryKey as PrimaryKeyTrait>::ValueType: From<Uuid>,
{
    let viewer = ctx.viewer()?;
    if access::authorize_in_organisation(&viewer, action).is_err() {
        return Err(ApiError::NotFound);
    }
    let row = E::find_by_id(id).filter(organisation.eq(viewer.organisation_id)).one(&ctx.state().db).await?;
    row.ok_or(ApiError::NotFound)
}

/// An entry of the caller's organisation's audit log, for its admins.
async fn fetch_audit_entry(ctx: &Context<'_>, id: Uuid) -> ApiResult<Option<AuditEntry>> {
    let action = OrganisationAction::ReadAuditLog;
    let entry = organisation_row::<audit_entry::Entity>(ctx, id, action, audit_entry::Column::OrganisationId).await?;
    Ok(Some(AuditEntry(entry)))
}

/// A key of the caller's organisation, for its admins.
async fn visible_key(ctx: &Context<'_>, id: Uuid) -> ApiResult<ApiKey> {
    let action = OrganisationAction::ManageApiKeys;
    Ok(ApiKey(organisation_row::<api_key::Entity>(ctx, id, action, api_key::Column::OrganisationId).await?))
}

/// An export of a child the caller may export, if it is theirs to see (see `access`).
async fn visible_export(ctx: &Context<'_>, id: Uuid) -> ApiResult<ChildExport> {
    let export = guard::load_uuid::<child_export::Entity>(ctx, id, ChildAction::Export).await?.row;
    if !access::may_see_export(&ctx.viewer()?, export.requested_by) {
        return Err(ApiError::NotFound);
    }
    Ok(ChildExport(export))
}
