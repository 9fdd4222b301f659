//! Exports of a child's data (GDPR Art. 15/20): a user queues one (`request`), a worker claims
//! it with a lease like an analysis (`claim`: PostgreSQL `FOR UPDATE SKIP LOCKED`, SQLite one
//! statement), builds one ZIP (`archive`) and stores it; the ZIP can be downloaded through a
//! short-lived URL until the export expires a day later (`expire` deletes it). Erasing the
//! child deletes its exports with it. Who may export is decided before, in `access`.

mod archive;

use chrono::{DateTime, Duration, Utc};
use entity::{child_export, enums::JobStatus};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult,
    QueryFilter, Set, sea_query::Expr,
};
use uuid::Uuid;

pub use archive::build as build_archive;

use crate::{
    audit::{self, Actor, AuditAction, AuditEntry, Origin},
    blob::BlobStore,
    error::ApiResult,
    sql,
};

/// How long a finished export can be downloaded.
pub const EXPORT_LIFETIME_HOURS: i64 = 24;
/// Attempts before an export ends FAILED.
pub const MAX_ATTEMPTS: i32 = 3;

/// What to export, and for whom.
#[derive(Clone, Copy, Debug)]
pub struct ExportRequest {
    pub child_id: Uuid,
    pub organisation_id: Uuid,
    pub requested_by: Uuid,
    pub include_videos: bool,
    pub include_notes: bool,
}

/// Queues an export (QUEUED), with its audit entry in the same transaction. While one of the
/// requester's exports of the child is queued or running, that one is returned instead: a
/// client repeating itself can't fill the workers' disks.
pub async fn request(
    db: &DatabaseConnection,
    request: ExportRequest,
    audit: AuditEntry,
) -> ApiResult<child_export::Model> {
    let txn = crate::db::begin_write(db).await?;
    // Under the organisation's lock: a change of what guardians may see (the review policy)
    // deletes their exports, and one asked for meanwhile must not slip past it.
    crate::db::lock_organisation(&txn, request.organisation_id).await?;
    let in_flight = child_export::Entity::find()
        .filter(child_export::Column::ChildId.eq(request.child_id))
        .filter(child_export::Column::RequestedBy.eq(request.requested_by))
        .filter(child_export::Column::Status.is_in([JobStatus::Queued, JobStatus::Running]))
        .one(&txn)
        .await?;
    if let Some(export) = in_flight {
        return Ok(export);
    }
    let export = child_export::ActiveModel {
        id: Set(Uuid::now_v7()),
        child_id: Set(request.child_id),
        organisation_id: Set(request.organisation_id),
        requested_by: Set(Some(request.requested_by)),
        include_videos: Set(request.include_videos),
        include_notes: Set(request.include_notes),
        status: Set(JobStatus::Queued),
        attempts: Set(0),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        blob_key: Set(None),
        size_bytes: Set(None),
        error: Set(None),
        created_at: Set(Utc::now()),
        finished_at: Set(None),
        expires_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::append(&txn, audit.child(request.child_id)).await?;
    txn.commit().await?;
    Ok(export)
}

/// Takes the oldest export that is queued, or running on an expired lease (its worker died),
/// for `worker` until `now + lease`.
pub async fn claim(
    db: &impl ConnectionTrait,
    worker: &str,
    now: DateTime<Utc>,
    lease: std::time::Duration,
) -> Result<Option<child_export::Model>, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let lock = if backend == DbBackend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
    let text = format!(
        "UPDATE child_exports SET status = ?, lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1 \
         WHERE id = (SELECT id FROM child_exports \
                     WHERE (status = ? OR (status = ? AND lease_expires_at < ?)) AND attempts < ? \
                     ORDER BY created_at LIMIT 1{lock}) \
         RETURNING *"
    );
    let lease_until = now + Duration::from_std(lease).unwrap_or(Duration::MAX);
    let values = vec![
        JobStatus::Running.as_str().into(),
        worker.into(),
        lease_until.into(),
        JobStatus::Queued.as_str().into(),
        JobStatus::Running.as_str().into(),
        now.into(),
        MAX_ATTEMPTS.into(),
    ];
    child_export::Model::find_by_statement(sql::statement(backend, &text, values)).one(db).await
}

/// Records the stored ZIP, if `worker` still holds the export. `false`: it does not (taken
/// over, or the child was erased meanwhile), and the caller removes the ZIP.
pub async fn complete(
    db: &impl ConnectionTrait,
    export: &child_export::Model,
    worker: &str,
    key: &str,
    size: u64,
    now: DateTime<Utc>,
) -> Result<bool, sea_orm::DbErr> {
    let done = held(export.id, worker)
        .col_expr(child_export::Column::Status, Expr::value(JobStatus::Done.as_str()))
        .col_expr(child_export::Column::BlobKey, Expr::value(key))
        .col_expr(child_export::Column::SizeBytes, Expr::value(size as i64))
        .col_expr(child_export::Column::FinishedAt, Expr::value(now))
        .col_expr(child_export::Column::ExpiresAt, Expr::value(now + Duration::hours(EXPORT_LIFETIME_HOURS)))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Records a failed attempt: queued again while attempts are left, else FAILED with `reason`.
pub async fn fail(
    db: &impl ConnectionTrait,
    export: &child_export::Model,
    worker: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), sea_orm::DbErr> {
    let status = if export.attempts < MAX_ATTEMPTS { JobStatus::Queued } else { JobStatus::Failed };
    held(export.id, worker)
        .col_expr(child_export::Column::Status, Expr::value(status.as_str()))
        .col_expr(child_export::Column::Error, Expr::value(reason))
        .col_expr(child_export::Column::FinishedAt, Expr::value((status == JobStatus::Failed).then_some(now)))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes the exports whose day is over (their ZIP and their row, logged in the audit log),
/// and ends FAILED those whose worker died on their last attempt. Returns how many expired.
pub async fn expire(db: &DatabaseConnection, blobs: &dyn BlobStore, now: DateTime<Utc>) -> ApiResult<usize> {
    child_export::Entity::update_many()
        .col_expr(child_export::Column::Status, Expr::value(JobStatus::Failed.as_str()))
        .col_expr(child_export::Column::Error, Expr::value("the export's worker stopped responding"))
        .col_expr(child_export::Column::FinishedAt, Expr::value(now))
        .col_expr(child_export::Column::ExpiresAt, Expr::value(now + Duration::hours(EXPORT_LIFETIME_HOURS)))
        .filter(child_export::Column::Status.eq(JobStatus::Running))
        .filter(child_export::Column::LeaseExpiresAt.lt(now))
        .filter(child_export::Column::Attempts.gte(MAX_ATTEMPTS))
        .exec(db)
        .await?;
    let expired = child_export::Entity::find().filter(child_export::Column::ExpiresAt.lte(now)).all(db).await?;
    let mut deleted = 0;
    for export in expired {
        let txn = crate::db::begin_write(db).await?;
        let gone = child_export::Entity::delete_by_id(export.id).exec(&txn).await?;
        if gone.rows_affected == 0 {
            continue;
        }
        let actor = Actor { organisation: Some(export.organisation_id), ..Actor::SYSTEM };
        audit::append(
            &txn,
            AuditEntry::new(AuditAction::ExportExpire, actor, Origin::default()).child(export.child_id),
        )
        .await?;
        txn.commit().await?;
        if let Some(key) = &export.blob_key {
            crate::videos::remove_quietly(blobs, key).await;
        }
        deleted += 1;
    }
    Ok(deleted)
}

/// Deletes the child's exports inside `txn` — those with videos only, or all — and returns
/// their ZIPs' keys, to be removed once it commits (consent withdrawn: the ZIPs hold copies).
pub async fn delete_of_child(
    txn: &impl ConnectionTrait,
    child_id: Uuid,
    only_with_videos: bool,
) -> Result<Vec<String>, sea_orm::DbErr> {
    let mut doomed = child_export::Entity::delete_many().filter(child_export::Column::ChildId.eq(child_id));
    if only_with_videos {
        doomed = doomed.filter(child_export::Column::IncludeVideos.eq(true));
    }
    let deleted = doomed.exec_with_returning(txn).await?;
    Ok(deleted.into_iter().filter_map(|export| export.blob_key).collect())
}

/// Deletes the exports guardians of `organisation_id` asked for, inside `txn`, and returns
/// their ZIPs' keys, to be removed once it commits (the organisation now shows guardians less
/// than those ZIPs hold: they ask again).
pub async fn delete_of_guardians(
    txn: &impl ConnectionTrait,
    organisation_id: Uuid,
) -> Result<Vec<String>, sea_orm::DbErr> {
    use sea_orm::QuerySelect;
    let guardians: Vec<Uuid> = entity::user::Entity::find()
        .select_only()
        .column(entity::user::Column::Id)
        .filter(entity::user::Column::OrganisationId.eq(organisation_id))
        .filter(entity::user::Column::Role.eq(entity::enums::Role::Guardian))
        .into_tuple()
        .all(txn)
        .await?;
    let mut keys = Vec::new();
    // Bounded lists: well under both backends' bound-parameter limits.
    for chunk in guardians.chunks(500) {
        let deleted = child_export::Entity::delete_many()
            .filter(child_export::Column::OrganisationId.eq(organisation_id))
            .filter(child_export::Column::RequestedBy.is_in(chunk.iter().copied()))
            .exec_with_returning(txn)
            .await?;
        keys.extend(deleted.into_iter().filter_map(|export| export.blob_key));
    }
    Ok(keys)
}

/// An update of an export `worker` holds.
fn held(export_id: Uuid, worker: &str) -> sea_orm::UpdateMany<child_export::Entity> {
    child_export::Entity::update_many()
        .col_expr(child_export::Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(child_export::Column::LeaseExpiresAt, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(child_export::Column::Id.eq(export_id))
        .filter(child_export::Column::LeaseOwner.eq(worker))
        .filter(child_export::Column::Status.eq(JobStatus::Running))
}
