//! Children: creating, changing and erasing them, and who is linked to them. Shared by the
//! GraphQL mutations and the demo seed, so both build the same rows the same way. Who may do
//! this is decided before, in `access`.

use chrono::{NaiveDate, Utc};
use entity::{child, child_counsellor, child_guardian, session};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, Set, TransactionSession,
    TransactionTrait,
};
use uuid::Uuid;

use crate::{
    audit::{self, AuditEntry},
    blob::BlobStore,
    domain::{self, Label},
    error::ApiResult,
    exports, sessions,
};

/// A child's details, checked.
pub struct NewChild {
    pub name: Label,
    pub birth_date: Option<NaiveDate>,
    pub notes: Option<String>,
}

impl NewChild {
    pub fn parse(name: &str, birth_date: Option<NaiveDate>, notes: Option<String>) -> ApiResult<Self> {
        Ok(Self { name: parse_name(name)?, birth_date, notes: domain::notes(notes)? })
    }
}

/// Changes to a child's details; `None` leaves a detail as it is.
#[derive(Default)]
pub struct ChildChanges {
    pub name: Option<Label>,
    pub birth_date: Option<NaiveDate>,
    /// `Some(None)` clears the notes.
    pub notes: Option<Option<String>>,
}

impl ChildChanges {
    pub fn parse(name: Option<&str>, birth_date: Option<NaiveDate>, notes: Option<String>) -> ApiResult<Self> {
        let notes = match notes {
            Some(text) => Some(domain::notes(Some(text))?),
            None => None,
        };
        Ok(Self { name: name.map(parse_name).transpose()?, birth_date, notes })
    }
}

fn parse_name(name: &str) -> ApiResult<Label> {
    Label::parse("a child's name", name, 200)
}

/// Who is linked to a child; `None` leaves that side as it is.
#[derive(Default)]
pub struct Links {
    pub counsellors: Option<Vec<Uuid>>,
    pub guardians: Option<Vec<Uuid>>,
}

pub async fn create<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    organisation_id: Uuid,
    new: NewChild,
    links: Links,
    audit: Option<AuditEntry>,
) -> ApiResult<child::Model> {
    let now = Utc::now();
    let row = child::ActiveModel {
        id: Set(Uuid::now_v7()),
        organisation_id: Set(organisation_id),
        name: Set(new.name.into_inner()),
        birth_date: Set(new.birth_date),
        notes: Set(new.notes),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let txn = crate::db::begin_write(db).await?;
    let child = row.insert(&txn).await?;
    replace_links(&txn, child.id, links).await?;
    if let Some(entry) = audit {
        audit::append(&txn, entry.child(child.id)).await?;
    }
    txn.commit().await?;
    Ok(child)
}

pub async fn update<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    child: child::Model,
    changes: ChildChanges,
    links: Links,
    audit: Vec<AuditEntry>,
) -> ApiResult<child::Model> {
    let child_id = child.id;
    let mut model = child.into_active_model();
    if let Some(name) = changes.name {
        model.name = Set(name.into_inner());
    }
    if let Some(date) = changes.birth_date {
        model.birth_date = Set(Some(date));
    }
    if let Some(notes) = changes.notes {
        model.notes = Set(notes);
    }
    model.updated_at = Set(Utc::now());
    let txn = crate::db::begin_write(db).await?;
    let child = model.update(&txn).await?;
    replace_links(&txn, child_id, links).await?;
    for entry in audit {
        audit::append(&txn, entry.child(child_id)).await?;
    }
    txn.commit().await?;
    Ok(child)
}

/// Erases a child and everything recorded about them: sessions, analyses, results, videos,
/// consents, exports. The audit log keeps its entries, which name the child by id only.
pub async fn erase<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    blobs: &dyn BlobStore,
    child_id: Uuid,
    audit: AuditEntry,
) -> ApiResult<bool> {
    let txn = crate::db::begin_write(db).await?;
    // No upload records a video, and no export is completed, while the keys are gathered.
    crate::db::lock_child(&txn, child_id).await?;
    let mut keys = sessions::video_keys(&txn, session::Column::ChildId.eq(child_id)).await?;
    keys.extend(exports::delete_of_child(&txn, child_id, false).await?);
    // Foreign keys cascade to sessions, jobs, tracked objects, intervals, links and consents.
    let deleted = child::Entity::delete_by_id(child_id).exec(&txn).await?;
    if deleted.rows_affected == 0 {
        return Ok(false);
    }
    audit::append(&txn, audit.child(child_id)).await?;
    txn.commit().await?;
    sessions::remove_videos(blobs, keys).await;
    Ok(deleted.rows_affected == 1)
}

/// Replaces the child's counsellor and/or guardian links.
async fn replace_links(db: &impl ConnectionTrait, child_id: Uuid, links: Links) -> ApiResult<()> {
    if let Some(counsellors) = links.counsellors {
        child_counsellor::Entity::delete_many().filter(child_counsellor::Column::ChildId.eq(child_id)).exec(db).await?;
        for user_id in counsellors {
            child_counsellor::ActiveModel { child_id: Set(child_id), user_id: Set(user_id) }.insert(db).await?;
        }
    }
    if let Some(guardians) = links.guardians {
        child_guardian::Entity::delete_many().filter(child_guardian::Column::ChildId.eq(child_id)).exec(db).await?;
        for user_id in guardians {
            child_guardian::ActiveModel { child_id: Set(child_id), user_id: Set(user_id) }.insert(db).await?;
        }
    }
    Ok(())
}
