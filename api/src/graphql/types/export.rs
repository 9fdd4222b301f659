use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::{child_export, enums::JobStatus};

use crate::{
    access::{self, ChildAction},
    audit::AuditAction,
    error::{ApiError, ApiResult},
    graphql::{context::ContextExt, ids::Kind},
};

pub struct ChildExport(pub child_export::Model);

/// An export of everything recorded about a child, as one ZIP: queued by `exportChild`, built
/// by a worker, downloadable for a day.
#[Object]
impl ChildExport {
    pub async fn id(&self) -> ID {
        Kind::ChildExport.id(self.0.id)
    }

    /// QUEUED → RUNNING → DONE (or FAILED).
    async fn status(&self) -> JobStatus {
        self.0.status
    }

    /// A short-lived link to download the ZIP (expires after a few minutes; ask again for a
    /// fresh one). Null until the export is DONE.
    async fn url(&self, ctx: &Context<'_>) -> ApiResult<Option<String>> {
        let viewer = ctx.viewer()?;
        if !access::allows(&viewer, ChildAction::Export) {
            return Err(ApiError::Forbidden);
        }
        let (Some(key), JobStatus::Done) = (&self.0.blob_key, self.0.status) else { return Ok(None) };
        if self.0.expires_at.is_some_and(|at| at <= Utc::now()) {
            return Ok(None);
        }
        ctx.audit_read(AuditAction::ExportDownload, self.0.child_id, None)?;
        let state = ctx.state();
        let ttl = std::time::Duration::from_secs(state.settings.video_url_ttl_secs);
        Ok(Some(state.blobs.presign_get(key, ttl).await?.url))
    }

    /// When the ZIP is deleted.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }

    async fn size_bytes(&self) -> Option<i64> {
        self.0.size_bytes
    }

    async fn include_videos(&self) -> bool {
        self.0.include_videos
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }

    /// Why it failed, in words for people.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}
