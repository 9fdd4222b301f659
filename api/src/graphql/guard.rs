//! The one way a resolver reaches a row named by an id: decode the global id as the expected
//! kind, let `access` decide whether the caller may do the action on the row's child, then load
//! the row. Whatever the caller may not see answers `NOT_FOUND`, like what does not exist.
//! A read that passes is logged in the audit log here (once per request and child); nested
//! edges are reached only through these entry points, so the entry covers them.

use async_graphql::{Context, ID};
use entity::{
    analysis_job, behaviour_interval, child, child_export, coded_interval, emotion_interval, session, session_marker,
    tracked_object,
};
use sea_orm::{EntityTrait, Select};
use uuid::Uuid;

use super::{
    context::ContextExt,
    ids::{self, Kind},
};
use crate::{
    access::{self, ChildAction, Target},
    audit::AuditAction,
    error::{ApiError, ApiResult},
};

/// A table whose rows belong to exactly one child, named by global ids of one kind.
pub trait Guarded: EntityTrait {
    const KIND: Kind;
    fn target(id: Uuid) -> Target;
    fn by_id(id: Uuid) -> Select<Self>;
}

macro_rules! guarded {
    ($($module:ident: $kind:ident => $target:ident),+ $(,)?) => {
        $(impl Guarded for $module::Entity {
            const KIND: Kind = Kind::$kind;

            fn target(id: Uuid) -> Target {
                Target::$target(id)
            }

            fn by_id(id: Uuid) -> Select<Self> {
                Self::find_by_id(id)
            }
        })+
    };
}

guarded! {
    child: Child => Child,
    session: Session => Session,
    analysis_job: AnalysisJob => Job,
    child_export: ChildExport => Export,
    tracked_object: TrackedObject => Object,
    emotion_interval: EmotionInterval => EmotionInterval,
    behaviour_interval: BehaviourInterval => BehaviourInterval,
    session_marker: SessionMarker => SessionMarker,
    coded_interval: CodedInterval => CodedInterval,
}

/// A row the caller may act on, and the child it belongs to.
pub struct Authorized<M> {
    pub row: M,
    pub id: Uuid,
    pub child_id: Uuid,
}

/// The id `id` names, if it is of `E`'s kind and the caller may do `action` on it (the row is
/// not loaded).
pub async fn authorize<E: Guarded>(ctx: &Context<'_>, id: &ID, action: ChildAction) -> ApiResult<(Uuid, Uuid)> {
    let uuid = ids::decode_as(id, E::KIND)?;
    let child_id = access::authorize(&ctx.state().db, &ctx.viewer()?, E::target(uuid), action).await?;
    audit_read(ctx, E::target(uuid), action, child_id)?;
    Ok((uuid, child_id))
}

/// The row `id` names, if it is of `E`'s kind and the caller may do `action` on it.
pub async fn load<E: Guarded>(ctx: &Context<'_>, id: &ID, action: ChildAction) -> ApiResult<Authorized<E::Model>> {
    load_uuid::<E>(ctx, ids::decode_as(id, E::KIND)?, action).await
}

/// The row with primary key `id`, if the caller may do `action` on it.
pub async fn load_uuid<E: Guarded>(
    ctx: &Context<'_>,
    id: Uuid,
    action: ChildAction,
) -> ApiResult<Authorized<E::Model>> {
    let child_id = access::authorize(&ctx.state().db, &ctx.viewer()?, E::target(id), action).await?;
    let row = E::by_id(id).one(&ctx.state().db).await?.ok_or(ApiError::NotFound)?;
    audit_read(ctx, E::target(id), action, child_id)?;
    Ok(Authorized { row, id, child_id })
}

/// Logs a read of the child's data; changes are logged by the mutation, in its transaction.
pub fn audit_read(ctx: &Context<'_>, target: Target, action: ChildAction, child_id: Uuid) -> ApiResult<()> {
    if action != ChildAction::Read {
        return Ok(());
    }
    let session = match target {
        Target::Session(session) => Some(session),
        _ => None,
    };
    ctx.audit_read(AuditAction::ChildRead, child_id, session)
}
