//! Who is calling: password hashing, access tokens (JWT) and refresh tokens, and the
//! [`Viewer`] every authorised operation starts from. *What* a viewer may do is decided in
//! `crate::access`, not here.

pub mod jwt;
pub mod password;
pub mod refresh;

use entity::enums::Role;
use uuid::Uuid;

/// An authenticated caller, as proven by a valid access token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Viewer {
    pub user_id: Uuid,
    pub organisation_id: Uuid,
    pub role: Role,
}

/// What the `Authorization` header amounted to. A bad token is not an error until a resolver
/// needs a viewer: `login` must keep working for a client holding an expired token.
#[derive(Clone, Debug)]
pub enum Caller {
    Anonymous,
    /// Something other than `Bearer <token>`.
    Malformed,
    /// A bearer token that proves nothing (expired, forged, another audience); why is logged.
    Rejected,
    Authenticated(Viewer),
}

impl Caller {
    /// The caller an `Authorization` value proves: the HTTP header, or the field of that name in
    /// a WebSocket's `connection_init` payload. The one place bearer tokens are read.
    pub fn from_authorization(value: Option<&str>, keys: &jwt::JwtKeys) -> Caller {
        let Some(value) = value else { return Caller::Anonymous };
        let Some(token) = jwt::bearer(value) else { return Caller::Malformed };
        match keys.verify(token) {
            Ok(viewer) => Caller::Authenticated(viewer),
            Err(reason) => {
                tracing::info!(%reason, "rejected access token");
                Caller::Rejected
            }
        }
    }

    pub fn viewer(&self) -> crate::error::ApiResult<Viewer> {
        match self {
            Caller::Authenticated(viewer) => Ok(*viewer),
            Caller::Anonymous | Caller::Malformed | Caller::Rejected => Err(crate::error::ApiError::Unauthenticated),
        }
    }
}
