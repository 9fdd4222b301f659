use sea_orm::entity::prelude::*;

use crate::enums::JobStatus;

/// One export of a child's data: queued by a user, built into one ZIP by a worker holding its
/// lease, downloadable until `expires_at`, then deleted.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "child_exports")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub child_id: Uuid,
    pub organisation_id: Uuid,
    pub requested_by: Option<Uuid>,
    pub include_videos: bool,
    /// Whether the counsellors' notes go in (not for an export a guardian asked for).
    pub include_notes: bool,
    pub status: JobStatus,
    pub attempts: i32,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    /// Where the ZIP is, once built (and until it expires).
    pub blob_key: Option<String>,
    pub size_bytes: Option<i64>,
    pub error: Option<String>,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    pub expires_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "super::child::Entity", from = "Column::ChildId", to = "super::child::Column::Id")]
    Child,
}

impl ActiveModelBehavior for ActiveModel {}
