use sea_orm::entity::prelude::*;

use crate::enums::{ReviewState, SessionStatus};

/// One recorded counselling session with a child, and the metadata of its video once uploaded.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub child_id: Uuid,
    pub counsellor_id: Uuid,
    pub recorded_at: DateTimeUtc,
    pub title: String,
    pub notes: Option<String>,
    pub status: SessionStatus,
    /// Where the video lives in the blob store; derived from ids, never from a file name.
    pub video_blob_key: Option<String>,
    pub video_size_bytes: Option<i64>,
    pub video_sha256: Option<String>,
    pub video_duration_ms: Option<i64>,
    pub video_fps: Option<f64>,
    pub video_width: Option<i32>,
    pub video_height: Option<i32>,
    /// A direct upload in progress: where to, how many bytes, until when.
    pub video_upload_key: Option<String>,
    pub video_upload_size: Option<i64>,
    pub video_upload_expires_at: Option<DateTimeUtc>,
    /// Bumped by every transaction that changes the session's people or intervals.
    pub results_version: i64,
    /// How far a counsellor has reviewed the analysis, who set that and when.
    pub review_state: ReviewState,
    pub review_state_by: Option<Uuid>,
    pub review_state_at: Option<DateTimeUtc>,
    /// The SHA-256 of the video the stored results are of.
    pub analysed_video_sha256: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "super::child::Entity", from = "Column::ChildId", to = "super::child::Column::Id")]
    Child,
    #[sea_orm(belongs_to = "super::user::Entity", from = "Column::CounsellorId", to = "super::user::Column::Id")]
    Counsellor,
}

impl Related<super::child::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Child.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
