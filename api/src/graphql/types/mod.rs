//! GraphQL object types, one file per idea. Each wraps its database row.

mod api_key;
mod child;
mod coding;
mod compliance;
mod event;
mod export;
mod face_quality;
mod interval;
mod job;
mod node;
mod object;
mod report;
mod review;
mod scalars;
mod session;
mod user;

pub use api_key::{ApiKey, CreatedApiKey};
pub use child::{Child, EmotionShare};
pub use coding::{BehaviourCode, CodedInterval, CodingScheme};
pub use compliance::{AuditEntry, Consent, RetentionPolicy, action_filter};
pub use event::{AnalysisEvent, SessionEvent};
pub use export::ChildExport;
pub use face_quality::FaceQuality;
pub use interval::{BehaviourInterval, EmotionInterval};
pub use job::AnalysisJob;
pub use node::Node;
pub use object::TrackedObject;
pub use report::{PersonSummary, TimelineBin};
pub use review::{Agreement, SessionMarker};
pub use scalars::Date;
pub use session::Session;
pub use user::User;
