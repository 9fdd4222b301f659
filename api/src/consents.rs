//! Consent: what a child's guardians agreed to, recorded as history (a new consent is a new
//! row, a withdrawal stamps its row once), and what holds now derived from it. Without
//! RECORDING no video is stored; without AUTOMATED_ANALYSIS none is analysed. Withdrawing
//! removes, in the withdrawal's transaction, what the consent allowed: AUTOMATED_ANALYSIS the
//! child's analyses in flight, their results and the exports (which hold copies), RECORDING the
//! analyses in flight, the videos and the exports with videos (results stay). Who may give or
//! withdraw is decided before, in `access`.

use chrono::Utc;
use entity::{
    consent,
    enums::{ConsentKind, Role, SessionStatus},
    session, tracked_object,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, Set, TransactionSession, TransactionTrait, sea_query::Expr,
};
use uuid::Uuid;

use crate::{
    audit::{self, AuditEntry},
    blob::BlobStore,
    domain::Label,
    error::{ApiError, ApiResult},
    exports,
    jobs::queue::Queue,
    sessions,
};

/// Who gives or withdraws consent: a linked guardian, or a counsellor or admin recording a
/// guardian's paper form.
#[derive(Clone, Copy, Debug)]
pub struct Giver {
    pub user: Uuid,
    pub role: Role,
}

/// Whether `kind` is consented to for the child now.
pub async fn holds(db: &impl ConnectionTrait, child_id: Uuid, kind: ConsentKind) -> Result<bool, sea_orm::DbErr> {
    let given = consent::Entity::find()
        .filter(consent::Column::ChildId.eq(child_id))
        .filter(consent::Column::Kind.eq(kind))
        .filter(consent::Column::WithdrawnAt.is_null())
        .count(db)
        .await?;
    Ok(given > 0)
}

/// `CONSENT_REQUIRED` unless `kind` is consented to for the child now.
pub async fn require(db: &impl ConnectionTrait, child_id: Uuid, kind: ConsentKind) -> ApiResult<()> {
    if holds(db, child_id, kind).await? { Ok(()) } else { Err(ApiError::ConsentRequired(kind)) }
}

/// Records consent to `kind` under the consent text `text_version`. Giving what already holds
/// under the same text changes nothing and returns that record.
pub async fn give<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    child_id: Uuid,
    kind: ConsentKind,
    giver: Giver,
    text_version: &str,
    audit: Option<AuditEntry>,
) -> ApiResult<consent::Model> {
    let text_version = Label::parse("a consent text version", text_version, 64)?.into_inner();
    let txn = crate::db::begin_write(db).await?;
    let current = consent::Entity::find()
        .filter(consent::Column::ChildId.eq(child_id))
        .filter(consent::Column::Kind.eq(kind))
        .filter(consent::Column::WithdrawnAt.is_null())
        .filter(consent::Column::TextVersion.eq(&text_version))
        .one(&txn)
        .await?;
    if let Some(current) = current {
        return Ok(current);
    }
    let record = consent::ActiveModel {
        id: Set(Uuid::now_v7()),
        child_id: Set(child_id),
        kind: Set(kind),
        given_by: Set(Some(giver.user)),
        given_by_role: Set(giver.role),
        given_at: Set(Utc::now()),
        text_version: Set(text_version),
        withdrawn_at: Set(None),
        withdrawn_by: Set(None),
    }
    .insert(&txn)
    .await?;
    if let Some(entry) = audit {
        audit::append(&txn, entry).await?;
    }
    txn.commit().await?;
    Ok(record)
}

/// Withdraws consent to `kind` and removes what it allowed (see the module's rules). Returns
/// the most recent record it stamped; `BAD_USER_INPUT` when there was nothing to withdraw.
pub async fn withdraw(
    db: &DatabaseConnection,
    blobs: &dyn BlobStore,
    queue: &Queue,
    child_id: Uuid,
    kind: ConsentKind,
    by: Giver,
    audit: AuditEntry,
) -> ApiResult<consent::Model> {
    let txn = crate::db::begin_write(db).await?;
    crate::db::lock_child(&txn, child_id).await?;
    let withdrawn = consent::Entity::update_many()
        .col_expr(consent::Column::WithdrawnAt, Expr::value(Utc::now()))
        .col_expr(consent::Column::WithdrawnBy, Expr::value(by.user))
        .filter(consent::Column::ChildId.eq(child_id))
        .filter(consent::Column::Kind.eq(kind))
        .filter(consent::Column::WithdrawnAt.is_null())
        .exec_with_returning(&txn)
        .await?;
    let Some(latest) = withdrawn.into_iter().max_by_key(|record| (record.given_at, record.id)) else {
        return Err(ApiError::bad_input(format!("no {} consent is in force to withdraw", kind.as_str())));
    };
    audit::append(&txn, audit).await?;
    // Exports hold copies of what goes: all of them hold results, some the videos.
    let mut blobs_to_remove = Vec::new();
    match kind {
        ConsentKind::AutomatedAnalysis => {
            queue.cancel_all_of_child(&txn, child_id).await?;
            queue.erase_results_of_child(&txn, child_id).await?;
            blobs_to_remove.extend(exports::delete_of_child(&txn, child_id, false).await?);
        }
        ConsentKind::Recording => {
            queue.cancel_all_of_child(&txn, child_id).await?;
            blobs_to_remove.extend(forget_videos(&txn, child_id).await?);
            blobs_to_remove.extend(exports::delete_of_child(&txn, child_id, true).await?);
        }
        ConsentKind::ResearchExport => {}
    }
    txn.commit().await?;
    sessions::remove_videos(blobs, blobs_to_remove).await;
    Ok(latest)
}

/// Detaches every video (stored or half-uploaded) from the child's sessions and returns their
/// keys, to be removed once this commits. Sessions with results stay DONE; others wait for a
/// video again (UPLOADING).
async fn forget_videos(txn: &impl ConnectionTrait, child_id: Uuid) -> ApiResult<Vec<String>> {
    let keys = sessions::video_keys(txn, session::Column::ChildId.eq(child_id)).await?;
    let analysed = tracked_object::Entity::find()
        .select_only()
        .column(tracked_object::Column::SessionId)
        .filter(
            tracked_object::Column::SessionId.in_subquery(sea_orm::QueryTrait::into_query(
                session::Entity::find()
                    .select_only()
                    .column(session::Column::Id)
                    .filter(session::Column::ChildId.eq(child_id)),
            )),
        )
        .distinct()
        .into_tuple::<Uuid>()
        .all(txn)
        .await?;
    let no_video = |update| sessions::detach_video(update).filter(session::Column::ChildId.eq(child_id));
    no_video(session::Entity::update_many())
        .col_expr(session::Column::Status, Expr::value(SessionStatus::Done.as_str()))
        .filter(session::Column::Id.is_in(analysed.clone()))
        .exec(txn)
        .await?;
    no_video(session::Entity::update_many())
        .col_expr(session::Column::Status, Expr::value(SessionStatus::Uploading.as_str()))
        .filter(session::Column::Id.is_not_in(analysed))
        .exec(txn)
        .await?;
    Ok(keys)
}
