use async_graphql::{Context, ID, Object};
use entity::{analysis_job, behaviour_interval, child, emotion_interval, session, tracked_object, user};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{
    context::ContextExt,
    guard::{self, Guarded},
    ids::{self, Kind},
    loaders::ChildList,
    pagination::{Listing, PageRequest, PagedConnection, connection_cost, fetch_pages, into_connection},
    types::{AnalysisJob, BehaviourInterval, Child, EmotionInterval, Node, Session, TrackedObject, User},
};
use crate::{
    access::{self, ChildAction},
    error::{ApiError, ApiResult},
};

pub struct Query;

#[Object]
impl Query {
    /// The signed-in user.
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
            Kind::TrackedObject => {
                readable::<tracked_object::Entity>(ctx, uuid).await?.map(|row| Node::TrackedObject(TrackedObject(row)))
            }
            Kind::EmotionInterval => readable::<emotion_interval::Entity>(ctx, uuid)
                .await?
                .map(|row| Node::EmotionInterval(EmotionInterval(row))),
            Kind::BehaviourInterval => readable::<behaviour_interval::Entity>(ctx, uuid)
                .await?
                .map(|row| Node::BehaviourInterval(BehaviourInterval(row))),
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
        Ok(into_connection::<ChildList, _>(page, Child))
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
    let user = user::Entity::find_by_id(id)
        .filter(user::Column::OrganisationId.eq(access::user_scope(&viewer)))
        .one(&ctx.state().db)
        .await?;
    user.map(User).map(Some).ok_or(ApiError::NotFound)
}
