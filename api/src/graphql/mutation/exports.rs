//! Exports of a child's data: queued here, built by a worker (see `exports`).

use async_graphql::{Context, ID, Object};
use entity::child;

use crate::{
    access::{self, ChildAction},
    audit::AuditAction,
    error::{ApiError, ApiResult},
    exports::{self, ExportRequest},
    graphql::{context::ContextExt, guard, types::ChildExport},
};

#[derive(Default)]
pub struct ExportMutation;

#[Object]
impl ExportMutation {
    /// Queues an export of everything recorded about the child — record, consents, sessions,
    /// people, intervals (JSON and CSV), timeline pictures and, with `includeVideos`, the
    /// videos — as one ZIP. Follow it with `childExport(id)`; once DONE its `url` downloads the
    /// ZIP for a day. Admins, the child's counsellors and guardians; the videos only for those
    /// who may watch them, the counsellors' notes only for those who may read them.
    async fn export_child(&self, ctx: &Context<'_>, id: ID, include_videos: Option<bool>) -> ApiResult<ChildExport> {
        let viewer = ctx.viewer()?;
        let (child_id, _) = guard::authorize::<child::Entity>(ctx, &id, ChildAction::Export).await?;
        let include_videos = include_videos.unwrap_or(false);
        if include_videos && !access::allows(&viewer, ChildAction::WatchVideo) {
            return Err(ApiError::Forbidden);
        }
        let request = ExportRequest {
            child_id,
            organisation_id: viewer.organisation_id,
            requested_by: viewer.user_id,
            include_videos,
            include_notes: access::allows(&viewer, ChildAction::ReadNotes),
        };
        let entry = ctx.audit_entry(AuditAction::ChildExport)?;
        Ok(ChildExport(exports::request(&ctx.state().db, request, entry).await?))
    }
}
