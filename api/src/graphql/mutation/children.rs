//! Children: creating, changing, erasing them; linking counsellors and guardians.

use async_graphql::{Context, ID, InputObject, Object};
use entity::{child, enums::Role, user};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    access::{self, ChildAction, OrganisationAction},
    audit::AuditAction,
    auth::Viewer,
    children::{self, ChildChanges, Links, NewChild},
    error::{ApiError, ApiResult},
    graphql::{
        context::ContextExt,
        guard,
        ids::{self, Kind},
        types::{Child, Date},
    },
};

#[derive(Default)]
pub struct ChildMutation;

#[derive(InputObject)]
pub struct CreateChildInput {
    name: String,
    birth_date: Option<Date>,
    notes: Option<String>,
    /// Admins only. A counsellor who creates a child is assigned to it.
    counsellor_ids: Option<Vec<ID>>,
    /// Admins only.
    guardian_ids: Option<Vec<ID>>,
}

/// Absent fields are left as they are.
#[derive(InputObject)]
pub struct UpdateChildInput {
    name: Option<String>,
    birth_date: Option<Date>,
    notes: Option<String>,
    /// Admins only; replaces the assigned counsellors.
    counsellor_ids: Option<Vec<ID>>,
    /// Admins only; replaces the linked guardians.
    guardian_ids: Option<Vec<ID>>,
}

#[Object]
impl ChildMutation {
    async fn create_child(&self, ctx: &Context<'_>, input: CreateChildInput) -> ApiResult<Child> {
        let viewer = ctx.viewer()?;
        access::authorize_in_organisation(&viewer, OrganisationAction::CreateChild)?;
        if (input.counsellor_ids.is_some() || input.guardian_ids.is_some())
            && !access::allows(&viewer, ChildAction::Assign)
        {
            return Err(ApiError::Forbidden);
        }
        let db = &ctx.state().db;
        let mut links = links(db, &viewer, input.counsellor_ids.as_deref(), input.guardian_ids.as_deref()).await?;
        let new = NewChild::parse(&input.name, input.birth_date.map(|date| date.0), input.notes)?;
        if viewer.role() == Some(Role::Counsellor) {
            links.counsellors = Some(vec![viewer.user_id]);
        }
        let entry = ctx.audit_entry(AuditAction::ChildCreate)?;
        Ok(Child(children::create(db, viewer.organisation_id, new, links, Some(entry)).await?))
    }

    async fn update_child(&self, ctx: &Context<'_>, id: ID, input: UpdateChildInput) -> ApiResult<Child> {
        let viewer = ctx.viewer()?;
        let db = &ctx.state().db;
        let child = guard::load::<child::Entity>(ctx, &id, ChildAction::Edit).await?;
        if input.counsellor_ids.is_some() || input.guardian_ids.is_some() {
            guard::authorize::<child::Entity>(ctx, &id, ChildAction::Assign).await?;
        }
        let links = links(db, &viewer, input.counsellor_ids.as_deref(), input.guardian_ids.as_deref()).await?;
        let changes = ChildChanges::parse(input.name.as_deref(), input.birth_date.map(|date| date.0), input.notes)?;
        let relinked = links.counsellors.is_some() || links.guardians.is_some();
        let mut entries = Vec::new();
        if input.name.is_some() || input.birth_date.is_some() || changes.notes.is_some() || !relinked {
            entries.push(ctx.audit_entry(AuditAction::ChildUpdate)?);
        }
        if relinked {
            entries.push(ctx.audit_entry(AuditAction::ChildAssign)?);
        }
        let child = children::update(db, child.row, changes, links, entries).await?;
        if relinked {
            // Subscribers' remembered rights are stale now (other gateways: within the TTL).
            ctx.state().rights.forget_all();
        }
        Ok(Child(child))
    }

    /// Erases a child and everything recorded about them: sessions, analyses, results, videos.
    async fn delete_child(&self, ctx: &Context<'_>, id: ID) -> ApiResult<bool> {
        let (child_id, _) = guard::authorize::<child::Entity>(ctx, &id, ChildAction::Delete).await?;
        let state = ctx.state();
        let entry = ctx.audit_entry(AuditAction::ChildDelete)?;
        let erased = children::erase(&state.db, state.blobs.as_ref(), child_id, entry).await?;
        state.rights.forget_all();
        Ok(erased)
    }
}

/// The links named by counsellor and guardian ids, each checked to be a user of the viewer's
/// organisation with that role.
async fn links(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    counsellors: Option<&[ID]>,
    guardians: Option<&[ID]>,
) -> ApiResult<Links> {
    Ok(Links {
        counsellors: members(db, viewer, counsellors, Role::Counsellor).await?,
        guardians: members(db, viewer, guardians, Role::Guardian).await?,
    })
}

async fn members(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    ids: Option<&[ID]>,
    role: Role,
) -> ApiResult<Option<Vec<Uuid>>> {
    let Some(ids) = ids else { return Ok(None) };
    let mut uuids = ids.iter().map(|id| ids::decode_as(id, Kind::User)).collect::<ApiResult<Vec<_>>>()?;
    uuids.sort();
    uuids.dedup();
    let found = user::Entity::find()
        .filter(user::Column::Id.is_in(uuids.clone()))
        .filter(user::Column::OrganisationId.eq(access::user_scope(viewer)))
        .filter(user::Column::Role.eq(role))
        .count(db)
        .await?;
    if found as usize != uuids.len() {
        return Err(ApiError::bad_input(format!("every id must name a {} of your organisation", role.as_str())));
    }
    Ok(Some(uuids))
}
