//! The worker pool: `worker_concurrency` slots, each claiming one job at a time from the queue
//! and running it ([`attempt`]): fetching its video, running the inference engine on a
//! low-priority thread ([`background`]), and meanwhile publishing progress and newly final
//! intervals every 250 ms and heartbeating every 500 ms ([`progress`]), which also notices a
//! cancellation. The engine's models are loaded on a slot's first job and kept.
//!
//! Beside the slots, one task per process does the maintenance work (`maintenance`: retention,
//! exports).
//!
//! Shutdown (SIGTERM): slots stop claiming; a running analysis is stopped and its job released
//! back to the queue without counting the attempt, so another worker starts it again at once.

mod attempt;
mod background;
mod progress;

use std::{path::PathBuf, sync::Arc, time::Duration};

use imind_inference::Engine;
use sea_orm::DatabaseConnection;
use tokio::{sync::broadcast, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    bus::EventBus,
    events::{JobEvent, JobEventKind},
    maintenance::{self, Maintenance},
    queue::{Queue, QueueSettings},
};
use crate::{blob::BlobStore, config::Settings};

/// What workers need; `state::Services::worker_context` builds it.
#[derive(Clone)]
pub struct WorkerContext {
    pub db: DatabaseConnection,
    pub blobs: Arc<dyn BlobStore>,
    pub bus: Arc<dyn EventBus>,
    pub queue: Queue,
    pub settings: Arc<Settings>,
}

impl WorkerContext {
    /// Where videos fetched from the store are kept while they are analysed.
    fn temp_dir(&self) -> PathBuf {
        self.settings.temp_dir()
    }
}

/// Starts the pool; the handle finishes once every slot has stopped after `shutdown`.
pub fn spawn(context: WorkerContext, shutdown: CancellationToken) -> JoinHandle<()> {
    let concurrency = context.settings.worker_concurrency.max(1);
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
    let instance = &Uuid::new_v4().simple().to_string()[..8];
    let mut slots: Vec<JoinHandle<()>> = (0..concurrency)
        .map(|slot| {
            let name = format!("{host}-{}-{instance}-{slot}", std::process::id());
            tokio::spawn(run_slot(context.clone(), name, shutdown.clone()))
        })
        .collect();
    let maintenance = Maintenance::new(context.db.clone(), context.blobs.clone(), context.settings.clone());
    let name = format!("{host}-{}-{instance}-maintenance", std::process::id());
    slots.push(maintenance::spawn(maintenance, name, shutdown.clone()));
    tokio::spawn(async move {
        for slot in slots {
            let _ = slot.await;
        }
        tracing::info!("workers stopped");
    })
}

#[tracing::instrument(skip_all, fields(worker = %name))]
async fn run_slot(context: WorkerContext, name: String, shutdown: CancellationToken) {
    let settings = QueueSettings::from(context.settings.as_ref());
    let poll = Duration::from_millis(context.settings.worker_poll_ms.max(10));
    let mut wake = context.bus.subscribe();
    let mut engine: Option<Engine> = None;
    // Abandoned jobs can only appear as leases run out: look for them twice per lease.
    let sweep_every = (settings.lease / 2).max(Duration::from_secs(1));
    let mut last_sweep: Option<tokio::time::Instant> = None;
    tracing::info!("worker ready");
    while !shutdown.is_cancelled() {
        if last_sweep.is_none_or(|at| at.elapsed() >= sweep_every) {
            last_sweep = Some(tokio::time::Instant::now());
            if let Err(error) = context.queue.fail_abandoned().await {
                tracing::error!(%error, "checking for abandoned jobs");
            }
        }
        match context.queue.claim(&name).await {
            Ok(Some(job)) => {
                engine = attempt::run(&context, &name, job, engine, &shutdown).await;
                continue;
            }
            Ok(None) => {}
            Err(error) => tracing::error!(%error, "claiming a job"),
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(poll) => {}
            () = queued_event(&mut wake) => {}
        }
    }
}

/// Resolves when a job is queued somewhere (or events were missed): time to try a claim.
async fn queued_event(events: &mut broadcast::Receiver<Arc<JobEvent>>) {
    use broadcast::error::RecvError;
    loop {
        match events.recv().await {
            Ok(event) if event.kind == JobEventKind::Queued => return,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return,
            Err(RecvError::Closed) => std::future::pending().await,
        }
    }
}
