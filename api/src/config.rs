//! Layered configuration: built-in defaults, then an optional TOML file (`imind.toml`, or the
//! path in `IMIND_CONFIG`), then `IMIND_*` environment variables. Zero configuration gives the
//! embedded default: SQLite and blobs under `./data`, listening on 127.0.0.1:8080.

use std::{fmt, net::SocketAddr, path::PathBuf};

use anyhow::Context;
use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// A value that must never reach a log line. Our own rather than `secrecy`'s: the settings are
/// serialised as figment's defaults layer, and `secrecy` (rightly) refuses to serialise.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    /// Root of everything the embedded default writes (SQLite file, blobs, generated secret).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means `sqlite://<data_dir>/imind.db`.
    pub database_url: String,
    pub database_max_connections: u32,
    pub bind: SocketAddr,
    /// Serve `/metrics` on this address only (e.g. an internal interface) instead of `bind`.
    pub metrics_bind: Option<SocketAddr>,
    /// When set, `/metrics` answers only requests with `Authorization: Bearer <this>`.
    pub metrics_token: Secret,
    /// `serve --demo` seeds well-known passwords; it refuses a non-loopback `bind` unless this
    /// is set.
    pub demo_allow_public: bool,
    /// HS256 signing secret (≥ 32 bytes). Empty: one is generated once and kept in
    /// `<data_dir>/jwt-secret`, so tokens survive restarts of a single embedded server.
    pub jwt_secret: Secret,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// How long a gateway trusts its last look at whether a token's sign-in and user still
    /// stand: the longest a token keeps working after logout, demotion or deletion.
    pub sign_in_check_secs: u64,
    /// Deepest selection set a request may nest.
    pub max_query_depth: usize,
    /// Upper bound on a request's estimated cost: each field costs 1 and a connection field
    /// multiplies what is under it by its page size (`first`/`last`, or the default).
    pub max_query_complexity: usize,
    /// Fields a request may select at its top level.
    pub max_root_fields: usize,
    /// Aliases a request may use.
    pub max_aliases: usize,
    /// Top-level fields of one request resolved at once.
    pub root_concurrency: usize,
    /// How long a gateway trusts its last look at an API key: the longest a revoked key keeps
    /// working on any gateway (under a second).
    pub api_key_check_ms: u64,
    /// Operations (subscriptions) one API key may run at once on one gateway.
    pub api_key_max_subscriptions: usize,
    /// Requests per minute of one caller (API key, or user), after `rate_limit_burst`.
    pub rate_limit_requests_per_minute: u32,
    pub rate_limit_burst: u32,
    /// Requests per minute from one client address, whoever sends them (a clinic's front desk
    /// shares one address), after a burst of a fifth of that.
    pub rate_limit_address_requests_per_minute: u32,
    /// Query cost (see `max_query_complexity`) per minute of one caller, or of one address for
    /// callers without credentials; a burst may spend a whole minute's.
    pub rate_limit_cost_per_minute: u64,
    /// How many gateways share the limits above: each enforces its share (limit ÷ shares) of
    /// what it receives, with no coordination on the request's path.
    pub rate_limit_shares: u32,
    /// Bytes of documents kept for clients that send a document's hash instead of its text
    /// (`extensions.persistedQuery`); least recently used ones go first.
    pub persisted_query_cache_bytes: usize,
    /// Sign-in attempts (`login`, `refreshToken`) per minute from one client address.
    pub login_per_address_per_minute: u32,
    /// Sign-in attempts per minute for one account, from anywhere.
    pub login_per_account_per_minute: u32,
    /// Sign-in attempts per minute for one account from one address, after `login_burst`.
    pub login_per_account_and_address_per_minute: u32,
    pub login_burst: u32,
    /// How long the per-request DataLoader waits to gather sibling keys into one statement. At
    /// 0 a batch still waits for the loader's timer thread, by which time the resolvers of one
    /// level, polled in one pass, have all asked (`report_bench`: 3 statements per report).
    pub dataloader_delay_ms: u64,
    /// Intervals of each kind the gateway keeps in memory for reports (about 100 bytes each).
    pub report_cache_intervals: usize,
    /// Bytes of whole query responses the gateway keeps per caller and document
    /// (`response_cache`); 0 turns the cache off.
    pub response_cache_bytes: usize,
    /// How long a kept response may be served at most, even with no write since: bounds what
    /// only time changes (an export's expiry, a consent running out).
    pub response_cache_secs: u64,
    /// `local` (files under `<data_dir>/blobs`) or `s3`.
    pub blob_store: BlobStoreKind,
    pub s3_endpoint: String,
    pub s3_region: String,
    pub s3_bucket: String,
    pub s3_access_key: String,
    pub s3_secret_key: Secret,
    /// Path-style bucket URLs (`endpoint/bucket/key`), which most self-hosted servers need.
    pub s3_force_path_style: bool,
    /// Server-side encryption S3 is asked for on every video it stores: `AES256` or
    /// `aws:kms`. Unset: the bucket's default.
    pub s3_sse: Option<S3Encryption>,
    /// Base URL clients reach this gateway at, for the URLs it signs itself (local store).
    /// Empty: `http://<bind address>`.
    pub public_url: String,
    /// Largest video accepted, in bytes (default 4 GiB).
    pub max_upload_bytes: u64,
    /// Largest frame accepted, in pixels (default 4096 × 2304: 4K with room).
    pub max_video_pixels: u64,
    /// Most frames a video may have (default three hours at 60 fps).
    pub max_video_frames: i64,
    /// Longest video accepted (default three hours).
    pub max_video_duration_secs: i64,
    /// The program that probes and decodes videos in child processes (`imind` names itself);
    /// unset: in this process, where a file that makes the decoder run away takes the whole
    /// server with it.
    pub media_child_program: Option<PathBuf>,
    /// Memory each of those child processes may use, in MiB (default 3072: a 4K decode with
    /// FFmpeg's frame threads needs well under that).
    pub media_child_memory_mb: u64,
    /// How long a direct-upload URL stays valid.
    pub upload_url_ttl_secs: u64,
    /// How often abandoned direct uploads (older than their URL, awaited by no session) are
    /// swept from the store.
    pub upload_sweep_secs: u64,
    /// How long a `videoUrl` stays valid.
    pub video_url_ttl_secs: u64,
    /// Run analysis workers inside `imind serve` (the embedded default). Gateways of a
    /// distributed deployment set this to false and run `imind worker` processes instead.
    pub embedded_worker: bool,
    /// Analyses one worker process runs at once (each uses about two cores).
    pub worker_concurrency: usize,
    /// How often an idle worker looks for queued jobs when no event has woken it.
    pub worker_poll_ms: u64,
    /// How long a claimed job stays a worker's without a heartbeat; after that another worker
    /// may take it over (the first one is presumed dead).
    pub job_lease_secs: u64,
    /// Attempts before a job ends FAILED.
    pub job_max_attempts: i32,
    /// Back-off before attempt n+1: this × 2^(n−1) seconds, at most 10 minutes.
    pub job_retry_base_secs: u64,
    /// `auto` (PostgreSQL LISTEN/NOTIFY when the database is PostgreSQL, else in-process),
    /// `local` (in-process only) or `postgres`.
    pub event_bus: EventBusKind,
    /// How long a client may take to send a request's line and headers.
    pub header_read_timeout_secs: u64,
    /// How long a request body may pause (and a body without files may take in all).
    pub body_timeout_secs: u64,
    /// Connections (HTTP and WebSocket) open at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Largest WebSocket message a client may send (subscriptions are small JSON).
    pub ws_max_message_bytes: usize,
    /// Operations one socket may run at once.
    pub ws_max_subscriptions: usize,
    /// Sockets one user may hold open on one gateway.
    pub ws_max_sockets_per_user: usize,
    /// Seconds between server keep-alive messages on subscription sockets.
    pub ws_keepalive_secs: u64,
    /// How long a subscription socket may stay open without `connection_init` (then 4408).
    pub ws_init_timeout_ms: u64,
    /// How often workers enforce the organisations' retention policies (and delete expired
    /// exports); one worker of a deployment does it each time.
    pub retention_every_secs: u64,
    /// Log reads of children's data in the audit log (changes and sign-ins are always logged).
    /// Off only to measure what the logging costs.
    pub audit_reads: bool,
    /// Where the ONNX models are (default: the repository's `models/`, or `IMIND_MODELS_DIR`).
    pub models_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventBusKind {
    Auto,
    Local,
    Postgres,
}

/// The server-side encryption S3 applies to stored objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum S3Encryption {
    #[serde(rename = "AES256")]
    Aes256,
    #[serde(rename = "aws:kms")]
    Kms,
}

impl S3Encryption {
    /// The value of `x-amz-server-side-encryption`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aes256 => "AES256",
            Self::Kms => "aws:kms",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobStoreKind {
    Local,
    S3,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            database_url: String::new(),
            database_max_connections: 10,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_bind: None,
            metrics_token: Secret::default(),
            demo_allow_public: false,
            jwt_secret: Secret::default(),
            jwt_issuer: "i-mind".into(),
            jwt_audience: "i-mind-api".into(),
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            sign_in_check_secs: 5,
            max_query_depth: 16,
            max_query_complexity: 5_000_000,
            dataloader_delay_ms: 0,
            report_cache_intervals: 1_000_000,
            response_cache_bytes: 64 << 20,
            response_cache_secs: 5,
            max_root_fields: 32,
            max_aliases: 64,
            root_concurrency: 4,
            api_key_check_ms: 500,
            api_key_max_subscriptions: 20,
            rate_limit_requests_per_minute: 600,
            rate_limit_burst: 120,
            rate_limit_address_requests_per_minute: 3000,
            rate_limit_cost_per_minute: 50_000_000,
            rate_limit_shares: 1,
            persisted_query_cache_bytes: 8 << 20,
            login_per_address_per_minute: 30,
            login_per_account_per_minute: 10,
            login_per_account_and_address_per_minute: 3,
            login_burst: 5,
            blob_store: BlobStoreKind::Local,
            s3_endpoint: String::new(),
            s3_region: "us-east-1".into(),
            s3_bucket: "imind".into(),
            s3_access_key: String::new(),
            s3_secret_key: Secret::default(),
            s3_force_path_style: true,
            s3_sse: None,
            public_url: String::new(),
            max_upload_bytes: 4 << 30,
            max_video_pixels: 4096 * 2304,
            max_video_frames: 60 * 3 * 3600,
            max_video_duration_secs: 3 * 3600,
            media_child_program: None,
            media_child_memory_mb: 3072,
            upload_url_ttl_secs: 3600,
            upload_sweep_secs: 600,
            video_url_ttl_secs: 900,
            embedded_worker: true,
            worker_concurrency: 1,
            worker_poll_ms: 1000,
            job_lease_secs: 30,
            job_max_attempts: 3,
            job_retry_base_secs: 10,
            event_bus: EventBusKind::Auto,
            header_read_timeout_secs: 10,
            body_timeout_secs: 60,
            max_connections: 16_384,
            ws_max_message_bytes: 64 << 10,
            ws_max_subscriptions: 100,
            ws_max_sockets_per_user: 64,
            ws_keepalive_secs: 15,
            ws_init_timeout_ms: 10_000,
            retention_every_secs: 3600,
            audit_reads: true,
            models_dir: None,
        }
    }
}

impl Settings {
    /// Defaults → config file → `IMIND_*` environment.
    pub fn load(config_file: Option<PathBuf>) -> anyhow::Result<Self> {
        let file = config_file
            .or_else(|| std::env::var_os("IMIND_CONFIG").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("imind.toml"));
        Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(&file))
            .merge(Env::prefixed("IMIND_").ignore(&["CONFIG"]))
            .extract()
            .with_context(|| format!("reading configuration ({} and IMIND_* variables)", file.display()))
    }

    /// Where temporary files go (uploads being probed, videos being analysed): inside the data
    /// directory, so they are on the same disk as the blobs and never in a shared `/tmp`.
    pub fn temp_dir(&self) -> PathBuf {
        self.data_dir.join("tmp")
    }

    /// What a video may demand of the decoder.
    pub fn media_limits(&self) -> imind_inference::MediaLimits {
        imind_inference::MediaLimits {
            max_pixels: self.max_video_pixels,
            max_frames: self.max_video_frames,
            max_duration_ms: self.max_video_duration_secs.saturating_mul(1000),
        }
    }

    /// Where videos are probed and decoded.
    pub fn decoding(&self) -> imind_inference::Decoding {
        match &self.media_child_program {
            Some(program) => imind_inference::Decoding::Isolated {
                program: program.clone(),
                max_memory_bytes: self.media_child_memory_mb.saturating_mul(1 << 20),
            },
            None => imind_inference::Decoding::InProcess,
        }
    }

    /// The database URL to connect to, after applying the embedded default.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}?mode=rwc", self.data_dir.join("imind.db").display())
        } else {
            self.database_url.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail fixes the closure's error type.
    fn defaults_then_file_then_environment() {
        figment::Jail::expect_with(|jail| {
            let defaults = Settings::load(None).unwrap();
            assert_eq!(defaults.bind, SocketAddr::from(([127, 0, 0, 1], 8080)));
            assert!(defaults.effective_database_url().starts_with("sqlite://data/imind.db"));

            jail.create_file("imind.toml", "bind = \"0.0.0.0:9000\"\nmax_query_depth = 8\njwt_secret = \"from-file\"")?;
            let from_file = Settings::load(None).unwrap();
            assert_eq!(from_file.bind.port(), 9000);
            assert_eq!(from_file.max_query_depth, 8);

            jail.set_env("IMIND_BIND", "127.0.0.1:9100");
            jail.set_env("IMIND_DATABASE_URL", "postgres://u:p@db/imind");
            let from_env = Settings::load(None).unwrap();
            assert_eq!(from_env.bind.port(), 9100, "the environment overrides the file");
            assert_eq!(from_env.max_query_depth, 8, "the file still counts where the environment is silent");
            assert_eq!(from_env.effective_database_url(), "postgres://u:p@db/imind");
            assert_eq!(format!("{:?}", from_env.jwt_secret), "Secret(…)", "secrets never reach logs");
            Ok(())
        });
    }
}
