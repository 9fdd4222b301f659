//! The rows of one analysis: a session's tracked people and their intervals, written inside
//! the transaction in which the queue marks the job DONE (`queue::Queue::complete`), so a
//! re-run never duplicates intervals and a crash leaves the old results in place.

use entity::{behaviour_interval, emotion_interval, tracked_object};
use imind_inference::AnalysisResult;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::labels;

/// Rows per INSERT: well under SQLite's bound-parameter limit at 7 columns.
const CHUNK: usize = 500;

/// Replaces the session's people and intervals with `result`'s, and bumps its results version
/// (what is derived from the old results is keyed by the old version, so no gateway uses it).
pub(super) async fn replace(
    txn: &impl ConnectionTrait,
    session_id: Uuid,
    result: &AnalysisResult,
) -> Result<(), sea_orm::DbErr> {
    crate::sessions::bump_results_version(txn, session_id).await?;
    // Intervals go with their objects (foreign keys cascade).
    tracked_object::Entity::delete_many().filter(tracked_object::Column::SessionId.eq(session_id)).exec(txn).await?;
    let mut objects = Vec::new();
    let mut emotions = Vec::new();
    let mut behaviours = Vec::new();
    for object in &result.objects {
        let object_id = Uuid::now_v7();
        objects.push(tracked_object::ActiveModel {
            id: Set(object_id),
            session_id: Set(session_id),
            label: Set(object.label.clone()),
            role: Set(labels::role(object.role)),
            role_confidence: Set(f64::from(object.role_confidence)),
            child_id: Set(None),
            first_seen_ms: Set(object.first_seen_ms),
            last_seen_ms: Set(object.last_seen_ms),
        });
        for interval in &object.emotion_intervals {
            emotions.push(emotion_interval::ActiveModel {
                id: Set(Uuid::now_v7()),
                object_id: Set(object_id),
                emotion: Set(labels::emotion(interval.label)),
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
                behaviour: Set(labels::behaviour(interval.label)),
                start_ms: Set(interval.start_ms),
                end_ms: Set(interval.end_ms),
                mean_confidence: Set(f64::from(interval.mean_confidence)),
                peak_confidence: Set(f64::from(interval.peak_confidence)),
            });
        }
    }
    for chunk in objects.chunks(CHUNK) {
        tracked_object::Entity::insert_many(chunk.to_vec()).exec(txn).await?;
    }
    for chunk in emotions.chunks(CHUNK) {
        emotion_interval::Entity::insert_many(chunk.to_vec()).exec(txn).await?;
    }
    for chunk in behaviours.chunks(CHUNK) {
        behaviour_interval::Entity::insert_many(chunk.to_vec()).exec(txn).await?;
    }
    Ok(())
}
