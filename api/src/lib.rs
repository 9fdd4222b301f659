//! i-mind's gateway: the GraphQL API over children, sessions, tracked people and their observed
//! expression and behaviour intervals; the durable analysis queue and its workers; the blob
//! stores. The `imind` binary (crate `imind`, in `cli/`) is a thin layer over what is
//! re-exported here. Modules are private, so the compiler reports what nothing uses.
//!
//! # Layout
//! From the bottom up — a module only uses the ones above it in this list:
//! - `config` — layered settings: defaults → `imind.toml` → `IMIND_*` variables.
//! - `error` — the one error enum and its codes; `domain` — validated input values;
//!   `digest` — SHA-256 hex; `sql` — the few hand-written statements; `metrics`, `telemetry`.
//! - `db` — connections and migrations; `audit` — the append-only access audit log (changes
//!   in their own transactions, reads batched); `blob` — where videos live (local directory or S3);
//!   `private_files` — what the data directory holds is readable by this service's user only.
//! - `auth` — passwords, access tokens, refresh tokens, API keys, and the caller they prove;
//!   `access` — THE place where rights are decided (role or key scope × action × which
//!   children); `rate_limits` — token buckets per caller and per client address.
//! - `third_party` — API keys' life cycle, trusted documents, documents sent by hash.
//! - `multipart` — the GraphQL multipart request read as it arrives; `videos` — accepting an
//!   upload (probe, hash, store, record); `sweeper` — removing direct uploads nobody awaits.
//! - `review` — counsellor review: the reviewed and model views of intervals, review actions,
//!   agreement (kappa), what a re-analysis keeps.
//! - `reports` — chart-ready figures of a tracked person (shares, changes, binned timelines);
//!   `interval_cache` — analysed sessions' intervals in memory, keyed by results version;
//!   `response_cache` — whole query responses, per caller and request, by data generation.
//! - `users`, `sessions`, `children` — creating, changing and erasing them (the mutations and
//!   the demo seed share these); `consents` — what a child's guardians agreed to, and what
//!   withdrawing it removes.
//! - `jobs` — the durable queue (the only writer of job state), the workers, the event bus;
//!   `demo` — the `--demo` seed.
//! - `report_pictures` — a session's timeline (SVG, PNG) and a child's expression trend (SVG).
//! - `report_files` — a session's intervals as CSV and its pictures, and the signed links that
//!   fetch them; `coding_export` — a session's or child's coding as ELAN-compatible TSV.
//! - `sockets` — open subscription sockets per user (and operations per API key); `state` — the shared services
//!   (`Services`, `AppState`): a leaf below the transports.
//! - `graphql` — schema, types, guarded loading, loaders, connections, the error extension,
//!   the caller's check, quotas, trusted documents and response reuse (extensions),
//!   subscription fan-out; `ws` — subscriptions over WebSocket; `http` — the routes.
//! - `app` — wiring: a gateway, or a worker process, run until shutdown.

mod access;
mod app;
mod audit;
mod auth;
mod blob;
mod children;
mod coding_export;
mod config;
mod consents;
mod db;
mod demo;
mod digest;
mod domain;
mod error;
mod exports;
mod graphql;
mod http;
mod interval_cache;
mod jobs;
mod metrics;
mod multipart;
mod private_files;
mod rate_limits;
mod report_files;
mod report_pictures;
mod reports;
mod response_cache;
mod retention;
mod review;
mod sessions;
mod sockets;
mod sql;
mod state;
mod sweeper;
mod telemetry;
mod third_party;
mod users;
mod videos;
mod ws;

pub use app::{Application, connect_maintenance, run_worker_process};
pub use config::{BlobStoreKind, EventBusKind, S3Encryption, Secret, Settings};
pub use db::{connect as connect_database, migrate as migrate_database};
pub use demo::{logins as demo_logins, seed as seed_demo};
pub use graphql::sdl as schema_sdl;
pub use jobs::{
    bus::{EventBus, LocalBus},
    maintenance::{ExportOutcome, Maintenance},
    queue,
};
pub use retention::RetentionReport;
pub use telemetry::{init as init_logging, init_for_tests as init_test_logging};
pub use third_party::documents::import_manifest as import_trusted_documents;
pub use users::{NewUser, create_user, ensure_organisation, find_organisation};
