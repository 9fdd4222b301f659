//! Wiring: one gateway (listener, services, migrations, schema, router, embedded workers) and
//! one worker process, each run until shutdown.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Settings,
    db, demo, graphql, http,
    jobs::{
        maintenance::Maintenance,
        worker::{self, WorkerContext},
    },
    metrics::Metrics,
    state::{AppState, Services},
    sweeper,
};

pub struct Application {
    listener: TcpListener,
    /// `/metrics` on an address of its own, when configured.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    workers: WorkerContext,
}

impl Application {
    /// Connects, migrates, optionally seeds the demo data, and binds the listener.
    pub async fn build(settings: Settings, seed_demo: bool) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !seed_demo || settings.bind.ip().is_loopback() || settings.demo_allow_public,
            "--demo seeds logins whose passwords are published; refusing to serve them on {}, which is \
             reachable from other machines. Bind a loopback address (IMIND_BIND=127.0.0.1:8080), or set \
             IMIND_DEMO_ALLOW_PUBLIC=true if that is really what you want",
            settings.bind
        );
        // Bind first: a busy port should fail before anything is written.
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("listening on {} (is another server running? set IMIND_BIND)", settings.bind))?;
        let metrics_listener = match settings.metrics_bind {
            Some(address) => Some(
                TcpListener::bind(address)
                    .await
                    .with_context(|| format!("listening on {address} (IMIND_METRICS_BIND)"))?,
            ),
            None => None,
        };
        let metrics = Metrics::new();
        let public_url = if settings.public_url.is_empty() {
            format!("http://{}", listener.local_addr()?)
        } else {
            settings.public_url.clone()
        };
        let shutdown = CancellationToken::new();
        let services = Services::connect(Arc::new(settings), public_url, Some(&metrics), &shutdown).await?;
        db::migrate(&services.db).await?;
        if seed_demo {
            demo::seed(&services.db).await.context("seeding the demo data")?;
        }
        let workers = services.worker_context();
        Ok(Self { listener, metrics_listener, state: AppState::new(services, metrics, shutdown), workers })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Where `/metrics` is served when it has an address of its own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(|listener| listener.local_addr().expect("a bound listener has an address"))
    }

    /// Serves (and, in the embedded default, runs the analysis workers) until `shutdown`
    /// resolves; then stops claiming jobs, releases a running one, closes subscriptions and
    /// lets in-flight requests finish.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let schema = graphql::build(self.state.clone());
        let router = http::router(self.state.clone(), schema, self.metrics_listener.is_none());
        let token = self.state.shutdown.clone();
        let workers = self.state.settings.embedded_worker.then(|| worker::spawn(self.workers, token.clone()));
        tokio::spawn({
            let token = token.clone();
            async move {
                shutdown.await;
                token.cancel();
            }
        });
        let address = self.listener.local_addr()?;
        tracing::info!(%address, "i-mind gateway listening; GraphiQL at /");
        let settings = &self.state.settings;
        tokio::spawn(sweeper::run(
            self.state.db.clone(),
            self.state.blobs.clone(),
            Duration::from_secs(settings.upload_url_ttl_secs),
            Duration::from_secs(settings.upload_sweep_secs.max(1)),
            token.clone(),
        ));
        let limits = http::ServerLimits {
            header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs.max(1)),
            max_connections: settings.max_connections,
        };
        let metrics = self.metrics_listener.map(|listener| {
            let router = http::metrics_router(self.state.clone());
            tokio::spawn(http::serve(listener, router, limits, token.clone(), Duration::from_secs(1)))
        });
        let served = http::serve(self.listener, router, limits, token.clone(), Duration::from_secs(30)).await;
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        token.cancel();
        if let Some(workers) = workers {
            let _ = workers.await;
        }
        served.context("serving HTTP")?;
        // Every request has finished: what they read is written before the pool closes.
        self.state.reads.close().await;
        self.state.db.clone().close().await.context("closing the database pool")?;
        Ok(())
    }
}

/// `imind worker`: the worker pool until `shutdown` resolves, which releases a running job.
pub async fn run_worker_process(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let token = CancellationToken::new();
    let public_url = settings.public_url.clone();
    let services = Services::connect(Arc::new(settings), public_url, None, &token).await?;
    let workers = worker::spawn(services.worker_context(), token.clone());
    shutdown.await;
    token.cancel();
    workers.await?;
    services.reads.close().await;
    services.db.close().await?;
    Ok(())
}

/// The maintenance steps (retention, exports) of a worker connected as `settings` say, for
/// running them by hand with a clock of one's own (tests, operators).
pub async fn connect_maintenance(settings: Settings) -> anyhow::Result<Maintenance> {
    let public_url = settings.public_url.clone();
    let services = Services::connect(Arc::new(settings), public_url, None, &CancellationToken::new()).await?;
    Ok(Maintenance::new(services.db, services.blobs, services.settings))
}
