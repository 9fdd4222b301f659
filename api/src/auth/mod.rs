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
    Rejected(String),
    Authenticated(Viewer),
}

impl Caller {
    pub fn viewer(&self) -> crate::error::ApiResult<Viewer> {
        match self {
            Caller::Authenticated(viewer) => Ok(*viewer),
            Caller::Anonymous | Caller::Rejected(_) => Err(crate::error::ApiError::Unauthenticated),
        }
    }
}
