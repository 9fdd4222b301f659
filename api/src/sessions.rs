//! Sessions: recording and erasing them. Shared by the GraphQL mutations and the demo seed.
//! Their videos are accepted in `videos`; their analyses go through `jobs::queue`.

use chrono::{DateTime, Utc};
use entity::{
    enums::{ReviewState, SessionStatus},
    session,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, ExprTrait, QueryFilter, Set, TransactionSession,
    TransactionTrait,
    sea_query::{Expr, SimpleExpr},
};
use uuid::Uuid;

use crate::{
    audit::{self, AuditEntry},
    blob::BlobStore,
    domain::{self, Label},
    error::ApiResult,
    videos,
};

/// A session about to be recorded, checked.
pub struct NewSession {
    pub child_id: Uuid,
    pub counsellor_id: Uuid,
    pub recorded_at: DateTime<Utc>,
    pub title: Label,
    pub notes: Option<String>,
}

impl NewSession {
    pub fn parse(
        child_id: Uuid,
        counsellor_id: Uuid,
        recorded_at: DateTime<Utc>,
        title: &str,
        notes: Option<String>,
    ) -> ApiResult<Self> {
        // A day of slack for clocks and time zones; later than that is a mistake.
        if recorded_at > Utc::now() + chrono::Duration::days(1) {
            return Err(crate::error::ApiError::bad_input("recordedAt lies in the future"));
        }
        Ok(Self {
            child_id,
            counsellor_id,
            recorded_at,
            title: Label::parse("a title", title, 300)?,
            notes: domain::notes(notes)?,
        })
    }
}

/// A new session's row: no video yet (UPLOADING).
pub fn row(new: NewSession) -> session::ActiveModel {
    let now = Utc::now();
    session::ActiveModel {
        id: Set(Uuid::now_v7()),
        child_id: Set(new.child_id),
        counsellor_id: Set(new.counsellor_id),
        recorded_at: Set(new.recorded_at),
        title: Set(new.title.into_inner()),
        notes: Set(new.notes),
        status: Set(SessionStatus::Uploading),
        video_blob_key: Set(None),
        video_size_bytes: Set(None),
        video_sha256: Set(None),
        video_duration_ms: Set(None),
        video_fps: Set(None),
        video_width: Set(None),
        video_height: Set(None),
        video_upload_key: Set(None),
        video_upload_size: Set(None),
        video_upload_expires_at: Set(None),
        results_version: Set(0),
        review_state: Set(ReviewState::NotReviewed),
        review_state_by: Set(None),
        review_state_at: Set(None),
        analysed_video_sha256: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

pub async fn create(db: &impl ConnectionTrait, new: NewSession) -> ApiResult<session::Model> {
    Ok(row(new).insert(db).await?)
}

/// Erases a session and everything under it: its analyses, results and video.
pub async fn erase<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    blobs: &dyn BlobStore,
    session_id: Uuid,
    audit: AuditEntry,
) -> ApiResult<bool> {
    use sea_orm::ColumnTrait;
    let txn = crate::db::begin_write(db).await?;
    let Some(session) = session::Entity::find_by_id(session_id).one(&txn).await? else { return Ok(false) };
    // No upload records a video of it while its keys are gathered (see `db::lock_child`).
    crate::db::lock_child(&txn, session.child_id).await?;
    let keys = video_keys(&txn, session::Column::Id.eq(session_id)).await?;
    // Foreign keys cascade to jobs, tracked objects and intervals.
    let deleted = session::Entity::delete_by_id(session_id).exec(&txn).await?;
    if deleted.rows_affected == 0 {
        return Ok(false);
    }
    audit::append(&txn, audit.session(session_id)).await?;
    txn.commit().await?;
    remove_videos(blobs, keys).await;
    Ok(deleted.rows_affected == 1)
}

/// The update that detaches the stored or half-uploaded video from the sessions it matches
/// (their status is left to the caller).
pub fn detach_video(update: sea_orm::UpdateMany<session::Entity>) -> sea_orm::UpdateMany<session::Entity> {
    use sea_orm::sea_query::Expr;
    let text = || Expr::value(Option::<String>::None);
    let int = || Expr::value(Option::<i64>::None);
    update
        .col_expr(session::Column::VideoBlobKey, text())
        .col_expr(session::Column::VideoSizeBytes, int())
        .col_expr(session::Column::VideoSha256, text())
        .col_expr(session::Column::VideoDurationMs, int())
        .col_expr(session::Column::VideoFps, Expr::value(Option::<f64>::None))
        .col_expr(session::Column::VideoWidth, Expr::value(Option::<i32>::None))
        .col_expr(session::Column::VideoHeight, Expr::value(Option::<i32>::None))
        .col_expr(session::Column::VideoUploadKey, text())
        .col_expr(session::Column::VideoUploadSize, int())
        .col_expr(session::Column::VideoUploadExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(session::Column::UpdatedAt, Expr::value(Utc::now()))
}

/// Removes the videos of sessions whose rows are gone.
pub async fn remove_videos(blobs: &dyn BlobStore, keys: Vec<String>) {
    for key in keys {
        videos::remove_quietly(blobs, &key).await;
    }
}

/// Every stored or half-uploaded video of the sessions matching `filter`.
pub async fn video_keys(db: &impl ConnectionTrait, filter: SimpleExpr) -> ApiResult<Vec<String>> {
    let sessions = session::Entity::find().filter(filter).all(db).await?;
    Ok(sessions.into_iter().flat_map(|s| [s.video_blob_key, s.video_upload_key]).flatten().collect())
}

/// Marks a session's results (its people, their labels, their intervals) as changed, inside the
/// transaction that changes them: what is derived from them is keyed by this version
/// (`interval_cache`, the report pictures), so no gateway uses what was derived before.
pub async fn bump_results_version(txn: &impl ConnectionTrait, session_id: Uuid) -> Result<(), sea_orm::DbErr> {
    session::Entity::update_many()
        .col_expr(session::Column::ResultsVersion, Expr::col(session::Column::ResultsVersion).add(1))
        .filter(session::Column::Id.eq(session_id))
        .exec(txn)
        .await?;
    Ok(())
}
