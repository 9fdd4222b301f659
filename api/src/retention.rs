//! Retention: each organisation keeps a video `video_retention_days` after its analysis was
//! DONE (the results stay), and everything of a child `child_retention_days` after their last
//! session (or their record's creation, without sessions). `enforce` is run by one worker at a
//! time (a scheduled task, see `jobs::maintenance`), is idempotent — each deletion is
//! conditional on what it deletes still being there — and logs each deletion in the audit log
//! as the server's own (`system`) action.

use chrono::{DateTime, Duration, Utc};
use entity::{analysis_job, enums::JobStatus, organisation, session};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::{
    audit::{self, Actor, AuditAction, AuditEntry, Origin},
    blob::BlobStore,
    children,
    error::ApiResult,
    sessions, sql,
};

/// What one run deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub videos_deleted: usize,
    pub children_erased: usize,
}

/// Until when a session's video is kept: `days` after its analysis finished.
pub fn video_retained_until(analysed_at: DateTime<Utc>, days: i32) -> DateTime<Utc> {
    analysed_at + Duration::days(i64::from(days))
}

#[derive(FromQueryResult)]
struct ExpiredVideo {
    session_id: Uuid,
    child_id: Uuid,
    video_blob_key: String,
}

/// Deletes what the organisations' policies no longer allow to keep at `now`.
#[tracing::instrument(skip_all, fields(%now))]
pub async fn enforce(db: &DatabaseConnection, blobs: &dyn BlobStore, now: DateTime<Utc>) -> ApiResult<RetentionReport> {
    let mut report = RetentionReport::default();
    let organisations = organisation::Entity::find().all(db).await?;
    for organisation in organisations {
        let actor = Actor { organisation: Some(organisation.id), ..Actor::SYSTEM };
        if let Some(days) = organisation.video_retention_days {
            for video in expired_videos(db, organisation.id, now - Duration::days(i64::from(days))).await? {
                if delete_video(db, blobs, &video, actor).await? {
                    report.videos_deleted += 1;
                }
            }
        }
        if let Some(days) = organisation.child_retention_days {
            for child_id in expired_children(db, organisation.id, now - Duration::days(i64::from(days))).await? {
                let entry = AuditEntry::new(AuditAction::ChildRetentionErase, actor, Origin::default());
                if children::erase(db, blobs, child_id, entry).await? {
                    report.children_erased += 1;
                }
            }
        }
    }
    if report != RetentionReport::default() {
        tracing::info!(?report, "retention deleted what its policies no longer keep");
    }
    Ok(report)
}

/// Videos of the organisation whose last DONE analysis finished before `cutoff`, with no
/// analysis queued or running.
async fn expired_videos(
    db: &impl ConnectionTrait,
    organisation_id: Uuid,
    cutoff: DateTime<Utc>,
) -> ApiResult<Vec<ExpiredVideo>> {
    let text = "SELECT s.id AS session_id, s.child_id AS child_id, s.video_blob_key AS video_blob_key \
                FROM sessions s JOIN children c ON c.id = s.child_id \
                WHERE c.organisation_id = ? AND s.video_blob_key IS NOT NULL \
                AND (SELECT MAX(j.finished_at) FROM analysis_jobs j WHERE j.session_id = s.id AND j.status = ?) < ? \
                AND NOT EXISTS (SELECT 1 FROM analysis_jobs a WHERE a.session_id = s.id AND a.status IN (?, ?))";
    let values = vec![
        organisation_id.into(),
        JobStatus::Done.as_str().into(),
        cutoff.into(),
        JobStatus::Queued.as_str().into(),
        JobStatus::Running.as_str().into(),
    ];
    let statement = sql::statement(db.get_database_backend(), text, values);
    Ok(ExpiredVideo::find_by_statement(statement).all(db).await?)
}

/// Detaches the video from its session (if it is still that session's video) with its audit
/// entry, then removes the blob. Whether this run deleted it.
async fn delete_video(
    db: &DatabaseConnection,
    blobs: &dyn BlobStore,
    video: &ExpiredVideo,
    actor: Actor,
) -> ApiResult<bool> {
    let txn = crate::db::begin_write(db).await?;
    // Still that session's video, and still no analysis of it queued or running.
    let in_flight = sea_orm::QueryTrait::into_query(
        analysis_job::Entity::find()
            .select_only()
            .column(analysis_job::Column::SessionId)
            .filter(analysis_job::Column::Status.is_in([JobStatus::Queued, JobStatus::Running])),
    );
    let detached = sessions::detach_video(session::Entity::update_many())
        .filter(session::Column::Id.eq(video.session_id))
        .filter(session::Column::VideoBlobKey.eq(&video.video_blob_key))
        .filter(session::Column::Id.not_in_subquery(in_flight))
        .exec(&txn)
        .await?;
    if detached.rows_affected == 0 {
        return Ok(false);
    }
    let entry = AuditEntry::new(AuditAction::VideoRetentionDelete, actor, Origin::default())
        .child(video.child_id)
        .session(video.session_id);
    audit::append(&txn, entry).await?;
    txn.commit().await?;
    sessions::remove_videos(blobs, vec![video.video_blob_key.clone()]).await;
    Ok(true)
}

#[derive(FromQueryResult)]
struct ChildActivity {
    id: Uuid,
    created_at: DateTime<Utc>,
    last_recorded: Option<DateTime<Utc>>,
    last_created: Option<DateTime<Utc>>,
}

/// Children of the organisation with nothing newer than `cutoff`: not their record, not a
/// session's creation, not a session's recording date (which the client gives, so it alone
/// can't make a child old).
async fn expired_children(
    db: &impl ConnectionTrait,
    organisation_id: Uuid,
    cutoff: DateTime<Utc>,
) -> ApiResult<Vec<Uuid>> {
    let text = "SELECT c.id AS id, c.created_at AS created_at, \
                (SELECT MAX(s.recorded_at) FROM sessions s WHERE s.child_id = c.id) AS last_recorded, \
                (SELECT MAX(s.created_at) FROM sessions s WHERE s.child_id = c.id) AS last_created \
                FROM children c WHERE c.organisation_id = ?";
    let statement = sql::statement(db.get_database_backend(), text, vec![organisation_id.into()]);
    let children = ChildActivity::find_by_statement(statement).all(db).await?;
    Ok(children
        .into_iter()
        .filter(|child| {
            let latest = [Some(child.created_at), child.last_recorded, child.last_created].into_iter().flatten().max();
            latest.is_some_and(|latest| latest < cutoff)
        })
        .map(|child| child.id)
        .collect())
}
