//! The durable job queue: rows of `analysis_jobs`, changed only here. Each change also sets the
//! session's status and is announced on the event bus from the same function, inside the
//! change's transaction: a QUEUED announced after another worker's STARTED would tell
//! dashboards the wrong thing, and SQLite's write lock (or PostgreSQL's visibility of the row
//! at commit) holds workers back until the announcement is out. DONE is the exception: it is
//! announced after its results are committed, so a subscriber who reads them finds them.
//!
//! Life cycle: QUEUED → (claimed) RUNNING → DONE | FAILED | CANCELLED. A RUNNING job belongs to
//! the worker named in `lease_owner` until `lease_expires_at`; the worker extends the lease
//! with every heartbeat. A lease that runs out means the worker died: the next claim takes the
//! job over (counting another attempt). Every update a worker makes is conditional on still
//! holding the lease, so a worker that lost its job can't overwrite the new owner's work.
//!
//! `child` holds what withdrawing a child's consent does to their jobs and results.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use entity::{
    analysis_job,
    enums::{JobStage, JobStatus, SessionStatus},
    session, tracked_object,
};
use imind_inference::AnalysisResult;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, Set, UpdateMany,
    sea_query::{Expr, ExprTrait},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod child;

use super::{
    bus::EventBus,
    events::{JobEvent, LiveIntervals},
    results,
};
use crate::{
    audit::{self, AuditEntry},
    config::Settings,
    sql,
};

#[derive(Clone, Copy, Debug)]
pub struct QueueSettings {
    pub lease: Duration,
    pub max_attempts: i32,
    pub retry_base: Duration,
}

impl From<&Settings> for QueueSettings {
    fn from(settings: &Settings) -> Self {
        Self {
            lease: Duration::from_secs(Ord::max(settings.job_lease_secs, 1)),
            max_attempts: Ord::max(settings.job_max_attempts, 1),
            retry_base: Duration::from_secs(settings.job_retry_base_secs),
        }
    }
}

/// How far a running job is, as workers report it.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgressUpdate {
    pub stage: JobStage,
    pub percent: f64,
    pub frames_done: i64,
    pub frames_total: i64,
}

/// Options a job was started with (the `AnalysisOptions` input), stored with the job as JSON.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobOptions {
    pub fps: Option<f64>,
    pub batch_size: Option<usize>,
}

impl JobOptions {
    /// The options `job` was started with (the defaults where it has none that can be read).
    pub fn of(job: &analysis_job::Model) -> Self {
        job.options.clone().and_then(|options| serde_json::from_value(options).ok()).unwrap_or_default()
    }
}

/// Back-off before attempt `attempts + 1`: base × 2^(attempts − 1), at most ten minutes.
pub fn backoff(settings: &QueueSettings, attempts: i32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).clamp(0, 16) as u32);
    settings.retry_base.saturating_mul(factor).min(Duration::from_secs(600))
}

fn after(now: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// The queue over one database, announcing on one bus.
#[derive(Clone)]
pub struct Queue {
    db: DatabaseConnection,
    bus: Arc<dyn EventBus>,
    settings: QueueSettings,
}

impl Queue {
    pub fn new(db: DatabaseConnection, bus: Arc<dyn EventBus>, settings: QueueSettings) -> Self {
        Self { db, bus, settings }
    }

    /// Adds a job for `session` (QUEUED), or returns the existing one: the job with the same
    /// idempotency key, else a job of the session that is still queued or running (one
    /// analysis at a time per video). The bool says whether a job was created.
    #[tracing::instrument(skip_all, fields(session = %session_id))]
    pub async fn enqueue(
        &self,
        session_id: Uuid,
        options: &JobOptions,
        idempotency_key: Option<String>,
        audit: Option<AuditEntry>,
    ) -> Result<(analysis_job::Model, bool), sea_orm::DbErr> {
        let existing = |key: Option<String>| async move {
            let mut query = analysis_job::Entity::find().filter(analysis_job::Column::SessionId.eq(session_id));
            query = match key {
                Some(key) => query.filter(analysis_job::Column::IdempotencyKey.eq(key)),
                None => query.filter(analysis_job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running])),
            };
            query.one(&self.db).await
        };
        if let Some(key) = &idempotency_key
            && let Some(job) = existing(Some(key.clone())).await?
        {
            return Ok((job, false));
        }
        if let Some(job) = existing(None).await? {
            return Ok((job, false));
        }
        let options = serde_json::to_value(options).expect("job options serialise");
        let txn = crate::db::begin_write(&self.db).await?;
        match new_job(session_id, Some(options), idempotency_key.clone(), &self.settings).insert(&txn).await {
            Ok(job) => {
                set_session_status(&txn, session_id, SessionStatus::Queued).await?;
                append_audit(&txn, audit).await?;
                self.announce(&txn, &job).await;
                txn.commit().await?;
                tracing::info!(job = %job.id, "analysis queued");
                Ok((job, true))
            }
            // Two requests with the same key raced; the unique index let one win.
            Err(error) if idempotency_key.is_some() => {
                txn.rollback().await?;
                match existing(idempotency_key).await? {
                    Some(job) => Ok((job, false)),
                    None => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// Takes the next claimable job for `worker` — queued and due, or running with an expired
    /// lease (its worker died), with attempts left — and announces STARTED. PostgreSQL skips
    /// rows other workers are claiming at this instant (`FOR UPDATE SKIP LOCKED`); SQLite runs
    /// the single statement as one write transaction.
    pub async fn claim(&self, worker: &str) -> Result<Option<analysis_job::Model>, sea_orm::DbErr> {
        let txn = crate::db::begin_write(&self.db).await?;
        let backend = txn.get_database_backend();
        let lock = if backend == DbBackend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
        let now = Utc::now();
        let text = format!(
            "UPDATE analysis_jobs SET status = ?, lease_owner = ?, lease_expires_at = ?, heartbeat_at = ?, \
             started_at = ?, attempts = attempts + 1, stage = ?, progress = 0, frames_done = 0 \
             WHERE id = (SELECT id FROM analysis_jobs \
               WHERE ((status = ? AND run_after <= ?) OR (status = ? AND lease_expires_at < ?)) \
                 AND attempts < max_attempts \
               ORDER BY run_after, created_at LIMIT 1{lock}) \
             RETURNING *"
        );
        let values = vec![
            JobStatus::Running.as_str().into(),
            worker.into(),
            after(now, self.settings.lease).into(),
            now.into(),
            now.into(),
            JobStage::Starting.as_str().into(),
            JobStatus::Queued.as_str().into(),
            now.into(),
            JobStatus::Running.as_str().into(),
            now.into(),
        ];
        let claimed =
            analysis_job::Entity::find().from_raw_sql(sql::statement(backend, &text, values)).one(&txn).await?;
        if let Some(job) = &claimed {
            set_session_status(&txn, job.session_id, SessionStatus::Processing).await?;
            self.announce(&txn, job).await;
        }
        txn.commit().await?;
        Ok(claimed)
    }

    /// Records progress and extends the lease. `None`: the job is no longer this worker's.
    pub async fn heartbeat(
        &self,
        job_id: Uuid,
        worker: &str,
        progress: Option<&ProgressUpdate>,
    ) -> Result<Option<analysis_job::Model>, sea_orm::DbErr> {
        let now = Utc::now();
        let mut update = owned(job_id, worker)
            .col_expr(analysis_job::Column::HeartbeatAt, Expr::value(now))
            .col_expr(analysis_job::Column::LeaseExpiresAt, Expr::value(after(now, self.settings.lease)));
        if let Some(progress) = progress {
            update = update
                .col_expr(analysis_job::Column::Stage, Expr::value(progress.stage.as_str()))
                .col_expr(analysis_job::Column::Progress, Expr::value(progress.percent))
                .col_expr(analysis_job::Column::FramesDone, Expr::value(progress.frames_done))
                .col_expr(analysis_job::Column::FramesTotal, Expr::value(progress.frames_total));
        }
        Ok(update.exec_with_returning(&self.db).await?.pop())
    }

    /// Ends the job DONE with `result` as the session's analysis, if `worker` still holds it,
    /// and then announces DONE carrying the `trailing` intervals not announced yet. `None`: the
    /// worker no longer holds the job (cancelled or taken over), and nothing was written.
    #[tracing::instrument(skip_all, fields(job = %job.id))]
    pub async fn complete(
        &self,
        job: &analysis_job::Model,
        worker: &str,
        result: &AnalysisResult,
        trailing: LiveIntervals,
    ) -> Result<Option<analysis_job::Model>, sea_orm::DbErr> {
        let txn = crate::db::begin_write(&self.db).await?;
        let done = clear_lease(owned(job.id, worker))
            .col_expr(analysis_job::Column::Status, Expr::value(JobStatus::Done.as_str()))
            .col_expr(analysis_job::Column::Stage, Expr::value(JobStage::Done.as_str()))
            .col_expr(analysis_job::Column::Progress, Expr::value(100.0))
            .col_expr(analysis_job::Column::FramesDone, Expr::value(result.analysed_frames))
            .col_expr(analysis_job::Column::FramesTotal, Expr::value(result.analysed_frames))
            .col_expr(analysis_job::Column::Error, Expr::value(Option::<String>::None))
            .col_expr(analysis_job::Column::FinishedAt, Expr::value(Utc::now()))
            .exec_with_returning(&txn)
            .await?
            .pop();
        let Some(done) = done else {
            txn.rollback().await?;
            return Ok(None);
        };
        let carried = results::replace(&txn, job.session_id, result).await?;
        let carried = serde_json::to_value(&carried).expect("a carry-over report serialises. This is a bug.");
        let done = analysis_job::Entity::update(analysis_job::ActiveModel {
            id: sea_orm::Set(done.id),
            review_carry_over: sea_orm::Set(Some(carried)),
            ..Default::default()
        })
        .exec(&txn)
        .await?;
        set_session_status(&txn, job.session_id, SessionStatus::Done).await?;
        let child_id = child_of(&txn, job.session_id).await?;
        txn.commit().await?;
        tracing::info!("job done");
        let mut event = JobEvent::announcing(child_id, done.clone()).with_intervals(trailing);
        event.eta_seconds = Some(0.0);
        self.publish(event).await;
        Ok(Some(done))
    }

    /// Records a failed attempt. A retryable failure with attempts left goes back to the queue
    /// after a back-off; otherwise the job ends FAILED with `reason`.
    #[tracing::instrument(skip_all, fields(job = %job.id))]
    pub async fn fail(
        &self,
        job: &analysis_job::Model,
        worker: &str,
        reason: &str,
        retryable: bool,
    ) -> Result<Option<analysis_job::Model>, sea_orm::DbErr> {
        let now = Utc::now();
        let retry = retryable && job.attempts < job.max_attempts;
        let mut update = clear_lease(owned(job.id, worker)).col_expr(analysis_job::Column::Error, Expr::value(reason));
        update = if retry {
            let run_after = after(now, backoff(&self.settings, job.attempts));
            update
                .col_expr(analysis_job::Column::Status, Expr::value(JobStatus::Queued.as_str()))
                .col_expr(analysis_job::Column::Stage, Expr::value(JobStage::WaitingToRetry.as_str()))
                .col_expr(analysis_job::Column::RunAfter, Expr::value(run_after))
        } else {
            update
                .col_expr(analysis_job::Column::Status, Expr::value(JobStatus::Failed.as_str()))
                .col_expr(analysis_job::Column::Stage, Expr::value(JobStage::Failed.as_str()))
                .col_expr(analysis_job::Column::FinishedAt, Expr::value(now))
        };
        let txn = crate::db::begin_write(&self.db).await?;
        let Some(updated) = update.exec_with_returning(&txn).await?.pop() else {
            txn.rollback().await?;
            return Ok(None);
        };
        let status = if retry { SessionStatus::Queued } else { SessionStatus::Failed };
        set_session_status(&txn, job.session_id, status).await?;
        self.announce(&txn, &updated).await;
        txn.commit().await?;
        tracing::info!(status = updated.status.as_str(), "job attempt ended");
        Ok(Some(updated))
    }

    /// Gives a job back to the queue without counting the attempt (a worker shutting down).
    #[tracing::instrument(skip_all, fields(job = %job_id))]
    pub async fn release(&self, job_id: Uuid, worker: &str) -> Result<Option<analysis_job::Model>, sea_orm::DbErr> {
        let txn = crate::db::begin_write(&self.db).await?;
        let released = clear_lease(owned(job_id, worker))
            .col_expr(analysis_job::Column::Status, Expr::value(JobStatus::Queued.as_str()))
            .col_expr(analysis_job::Column::Stage, Expr::value(JobStage::Queued.as_str()))
            .col_expr(analysis_job::Column::Attempts, ExprTrait::sub(Expr::col(analysis_job::Column::Attempts), 1))
            .col_expr(analysis_job::Column::RunAfter, Expr::value(Utc::now()))
            .exec_with_returning(&txn)
            .await?
            .pop();
        if let Some(job) = &released {
            set_session_status(&txn, job.session_id, SessionStatus::Queued).await?;
            self.announce(&txn, job).await;
        }
        txn.commit().await?;
        Ok(released)
    }

    /// Cancels a queued or running job. `None`: it had already ended. A running job's worker
    /// stops at once on the announcement (or on its next heartbeat, which fails).
    #[tracing::instrument(skip_all, fields(job = %job_id))]
    pub async fn cancel(
        &self,
        job_id: Uuid,
        audit: Option<AuditEntry>,
    ) -> Result<Option<analysis_job::Model>, sea_orm::DbErr> {
        let txn = crate::db::begin_write(&self.db).await?;
        let cancelled = clear_lease(analysis_job::Entity::update_many())
            .col_expr(analysis_job::Column::Status, Expr::value(JobStatus::Cancelled.as_str()))
            .col_expr(analysis_job::Column::Stage, Expr::value(JobStage::Cancelled.as_str()))
            .col_expr(analysis_job::Column::FinishedAt, Expr::value(Utc::now()))
            .filter(analysis_job::Column::Id.eq(job_id))
            .filter(analysis_job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
            .exec_with_returning(&txn)
            .await?
            .pop();
        if let Some(job) = &cancelled {
            let status = settled_status(&txn, job.session_id).await?;
            set_session_status(&txn, job.session_id, status).await?;
            append_audit(&txn, audit).await?;
            self.announce(&txn, job).await;
        }
        txn.commit().await?;
        if cancelled.is_some() {
            tracing::info!("analysis cancelled");
        }
        Ok(cancelled)
    }

    /// Queues a FAILED or CANCELLED job again with a fresh set of attempts. `None`: it is not
    /// in one of those states.
    #[tracing::instrument(skip_all, fields(job = %job_id))]
    pub async fn retry(
        &self,
        job_id: Uuid,
        audit: Option<AuditEntry>,
    ) -> Result<Option<analysis_job::Model>, sea_orm::DbErr> {
        let txn = crate::db::begin_write(&self.db).await?;
        let retried = analysis_job::Entity::update_many()
            .col_expr(analysis_job::Column::Status, Expr::value(JobStatus::Queued.as_str()))
            .col_expr(analysis_job::Column::Stage, Expr::value(JobStage::Queued.as_str()))
            .col_expr(analysis_job::Column::Progress, Expr::value(0.0))
            .col_expr(analysis_job::Column::FramesDone, Expr::value(0))
            .col_expr(analysis_job::Column::Attempts, Expr::value(0))
            .col_expr(analysis_job::Column::Error, Expr::value(Option::<String>::None))
            .col_expr(analysis_job::Column::RunAfter, Expr::value(Utc::now()))
            .col_expr(analysis_job::Column::StartedAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(analysis_job::Column::FinishedAt, Expr::value(Option::<DateTime<Utc>>::None))
            .filter(analysis_job::Column::Id.eq(job_id))
            .filter(analysis_job::Column::Status.is_in([JobStatus::Failed, JobStatus::Cancelled]))
            .exec_with_returning(&txn)
            .await?
            .pop();
        if let Some(job) = &retried {
            set_session_status(&txn, job.session_id, SessionStatus::Queued).await?;
            append_audit(&txn, audit).await?;
            self.announce(&txn, job).await;
        }
        txn.commit().await?;
        if retried.is_some() {
            tracing::info!("analysis queued again");
        }
        Ok(retried)
    }

    /// Ends jobs whose worker stopped responding on their last attempt (FAILED), so they don't
    /// stay RUNNING forever.
    pub async fn fail_abandoned(&self) -> Result<Vec<analysis_job::Model>, sea_orm::DbErr> {
        let now = Utc::now();
        let txn = crate::db::begin_write(&self.db).await?;
        let failed = clear_lease(analysis_job::Entity::update_many())
            .col_expr(analysis_job::Column::Status, Expr::value(JobStatus::Failed.as_str()))
            .col_expr(
                analysis_job::Column::Error,
                Expr::value(
                    "the analysis stopped responding on every attempt (the worker ran out of memory or was stopped)",
                ),
            )
            .col_expr(analysis_job::Column::Stage, Expr::value(JobStage::Failed.as_str()))
            .col_expr(analysis_job::Column::FinishedAt, Expr::value(now))
            .filter(analysis_job::Column::Status.eq(JobStatus::Running))
            .filter(analysis_job::Column::LeaseExpiresAt.lt(now))
            .filter(ExprTrait::gte(
                Expr::col(analysis_job::Column::Attempts),
                Expr::col(analysis_job::Column::MaxAttempts),
            ))
            .exec_with_returning(&txn)
            .await?;
        for job in &failed {
            set_session_status(&txn, job.session_id, SessionStatus::Failed).await?;
            self.announce(&txn, job).await;
            tracing::warn!(job = %job.id, "job failed: its worker stopped responding on every attempt");
        }
        txn.commit().await?;
        Ok(failed)
    }

    /// Publishes an event about a job that changed no state (progress, new intervals).
    pub async fn publish(&self, event: JobEvent) {
        if let Err(error) = self.bus.publish(event).await {
            tracing::warn!(error = format!("{error:#}"), "publishing a job event");
        }
    }

    /// Announces `job`'s new state, from inside the transaction that made the change.
    async fn announce(&self, txn: &impl ConnectionTrait, job: &analysis_job::Model) {
        // No session any more (deleted meanwhile): nobody can be watching it.
        if let Ok(child_id) = child_of(txn, job.session_id).await {
            self.publish(JobEvent::announcing(child_id, job.clone())).await;
        }
    }
}

/// Records a job that ran `started_at` → `finished_at` and ended DONE over `frames` frames:
/// for the demo seed, which writes its results itself.
pub async fn insert_done(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    frames: i64,
    started_at: DateTime<Utc>,
    finished_at: DateTime<Utc>,
) -> Result<analysis_job::Model, sea_orm::DbErr> {
    let mut job = new_job(session_id, None, None, &QueueSettings::from(&Settings::default()));
    job.status = Set(JobStatus::Done);
    job.stage = Set(JobStage::Done);
    job.progress = Set(100.0);
    job.frames_done = Set(frames);
    job.frames_total = Set(frames);
    job.attempts = Set(1);
    job.run_after = Set(started_at);
    job.created_at = Set(started_at);
    job.started_at = Set(Some(started_at));
    job.finished_at = Set(Some(finished_at));
    job.insert(db).await
}

/// A new QUEUED job's row.
fn new_job(
    session_id: Uuid,
    options: Option<serde_json::Value>,
    idempotency_key: Option<String>,
    settings: &QueueSettings,
) -> analysis_job::ActiveModel {
    let now = Utc::now();
    analysis_job::ActiveModel {
        id: Set(Uuid::now_v7()),
        session_id: Set(session_id),
        status: Set(JobStatus::Queued),
        stage: Set(JobStage::Queued),
        progress: Set(0.0),
        frames_done: Set(0),
        frames_total: Set(0),
        attempts: Set(0),
        max_attempts: Set(settings.max_attempts),
        error: Set(None),
        options: Set(options),
        idempotency_key: Set(idempotency_key),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        heartbeat_at: Set(None),
        run_after: Set(now),
        created_at: Set(now),
        started_at: Set(None),
        finished_at: Set(None),
        review_carry_over: Set(None),
    }
}

/// An update of a job `worker` holds; it changes nothing once the worker no longer holds it
/// (cancelled, or taken over after its lease ran out).
fn owned(job_id: Uuid, worker: &str) -> UpdateMany<analysis_job::Entity> {
    analysis_job::Entity::update_many()
        .filter(analysis_job::Column::Id.eq(job_id))
        .filter(analysis_job::Column::LeaseOwner.eq(worker))
        .filter(analysis_job::Column::Status.eq(JobStatus::Running))
}

/// The job stops belonging to any worker.
fn clear_lease(update: UpdateMany<analysis_job::Entity>) -> UpdateMany<analysis_job::Entity> {
    update
        .col_expr(analysis_job::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(analysis_job::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
}

async fn set_session_status(
    db: &impl ConnectionTrait,
    session_id: Uuid,
    status: SessionStatus,
) -> Result<(), sea_orm::DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::Status, Expr::value(status.as_str()))
        .col_expr(session::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(session::Column::Id.eq(session_id))
        .exec(db)
        .await?;
    Ok(())
}

/// A session's status when no analysis is in flight: DONE if it has results, else READY.
async fn settled_status(db: &impl ConnectionTrait, session_id: Uuid) -> Result<SessionStatus, sea_orm::DbErr> {
    let results =
        tracked_object::Entity::find().filter(tracked_object::Column::SessionId.eq(session_id)).count(db).await?;
    Ok(if results > 0 { SessionStatus::Done } else { SessionStatus::Ready })
}

/// Appends the audit entry of a change made through the API, inside the change's transaction.
async fn append_audit(txn: &impl ConnectionTrait, entry: Option<AuditEntry>) -> Result<(), sea_orm::DbErr> {
    match entry {
        Some(entry) => audit::append(txn, entry).await,
        None => Ok(()),
    }
}

/// The child a job's session belongs to (events carry it for dashboards).
pub async fn child_of(db: &impl ConnectionTrait, session_id: Uuid) -> Result<Uuid, sea_orm::DbErr> {
    session::Entity::find_by_id(session_id)
        .one(db)
        .await?
        .map(|session| session.child_id)
        .ok_or_else(|| sea_orm::DbErr::RecordNotFound(format!("session {session_id}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_and_is_capped() {
        let settings =
            QueueSettings { lease: Duration::from_secs(30), max_attempts: 3, retry_base: Duration::from_secs(10) };
        assert_eq!(backoff(&settings, 1), Duration::from_secs(10));
        assert_eq!(backoff(&settings, 2), Duration::from_secs(20));
        assert_eq!(backoff(&settings, 3), Duration::from_secs(40));
        assert_eq!(backoff(&settings, 30), Duration::from_secs(600));
    }
}
