//! What resolvers find in the GraphQL context: the server's state (schema data) and the
//! per-request caller, request id and loaders (request data).

use async_graphql::{Context, dataloader::DataLoader, dataloader::HashMapCache};

use super::loaders::Loaders;
use crate::{
    auth::{Caller, Viewer},
    error::ApiResult,
    state::AppState,
};

/// Everything one HTTP request brings to the schema.
pub struct RequestContext {
    pub caller: Caller,
    pub request_id: String,
}

pub type RequestLoader = DataLoader<Loaders, HashMapCache>;

pub trait ContextExt {
    fn state(&self) -> &AppState;
    fn request(&self) -> &RequestContext;
    fn loader(&self) -> &RequestLoader;

    /// The authenticated caller, or `UNAUTHENTICATED`.
    fn viewer(&self) -> ApiResult<Viewer> {
        self.request().caller.viewer()
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
