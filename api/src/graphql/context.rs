//! What resolvers find in the GraphQL context: the server's state (schema data) and the
//! per-request caller, request id and loaders (request data).

use std::{
    collections::HashSet,
    net::IpAddr,
    sync::{Arc, Mutex, OnceLock},
};

use async_graphql::{Context, dataloader::DataLoader, dataloader::HashMapCache};
use uuid::Uuid;

use super::loaders::Loaders;
use crate::{
    audit::{Actor, AuditAction, AuditEntry, Origin, ReadLog},
    auth::{Caller, Credential, SignIns, Viewer},
    error::{ApiError, ApiResult},
    rate_limits::Allowance,
    response_cache::Read,
    state::AppState,
};

/// Everything one HTTP request (or one subscription socket) brings to the schema.
pub struct RequestContext {
    pub caller: Caller,
    pub request_id: String,
    /// The client's address, for throttling sign-ins.
    pub client_address: Option<IpAddr>,
    /// What the caller proves once checked: a token whose sign-in and user still stand (see
    /// `SignIns`), or an API key that stands (`ApiKeys`). Settled once the request has passed
    /// validation (`graphql::standing`), so a refused request costs no query; until then the
    /// caller counts as unauthenticated.
    standing: OnceLock<Option<Credential>>,
    /// The operation's name, for the audit log (the first one a socket runs).
    operation_name: OnceLock<String>,
    /// Reads already logged: one audit entry per request (or socket), action, child and
    /// session.
    audited: Mutex<HashSet<Read>>,
    /// What is left of the caller's request bucket once charged (`graphql::quota`), for the
    /// response's `RateLimit-*` headers.
    pub allowance: Arc<OnceLock<Allowance>>,
    /// Of an HTTP request: whether its response came from the response cache, or is to be
    /// kept there (`graphql::response_reuse`). Sockets have none.
    pub reuse: Option<super::response_reuse::ReuseSlot>,
}

impl RequestContext {
    /// A request whose caller is yet to be checked.
    pub fn new(caller: Caller, request_id: String, client_address: Option<IpAddr>) -> Self {
        Self {
            caller,
            request_id,
            client_address,
            standing: OnceLock::new(),
            operation_name: OnceLock::new(),
            audited: Mutex::default(),
            allowance: Arc::default(),
            reuse: None,
        }
    }

    /// A subscription socket's: it checks its caller itself, before each operation.
    pub fn checked(credential: Credential, request_id: String, client_address: Option<IpAddr>) -> Self {
        Self {
            caller: Caller::Authenticated(credential),
            request_id,
            client_address,
            standing: OnceLock::from(Some(credential)),
            operation_name: OnceLock::new(),
            audited: Mutex::default(),
            allowance: Arc::default(),
            reuse: None,
        }
    }

    pub fn set_operation_name(&self, name: &str) {
        let _ = self.operation_name.set(name.to_owned());
    }

    /// Where this request came from, as the audit log records it.
    pub fn origin(&self) -> Origin {
        Origin {
            operation_name: self.operation_name.get().cloned(),
            request_id: Some(self.request_id.clone()).filter(|id| !id.is_empty()),
            client_address: self.client_address,
        }
    }

    /// An HTTP request's: its response may come from, or go to, the response cache.
    pub fn with_reuse(mut self, slot: super::response_reuse::ReuseSlot) -> Self {
        self.reuse = Some(slot);
        self
    }

    /// Logs that `viewer` read `child`'s data, once per request, action, child and session.
    pub fn log_read(&self, reads: &ReadLog, viewer: &Viewer, read: Read) {
        if self.audited.lock().expect("not poisoned").insert(read) {
            let (action, child, session) = read;
            let mut entry = AuditEntry::new(action, actor(viewer), self.origin()).child(child);
            entry.session = session;
            reads.append(entry);
        }
    }

    /// The reads logged so far.
    pub fn reads_logged(&self) -> Vec<Read> {
        self.audited.lock().expect("not poisoned").iter().copied().collect()
    }

    /// Checks the caller, once.
    pub async fn settle(&self, sign_ins: &SignIns) -> ApiResult<()> {
        if self.standing.get().is_none() {
            let standing = match &self.caller {
                Caller::Authenticated(credential) => sign_ins.stands(credential).await?.then_some(*credential),
                Caller::Key(secret) => sign_ins.keys().resolve(secret).await?,
                Caller::Anonymous | Caller::Malformed | Caller::Rejected => None,
            };
            if let Some(credential) = &standing {
                tracing::Span::current().record("actor", tracing::field::display(actor(&credential.viewer)));
            }
            let _ = self.standing.set(standing);
        }
        Ok(())
    }

    /// Whether the caller presents an API key (checked or not).
    pub fn is_key(&self) -> bool {
        match &self.caller {
            Caller::Key(_) => true,
            Caller::Authenticated(credential) => credential.viewer.key().is_some(),
            Caller::Anonymous | Caller::Malformed | Caller::Rejected => false,
        }
    }

    /// Whether the caller has been checked (a socket's always has).
    pub fn is_settled(&self) -> bool {
        self.standing.get().is_some()
    }

    /// The authenticated caller's credential, or `UNAUTHENTICATED`.
    pub fn credential(&self) -> ApiResult<Credential> {
        self.standing.get().copied().flatten().ok_or(ApiError::Unauthenticated)
    }
}

pub type RequestLoader = DataLoader<Loaders, HashMapCache>;

pub trait ContextExt {
    fn state(&self) -> &AppState;
    fn request(&self) -> &RequestContext;
    fn loader(&self) -> &RequestLoader;

    /// The authenticated caller, or `UNAUTHENTICATED`.
    fn viewer(&self) -> ApiResult<Viewer> {
        self.request().credential().map(|credential| credential.viewer)
    }

    /// An audit entry of the authenticated caller's `action` in this request.
    fn audit_entry(&self, action: AuditAction) -> ApiResult<AuditEntry> {
        Ok(AuditEntry::new(action, actor(&self.viewer()?), self.request().origin()))
    }

    /// Logs that the caller read `child`'s data (once per request, action, child and session).
    fn audit_read(&self, action: AuditAction, child: Uuid, session: Option<Uuid>) -> ApiResult<()> {
        self.request().log_read(&self.state().reads, &self.viewer()?, (action, child, session));
        Ok(())
    }
}

/// Whether the caller sees only REVIEWED sessions (`access::session_scope`), with the
/// organisation read once per request.
pub async fn sees_reviewed_only(ctx: &async_graphql::Context<'_>) -> ApiResult<bool> {
    let viewer = ctx.viewer()?;
    if viewer.role() != Some(entity::enums::Role::Guardian) {
        return Ok(false);
    }
    let organisation = ctx.loader().load_one(super::loaders::OrganisationById(viewer.organisation_id)).await?;
    Ok(crate::access::shows_reviewed_only(&viewer, organisation.as_ref()))
}

/// A signed-in user, or an API key, as the audit log names them.
pub fn actor(viewer: &Viewer) -> Actor {
    match viewer.key() {
        Some(grant) => Actor::key(grant.id, viewer.organisation_id),
        None => Actor {
            user: Some(viewer.user_id),
            key: None,
            organisation: Some(viewer.organisation_id),
            role: viewer.role(),
        },
    }
}

impl ContextExt for Context<'_> {
    fn state(&self) -> &AppState {
        self.data_unchecked::<AppState>()
    }

    fn request(&self) -> &RequestContext {
        self.data_unchecked::<RequestContext>()
    }

    fn loader(&self) -> &RequestLoader {
        self.data_unchecked::<RequestLoader>()
    }
}
