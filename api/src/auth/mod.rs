//! Who is calling: password hashing, access tokens (JWT) and refresh tokens, and the
//! [`Viewer`] every authorised operation starts from. *What* a viewer may do is decided in
//! `crate::access`, not here.

pub mod api_keys;
pub mod jwt;
pub mod password;
pub mod refresh;
mod sign_ins;
mod throttle;

use chrono::{DateTime, Utc};
use entity::enums::{ApiKeyScope, Role};
use uuid::Uuid;

pub use api_keys::{ApiKeys, SecretHash};
pub use sign_ins::SignIns;
pub use throttle::{LoginLimits, LoginThrottle, client_key};

/// An authenticated caller, as proven by a valid access token or API key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Viewer {
    /// The user; for an API key, the admin who created it and answers for it (`me`).
    pub user_id: Uuid,
    pub organisation_id: Uuid,
    /// What the caller's rights come from (decided in `crate::access`).
    pub principal: Principal,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A signed-in user, with their role.
    User(Role),
    /// A third party holding an API key of the organisation.
    Key(KeyGrant),
}

/// What an API key grants, as it stood when last looked at (see `ApiKeys`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyGrant {
    pub id: Uuid,
    pub scope: ApiKeyScope,
    /// Whether the key sees only the children listed for it.
    pub restricted: bool,
    /// Whether its organisation lets its keys run only trusted documents.
    pub trusted_documents_only: bool,
}

impl Viewer {
    pub fn user(user_id: Uuid, organisation_id: Uuid, role: Role) -> Self {
        Self { user_id, organisation_id, principal: Principal::User(role) }
    }

    /// The signed-in user's role (`None` for an API key).
    pub fn role(&self) -> Option<Role> {
        match self.principal {
            Principal::User(role) => Some(role),
            Principal::Key(_) => None,
        }
    }

    /// The API key the caller holds, if it is one.
    pub fn key(&self) -> Option<KeyGrant> {
        match self.principal {
            Principal::User(_) => None,
            Principal::Key(grant) => Some(grant),
        }
    }
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
    /// An API key (`Bearer imk_…`), by the hash of its secret: whether it stands is looked up
    /// when the request needs it (`ApiKeys::resolve`).
    Key(SecretHash),
}

impl Caller {
    /// The caller an `Authorization` value proves: the HTTP header, or the field of that name in
    /// a WebSocket's `connection_init` payload. The one place bearer tokens are read.
    pub fn from_authorization(value: Option<&str>, keys: &jwt::JwtKeys) -> Caller {
        let Some(value) = value else { return Caller::Anonymous };
        let Some(token) = jwt::bearer(value) else { return Caller::Malformed };
        if let Some(hash) = SecretHash::of_key(token) {
            return Caller::Key(hash);
        }
        match keys.verify(token) {
            Ok(credential) => Caller::Authenticated(credential),
            Err(reason) => {
                tracing::info!(%reason, "rejected access token");
                Caller::Rejected
            }
        }
    }
}
