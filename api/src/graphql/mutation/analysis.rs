//! Mutations that drive analysis jobs. They only write to the durable queue and announce the
//! change on the event bus; workers do the analysing.

use async_graphql::{Context, ID, InputObject, Object};
use entity::{
    analysis_job,
    enums::{ConsentKind, JobStatus},
    session,
};
use sea_orm::EntityTrait;

use crate::{
    access::ChildAction,
    audit::AuditAction,
    consents,
    error::{ApiError, ApiResult},
    graphql::{context::ContextExt, guard, types::AnalysisJob},
    jobs::queue::JobOptions,
};

#[derive(Default)]
pub struct AnalysisMutation;

/// How to analyse a video. Absent fields take the server's defaults.
#[derive(InputObject, Default)]
pub struct AnalysisOptions {
    /// Frames analysed per second of video (default 2; at most 60).
    fps: Option<f64>,
    /// Frames per batch through the networks (default 8; 1 to 64).
    batch_size: Option<i32>,
}

impl AnalysisOptions {
    fn parse(self) -> ApiResult<JobOptions> {
        if let Some(fps) = self.fps
            && !(fps > 0.0 && fps <= 60.0)
        {
            return Err(ApiError::bad_input("fps must be above 0 and at most 60"));
        }
        if let Some(batch) = self.batch_size
            && !(1..=64).contains(&batch)
        {
            return Err(ApiError::bad_input("batchSize must be between 1 and 64"));
        }
        Ok(JobOptions { fps: self.fps, batch_size: self.batch_size.map(|batch| batch as usize) })
    }
}

#[Object]
impl AnalysisMutation {
    /// Queues an analysis of the session's video and returns the job (follow it with the
    /// `analysisProgress` subscription). The same `idempotencyKey` for the same session returns
    /// the same job, so a client may safely retry; while an analysis of the session is queued
    /// or running, that job is returned instead of starting a second one.
    async fn start_analysis(
        &self,
        ctx: &Context<'_>,
        session_id: ID,
        options: Option<AnalysisOptions>,
        idempotency_key: Option<String>,
    ) -> ApiResult<AnalysisJob> {
        let session = guard::load::<session::Entity>(ctx, &session_id, ChildAction::Record).await?;
        let options = options.unwrap_or_default().parse()?;
        let key = idempotency_key.map(|key| key.trim().to_owned()).filter(|key| !key.is_empty());
        if key.as_ref().is_some_and(|key| key.len() > 128) {
            return Err(ApiError::bad_input("idempotencyKey may have at most 128 characters"));
        }
        if session.row.video_blob_key.is_none() {
            return Err(ApiError::bad_input("the session has no video yet: upload one first"));
        }
        let state = ctx.state();
        consents::require(&state.db, session.child_id, ConsentKind::AutomatedAnalysis).await?;
        let entry = ctx.audit_entry(AuditAction::AnalysisStart)?.child(session.child_id).session(session.id);
        let (job, _) = state.queue.enqueue(session.id, &options, key, Some(entry)).await?;
        Ok(AnalysisJob(job.into()))
    }

    /// Cancels a queued or running analysis; a running one stops within about a second. The
    /// session keeps its earlier results, if any. Cancelling a cancelled job returns it as is.
    async fn cancel_analysis(&self, ctx: &Context<'_>, job_id: ID) -> ApiResult<AnalysisJob> {
        let (job_id, child_id) = guard::authorize::<analysis_job::Entity>(ctx, &job_id, ChildAction::Record).await?;
        let state = ctx.state();
        let entry = ctx.audit_entry(AuditAction::AnalysisCancel)?.child(child_id);
        if let Some(job) = state.queue.cancel(job_id, Some(entry)).await? {
            return Ok(AnalysisJob(job.into()));
        }
        let job = analysis_job::Entity::find_by_id(job_id).one(&state.db).await?.ok_or(ApiError::NotFound)?;
        match job.status {
            JobStatus::Cancelled => Ok(AnalysisJob(job.into())),
            status => Err(ApiError::bad_input(format!("the analysis has already ended ({})", status.as_str()))),
        }
    }

    /// Queues a FAILED or CANCELLED analysis again, with a fresh set of attempts.
    async fn retry_analysis(&self, ctx: &Context<'_>, job_id: ID) -> ApiResult<AnalysisJob> {
        let (job_id, child_id) = guard::authorize::<analysis_job::Entity>(ctx, &job_id, ChildAction::Record).await?;
        let state = ctx.state();
        consents::require(&state.db, child_id, ConsentKind::AutomatedAnalysis).await?;
        let entry = ctx.audit_entry(AuditAction::AnalysisRetry)?.child(child_id);
        match state.queue.retry(job_id, Some(entry)).await? {
            Some(job) => Ok(AnalysisJob(job.into())),
            None => {
                let job = analysis_job::Entity::find_by_id(job_id).one(&state.db).await?.ok_or(ApiError::NotFound)?;
                Err(ApiError::bad_input(format!(
                    "only a FAILED or CANCELLED analysis can be retried; this one is {}",
                    job.status.as_str()
                )))
            }
        }
    }
}
