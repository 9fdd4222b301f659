//! The shared services, at the bottom of the house: what a gateway and a worker process connect
//! to ([`Services`]), and what every request handler and resolver of a gateway shares
//! ([`AppState`]). Nothing here imports the HTTP, GraphQL or WebSocket layers.

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use base64::{Engine, engine::general_purpose::STANDARD};
use rand::RngCore;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::{
    audit::ReadLog,
    auth::{LoginLimits, LoginThrottle, SignIns, jwt::JwtKeys},
    blob::{BlobStore, LocalStore, S3Settings, S3Store, UrlSigner},
    config::{BlobStoreKind, EventBusKind, Settings},
    db,
    jobs::{
        bus::{EventBus, LocalBus, PostgresBus},
        queue::{Queue, QueueSettings},
        worker::WorkerContext,
    },
    metrics::Metrics,
    private_files,
    rate_limits::RateLimits,
    third_party::persisted::PersistedQueries,
    videos::Videos,
};

/// Database, blob store, event bus and queue: what a gateway and a worker process share.
#[derive(Clone)]
pub struct Services {
    pub settings: Arc<Settings>,
    pub db: DatabaseConnection,
    pub blobs: Arc<dyn BlobStore>,
    /// The same store when it is the local one: the gateway then serves its signed URLs.
    pub local_blobs: Option<Arc<LocalStore>>,
    pub bus: Arc<dyn EventBus>,
    pub queue: Queue,
    /// Where reads of children's data are logged (changes are logged in their transactions).
    pub reads: ReadLog,
    /// The server secret (signs access tokens and the local store's URLs).
    pub secret: Arc<[u8]>,
    /// Where clients reach this gateway, for the links it signs.
    pub public_url: String,
}

impl Services {
    /// Connects everything `settings` names. `public_url` is where the local store's signed
    /// URLs point; `metrics` counts the database's statements.
    pub async fn connect(
        settings: Arc<Settings>,
        public_url: String,
        metrics: Option<&Metrics>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Self> {
        let url = settings.effective_database_url();
        let db = db::connect(&url, settings.database_max_connections, metrics).await?;
        let secret: Arc<[u8]> = jwt_secret(&settings)?.into();
        let (blobs, local_blobs): (Arc<dyn BlobStore>, Option<Arc<LocalStore>>) = match settings.blob_store {
            BlobStoreKind::Local => {
                let store = Arc::new(LocalStore::new(
                    settings.data_dir.join("blobs"),
                    public_url.clone(),
                    UrlSigner::new(&secret),
                )?);
                (store.clone(), Some(store))
            }
            BlobStoreKind::S3 => {
                let store = S3Store::new(&S3Settings {
                    endpoint: settings.s3_endpoint.clone(),
                    region: settings.s3_region.clone(),
                    bucket: settings.s3_bucket.clone(),
                    access_key: settings.s3_access_key.clone(),
                    secret_key: settings.s3_secret_key.0.clone(),
                    force_path_style: settings.s3_force_path_style,
                    encryption: settings.s3_sse,
                });
                store.ensure_bucket().await.context("reaching the S3 bucket (IMIND_S3_*)")?;
                (Arc::new(store), None)
            }
        };
        let postgres = db.get_database_backend() == sea_orm::DbBackend::Postgres;
        let bus: Arc<dyn EventBus> = match settings.event_bus {
            EventBusKind::Local => Arc::new(LocalBus::new()),
            EventBusKind::Auto if !postgres => Arc::new(LocalBus::new()),
            EventBusKind::Auto | EventBusKind::Postgres => {
                anyhow::ensure!(postgres, "IMIND_EVENT_BUS=postgres needs a PostgreSQL IMIND_DATABASE_URL");
                let pool = db.get_postgres_connection_pool().clone();
                Arc::new(PostgresBus::start(pool, shutdown.clone()).await?)
            }
        };
        private_files::create_dir_all(&settings.temp_dir()).context("creating the data directory")?;
        private_files::restrict_dir(&settings.data_dir).context("making the data directory private")?;
        let queue = Queue::new(db.clone(), bus.clone(), QueueSettings::from(settings.as_ref()));
        let reads = ReadLog::start(db.clone(), settings.audit_reads);
        Ok(Self { settings, db, blobs, local_blobs, bus, queue, reads, secret, public_url })
    }

    /// What the analysis workers of this process need.
    pub fn worker_context(&self) -> WorkerContext {
        WorkerContext {
            db: self.db.clone(),
            blobs: self.blobs.clone(),
            bus: self.bus.clone(),
            queue: self.queue.clone(),
            settings: self.settings.clone(),
        }
    }
}

/// What every request handler and resolver of a gateway shares.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub jwt: JwtKeys,
    /// Whether tokens' sign-ins and users still stand.
    pub sign_ins: SignIns,
    pub login_throttle: Arc<LoginThrottle>,
    /// Open subscription sockets per user (or API key).
    pub sockets: crate::sockets::Sockets,
    /// Operations running per API key, on all its sockets.
    pub key_subscriptions: crate::sockets::Sockets,
    /// Requests and query cost per caller and per client address.
    pub rate_limits: Arc<RateLimits>,
    /// Documents clients sent with their hash, for requests that send the hash alone.
    pub persisted: Arc<PersistedQueries>,
    /// Signs the links to report files (`report_files`).
    pub links: Arc<UrlSigner>,
    /// Where clients reach this gateway, for those links.
    pub public_url: String,
    /// Subscribers' rights, re-checked before every event.
    pub rights: crate::access::RecentRights,
    pub metrics: Metrics,
    pub blobs: Arc<dyn BlobStore>,
    /// The same store when it is the local one: the gateway then serves its signed URLs.
    pub local_blobs: Option<Arc<LocalStore>>,
    pub bus: Arc<dyn EventBus>,
    pub queue: Queue,
    pub reads: ReadLog,
    /// Analysed sessions' intervals, by results version.
    pub intervals: Arc<crate::interval_cache::IntervalCache>,
    /// Whole query responses, by caller, request and data generation.
    pub responses: Arc<crate::response_cache::ResponseCache>,
    /// Sessions' timeline pictures, by results version (64 MiB at most).
    pub pictures: Arc<crate::report_pictures::PictureCache>,
    /// Cancelled when the process shuts down: workers stop, subscriptions close.
    pub shutdown: CancellationToken,
}

impl AppState {
    pub fn new(services: Services, metrics: Metrics, shutdown: CancellationToken) -> Self {
        let settings = services.settings;
        let jwt = JwtKeys::new(
            &services.secret,
            &settings.jwt_issuer,
            &settings.jwt_audience,
            settings.access_token_ttl_secs,
        );
        let sign_ins = SignIns::new(
            services.db.clone(),
            Duration::from_secs(settings.sign_in_check_secs),
            Duration::from_millis(settings.api_key_check_ms),
        );
        let login_throttle = Arc::new(LoginThrottle::new(LoginLimits {
            per_address_per_minute: settings.login_per_address_per_minute,
            per_account_per_minute: settings.login_per_account_per_minute,
            per_account_and_address_per_minute: settings.login_per_account_and_address_per_minute,
            burst: settings.login_burst,
        }));
        Self {
            db: services.db,
            jwt,
            sign_ins,
            login_throttle,
            sockets: crate::sockets::Sockets::new(settings.ws_max_sockets_per_user),
            key_subscriptions: crate::sockets::Sockets::new(settings.api_key_max_subscriptions),
            rate_limits: Arc::new(RateLimits::new(&settings)),
            persisted: Arc::new(PersistedQueries::new(settings.persisted_query_cache_bytes)),
            links: Arc::new(UrlSigner::for_purpose(&services.secret, b"imind report links")),
            public_url: services.public_url,
            rights: crate::access::RecentRights::new(Duration::from_secs(settings.sign_in_check_secs)),
            metrics,
            blobs: services.blobs,
            local_blobs: services.local_blobs,
            bus: services.bus,
            queue: services.queue,
            reads: services.reads,
            intervals: Arc::new(crate::interval_cache::IntervalCache::new(settings.report_cache_intervals)),
            responses: Arc::new(crate::response_cache::ResponseCache::new(
                settings.response_cache_bytes,
                Duration::from_secs(settings.response_cache_secs),
            )),
            pictures: Arc::new(crate::report_pictures::PictureCache::new(64 << 20)),
            shutdown,
            settings,
        }
    }

    /// Accepting session videos: the database, the blob store and the temporary directory.
    pub fn videos(&self) -> Videos<'_> {
        Videos {
            db: &self.db,
            blobs: self.blobs.as_ref(),
            temp_dir: self.settings.temp_dir(),
            limits: self.settings.media_limits(),
            decoding: self.settings.decoding(),
            audit: None,
        }
    }
}

/// The configured secret, or the one generated for this data directory on first start.
fn jwt_secret(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    if !settings.jwt_secret.0.is_empty() {
        anyhow::ensure!(settings.jwt_secret.0.len() >= 32, "IMIND_JWT_SECRET must be at least 32 bytes long");
        return Ok(settings.jwt_secret.0.as_bytes().to_vec());
    }
    let path = settings.data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return STANDARD.decode(existing.trim()).with_context(|| format!("{} is corrupt; delete it", path.display()));
    }
    let mut secret = vec![0u8; 64];
    rand::rng().fill_bytes(&mut secret);
    write_private(&path, STANDARD.encode(&secret).as_bytes())?;
    tracing::info!(path = %path.display(), "generated a JWT signing secret");
    Ok(secret)
}

fn write_private(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        private_files::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut file = private_files::new_file().open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)?;
    Ok(())
}
