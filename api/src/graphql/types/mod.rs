//! GraphQL object types, one file per idea. Each wraps its database row.

mod child;
mod event;
mod interval;
mod job;
mod node;
mod object;
mod scalars;
mod session;
mod user;

pub use child::{Child, EmotionShare};
pub use event::{AnalysisEvent, SessionEvent};
pub use interval::{BehaviourInterval, EmotionInterval};
pub use job::AnalysisJob;
pub use node::Node;
pub use object::TrackedObject;
pub use scalars::Date;
pub use session::Session;
pub use user::User;
