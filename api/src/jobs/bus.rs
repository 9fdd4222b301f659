//! The event bus seam: publish job events, subscribe to all of them. Subscribers filter by job
//! or child themselves; events are small and a gateway has few distinct jobs at once.
//!
//! - [`LocalBus`] (embedded default): a tokio broadcast channel inside one process.
//! - [`PostgresBus`] (distributed): `pg_notify` on publish; one `LISTEN` connection per process
//!   re-broadcasts what arrives, so a subscriber on gateway A sees a job a worker anywhere runs.
//!
//! Delivery is best effort (a lagging subscriber or a dropped LISTEN connection misses
//! events); subscribers re-read the job from the database when they notice a gap.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use sea_orm::sqlx::{PgPool, postgres::PgListener};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::events::JobEvent;

/// How many events a slow subscriber may fall behind before it is told it lagged.
const CAPACITY: usize = 4096;
/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
const MAX_NOTIFY_BYTES: usize = 7_900;
const CHANNEL: &str = "imind_job_events";

#[async_trait]
pub trait EventBus: Send + Sync {
    async fn publish(&self, event: JobEvent) -> anyhow::Result<()>;
    fn subscribe(&self) -> broadcast::Receiver<Arc<JobEvent>>;
}

pub struct LocalBus {
    sender: broadcast::Sender<Arc<JobEvent>>,
}

impl LocalBus {
    pub fn new() -> Self {
        Self { sender: broadcast::channel(CAPACITY).0 }
    }
}

impl Default for LocalBus {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl EventBus for LocalBus {
    async fn publish(&self, event: JobEvent) -> anyhow::Result<()> {
        // No receivers is fine: nobody is watching.
        let _ = self.sender.send(Arc::new(event));
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<JobEvent>> {
        self.sender.subscribe()
    }
}

pub struct PostgresBus {
    pool: PgPool,
    local: broadcast::Sender<Arc<JobEvent>>,
}

impl PostgresBus {
    /// Starts listening (one dedicated connection) until `shutdown`.
    pub async fn start(pool: PgPool, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let mut listener = PgListener::connect_with(&pool).await.context("opening the LISTEN connection")?;
        listener.listen(CHANNEL).await.context("LISTEN")?;
        let local = broadcast::channel(CAPACITY).0;
        let sender = local.clone();
        tokio::spawn(async move {
            loop {
                let notification = tokio::select! {
                    () = shutdown.cancelled() => break,
                    notification = listener.try_recv() => notification,
                };
                match notification {
                    Ok(Some(notification)) => match serde_json::from_str::<JobEvent>(notification.payload()) {
                        Ok(event) => {
                            let _ = sender.send(Arc::new(event));
                        }
                        Err(error) => tracing::warn!(%error, "ignoring an unreadable job event"),
                    },
                    // The connection dropped; the next call reconnects. Events sent meanwhile
                    // are lost, which subscribers survive (see the module docs).
                    Ok(None) => tracing::warn!("the LISTEN connection was lost; reconnecting"),
                    Err(error) => {
                        tracing::warn!(%error, "receiving job events");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(Self { pool, local })
    }
}

#[async_trait]
impl EventBus for PostgresBus {
    async fn publish(&self, event: JobEvent) -> anyhow::Result<()> {
        for part in event.split(MAX_NOTIFY_BYTES) {
            let payload = serde_json::to_string(&part)?;
            sea_orm::sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&self.pool)
                .await
                .context("publishing a job event")?;
        }
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<JobEvent>> {
        self.local.subscribe()
    }
}
