//! The GraphQL schema: queries, mutations, subscriptions, types, per-request loaders and
//! connections.
//!
//! # Layout
//! - `query`, `mutation` (one file per area), `subscription` — the root types.
//! - `types` — the object types, one file per idea; `ids` — Relay global ids.
//! - `guard` — decode an id, authorise it through `access`, load the row: every entry point.
//! - `loaders` and `pagination` — batched nested edges and keyset cursor connections;
//!   `leaf_connection` — the interval lists, resolved in one pass.
//! - `errors` — the extension that codes and masks errors on every transport; `standing` —
//!   the caller's check; `quota` — the caller's rate limits; `documents` — documents by hash
//!   and trusted documents; `limits` — the request's shape; `response_reuse` — answers from
//!   the response cache (extensions, in that order).
//! - `fanout` — identical subscriptions of one user share one execution; `context` — what
//!   resolvers find in the context.

mod context;
mod documents;
mod errors;
pub mod fanout;
mod guard;
mod ids;
mod leaf_connection;
mod limits;
mod loaders;
mod mutation;
mod pagination;
mod query;
mod quota;
pub mod response_reuse;
mod standing;
mod subscription;
mod types;

use std::time::Duration;

use async_graphql::{Schema, dataloader::DataLoader, dataloader::HashMapCache};

pub use context::{RequestContext, RequestLoader, actor};
use loaders::Loaders;
use mutation::Mutation;
use query::Query;
use subscription::Subscription;

use crate::state::AppState;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// The schema with the server's state and limits attached.
pub fn build(state: AppState) -> AppSchema {
    let settings = &state.settings;
    crate::reports::set_longest_video_ms(settings.max_video_duration_secs.saturating_mul(1000));
    Schema::build(Query, Mutation::default(), Subscription)
        .limit_depth(settings.max_query_depth)
        .limit_complexity(settings.max_query_complexity)
        .extension(errors::ErrorPolicy)
        .extension(standing::CallerStanding)
        .extension(quota::Quota)
        .extension(documents::Documents)
        .extension(limits::RequestShape(limits::ShapeLimits {
            max_root_fields: settings.max_root_fields,
            max_aliases: settings.max_aliases,
            root_concurrency: settings.root_concurrency,
        }))
        .extension(response_reuse::ResponseReuse)
        .data(state.clone())
        .finish()
}

/// The session a global id (as clients know it, e.g. in a report file's path) names.
pub fn session_id_of(id: &str) -> crate::error::ApiResult<uuid::Uuid> {
    ids::decode_as(&async_graphql::ID(id.to_owned()), ids::Kind::Session)
}

/// The child a global id names.
pub fn child_id_of(id: &str) -> crate::error::ApiResult<uuid::Uuid> {
    ids::decode_as(&async_graphql::ID(id.to_owned()), ids::Kind::Child)
}

/// The SDL `imind export-schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    Schema::build(Query, Mutation::default(), Subscription).finish().sdl()
}

/// A fresh loader for one request: its cache lives exactly as long as the request.
pub fn request_loader(state: &AppState) -> RequestLoader {
    DataLoader::with_cache(
        Loaders { db: state.db.clone(), intervals: state.intervals.clone() },
        tokio::spawn,
        HashMapCache::default(),
    )
    .delay(Duration::from_millis(state.settings.dataloader_delay_ms))
}

/// A loader for a subscription connection: it batches within one event but caches nothing,
/// since the connection outlives the data (a session's status changes between events).
pub fn connection_loader(state: &AppState) -> RequestLoader {
    let loader = request_loader(state);
    loader.enable_all_cache(false);
    loader
}
