//! The workers' work besides analyses: retention, a scheduled task that one worker at a time
//! runs every `retention_every_secs` (it takes the task's lease in `scheduled_tasks`, so with
//! several workers it runs once), and child exports, claimed with leases like analyses. Both
//! steps take the time as an argument: tests run them with a clock of their own.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    blob::{self, BlobStore},
    config::Settings,
    error::ApiResult,
    exports,
    retention::{self, RetentionReport},
    sql,
};

/// The scheduled task's name in `scheduled_tasks`.
const RETENTION: &str = "retention";
/// How long a worker holds the retention task before another may take it over.
const RETENTION_LEASE: chrono::Duration = chrono::Duration::minutes(15);
/// How long a worker holds an export it builds (ZIPs with videos take a while).
const EXPORT_LEASE: Duration = Duration::from_secs(15 * 60);
/// How often a worker asks whether retention is due.
const RETENTION_CHECK: Duration = Duration::from_secs(60);

/// How one export build ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportOutcome {
    Built {
        export: Uuid,
        size_bytes: u64,
    },
    /// Failed (queued again while attempts are left).
    Failed {
        export: Uuid,
    },
    /// Built, but the worker no longer held the export (the child was erased meanwhile).
    Discarded {
        export: Uuid,
    },
}

/// What the maintenance steps need.
#[derive(Clone)]
pub struct Maintenance {
    db: DatabaseConnection,
    blobs: Arc<dyn BlobStore>,
    settings: Arc<Settings>,
}

impl Maintenance {
    pub fn new(db: DatabaseConnection, blobs: Arc<dyn BlobStore>, settings: Arc<Settings>) -> Self {
        Self { db, blobs, settings }
    }

    /// Runs retention (and deletes expired exports) if it is due at `now` and no other worker
    /// holds it; `None` when it was not this worker's turn.
    #[tracing::instrument(skip_all, fields(%worker))]
    pub async fn run_retention(&self, worker: &str, now: DateTime<Utc>) -> ApiResult<Option<RetentionReport>> {
        if !self.take_task(RETENTION, worker, now).await? {
            return Ok(None);
        }
        let report = retention::enforce(&self.db, self.blobs.as_ref(), now).await;
        let expired = exports::expire(&self.db, self.blobs.as_ref(), now).await;
        let every = chrono::Duration::seconds(self.settings.retention_every_secs.max(1) as i64);
        // Due again a period later even when this run failed: the next one retries it.
        self.finish_task(RETENTION, worker, now, now + every).await?;
        if let Ok(expired @ 1..) = expired {
            tracing::info!(expired, "deleted expired exports");
        }
        expired?;
        report.map(Some)
    }

    /// Builds the oldest queued export, if any.
    #[tracing::instrument(skip_all, fields(%worker))]
    pub async fn build_next_export(&self, worker: &str, now: DateTime<Utc>) -> ApiResult<Option<ExportOutcome>> {
        let Some(export) = exports::claim(&self.db, worker, now, EXPORT_LEASE).await? else { return Ok(None) };
        let started = std::time::Instant::now();
        let built = exports::build_archive(&self.db, self.blobs.as_ref(), &self.settings.temp_dir(), &export).await;
        let stored = match built {
            Ok((zip, size)) => {
                let key = blob::export_key(export.organisation_id, export.child_id, export.id, export.attempts);
                self.blobs.put_file(&key, &zip).await.map(|()| (key, size))
            }
            Err(error) => Err(error),
        };
        let (key, size) = match stored {
            Ok(stored) => stored,
            Err(error) => {
                tracing::error!(export = %export.id, error = format!("{error:#}"), "building an export");
                exports::fail(&self.db, &export, worker, "the export could not be built", Utc::now()).await?;
                return Ok(Some(ExportOutcome::Failed { export: export.id }));
            }
        };
        if !exports::complete(&self.db, &export, worker, &key, size, Utc::now()).await? {
            crate::videos::remove_quietly(self.blobs.as_ref(), &key).await;
            return Ok(Some(ExportOutcome::Discarded { export: export.id }));
        }
        tracing::info!(export = %export.id, size, elapsed_ms = started.elapsed().as_millis() as u64, "export built");
        Ok(Some(ExportOutcome::Built { export: export.id, size_bytes: size }))
    }

    /// Takes the task's lease if it is due at `now` and nobody holds it. One conditional
    /// update, so of two workers asking at once exactly one gets it.
    async fn take_task(&self, name: &str, worker: &str, now: DateTime<Utc>) -> Result<bool, sea_orm::DbErr> {
        let backend = self.db.get_database_backend();
        let ensure = "INSERT INTO scheduled_tasks (name, run_after) VALUES (?, ?) ON CONFLICT (name) DO NOTHING";
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        self.db.execute_raw(sql::statement(backend, ensure, vec![name.into(), epoch.into()])).await?;
        let take = "UPDATE scheduled_tasks SET lease_owner = ?, lease_expires_at = ? \
                    WHERE name = ? AND run_after <= ? AND (lease_owner IS NULL OR lease_expires_at < ?)";
        let values = vec![worker.into(), (now + RETENTION_LEASE).into(), name.into(), now.into(), now.into()];
        Ok(self.db.execute_raw(sql::statement(backend, take, values)).await?.rows_affected() == 1)
    }

    async fn finish_task(
        &self,
        name: &str,
        worker: &str,
        now: DateTime<Utc>,
        next: DateTime<Utc>,
    ) -> Result<(), sea_orm::DbErr> {
        let text = "UPDATE scheduled_tasks SET lease_owner = NULL, lease_expires_at = NULL, run_after = ?, \
                    last_finished_at = ? WHERE name = ? AND lease_owner = ?";
        let values = vec![next.into(), now.into(), name.into(), worker.into()];
        self.db.execute_raw(sql::statement(self.db.get_database_backend(), text, values)).await?;
        Ok(())
    }
}

/// Runs the maintenance steps as `worker` until `shutdown`: exports as soon as they are
/// queued (polled every `worker_poll_ms`), retention whenever it is due.
pub fn spawn(maintenance: Maintenance, worker: String, shutdown: CancellationToken) -> JoinHandle<()> {
    tokio::spawn(async move {
        let poll = Duration::from_millis(maintenance.settings.worker_poll_ms.max(10));
        let mut last_retention_check: Option<tokio::time::Instant> = None;
        while !shutdown.is_cancelled() {
            if last_retention_check.is_none_or(|at| at.elapsed() >= RETENTION_CHECK) {
                last_retention_check = Some(tokio::time::Instant::now());
                if let Err(error) = maintenance.run_retention(&worker, Utc::now()).await {
                    tracing::error!(%error, "running retention");
                }
            }
            match maintenance.build_next_export(&worker, Utc::now()).await {
                Ok(Some(_)) => continue,
                Ok(None) => {}
                Err(error) => tracing::error!(%error, "building an export"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(poll) => {}
            }
        }
    })
}
