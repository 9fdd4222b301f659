//! i-mind's gateway: the GraphQL API over sessions, tracked people and their observed
//! expression and behaviour intervals, plus the `imind` command line.
//!
//! # Layout
//! - [`cli`] — the `imind` subcommands; `main.rs` only parses and dispatches.
//! - [`config`] — layered settings: defaults → `imind.toml` → `IMIND_*` variables.
//! - [`app`] — builds one gateway (database, migrations, keys, listener) and runs it until
//!   shutdown.
//! - [`http`] — axum routes: `/graphql`, GraphiQL at `/`, `/healthz`, `/readyz`, `/metrics`;
//!   request ids and the masking of internal errors.
//! - [`graphql`] — schema, types, per-request DataLoaders and cursor connections; the
//!   subscriptions live there too.
//! - [`jobs`] — the durable analysis queue, the worker pool and the event bus.
//! - [`blob`] — where videos live (local directory or S3); [`videos`] — accepting an upload;
//!   [`multipart`] — the GraphQL multipart request read as it arrives.
//! - [`ws`] — subscriptions over WebSocket (both protocols, token in `connection_init`).
//! - [`access`] — THE place where rights are decided (role × action × which children).
//! - [`auth`] — passwords (argon2id), access tokens (JWT) and rotating refresh tokens.
//! - [`error`] — the one error enum and its GraphQL codes.
//! - [`domain`] — validated input newtypes; [`users`] — creating organisations and users.
//! - [`db`], [`sql`] — connections, migrations and the few hand-written statements.
//! - [`demo`] — the `--demo` seed; [`metrics`], [`telemetry`] — observability.

pub mod access;
pub mod analyze_cli;
pub mod app;
pub mod auth;
pub mod blob;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod jobs;
pub mod metrics;
pub mod multipart;
pub mod sql;
pub mod telemetry;
pub mod timeline_png;
pub mod users;
pub mod videos;
pub mod ws;
