//! Storing one analysis: the job ends DONE and the session's people and intervals are replaced,
//! all in one transaction, so a re-run never duplicates intervals and a crash leaves the old
//! results in place.

use chrono::Utc;
use entity::{
    analysis_job, behaviour_interval, emotion_interval,
    enums::{Behaviour, Emotion, JobStatus, ObjectRole, SessionStatus},
    tracked_object,
};
use imind_inference::AnalysisResult;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set, TransactionTrait, sea_query::Expr};
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

use super::queue;

/// Rows per INSERT: well under SQLite's bound-parameter limit at 7 columns.
const CHUNK: usize = 500;

/// The engine's label types and the API's are spelled alike; convert through that spelling.
pub fn same_label<A: Serialize, B: DeserializeOwned>(label: A) -> B {
    serde_json::from_value(serde_json::to_value(label).expect("labels serialise"))
        .expect("the engine's labels are a subset of the API's")
}

pub fn emotion(label: imind_inference::labels::Emotion) -> Emotion {
    same_label(label)
}

pub fn behaviour(label: imind_inference::labels::Behaviour) -> Behaviour {
    same_label(label)
}

/// Writes `result` as the session's analysis if `worker` still holds the job. `None`: it does
/// not (cancelled or taken over), and nothing was written.
pub async fn store(
    db: &DatabaseConnection,
    job: &analysis_job::Model,
    worker: &str,
    result: &AnalysisResult,
) -> Result<Option<analysis_job::Model>, sea_orm::DbErr> {
    let txn = db.begin().await?;
    let now = Utc::now();
    let done = analysis_job::Entity::update_many()
        .col_expr(analysis_job::Column::Status, Expr::value(JobStatus::Done.as_str()))
        .col_expr(analysis_job::Column::Stage, Expr::value("done"))
        .col_expr(analysis_job::Column::Progress, Expr::value(100.0))
        .col_expr(analysis_job::Column::FramesDone, Expr::value(result.analysed_frames))
        .col_expr(analysis_job::Column::FramesTotal, Expr::value(result.analysed_frames))
        .col_expr(analysis_job::Column::Error, Expr::value(Option::<String>::None))
        .col_expr(analysis_job::Column::FinishedAt, Expr::value(now))
        .col_expr(analysis_job::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(analysis_job::Column::LeaseExpiresAt, Expr::value(Option::<chrono::DateTime<Utc>>::None))
        .filter(analysis_job::Column::Id.eq(job.id))
        .filter(analysis_job::Column::LeaseOwner.eq(worker))
        .filter(analysis_job::Column::Status.eq(JobStatus::Running))
        .exec_with_returning(&txn)
        .await?
        .pop();
    let Some(done) = done else {
        txn.rollback().await?;
        return Ok(None);
    };
    // Intervals go with their objects (foreign keys cascade).
    tracked_object::Entity::delete_many()
        .filter(tracked_object::Column::SessionId.eq(job.session_id))
        .exec(&txn)
        .await?;
    let mut objects = Vec::new();
    let mut emotions = Vec::new();
    let mut behaviours = Vec::new();
    for object in &result.objects {
        let object_id = Uuid::now_v7();
        objects.push(tracked_object::ActiveModel {
            id: Set(object_id),
            session_id: Set(job.session_id),
            label: Set(object.label.clone()),
            role: Set(same_label::<_, ObjectRole>(object.role)),
            role_confidence: Set(f64::from(object.role_confidence)),
            child_id: Set(None),
            first_seen_ms: Set(object.first_seen_ms),
            last_seen_ms: Set(object.last_seen_ms),
        });
        for interval in &object.emotion_intervals {
            emotions.push(emotion_interval::ActiveModel {
                id: Set(Uuid::now_v7()),
                object_id: Set(object_id),
                emotion: Set(emotion(interval.label)),
                start_ms: Set(interval.start_ms),
                end_ms: Set(interval.end_ms),
                mean_confidence: Set(f64::from(interval.mean_confidence)),
                peak_confidence: Set(f64::from(interval.peak_confidence)),
            });
        }
        for interval in &object.behaviour_intervals {
            behaviours.push(behaviour_interval::ActiveModel {
                id: Set(Uuid::now_v7()),
                object_id: Set(object_id),
                behaviour: Set(behaviour(interval.label)),
                start_ms: Set(interval.start_ms),
                end_ms: Set(interval.end_ms),
                mean_confidence: Set(f64::from(interval.mean_confidence)),
                peak_confidence: Set(f64::from(interval.peak_confidence)),
            });
        }
    }
    for chunk in objects.chunks(CHUNK) {
        tracked_object::Entity::insert_many(chunk.to_vec()).exec(&txn).await?;
    }
    for chunk in emotions.chunks(CHUNK) {
        emotion_interval::Entity::insert_many(chunk.to_vec()).exec(&txn).await?;
    }
    for chunk in behaviours.chunks(CHUNK) {
        behaviour_interval::Entity::insert_many(chunk.to_vec()).exec(&txn).await?;
    }
    queue::set_session_status(&txn, job.session_id, SessionStatus::Done).await?;
    txn.commit().await?;
    Ok(Some(done))
}
