use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};
use entity::enums::JobStatus;

use super::Session;
use crate::{
    access::{self, ChildAction},
    error::{ApiError, ApiResult},
    graphql::{context::ContextExt, ids::Kind, loaders::SessionById},
    jobs::events::JobSnapshot,
};

/// Built from the database row or from an event's snapshot alike.
pub struct AnalysisJob(pub JobSnapshot);

/// One analysis of a session's video, from the durable queue.
#[Object]
impl AnalysisJob {
    pub async fn id(&self) -> ID {
        Kind::AnalysisJob.id(self.0.id)
    }

    async fn session(&self, ctx: &Context<'_>) -> ApiResult<Session> {
        let session = ctx.loader().load_one(SessionById(self.0.session_id)).await?;
        session.map(Session).ok_or(ApiError::NotFound)
    }

    async fn status(&self) -> JobStatus {
        self.0.status
    }

    /// The pipeline stage the job is in.
    async fn stage(&self) -> &str {
        self.0.stage.as_str()
    }

    /// 0..100.
    async fn percent(&self) -> f64 {
        self.0.percent
    }

    async fn frames_done(&self) -> i64 {
        self.0.frames_done
    }

    async fn frames_total(&self) -> i64 {
        self.0.frames_total
    }

    async fn attempts(&self) -> i32 {
        self.0.attempts
    }

    /// Why the job failed, in plain words.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }

    /// For a DONE re-analysis: which of the model's intervals changed, and which counsellors'
    /// reviews still apply (kept) or no longer do (dropped, listed: what the model had
    /// proposed, so the list is for those who may see the model view, empty for others).
    async fn review_carry_over(&self, ctx: &Context<'_>) -> ApiResult<Option<crate::review::carry_over::CarryOver>> {
        let mut carried = self.0.review_carry_over.clone();
        if !access::allows(&ctx.viewer()?, ChildAction::ReadNotes)
            && let Some(carried) = &mut carried
        {
            carried.dropped.clear();
        }
        Ok(carried)
    }
}
