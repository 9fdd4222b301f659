//! Who is calling: password hashing, access tokens (JWT) and refresh tokens, and the
//! [`Viewer`] every authorised operation starts from. *What* a viewer may do is decided in
//! `crate::access`, not here.

pub mod jwt;
pub mod password;
pub mod refresh;
mod sign_ins;
mod throttle;

use chrono::{DateTime, Utc};
use entity::enums::Role;
use uuid::Uuid;

pub use sign_ins::SignIns;
pub use throttle::{LoginLimits, LoginThrottle};

/// An authenticated caller, as proven by a valid access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Viewer {
    pub user_id: Uuid,
    pub organisation_id: Uuid,
    pub role: Role,
}

/// What a valid access token proves: who, within which sign-in, until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Credential {
    pub viewer: Viewer,
    /// The refresh-token family the token was issued for (`None` in tokens minted before).
    pub sign_in: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
}

/// What the `Authorization` header amounted to. A bad token is not an error until a resolver
/// needs a viewer: `login` must keep working for a client holding an expired token.
#[derive(Clone, Debug)]
pub enum Caller {
    Anonymous,
    /// Something other than `Bearer <token>`.
    Malformed,
    /// A bearer token that proves nothing (expired, forged, another audience, or its sign-in
    /// or user is no more); why is logged.
    Rejected,
    Authenticated(Credential),
}

impl Caller {
    /// The caller an `Authorization` value proves: the HTTP header, or the field of that name in
    /// a WebSocket's `connection_init` payload. The one place bearer tokens are read.
    pub fn from_authorization(value: Option<&str>, keys: &jwt::JwtKeys) -> Caller {
        let Some(value) = value else { return Caller::Anonymous };
        let Some(token) = jwt::bearer(value) else { return Caller::Malformed };
        match keys.verify(token) {
            Ok(credential) => Caller::Authenticated(credential),
            Err(reason) => {
                tracing::info!(%reason, "rejected access token");
                Caller::Rejected
            }
        }
    }

    pub fn credential(&self) -> crate::error::ApiResult<Credential> {
        match self {
            Caller::Authenticated(credential) => Ok(*credential),
            Caller::Anonymous | Caller::Malformed | Caller::Rejected => Err(crate::error::ApiError::Unauthenticated),
        }
    }
}
