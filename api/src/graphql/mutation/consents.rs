//! Consent: a guardian gives or withdraws it for their own child; a counsellor or admin records
//! a guardian's paper form. Withdrawing removes what the consent allowed (see `consents`).

use async_graphql::{Context, ID, Object};
use entity::{child, enums::ConsentKind};

use crate::{
    access::ChildAction,
    audit::AuditAction,
    consents::{self, Giver},
    error::{ApiError, ApiResult},
    graphql::{context::ContextExt, guard, types::Consent},
};

#[derive(Default)]
pub struct ConsentMutation;

#[Object]
impl ConsentMutation {
    /// Records consent to `kind` for the child, under the consent text `textVersion` (the
    /// version of the text that was read and agreed to). Giving what is already in force under
    /// the same text returns that record.
    async fn give_consent(
        &self,
        ctx: &Context<'_>,
        child_id: ID,
        kind: ConsentKind,
        text_version: String,
    ) -> ApiResult<Consent> {
        let viewer = ctx.viewer()?;
        let (child_id, _) = guard::authorize::<child::Entity>(ctx, &child_id, ChildAction::ManageConsent).await?;
        let giver = Giver { user: viewer.user_id, role: viewer.role().ok_or(ApiError::Forbidden)? };
        let entry = ctx.audit_entry(AuditAction::ConsentGive)?.child(child_id);
        let record = consents::give(&ctx.state().db, child_id, kind, giver, &text_version, Some(entry)).await?;
        Ok(Consent(record))
    }

    /// Withdraws consent to `kind` for the child, at once: AUTOMATED_ANALYSIS cancels the
    /// child's queued and running analyses and deletes their results (tracked people and
    /// intervals); RECORDING cancels them too and deletes the videos (results stay). Returns
    /// the withdrawn record.
    async fn withdraw_consent(&self, ctx: &Context<'_>, child_id: ID, kind: ConsentKind) -> ApiResult<Consent> {
        let viewer = ctx.viewer()?;
        let (child_id, _) = guard::authorize::<child::Entity>(ctx, &child_id, ChildAction::ManageConsent).await?;
        let by = Giver { user: viewer.user_id, role: viewer.role().ok_or(ApiError::Forbidden)? };
        let entry = ctx.audit_entry(AuditAction::ConsentWithdraw)?.child(child_id);
        let state = ctx.state();
        let record =
            consents::withdraw(&state.db, state.blobs.as_ref(), &state.queue, child_id, kind, by, entry).await?;
        Ok(Consent(record))
    }
}
