use async_graphql::{Context, ID, Object};
use entity::{analysis_job, behaviour_interval, child, emotion_interval, session, tracked_object, user};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{
    context::ContextExt,
    ids::{self, Kind},
    loaders::ChildList,
    pagination::{Listing, PageRequest, PagedConnection, fetch_pages, into_connection, page_cost},
    types::{AnalysisJob, BehaviourInterval, Child, EmotionInterval, Node, Session, TrackedObject, User},
};
use crate::{
    access::{self, ChildAction, Target},
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
            Kind::Child => fetch_child(ctx, uuid).await?.map(Node::Child),
            Kind::Session => fetch_session(ctx, uuid).await?.map(Node::Session),
            Kind::AnalysisJob => fetch_job(ctx, uuid).await?.map(Node::AnalysisJob),
            Kind::TrackedObject => {
                readable(ctx, Target::Object(uuid)).await?;
                tracked_object::Entity::find_by_id(uuid)
                    .one(&ctx.state().db)
                    .await?
                    .map(|row| Node::TrackedObject(TrackedObject(row)))
            }
            Kind::EmotionInterval => {
                readable(ctx, Target::EmotionInterval(uuid)).await?;
                emotion_interval::Entity::find_by_id(uuid)
                    .one(&ctx.state().db)
                    .await?
                    .map(|row| Node::EmotionInterval(EmotionInterval(row)))
            }
            Kind::BehaviourInterval => {
                readable(ctx, Target::BehaviourInterval(uuid)).await?;
                behaviour_interval::Entity::find_by_id(uuid)
                    .one(&ctx.state().db)
                    .await?
                    .map(|row| Node::BehaviourInterval(BehaviourInterval(row)))
            }
        };
        Ok(node)
    }

    /// The children the caller may see, by name. `search` matches part of the name.
    #[graphql(complexity = "page_cost(first, last, ChildList::DEFAULT_PAGE_SIZE) * child_complexity")]
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
        fetch_child(ctx, ids::decode_as(&id, Kind::Child)?).await
    }

    async fn session(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<Session>> {
        fetch_session(ctx, ids::decode_as(&id, Kind::Session)?).await
    }

    async fn job(&self, ctx: &Context<'_>, id: ID) -> ApiResult<Option<AnalysisJob>> {
        fetch_job(ctx, ids::decode_as(&id, Kind::AnalysisJob)?).await
    }
}

/// `NOT_FOUND` unless the caller may read `target`.
async fn readable(ctx: &Context<'_>, target: Target) -> ApiResult<()> {
    let viewer = ctx.viewer()?;
    access::authorize(&ctx.state().db, &viewer, target, ChildAction::Read).await?;
    Ok(())
}

async fn fetch_child(ctx: &Context<'_>, id: uuid::Uuid) -> ApiResult<Option<Child>> {
    readable(ctx, Target::Child(id)).await?;
    Ok(child::Entity::find_by_id(id).one(&ctx.state().db).await?.map(Child))
}

async fn fetch_session(ctx: &Context<'_>, id: uuid::Uuid) -> ApiResult<Option<Session>> {
    readable(ctx, Target::Session(id)).await?;
    Ok(session::Entity::find_by_id(id).one(&ctx.state().db).await?.map(Session))
}

async fn fetch_job(ctx: &Context<'_>, id: uuid::Uuid) -> ApiResult<Option<AnalysisJob>> {
    readable(ctx, Target::Job(id)).await?;
    Ok(analysis_job::Entity::find_by_id(id).one(&ctx.state().db).await?.map(AnalysisJob))
}

async fn fetch_user(ctx: &Context<'_>, id: uuid::Uuid) -> ApiResult<Option<User>> {
    let viewer = ctx.viewer()?;
    let user = user::Entity::find_by_id(id)
        .filter(user::Column::OrganisationId.eq(access::user_scope(&viewer)))
        .one(&ctx.state().db)
        .await?;
    user.map(User).map(Some).ok_or(ApiError::NotFound)
}
