//! Sessions: recording and erasing them. Shared by the GraphQL mutations and the demo seed.
//! Their videos are accepted in `videos`; their analyses go through `jobs::queue`.

use chrono::{DateTime, Utc};
use entity::{enums::SessionStatus, session};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, sea_query::SimpleExpr};
use uuid::Uuid;

use crate::{
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
        created_at: Set(now),
        updated_at: Set(now),
    }
}

pub async fn create(db: &impl ConnectionTrait, new: NewSession) -> ApiResult<session::Model> {
    Ok(row(new).insert(db).await?)
}

/// Erases a session and everything under it: its analyses, results and video.
pub async fn erase(db: &impl ConnectionTrait, blobs: &dyn BlobStore, session_id: Uuid) -> ApiResult<bool> {
    use sea_orm::ColumnTrait;
    let keys = video_keys(db, session::Column::Id.eq(session_id)).await?;
    // Foreign keys cascade to jobs, tracked objects and intervals.
    let deleted = session::Entity::delete_by_id(session_id).exec(db).await?;
    remove_videos(blobs, keys).await;
    Ok(deleted.rows_affected == 1)
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
