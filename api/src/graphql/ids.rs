//! Relay global ids: opaque strings that name a type and a row, `base64("Child:<uuid>")`.

use async_graphql::ID;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    User,
    Child,
    Session,
    TrackedObject,
    EmotionInterval,
    BehaviourInterval,
    AnalysisJob,
    AuditEntry,
    ChildExport,
    ApiKey,
    SessionMarker,
    BehaviourCode,
    CodedInterval,
}

impl Kind {
    const ALL: [Kind; 13] = [
        Kind::User,
        Kind::Child,
        Kind::Session,
        Kind::TrackedObject,
        Kind::EmotionInterval,
        Kind::BehaviourInterval,
        Kind::AnalysisJob,
        Kind::AuditEntry,
        Kind::ChildExport,
        Kind::ApiKey,
        Kind::SessionMarker,
        Kind::BehaviourCode,
        Kind::CodedInterval,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::User => "User",
            Kind::Child => "Child",
            Kind::Session => "Session",
            Kind::TrackedObject => "TrackedObject",
            Kind::EmotionInterval => "EmotionInterval",
            Kind::BehaviourInterval => "BehaviourInterval",
            Kind::AnalysisJob => "AnalysisJob",
            Kind::AuditEntry => "AuditEntry",
            Kind::ChildExport => "ChildExport",
            Kind::ApiKey => "ApiKey",
            Kind::SessionMarker => "SessionMarker",
            Kind::BehaviourCode => "BehaviourCode",
            Kind::CodedInterval => "CodedInterval",
        }
    }

    pub fn id(self, uuid: Uuid) -> ID {
        ID(URL_SAFE_NO_PAD.encode(format!("{}:{uuid}", self.name())))
    }
}

/// Any global id.
pub fn decode(id: &ID) -> ApiResult<(Kind, Uuid)> {
    let invalid = || ApiError::bad_input(format!("`{}` is not a valid id", id.as_str()));
    let bytes = URL_SAFE_NO_PAD.decode(id.as_str()).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (name, uuid) = text.split_once(':').ok_or_else(invalid)?;
    let kind = Kind::ALL.into_iter().find(|kind| kind.name() == name).ok_or_else(invalid)?;
    let uuid = Uuid::parse_str(uuid).map_err(|_| invalid())?;
    Ok((kind, uuid))
}

/// A global id that must be of one kind (e.g. `sessionId` arguments).
pub fn decode_as(id: &ID, expected: Kind) -> ApiResult<Uuid> {
    match decode(id)? {
        (kind, uuid) if kind == expected => Ok(uuid),
        _ => Err(ApiError::bad_input(format!("`{}` is not a {} id", id.as_str(), expected.name()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_kind() {
        let uuid = Uuid::now_v7();
        let id = Kind::Session.id(uuid);
        assert_eq!(decode(&id).unwrap(), (Kind::Session, uuid));
        assert_eq!(decode_as(&id, Kind::Session).unwrap(), uuid);
        assert!(decode_as(&id, Kind::Child).is_err());
        assert!(decode(&ID("not base64!".into())).is_err());
        assert!(decode(&ID(URL_SAFE_NO_PAD.encode("Planet:42"))).is_err());
    }
}
