//! Mutations that drive analysis jobs. They only write to the durable queue and announce the
//! change on the event bus; workers do the analysing.

use async_graphql::{Context, ID, InputObject, Object};
use entity::{analysis_job, enums::JobStatus, session};
use sea_orm::{EntityTrait, TransactionTrait};

use super::{
    context::ContextExt,
    ids::{self, Kind},
    types::AnalysisJob,
};
use crate::{
    access::{self, ChildAction, Target},
    error::{ApiError, ApiResult},
    jobs::{
        queue::{self, QueueSettings},
        worker::{JobOptions, publish_state},
    },
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
        let viewer = ctx.viewer()?;
        let state = ctx.state();
        let session_id = ids::decode_as(&session_id, Kind::Session)?;
        access::authorize(&state.db, &viewer, Target::Session(session_id), ChildAction::Record).await?;
        let options = options.unwrap_or_default().parse()?;
        let key = idempotency_key.map(|key| key.trim().to_owned()).filter(|key| !key.is_empty());
        if key.as_ref().is_some_and(|key| key.len() > 128) {
            return Err(ApiError::bad_input("idempotencyKey may have at most 128 characters"));
        }
        let session = session::Entity::find_by_id(session_id).one(&state.db).await?.ok_or(ApiError::NotFound)?;
        if session.video_blob_key.is_none() {
            return Err(ApiError::bad_input("the session has no video yet: upload one first"));
        }
        let options = serde_json::to_value(options).map_err(anyhow::Error::new)?;
        let settings = QueueSettings::from(state.settings.as_ref());
        let txn = state.db.begin().await?;
        let (job, created) = queue::enqueue(&txn, session_id, Some(options), key, &settings).await?;
        if created {
            tracing::info!(job = %job.id, session = %session_id, "analysis queued");
            publish_state(state.bus.as_ref(), &txn, job.clone()).await;
        }
        txn.commit().await?;
        Ok(AnalysisJob(job))
    }

    /// Cancels a queued or running analysis; a running one stops within about a second. The
    /// session keeps its earlier results, if any. Cancelling a cancelled job returns it as is.
    async fn cancel_analysis(&self, ctx: &Context<'_>, job_id: ID) -> ApiResult<AnalysisJob> {
        let viewer = ctx.viewer()?;
        let state = ctx.state();
        let job_id = ids::decode_as(&job_id, Kind::AnalysisJob)?;
        access::authorize(&state.db, &viewer, Target::Job(job_id), ChildAction::Record).await?;
        if let Some(job) = queue::cancel(&state.db, job_id).await? {
            tracing::info!(job = %job.id, "analysis cancelled");
            publish_state(state.bus.as_ref(), &state.db, job.clone()).await;
            return Ok(AnalysisJob(job));
        }
        let job = analysis_job::Entity::find_by_id(job_id).one(&state.db).await?.ok_or(ApiError::NotFound)?;
        match job.status {
            JobStatus::Cancelled => Ok(AnalysisJob(job)),
            status => Err(ApiError::bad_input(format!("the analysis has already ended ({})", status.as_str()))),
        }
    }

    /// Queues a FAILED or CANCELLED analysis again, with a fresh set of attempts.
    async fn retry_analysis(&self, ctx: &Context<'_>, job_id: ID) -> ApiResult<AnalysisJob> {
        let viewer = ctx.viewer()?;
        let state = ctx.state();
        let job_id = ids::decode_as(&job_id, Kind::AnalysisJob)?;
        access::authorize(&state.db, &viewer, Target::Job(job_id), ChildAction::Record).await?;
        let txn = state.db.begin().await?;
        match queue::retry(&txn, job_id).await? {
            Some(job) => {
                tracing::info!(job = %job.id, "analysis queued again");
                publish_state(state.bus.as_ref(), &txn, job.clone()).await;
                txn.commit().await?;
                Ok(AnalysisJob(job))
            }
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
