//! Third-party access: API keys an organisation's admins create, and the trusted documents its
//! keys may be held to. How a key is checked on each request is `auth::api_keys`; what it may
//! do is `access`.
//!
//! # Layout
//! - `keys` — create, list and revoke keys.
//! - `documents` — register trusted documents, find one by hash, require them.
//! - `persisted` — the documents clients sent with their hash, kept for requests by hash.

pub mod documents;
pub mod keys;
pub mod persisted;
