use sea_orm::entity::prelude::*;

use crate::enums::{JobStage, JobStatus};

/// One analysis of a session's video: a row in the durable job queue. Workers claim it with a
/// lease (`lease_owner` until `lease_expires_at`) and heartbeat while running; an expired lease
/// means the worker died and the job may be claimed again. Only the gateway's queue module
/// writes these rows.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "analysis_jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub session_id: Uuid,
    pub status: JobStatus,
    pub stage: JobStage,
    /// 0..=100.
    pub progress: f64,
    pub frames_done: i64,
    pub frames_total: i64,
    pub attempts: i32,
    pub max_attempts: i32,
    /// Why the last attempt failed, in words a counsellor can read.
    pub error: Option<String>,
    /// Analysis options as given (analysis fps, batch size), JSON.
    pub options: Option<Json>,
    /// Same key for the same session → same job (safe client retries).
    pub idempotency_key: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub heartbeat_at: Option<DateTimeUtc>,
    /// Not claimable before this time (retry back-off).
    pub run_after: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    /// What the analysis kept of the counsellors' review of the previous one, JSON (DONE jobs).
    pub review_carry_over: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "super::session::Entity", from = "Column::SessionId", to = "super::session::Column::Id")]
    Session,
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
