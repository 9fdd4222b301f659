//! The GraphQL schema: queries, mutations, types, per-request loaders and connections.

pub mod context;
pub mod ids;
pub mod loaders;
mod mutation;
pub mod pagination;
mod query;
pub mod types;

use async_graphql::{EmptySubscription, Schema, dataloader::DataLoader, dataloader::HashMapCache};
use std::time::Duration;

pub use context::RequestContext;
use context::RequestLoader;
use loaders::Loaders;
pub use mutation::Mutation;
pub use query::Query;

use crate::app::AppState;

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// The schema with the server's state and limits attached.
pub fn build(state: AppState) -> AppSchema {
    let settings = &state.settings;
    Schema::build(Query, Mutation, EmptySubscription)
        .limit_depth(settings.max_query_depth)
        .limit_complexity(settings.max_query_complexity)
        .data(state.clone())
        .finish()
}

/// The SDL `imind export-schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    Schema::build(Query, Mutation, EmptySubscription).finish().sdl()
}

/// A fresh loader for one request: its cache lives exactly as long as the request.
pub fn request_loader(state: &AppState) -> RequestLoader {
    DataLoader::with_cache(Loaders { db: state.db.clone() }, tokio::spawn, HashMapCache::default())
        .delay(Duration::from_millis(state.settings.dataloader_delay_ms))
}
