//! An organisation's retention policy (enforced by the workers, see `retention`).

use async_graphql::{Context, InputObject, MaybeUndefined, Object};
use entity::organisation;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};

use crate::{
    access::{self, OrganisationAction},
    audit::{self, AuditAction},
    error::{ApiError, ApiResult},
    graphql::{context::ContextExt, types::RetentionPolicy},
};

/// The most days a policy may name (ten years).
const MAX_DAYS: i32 = 3660;
/// The fewest days a child's whole record may be kept after their last session: a slip of
/// the finger must not erase every child at the next run.
const MIN_CHILD_DAYS: i32 = 30;

/// Absent fields stay as they are; `null` keeps that data until it is deleted by hand.
#[derive(InputObject)]
pub struct RetentionPolicyInput {
    video_days_after_analysis: MaybeUndefined<i32>,
    child_days_after_last_session: MaybeUndefined<i32>,
}

#[derive(Default)]
pub struct RetentionMutation;

#[Object]
impl RetentionMutation {
    /// Sets how long the organisation keeps videos and children's records. Admins only.
    /// Takes effect at the workers' next retention run (hourly by default).
    async fn set_retention_policy(&self, ctx: &Context<'_>, input: RetentionPolicyInput) -> ApiResult<RetentionPolicy> {
        let viewer = ctx.viewer()?;
        access::authorize_in_organisation(&viewer, OrganisationAction::SetRetentionPolicy)?;
        let state = ctx.state();
        let organisation = organisation::Entity::find_by_id(viewer.organisation_id)
            .one(&state.db)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        let mut model = organisation.into_active_model();
        if let Some(days) = days(input.video_days_after_analysis, "videoDaysAfterAnalysis", 1)? {
            model.video_retention_days = Set(days);
        }
        if let Some(days) = days(input.child_days_after_last_session, "childDaysAfterLastSession", MIN_CHILD_DAYS)? {
            model.child_retention_days = Set(days);
        }
        let txn = crate::db::begin_write(&state.db).await?;
        let organisation = model.update(&txn).await?;
        audit::append(&txn, ctx.audit_entry(AuditAction::RetentionSet)?).await?;
        txn.commit().await?;
        Ok(RetentionPolicy::of(&organisation))
    }
}

/// `None`: leave as it is; `Some(None)`: keep until deleted.
fn days(value: MaybeUndefined<i32>, name: &str, min: i32) -> ApiResult<Option<Option<i32>>> {
    match value {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => Ok(Some(None)),
        MaybeUndefined::Value(days) if (min..=MAX_DAYS).contains(&days) => Ok(Some(Some(days))),
        MaybeUndefined::Value(_) => {
            Err(ApiError::bad_input(format!("{name} must be between {min} and {MAX_DAYS} days")))
        }
    }
}
