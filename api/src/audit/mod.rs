//! The access audit log: who read or changed a child's data, and who signed in.
//!
//! A change appends its entry in the change's own transaction ([`append`]): a change that is
//! not logged did not happen. Reads are handed to [`ReadLog`], which writes them in batches off
//! the request's path. Entries name children, sessions and users by id only, never by name, so
//! what is left of an erased child is a list of ids; the table refuses UPDATE and DELETE
//! (triggers on both backends).

mod reads;

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use entity::{audit_entry, enums::Role};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};
use uuid::Uuid;

pub use reads::ReadLog;

/// One list makes the enum, its spellings and `ALL`, so a new action can't miss one of them.
macro_rules! audit_actions {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)+) => {
        /// What an entry records. The spelling (`child.read`, …) is what `AuditEntry.action`
        /// shows.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum AuditAction {
            $($(#[$doc])* $variant,)+
        }

        impl AuditAction {
            const ALL: &'static [AuditAction] = &[$(AuditAction::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $name,)+
                }
            }
        }
    };
}

audit_actions! {
    /// A child's record or anything under it: sessions, people, intervals, trends, consents.
    ChildRead = "child.read",
    /// A link to watch or download a session's video.
    VideoWatch = "video.watch",
    ChildCreate = "child.create",
    ChildUpdate = "child.update",
    /// Counsellors or guardians linked to a child changed.
    ChildAssign = "child.assign",
    ChildDelete = "child.delete",
    SessionCreate = "session.create",
    SessionDelete = "session.delete",
    /// A direct upload URL handed out.
    VideoUploadStart = "video.upload_start",
    /// A video stored as a session's video.
    VideoUpload = "video.upload",
    AnalysisStart = "analysis.start",
    AnalysisCancel = "analysis.cancel",
    AnalysisRetry = "analysis.retry",
    ObjectLabel = "object.label",
    /// An interval confirmed, rejected or changed by a counsellor.
    IntervalReview = "interval.review",
    /// An interval coded by a counsellor.
    IntervalAdd = "interval.add",
    /// A timestamped note added to a session.
    MarkerAdd = "marker.add",
    /// A session marker's time, code or note changed.
    MarkerChange = "marker.change",
    MarkerRemove = "marker.remove",
    /// A session's review state set.
    ReviewStateSet = "session.review_state",
    /// Whether guardians see reviewed sessions only, set.
    ReviewPolicySet = "review_policy.set",
    /// A code added to the organisation's coding scheme.
    CodeDefine = "code.define",
    /// A code retired (or brought back).
    CodeRetire = "code.retire",
    ConsentGive = "consent.give",
    ConsentWithdraw = "consent.withdraw",
    UserCreate = "user.create",
    /// An export of a child's data queued.
    ChildExport = "child.export",
    /// A link to download an export.
    ExportDownload = "export.download",
    /// An organisation's retention policy changed.
    RetentionSet = "retention.set",
    /// Retention deleted a video (the server's own action).
    VideoRetentionDelete = "video.retention_delete",
    /// Retention erased a child (the server's own action).
    ChildRetentionErase = "child.retention_erase",
    /// An export's ZIP deleted after its day (the server's own action).
    ExportExpire = "export.expire",
    /// An API key created, or revoked.
    ApiKeyCreate = "apikey.create",
    ApiKeyRevoke = "apikey.revoke",
    /// Documents registered as the organisation's trusted documents.
    TrustedDocumentsRegister = "trusted_documents.register",
    /// "Trusted documents only" turned on or off.
    TrustedDocumentsRequire = "trusted_documents.require",
    SignIn = "auth.sign_in",
    SignInFailed = "auth.sign_in_failed",
    SignOut = "auth.sign_out",
}

impl AuditAction {
    /// The action spelled `name`, if there is one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|action| action.as_str() == name)
    }
}

/// Who acted: a signed-in user, a third party's API key, or the server itself (neither).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Actor {
    pub user: Option<Uuid>,
    pub key: Option<Uuid>,
    pub organisation: Option<Uuid>,
    pub role: Option<Role>,
}

impl Actor {
    pub const SYSTEM: Actor = Actor { user: None, key: None, organisation: None, role: None };

    /// An API key of `organisation` (not a user: `actor_user_id` stays empty).
    pub fn key(key: Uuid, organisation: Uuid) -> Self {
        Actor { user: None, key: Some(key), organisation: Some(organisation), role: None }
    }

    fn name(&self) -> String {
        self.to_string()
    }
}

/// `user:<uuid>`, `apikey:<uuid>` or `system`: how the audit log and the server's logs name
/// an actor.
impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.user, self.key) {
            (Some(user), _) => write!(f, "user:{user}"),
            (None, Some(key)) => write!(f, "apikey:{key}"),
            (None, None) => f.write_str("system"),
        }
    }
}

/// Where a request came from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    pub operation_name: Option<String>,
    pub request_id: Option<String>,
    pub client_address: Option<IpAddr>,
}

/// One entry, before it is written. Its id and time are taken when it is made, so a read
/// written a batch later still sorts where it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditEntry {
    id: Uuid,
    at: DateTime<Utc>,
    pub action: AuditAction,
    pub actor: Actor,
    pub child: Option<Uuid>,
    pub session: Option<Uuid>,
    pub origin: Origin,
}

impl AuditEntry {
    pub fn new(action: AuditAction, actor: Actor, origin: Origin) -> Self {
        Self { id: Uuid::now_v7(), at: Utc::now(), action, actor, child: None, session: None, origin }
    }

    pub fn child(mut self, child: Uuid) -> Self {
        self.child = Some(child);
        self
    }

    pub fn session(mut self, session: Uuid) -> Self {
        self.session = Some(session);
        self
    }

    fn into_row(self) -> audit_entry::ActiveModel {
        // The client's words: kept only as a GraphQL name of at most 64 characters.
        let operation_name = self.origin.operation_name.filter(|name| is_operation_name(name));
        audit_entry::ActiveModel {
            id: Set(self.id),
            at: Set(self.at),
            organisation_id: Set(self.actor.organisation),
            actor: Set(self.actor.name()),
            actor_user_id: Set(self.actor.user),
            role: Set(self.actor.role.map(|role| role.as_str().to_owned())),
            action: Set(self.action.as_str().to_owned()),
            child_id: Set(self.child),
            session_id: Set(self.session),
            operation_name: Set(operation_name),
            request_id: Set(self.origin.request_id),
            client_address: Set(self.origin.client_address.map(|address| address.to_string())),
        }
    }
}

/// A GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`), at most 64 characters.
fn is_operation_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Appends `entry` on `db` — the transaction of the change it records.
pub async fn append(db: &impl ConnectionTrait, entry: AuditEntry) -> Result<(), DbErr> {
    audit_entry::Entity::insert(entry.into_row()).exec_without_returning(db).await?;
    Ok(())
}

/// Appends many entries in one statement.
async fn append_all(db: &impl ConnectionTrait, entries: Vec<AuditEntry>) -> Result<(), DbErr> {
    if entries.is_empty() {
        return Ok(());
    }
    audit_entry::Entity::insert_many(entries.into_iter().map(AuditEntry::into_row)).exec_without_returning(db).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_its_own_name() {
        let names: std::collections::HashSet<_> = AuditAction::ALL.iter().map(|action| action.as_str()).collect();
        assert_eq!(names.len(), AuditAction::ALL.len());
        for &action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
        }
        assert_eq!(AuditAction::parse("child.peek"), None);
    }

    #[test]
    fn operation_names_are_graphql_names() {
        assert!(is_operation_name("GuardianReport_2"));
        assert!(!is_operation_name("Ada Lovelace's child"));
        assert!(!is_operation_name(&"x".repeat(65)));
        assert!(!is_operation_name("2fast"));
    }
}
