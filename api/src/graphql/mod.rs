//! The GraphQL schema: queries, mutations, types, per-request loaders and connections.

mod analysis_mutation;
pub mod context;
pub mod fanout;
pub mod ids;
pub mod loaders;
mod mutation;
pub mod pagination;
mod query;
mod subscription;
pub mod types;

use async_graphql::{MergedObject, Schema, dataloader::DataLoader, dataloader::HashMapCache};
use std::time::Duration;

use analysis_mutation::AnalysisMutation;
pub use context::RequestContext;
use context::RequestLoader;
use loaders::Loaders;
use mutation::CoreMutation;
pub use query::Query;
pub use subscription::Subscription;

/// Every mutation: accounts, children, sessions and uploads; analysis jobs.
#[derive(MergedObject, Default)]
pub struct Mutation(CoreMutation, AnalysisMutation);

use crate::app::AppState;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// The schema with the server's state and limits attached.
pub fn build(state: AppState) -> AppSchema {
    let settings = &state.settings;
    Schema::build(Query, Mutation::default(), Subscription)
        .limit_depth(settings.max_query_depth)
        .limit_complexity(settings.max_query_complexity)
        .data(state.clone())
        .finish()
}

/// The SDL `imind export-schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    Schema::build(Query, Mutation::default(), Subscription).finish().sdl()
}

/// A fresh loader for one request: its cache lives exactly as long as the request.
pub fn request_loader(state: &AppState) -> RequestLoader {
    DataLoader::with_cache(Loaders { db: state.db.clone() }, tokio::spawn, HashMapCache::default())
        .delay(Duration::from_millis(state.settings.dataloader_delay_ms))
}

/// A loader for a subscription connection: it batches within one event but caches nothing,
/// since the connection outlives the data (a session's status changes between events).
pub fn connection_loader(state: &AppState) -> RequestLoader {
    let loader = request_loader(state);
    loader.enable_all_cache(false);
    loader
}
