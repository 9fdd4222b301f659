use async_graphql::{ID, Interface};

use super::{
    AnalysisJob, ApiKey, AuditEntry, BehaviourCode, BehaviourInterval, Child, ChildExport, CodedInterval,
    EmotionInterval, Session, SessionMarker, TrackedObject, User,
};

/// Anything with a global id that `node(id)` can fetch again.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    User(User),
    Child(Child),
    Session(Session),
    TrackedObject(TrackedObject),
    EmotionInterval(EmotionInterval),
    BehaviourInterval(BehaviourInterval),
    AnalysisJob(AnalysisJob),
    AuditEntry(AuditEntry),
    ChildExport(ChildExport),
    ApiKey(ApiKey),
    SessionMarker(SessionMarker),
    BehaviourCode(BehaviourCode),
    CodedInterval(CodedInterval),
}
