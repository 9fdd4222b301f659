//! Who may see and do what. Every resolver and loader gets its rights from here, and only here.
//!
//! The rules:
//! - Nothing is ever visible across organisations.
//! - ADMIN: every child of their organisation; may do everything there.
//! - COUNSELLOR: the children assigned to them; may edit those children, record sessions,
//!   upload videos, run analyses and label tracked people; review the analyses (confirm,
//!   reject, change or add intervals — with the organisation's codes too — add session
//!   markers, set the review state). A counsellor's own intervals and markers are theirs (and
//!   admins') to change: the review mutations check the author. May create
//!   children (they are assigned to the creator). May not delete children or change who is
//!   assigned.
//! - GUARDIAN: read-only access to the reports of their own (linked) children — not to the
//!   videos themselves, nor to the counsellors' notes (a session marker's note included), nor
//!   to what the counsellors rejected (the model view). When their organisation says so
//!   (`guardians_see_reviewed_only`), only to the sessions a counsellor marked REVIEWED:
//!   others answer `NOT_FOUND` and are left out of every list ([`session_scope`]). A guardian gives and withdraws consent
//!   for their own children, and sees who accessed their records (`Child.accessLog`).
//! - Consent may also be recorded by a counsellor of the child (from a guardian's paper form)
//!   or an admin. The organisation's whole audit log is for admins only.
//! - Exports of a child: admins, the child's counsellors and guardians; with the videos only
//!   for those who may watch them; with the notes only for those who may read them; an export
//!   is seen by whoever asked for it and by admins ([`may_see_export`]). Retention
//!   policies and the coding scheme: everyone of the organisation may read them, admins set
//!   them.
//! - API keys (third parties) only read, and never more than their scope: COUNSELLOR reads
//!   what a counsellor may (children, sessions, results, notes), REPORTS the same without the
//!   notes. Neither watches videos (a signed link would outlive the key's revocation), exports,
//!   gives consent, reads audit logs, or manages users, keys or trusted documents. A key sees
//!   every child of its organisation, or only those it was restricted to. Admins manage keys.
//!
//! Visibility is a SQL condition on `children` ([`child_scope`]): every entry point (a root
//! list, `node`, `child`, `session`, `job`, every mutation) resolves its target's child under
//! that condition. Whatever cannot be seen answers `NOT_FOUND`, exactly like what does not
//! exist; what can be seen but not changed answers `FORBIDDEN`. Nested edges (a child's
//! sessions, a session's objects, …) are reached only through a parent that passed this check,
//! so their loaders need no second one.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use entity::{
    enums::{ApiKeyScope, ReviewState, Role, SessionStatus},
    organisation, session,
};
use sea_orm::{ConnectionTrait, EntityTrait, Statement, Value};
use uuid::Uuid;

use crate::{
    auth::{Principal, Viewer},
    error::{ApiError, ApiResult},
    sql::{Sql, statement},
};

/// What a caller wants to do to a child or anything under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChildAction {
    /// Read the child, its sessions, tracked people, intervals and jobs.
    Read,
    /// Read the counsellors' notes on the child and its sessions.
    ReadNotes,
    /// Change the child's name, birth date or notes.
    Edit,
    /// Change which counsellors and guardians are linked to the child.
    Assign,
    /// Erase the child and everything under it.
    Delete,
    /// Record sessions, upload videos, run analyses, label tracked people.
    Record,
    /// Review an analysis: confirm, reject, change or add intervals, add session markers, set
    /// the session's review state.
    Review,
    /// Watch or download the session videos.
    WatchVideo,
    /// Give or withdraw consent for the child.
    ManageConsent,
    /// See who read or changed the child's records.
    ReadAccessLog,
    /// Export everything recorded about the child (videos only with `WatchVideo` too).
    Export,
}

/// Actions on the organisation itself rather than on one child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrganisationAction {
    CreateChild,
    ManageUsers,
    ReadAuditLog,
    /// Read how long the organisation keeps videos and records.
    ReadRetentionPolicy,
    SetRetentionPolicy,
    /// Create, list and revoke API keys; register trusted documents and require them.
    ManageApiKeys,
    /// Read whether guardians see reviewed sessions only.
    ReadReviewPolicy,
    SetReviewPolicy,
    /// Read the organisation's coding scheme (its codes appear in everyone's reports).
    ReadCodingScheme,
    /// Define and retire the organisation's behaviour codes.
    ManageCodingScheme,
}

/// Something that belongs to exactly one child.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    Child(Uuid),
    Session(Uuid),
    Object(Uuid),
    Job(Uuid),
    Export(Uuid),
    EmotionInterval(Uuid),
    BehaviourInterval(Uuid),
    CodedInterval(Uuid),
    SessionMarker(Uuid),
}

/// Whether the viewer's role or key scope allows `action` on a child they can see.
pub fn allows(viewer: &Viewer, action: ChildAction) -> bool {
    match viewer.principal {
        Principal::User(role) => role_allows(role, action),
        Principal::Key(grant) => scope_allows(grant.scope, action),
    }
}

/// Whether the viewer may do `action` in their organisation.
pub fn allows_in_organisation(viewer: &Viewer, action: OrganisationAction) -> bool {
    match viewer.principal {
        Principal::User(role) => role_allows_in_organisation(role, action),
        Principal::Key(_) => {
            matches!(
                action,
                OrganisationAction::ReadRetentionPolicy
                    | OrganisationAction::ReadReviewPolicy
                    | OrganisationAction::ReadCodingScheme
            )
        }
    }
}

fn scope_allows(scope: ApiKeyScope, action: ChildAction) -> bool {
    match scope {
        ApiKeyScope::Counsellor => matches!(action, ChildAction::Read | ChildAction::ReadNotes),
        ApiKeyScope::Reports => action == ChildAction::Read,
    }
}

fn role_allows(role: Role, action: ChildAction) -> bool {
    use ChildAction::*;
    match role {
        Role::Admin => true,
        Role::Counsellor => {
            matches!(action, Read | ReadNotes | Edit | Record | Review | WatchVideo | ManageConsent | Export)
        }
        Role::Guardian => matches!(action, Read | ManageConsent | ReadAccessLog | Export),
    }
}

fn role_allows_in_organisation(role: Role, action: OrganisationAction) -> bool {
    match action {
        OrganisationAction::CreateChild => matches!(role, Role::Admin | Role::Counsellor),
        OrganisationAction::ManageUsers
        | OrganisationAction::ReadAuditLog
        | OrganisationAction::SetRetentionPolicy
        | OrganisationAction::ManageApiKeys
        | OrganisationAction::SetReviewPolicy
        | OrganisationAction::ManageCodingScheme => role == Role::Admin,
        OrganisationAction::ReadReviewPolicy | OrganisationAction::ReadCodingScheme => true,
        // Families are entitled to know how long their child's videos are kept.
        OrganisationAction::ReadRetentionPolicy => true,
    }
}

/// The condition that keeps only children (table alias `alias`) the viewer may see.
pub fn child_scope(viewer: &Viewer, alias: &str) -> Sql {
    let mut scope = Sql::new(format!("{alias}.organisation_id = ?"), [viewer.organisation_id.into()]);
    let link_table = match viewer.principal {
        Principal::User(Role::Admin) => return scope,
        Principal::User(Role::Counsellor) => "child_counsellors",
        Principal::User(Role::Guardian) => "child_guardians",
        Principal::Key(grant) if grant.restricted => {
            let listed = format!("{alias}.id IN (SELECT child_id FROM api_key_children WHERE key_id = ?)");
            scope.and(Sql::new(listed, [grant.id.into()]));
            return scope;
        }
        Principal::Key(_) => return scope,
    };
    scope.and(Sql::new(
        format!("{alias}.id IN (SELECT child_id FROM {link_table} WHERE user_id = ?)"),
        [viewer.user_id.into()],
    ));
    scope
}

/// The condition that keeps only sessions (table alias `alias`) the viewer may see, among those
/// of children they may see: for a guardian whose organisation shows reviewed sessions only,
/// the REVIEWED ones whose analysis is DONE (a re-analysis of a reviewed session is not
/// reviewed, and its live intervals are the model's alone); for everyone else, all.
pub fn session_scope(viewer: &Viewer, alias: &str) -> Sql {
    if viewer.role() != Some(Role::Guardian) {
        return Sql::default();
    }
    Sql::new(
        format!(
            "(({alias}.review_state = 'REVIEWED' AND {alias}.status = 'DONE') OR NOT EXISTS (SELECT 1 \
             FROM organisations scope_o WHERE scope_o.id = ? AND scope_o.guardians_see_reviewed_only = ?))"
        ),
        [viewer.organisation_id.into(), true.into()],
    )
}

/// The sessions a guardian sees under the reviewed-only policy ([`session_scope`]), as a
/// condition on the `sessions` table for query builders.
pub fn reviewed_sessions() -> sea_orm::Condition {
    use sea_orm::ColumnTrait;
    sea_orm::Condition::all()
        .add(session::Column::ReviewState.eq(ReviewState::Reviewed))
        .add(session::Column::Status.eq(SessionStatus::Done))
}

/// Whether the viewer sees only REVIEWED sessions (see [`session_scope`]), for readers that
/// filter in Rust rather than SQL.
pub async fn sees_reviewed_only(db: &impl ConnectionTrait, viewer: &Viewer) -> ApiResult<bool> {
    if viewer.role() != Some(Role::Guardian) {
        return Ok(false);
    }
    let organisation = organisation::Entity::find_by_id(viewer.organisation_id).one(db).await?;
    Ok(shows_reviewed_only(viewer, organisation.as_ref()))
}

/// [`sees_reviewed_only`], given the viewer's organisation.
pub fn shows_reviewed_only(viewer: &Viewer, organisation: Option<&organisation::Model>) -> bool {
    viewer.role() == Some(Role::Guardian)
        && organisation.is_some_and(|organisation| organisation.guardians_see_reviewed_only)
}

/// Resolves the child `target` belongs to, if the viewer may see it, and checks that the
/// viewer's role allows `action` on it. Returns the child's id.
pub async fn authorize(
    db: &impl ConnectionTrait,
    viewer: &Viewer,
    target: Target,
    action: ChildAction,
) -> ApiResult<Uuid> {
    let (joins, id_column, id) = match target {
        Target::Child(id) => ("", "c.id", id),
        Target::Session(id) => ("JOIN sessions s ON s.child_id = c.id", "s.id", id),
        Target::Job(id) => {
            ("JOIN sessions s ON s.child_id = c.id JOIN analysis_jobs j ON j.session_id = s.id", "j.id", id)
        }
        Target::Export(id) => ("JOIN child_exports x ON x.child_id = c.id", "x.id", id),
        Target::Object(id) => {
            ("JOIN sessions s ON s.child_id = c.id JOIN tracked_objects o ON o.session_id = s.id", "o.id", id)
        }
        Target::EmotionInterval(id) => (
            "JOIN sessions s ON s.child_id = c.id JOIN tracked_objects o ON o.session_id = s.id \
             JOIN emotion_intervals i ON i.object_id = o.id",
            "i.id",
            id,
        ),
        Target::BehaviourInterval(id) => (
            "JOIN sessions s ON s.child_id = c.id JOIN tracked_objects o ON o.session_id = s.id \
             JOIN behaviour_intervals i ON i.object_id = o.id",
            "i.id",
            id,
        ),
        Target::CodedInterval(id) => (
            "JOIN sessions s ON s.child_id = c.id JOIN tracked_objects o ON o.session_id = s.id \
             JOIN coded_intervals i ON i.object_id = o.id",
            "i.id",
            id,
        ),
        Target::SessionMarker(id) => {
            ("JOIN sessions s ON s.child_id = c.id JOIN session_markers m ON m.session_id = s.id", "m.id", id)
        }
    };
    let mut condition = Sql::new(format!("{id_column} = ?"), [Value::from(id)]);
    condition.and(child_scope(viewer, "c"));
    if joins.contains("JOIN sessions s") {
        condition.and(session_scope(viewer, "s"));
    }
    // What the counsellors rejected is theirs to see, like their notes (the model view).
    if matches!(target, Target::EmotionInterval(_) | Target::BehaviourInterval(_))
        && !allows(viewer, ChildAction::ReadNotes)
    {
        condition.and(Sql::new(crate::review::IntervalView::reviewed_sql("i"), []));
    }
    let query: Statement = statement(
        db.get_database_backend(),
        &format!("SELECT c.id AS child_id FROM children c {joins} WHERE {}", condition.text),
        condition.values,
    );
    let row = db.query_one_raw(query).await?.ok_or(ApiError::NotFound)?;
    let child_id: Uuid = row.try_get("", "child_id")?;
    if !allows(viewer, action) {
        return Err(ApiError::Forbidden);
    }
    Ok(child_id)
}

/// Recent answers of [`authorize`] for subscriptions, which ask again before every event: at
/// most one query per viewer and target per `ttl` (the same bound as for sign-ins), and none
/// stale on this gateway once assignments change here (`forget_all`).
#[derive(Clone)]
pub struct RecentRights {
    ttl: Duration,
    answers: Arc<Mutex<Answers>>,
}

/// When each question was last answered, and the child it allowed (`None`: refused).
type Answers = HashMap<(Viewer, Target, ChildAction), (Instant, Option<Uuid>)>;

impl RecentRights {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, answers: Default::default() }
    }

    /// [`authorize`], answered from the last `ttl` when it can be.
    pub async fn authorize(
        &self,
        db: &impl ConnectionTrait,
        viewer: &Viewer,
        target: Target,
        action: ChildAction,
    ) -> ApiResult<Uuid> {
        let key = (*viewer, target, action);
        if let Some((at, answer)) = self.answers.lock().expect("not poisoned").get(&key)
            && at.elapsed() < self.ttl
        {
            return answer.ok_or(ApiError::NotFound);
        }
        let answer = match authorize(db, viewer, target, action).await {
            Ok(child_id) => Some(child_id),
            Err(ApiError::NotFound | ApiError::Forbidden) => None,
            Err(error) => return Err(error),
        };
        let mut answers = self.answers.lock().expect("not poisoned");
        if answers.len() >= 10_000 {
            answers.clear();
        }
        answers.insert(key, (Instant::now(), answer));
        answer.ok_or(ApiError::NotFound)
    }

    /// Drops every remembered answer (after a change of who may see what).
    pub fn forget_all(&self) {
        self.answers.lock().expect("not poisoned").clear();
    }
}

/// Users are visible within their organisation (a guardian sees who the counsellor is).
/// Returns the organisation the viewer may see users of.
pub fn user_scope(viewer: &Viewer) -> Uuid {
    viewer.organisation_id
}

/// Within that scope, an API key sees one user: the admin who answers for it (`me`), not the
/// organisation's staff and families (their ids and roles on sessions and consents, yes; their
/// names and e-mails, no).
pub fn may_see_user(viewer: &Viewer, user: Uuid) -> bool {
    viewer.key().is_none() || user == viewer.user_id
}

/// An export is its requester's (it may hold what others of the child's people may not see:
/// videos, notes), and the organisation's admins'. Checked after `authorize(Export)`.
pub fn may_see_export(viewer: &Viewer, requested_by: Option<Uuid>) -> bool {
    match viewer.principal {
        Principal::User(Role::Admin) => true,
        Principal::User(_) => requested_by == Some(viewer.user_id),
        // A key's `user_id` is its creator's: their exports are not the key's.
        Principal::Key(_) => false,
    }
}

/// Where an audit entry came from (client address, request id, operation) is for admins; a
/// guardian reading their child's access log sees who, when and what.
pub fn may_see_audit_origin(viewer: &Viewer) -> bool {
    viewer.role() == Some(Role::Admin)
}

pub fn authorize_in_organisation(viewer: &Viewer, action: OrganisationAction) -> ApiResult<()> {
    if allows_in_organisation(viewer, action) { Ok(()) } else { Err(ApiError::Forbidden) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guardians_read_and_decide_consent() {
        for action in [
            ChildAction::ReadNotes,
            ChildAction::Edit,
            ChildAction::Assign,
            ChildAction::Delete,
            ChildAction::Record,
            ChildAction::Review,
            ChildAction::WatchVideo,
        ] {
            assert!(!role_allows(Role::Guardian, action), "{action:?}");
        }
        for action in [ChildAction::Read, ChildAction::ManageConsent, ChildAction::ReadAccessLog] {
            assert!(role_allows(Role::Guardian, action), "{action:?}");
        }
        assert!(!role_allows_in_organisation(Role::Guardian, OrganisationAction::ReadAuditLog));
        assert!(!role_allows_in_organisation(Role::Counsellor, OrganisationAction::ReadAuditLog));
    }

    #[test]
    fn counsellors_cannot_delete_or_reassign() {
        assert!(role_allows(Role::Counsellor, ChildAction::ReadNotes));
        assert!(!role_allows(Role::Counsellor, ChildAction::Delete));
        assert!(!role_allows(Role::Counsellor, ChildAction::Assign));
        assert!(role_allows(Role::Counsellor, ChildAction::Record));
        assert!(role_allows(Role::Counsellor, ChildAction::Review));
        assert!(!role_allows(Role::Counsellor, ChildAction::ReadAccessLog));
    }

    #[test]
    fn keys_only_read_within_their_scope() {
        let key = |scope| Viewer {
            user_id: Uuid::nil(),
            organisation_id: Uuid::nil(),
            principal: Principal::Key(crate::auth::KeyGrant {
                id: Uuid::nil(),
                scope,
                restricted: false,
                trusted_documents_only: false,
            }),
        };
        let (counsellor, reports) = (key(ApiKeyScope::Counsellor), key(ApiKeyScope::Reports));
        for action in [
            ChildAction::Edit,
            ChildAction::Assign,
            ChildAction::Delete,
            ChildAction::Record,
            ChildAction::Review,
            ChildAction::WatchVideo,
            ChildAction::ManageConsent,
            ChildAction::ReadAccessLog,
            ChildAction::Export,
        ] {
            assert!(!allows(&counsellor, action) && !allows(&reports, action), "{action:?}");
        }
        assert!(allows(&counsellor, ChildAction::ReadNotes) && !allows(&reports, ChildAction::ReadNotes));
        assert!(allows(&reports, ChildAction::Read));
        for action in [
            OrganisationAction::CreateChild,
            OrganisationAction::ManageUsers,
            OrganisationAction::ReadAuditLog,
            OrganisationAction::SetRetentionPolicy,
            OrganisationAction::ManageApiKeys,
        ] {
            assert!(!allows_in_organisation(&counsellor, action), "{action:?}");
        }
        assert!(!may_see_export(&counsellor, Some(Uuid::nil())), "not the creator's exports");
    }
}
