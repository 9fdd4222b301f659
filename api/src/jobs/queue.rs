//! The durable job queue: rows of `analysis_jobs`, changed only by the functions here.
//!
//! Life cycle: QUEUED → (claimed) RUNNING → DONE | FAILED | CANCELLED. A RUNNING job belongs to
//! the worker named in `lease_owner` until `lease_expires_at`; the worker extends the lease
//! with every heartbeat. A lease that runs out means the worker died: the next claim takes the
//! job over (counting another attempt). Every update a worker makes is conditional on still
//! holding the lease, so a worker that lost its job can't overwrite the new owner's work.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{
    analysis_job,
    enums::{JobStatus, SessionStatus},
    session, tracked_object,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, Set,
    TransactionSession, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};
use uuid::Uuid;

use crate::{config::Settings, sql};

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
    pub stage: String,
    pub percent: f64,
    pub frames_done: i64,
    pub frames_total: i64,
}

fn after(now: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// Back-off before attempt `attempts + 1`: base × 2^(attempts − 1), at most ten minutes.
pub fn backoff(settings: &QueueSettings, attempts: i32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).clamp(0, 16) as u32);
    settings.retry_base.saturating_mul(factor).min(Duration::from_secs(600))
}

/// Adds a job for `session` (QUEUED), or returns the existing one: the job with the same
/// idempotency key, else a job of the session that is still queued or running (one analysis
/// at a time per video). The bool says whether a job was created.
pub async fn enqueue<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    session_id: Uuid,
    options: Option<serde_json::Value>,
    idempotency_key: Option<String>,
    settings: &QueueSettings,
) -> Result<(analysis_job::Model, bool), sea_orm::DbErr> {
    let existing = |key: Option<String>| async move {
        let mut query = analysis_job::Entity::find().filter(analysis_job::Column::SessionId.eq(session_id));
        query = match key {
            Some(key) => query.filter(analysis_job::Column::IdempotencyKey.eq(key)),
            None => query.filter(analysis_job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running])),
        };
        query.one(db).await
    };
    if let Some(key) = &idempotency_key
        && let Some(job) = existing(Some(key.clone())).await?
    {
        return Ok((job, false));
    }
    if let Some(job) = existing(None).await? {
        return Ok((job, false));
    }
    let now = Utc::now();
    let job = analysis_job::ActiveModel {
        id: Set(Uuid::now_v7()),
        session_id: Set(session_id),
        status: Set(JobStatus::Queued),
        stage: Set("queued".into()),
        progress: Set(0.0),
        frames_done: Set(0),
        frames_total: Set(0),
        attempts: Set(0),
        max_attempts: Set(settings.max_attempts),
        error: Set(None),
        options: Set(options),
        idempotency_key: Set(idempotency_key.clone()),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        heartbeat_at: Set(None),
        run_after: Set(now),
        created_at: Set(now),
        started_at: Set(None),
        finished_at: Set(None),
    };
    // A savepoint, so that losing the race below leaves an enclosing transaction usable.
    let savepoint = db.begin().await?;
    match job.insert(&savepoint).await {
        Ok(job) => {
            set_session_status(&savepoint, session_id, SessionStatus::Queued).await?;
            savepoint.commit().await?;
            Ok((job, true))
        }
        // Two requests with the same key raced; the unique index let one win.
        Err(error) if idempotency_key.is_some() => {
            savepoint.rollback().await?;
            match existing(idempotency_key).await? {
                Some(job) => Ok((job, false)),
                None => Err(error),
            }
        }
        Err(error) => Err(error),
    }
}

/// Takes the next claimable job for `worker`: queued and due, or running with an expired
/// lease (its worker died), with attempts left. PostgreSQL skips rows other workers are
/// claiming at this instant (`FOR UPDATE SKIP LOCKED`); SQLite runs the single statement as
/// one write transaction.
pub async fn claim(
    db: &impl ConnectionTrait,
    worker: &str,
    settings: &QueueSettings,
) -> Result<Option<analysis_job::Model>, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let lock = if backend == DbBackend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    let now = Utc::now();
    let text = format!(
        "UPDATE analysis_jobs SET status = 'RUNNING', lease_owner = ?, lease_expires_at = ?, heartbeat_at = ?, \
         started_at = ?, attempts = attempts + 1, stage = 'starting', progress = 0, frames_done = 0 \
         WHERE id = (SELECT id FROM analysis_jobs \
           WHERE ((status = 'QUEUED' AND run_after <= ?) OR (status = 'RUNNING' AND lease_expires_at < ?)) \
             AND attempts < max_attempts \
           ORDER BY run_after, created_at LIMIT 1{lock}) \
         RETURNING *"
    );
    let values = vec![worker.into(), after(now, settings.lease).into(), now.into(), now.into(), now.into(), now.into()];
    analysis_job::Entity::find().from_raw_sql(sql::statement(backend, &text, values)).one(db).await
}

/// Ends jobs whose worker stopped responding on their last attempt (FAILED), so they don't
/// stay RUNNING forever.
pub async fn fail_abandoned(db: &impl ConnectionTrait) -> Result<Vec<analysis_job::Model>, sea_orm::DbErr> {
    let now = Utc::now();
    let failed = analysis_job::Entity::update_many()
        .col_expr(analysis_job::Column::Status, Expr::value(JobStatus::Failed.as_str()))
        .col_expr(
            analysis_job::Column::Error,
            Expr::value(
                "the analysis stopped responding on every attempt (the worker ran out of memory or was stopped)",
            ),
        )
        .col_expr(analysis_job::Column::Stage, Expr::value("failed"))
        .col_expr(analysis_job::Column::FinishedAt, Expr::value(now))
        .col_expr(analysis_job::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(analysis_job::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(analysis_job::Column::Status.eq(JobStatus::Running))
        .filter(analysis_job::Column::LeaseExpiresAt.lt(now))
        .filter(ExprTrait::gte(Expr::col(analysis_job::Column::Attempts), Expr::col(analysis_job::Column::MaxAttempts)))
        .exec_with_returning(db)
        .await?;
    for job in &failed {
        set_session_status(db, job.session_id, SessionStatus::Failed).await?;
    }
    Ok(failed)
}

/// An update of a job `worker` holds; `None` when it no longer holds it (cancelled, or taken
/// over after its lease ran out).
fn owned(job_id: Uuid, worker: &str) -> sea_orm::UpdateMany<analysis_job::Entity> {
    analysis_job::Entity::update_many()
        .filter(analysis_job::Column::Id.eq(job_id))
        .filter(analysis_job::Column::LeaseOwner.eq(worker))
        .filter(analysis_job::Column::Status.eq(JobStatus::Running))
}

/// Records progress and extends the lease. `None`: the job is no longer this worker's.
pub async fn heartbeat(
    db: &impl ConnectionTrait,
    job_id: Uuid,
    worker: &str,
    progress: Option<&ProgressUpdate>,
    settings: &QueueSettings,
) -> Result<Option<analysis_job::Model>, sea_orm::DbErr> {
    let now = Utc::now();
    let mut update = owned(job_id, worker)
        .col_expr(analysis_job::Column::HeartbeatAt, Expr::value(now))
        .col_expr(analysis_job::Column::LeaseExpiresAt, Expr::value(after(now, settings.lease)));
    if let Some(progress) = progress {
        update = update
            .col_expr(analysis_job::Column::Stage, Expr::value(progress.stage.clone()))
            .col_expr(analysis_job::Column::Progress, Expr::value(progress.percent))
            .col_expr(analysis_job::Column::FramesDone, Expr::value(progress.frames_done))
            .col_expr(analysis_job::Column::FramesTotal, Expr::value(progress.frames_total));
    }
    Ok(update.exec_with_returning(db).await?.pop())
}

/// Records a failed attempt. A retryable failure with attempts left goes back to the queue
/// after a back-off; otherwise the job ends FAILED with `reason`.
pub async fn fail(
    db: &impl ConnectionTrait,
    job: &analysis_job::Model,
    worker: &str,
    reason: &str,
    retryable: bool,
    settings: &QueueSettings,
) -> Result<Option<analysis_job::Model>, sea_orm::DbErr> {
    let now = Utc::now();
    let retry = retryable && job.attempts < job.max_attempts;
    let mut update = owned(job.id, worker)
        .col_expr(analysis_job::Column::Error, Expr::value(reason))
        .col_expr(analysis_job::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(analysis_job::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None));
    update = if retry {
        update
            .col_expr(analysis_job::Column::Status, Expr::value(JobStatus::Queued.as_str()))
            .col_expr(analysis_job::Column::Stage, Expr::value("waiting to retry"))
            .col_expr(analysis_job::Column::RunAfter, Expr::value(after(now, backoff(settings, job.attempts))))
    } else {
        update
            .col_expr(analysis_job::Column::Status, Expr::value(JobStatus::Failed.as_str()))
            .col_expr(analysis_job::Column::Stage, Expr::value("failed"))
            .col_expr(analysis_job::Column::FinishedAt, Expr::value(now))
    };
    let Some(updated) = update.exec_with_returning(db).await?.pop() else { return Ok(None) };
    let status = if retry { SessionStatus::Queued } else { SessionStatus::Failed };
    set_session_status(db, job.session_id, status).await?;
    Ok(Some(updated))
}

/// Gives a job back to the queue without counting the attempt (a worker shutting down).
pub async fn release(
    db: &impl ConnectionTrait,
    job_id: Uuid,
    worker: &str,
) -> Result<Option<analysis_job::Model>, sea_orm::DbErr> {
    let released = owned(job_id, worker)
        .col_expr(analysis_job::Column::Status, Expr::value(JobStatus::Queued.as_str()))
        .col_expr(analysis_job::Column::Stage, Expr::value("queued"))
        .col_expr(analysis_job::Column::Attempts, ExprTrait::sub(Expr::col(analysis_job::Column::Attempts), 1))
        .col_expr(analysis_job::Column::RunAfter, Expr::value(Utc::now()))
        .col_expr(analysis_job::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(analysis_job::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
        .exec_with_returning(db)
        .await?
        .pop();
    if let Some(job) = &released {
        set_session_status(db, job.session_id, SessionStatus::Queued).await?;
    }
    Ok(released)
}

/// Cancels a queued or running job. `None`: it had already ended. A running job's worker
/// notices on its next heartbeat (or at once, through the event bus) and stops.
pub async fn cancel(db: &impl ConnectionTrait, job_id: Uuid) -> Result<Option<analysis_job::Model>, sea_orm::DbErr> {
    let cancelled = analysis_job::Entity::update_many()
        .col_expr(analysis_job::Column::Status, Expr::value(JobStatus::Cancelled.as_str()))
        .col_expr(analysis_job::Column::Stage, Expr::value("cancelled"))
        .col_expr(analysis_job::Column::FinishedAt, Expr::value(Utc::now()))
        .col_expr(analysis_job::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(analysis_job::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(analysis_job::Column::Id.eq(job_id))
        .filter(analysis_job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
        .exec_with_returning(db)
        .await?
        .pop();
    if let Some(job) = &cancelled {
        let status = settled_status(db, job.session_id).await?;
        set_session_status(db, job.session_id, status).await?;
    }
    Ok(cancelled)
}

/// Queues a FAILED or CANCELLED job again with a fresh set of attempts. `None`: it is not in
/// one of those states.
pub async fn retry(db: &impl ConnectionTrait, job_id: Uuid) -> Result<Option<analysis_job::Model>, sea_orm::DbErr> {
    let retried = analysis_job::Entity::update_many()
        .col_expr(analysis_job::Column::Status, Expr::value(JobStatus::Queued.as_str()))
        .col_expr(analysis_job::Column::Stage, Expr::value("queued"))
        .col_expr(analysis_job::Column::Progress, Expr::value(0.0))
        .col_expr(analysis_job::Column::FramesDone, Expr::value(0))
        .col_expr(analysis_job::Column::Attempts, Expr::value(0))
        .col_expr(analysis_job::Column::Error, Expr::value(Option::<String>::None))
        .col_expr(analysis_job::Column::RunAfter, Expr::value(Utc::now()))
        .col_expr(analysis_job::Column::StartedAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(analysis_job::Column::FinishedAt, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(analysis_job::Column::Id.eq(job_id))
        .filter(analysis_job::Column::Status.is_in([JobStatus::Failed, JobStatus::Cancelled]))
        .exec_with_returning(db)
        .await?
        .pop();
    if let Some(job) = &retried {
        set_session_status(db, job.session_id, SessionStatus::Queued).await?;
    }
    Ok(retried)
}

pub async fn set_session_status(
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
