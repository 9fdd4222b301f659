use std::sync::Arc;

use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};
use entity::session;
use sea_orm::EntityTrait;

use super::{AnalysisJob, Session};
use crate::{
    error::{ApiError, ApiResult},
    graphql::context::ContextExt,
    jobs::events::{JobEvent, JobEventKind, LiveBehaviourInterval, LiveEmotionInterval, ReviewChange},
};

/// One update of an analysis job: its state now, and the intervals that became final since
/// the previous update.
pub struct AnalysisEvent(pub Arc<JobEvent>);

#[Object]
impl AnalysisEvent {
    async fn kind(&self) -> JobEventKind {
        self.0.kind
    }

    /// The job as of this event (status, stage, percent, frames, attempts, error).
    async fn job(&self) -> AnalysisJob {
        AnalysisJob(self.0.job.clone())
    }

    /// Estimated seconds until the analysis finishes, while it runs.
    async fn eta_seconds(&self) -> Option<f64> {
        self.0.eta_seconds
    }

    /// Observed-expression intervals that became final since the previous event.
    async fn new_emotion_intervals(&self) -> &[LiveEmotionInterval] {
        &self.0.emotion_intervals
    }

    /// Behaviour intervals that became final since the previous event.
    async fn new_behaviour_intervals(&self) -> &[LiveBehaviourInterval] {
        &self.0.behaviour_intervals
    }

    /// When the event was produced (worker or gateway clock).
    async fn emitted_at(&self) -> DateTime<Utc> {
        self.0.emitted_at
    }
}

/// Something happened to an analysis of one of a child's sessions (for dashboards).
pub struct SessionEvent(pub Arc<JobEvent>);

#[Object]
impl SessionEvent {
    async fn kind(&self) -> JobEventKind {
        self.0.kind
    }

    /// The session as it is now.
    async fn session(&self, ctx: &Context<'_>) -> ApiResult<Session> {
        let found = session::Entity::find_by_id(self.0.job.session_id).one(&ctx.state().db).await?;
        found.map(Session).ok_or(ApiError::NotFound)
    }

    async fn job(&self) -> AnalysisJob {
        AnalysisJob(self.0.job.clone())
    }

    /// What a `REVIEW` event changed (null for analysis events).
    async fn review(&self) -> Option<&ReviewChange> {
        self.0.review.as_ref()
    }

    async fn emitted_at(&self) -> DateTime<Utc> {
        self.0.emitted_at
    }
}
