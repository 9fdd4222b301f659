//! sea-orm entities for i-mind's data model.
//!
//! # Layout
//! - One module per table (`organisation`, `user`, `child`, `child_counsellor`,
//!   `child_guardian`, `session`, `analysis_job`, `tracked_object`, `emotion_interval`,
//!   `behaviour_interval`, `refresh_token`, `consent`, `audit_entry` — the `audit_log` table, `scheduled_task`, `child_export`,
//!   `api_key`, `api_key_child`, `trusted_document`, `session_marker`, `behaviour_code`,
//!   `coded_interval`).
//! - [`enums`] — the closed sets the tables store (roles, statuses, labels, job stages). They
//!   double as GraphQL enums with the `graphql` feature, so the database and the API can never
//!   disagree about a label's spelling.

pub mod analysis_job;
pub mod api_key;
pub mod api_key_child;
pub mod audit_entry;
pub mod behaviour_code;
pub mod behaviour_interval;
pub mod child;
pub mod child_counsellor;
pub mod child_export;
pub mod child_guardian;
pub mod coded_interval;
pub mod consent;
pub mod emotion_interval;
pub mod enums;
pub mod organisation;
pub mod refresh_token;
pub mod scheduled_task;
pub mod session;
pub mod session_marker;
pub mod tracked_object;
pub mod trusted_document;
pub mod user;

pub mod prelude {
    pub use super::analysis_job::Entity as AnalysisJob;
    pub use super::api_key::Entity as ApiKey;
    pub use super::api_key_child::Entity as ApiKeyChild;
    pub use super::audit_entry::Entity as AuditEntry;
    pub use super::behaviour_code::Entity as BehaviourCode;
    pub use super::behaviour_interval::Entity as BehaviourInterval;
    pub use super::child::Entity as Child;
    pub use super::child_counsellor::Entity as ChildCounsellor;
    pub use super::child_export::Entity as ChildExport;
    pub use super::child_guardian::Entity as ChildGuardian;
    pub use super::coded_interval::Entity as CodedInterval;
    pub use super::consent::Entity as Consent;
    pub use super::emotion_interval::Entity as EmotionInterval;
    pub use super::organisation::Entity as Organisation;
    pub use super::refresh_token::Entity as RefreshToken;
    pub use super::scheduled_task::Entity as ScheduledTask;
    pub use super::session::Entity as Session;
    pub use super::session_marker::Entity as SessionMarker;
    pub use super::tracked_object::Entity as TrackedObject;
    pub use super::trusted_document::Entity as TrustedDocument;
    pub use super::user::Entity as User;
}
