//! Building and running one gateway: database, migrations, keys, schema and HTTP listener.

use std::{future::Future, net::SocketAddr, path::Path, sync::Arc};

use anyhow::Context;
use base64::{Engine, engine::general_purpose::STANDARD};
use rand::RngCore;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use tokio_util::sync::CancellationToken;

use crate::{
    auth::jwt::JwtKeys,
    blob::{BlobStore, LocalStore, S3Settings, S3Store, UrlSigner},
    config::{BlobStoreKind, EventBusKind, Settings},
    db, demo, graphql, http,
    jobs::{
        bus::{EventBus, LocalBus, PostgresBus},
        worker::{self, WorkerContext},
    },
    metrics::Metrics,
};

/// What every request handler and resolver shares.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub settings: Arc<Settings>,
    pub jwt: JwtKeys,
    pub metrics: Metrics,
    pub blobs: Arc<dyn BlobStore>,
    /// The same store when it is the local one: the gateway then serves its signed URLs.
    pub local_blobs: Option<Arc<LocalStore>>,
    pub bus: Arc<dyn EventBus>,
    /// Cancelled when the process shuts down: workers stop, subscriptions close.
    pub shutdown: CancellationToken,
}

impl AppState {
    pub fn worker_context(&self) -> WorkerContext {
        WorkerContext {
            db: self.db.clone(),
            blobs: self.blobs.clone(),
            bus: self.bus.clone(),
            settings: self.settings.clone(),
        }
    }
}

/// The parts a gateway and a worker process share: database, blob store and event bus.
pub struct Backbone {
    pub db: DatabaseConnection,
    pub blobs: Arc<dyn BlobStore>,
    pub local_blobs: Option<Arc<LocalStore>>,
    pub bus: Arc<dyn EventBus>,
    pub secret: Vec<u8>,
}

impl Backbone {
    /// Connects everything `settings` names. `public_url` is where the local store's signed
    /// URLs point.
    pub async fn connect(
        settings: &Settings,
        public_url: String,
        metrics: Option<&Metrics>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Self> {
        let url = settings.effective_database_url();
        let db = db::connect(&url, settings.database_max_connections, metrics).await?;
        let secret = jwt_secret(settings)?;
        let (blobs, local_blobs): (Arc<dyn BlobStore>, Option<Arc<LocalStore>>) = match settings.blob_store {
            BlobStoreKind::Local => {
                let store =
                    Arc::new(LocalStore::new(settings.data_dir.join("blobs"), public_url, UrlSigner::new(&secret))?);
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
        std::fs::create_dir_all(settings.data_dir.join("tmp")).context("creating the data directory")?;
        Ok(Self { db, blobs, local_blobs, bus, secret })
    }
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects, migrates, optionally seeds the demo data, and binds the listener.
    pub async fn build(settings: Settings, seed_demo: bool) -> anyhow::Result<Self> {
        // Bind first: a busy port should fail before anything is written.
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("listening on {} (is another server running? set IMIND_BIND)", settings.bind))?;
        let metrics = Metrics::new();
        let public_url = if settings.public_url.is_empty() {
            format!("http://{}", listener.local_addr()?)
        } else {
            settings.public_url.clone()
        };
        let shutdown = CancellationToken::new();
        let backbone = Backbone::connect(&settings, public_url, Some(&metrics), &shutdown).await?;
        db::migrate(&backbone.db).await?;
        if seed_demo {
            demo::seed(&backbone.db).await.context("seeding the demo data")?;
        }
        let jwt = JwtKeys::new(
            &backbone.secret,
            &settings.jwt_issuer,
            &settings.jwt_audience,
            settings.access_token_ttl_secs,
        );
        let state = AppState {
            db: backbone.db,
            settings: Arc::new(settings),
            jwt,
            metrics,
            blobs: backbone.blobs,
            local_blobs: backbone.local_blobs,
            bus: backbone.bus,
            shutdown,
        };
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves (and, in the embedded default, runs the analysis workers) until `shutdown`
    /// resolves; then stops claiming jobs, releases a running one, closes subscriptions and
    /// lets in-flight requests finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let schema = graphql::build(self.state.clone());
        let router = http::router(self.state.clone(), schema);
        let token = self.state.shutdown.clone();
        let workers =
            self.state.settings.embedded_worker.then(|| worker::spawn(self.state.worker_context(), token.clone()));
        tokio::spawn({
            let token = token.clone();
            async move {
                shutdown.await;
                token.cancel();
            }
        });
        tracing::info!(address = %self.local_addr(), "i-mind gateway listening; GraphiQL at /");
        // Small, latency-sensitive writes (subscription events, GraphQL answers): no Nagle.
        let listener = axum::serve::ListenerExt::tap_io(self.listener, |tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "TCP_NODELAY");
            }
        });
        let served = axum::serve(listener, router).with_graceful_shutdown(token.clone().cancelled_owned()).await;
        token.cancel();
        if let Some(workers) = workers {
            let _ = workers.await;
        }
        served.context("serving HTTP")?;
        self.state.db.clone().close().await.context("closing the database pool")?;
        Ok(())
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
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)?;
    Ok(())
}
