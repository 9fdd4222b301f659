//! What resolvers find in the GraphQL context: the server's state (schema data) and the
//! per-request caller, request id and loaders (request data).

use std::{net::IpAddr, sync::OnceLock};

use async_graphql::{Context, dataloader::DataLoader, dataloader::HashMapCache};

use super::loaders::Loaders;
use crate::{
    auth::{Caller, Credential, SignIns, Viewer},
    error::{ApiError, ApiResult},
    state::AppState,
};

/// Everything one HTTP request (or one subscription socket) brings to the schema.
pub struct RequestContext {
    pub caller: Caller,
    pub request_id: String,
    /// The client's address, for throttling sign-ins.
    pub client_address: Option<IpAddr>,
    /// Whether the caller's sign-in and user still stand (see `SignIns`). Settled once the
    /// request has passed validation (`graphql::standing`), so a refused request costs no query;
    /// until then the caller counts as unauthenticated.
    standing: OnceLock<bool>,
}

impl RequestContext {
    /// A request whose caller is yet to be checked.
    pub fn new(caller: Caller, request_id: String, client_address: Option<IpAddr>) -> Self {
        Self { caller, request_id, client_address, standing: OnceLock::new() }
    }

    /// A subscription socket's: it checks its caller itself, before each operation.
    pub fn checked(caller: Caller, request_id: String, client_address: Option<IpAddr>) -> Self {
        Self { caller, request_id, client_address, standing: OnceLock::from(true) }
    }

    /// Checks the caller, once.
    pub async fn settle(&self, sign_ins: &SignIns) -> ApiResult<()> {
        if self.standing.get().is_none() {
            let stands = match &self.caller {
                Caller::Authenticated(credential) => sign_ins.stands(credential).await?,
                _ => false,
            };
            let _ = self.standing.set(stands);
        }
        Ok(())
    }

    /// The authenticated caller's credential, or `UNAUTHENTICATED`.
    pub fn credential(&self) -> ApiResult<Credential> {
        let credential = self.caller.credential()?;
        match self.standing.get() {
            Some(true) => Ok(credential),
            _ => Err(ApiError::Unauthenticated),
        }
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
