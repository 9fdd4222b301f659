//! Direct uploads nobody waits for: objects under `incoming/` that no session points at (a
//! ticket replaced or abandoned, a session erased, an S3 URL replayed after completion —
//! presigned S3 URLs cannot be revoked). Once an object is older than the upload URL's
//! lifetime, no URL can write it again, and it is deleted; an object a session still waits for
//! is kept whatever its age. The store's `incoming/` prefix belongs to the gateway alone.

use std::{collections::HashSet, time::Duration};

use entity::session;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};
use tokio_util::sync::CancellationToken;

use crate::blob::{self, BlobStore};

/// Deletes the abandoned uploads older than `url_ttl`; returns how many.
#[tracing::instrument(skip_all)]
pub async fn sweep_once(db: &DatabaseConnection, blobs: &dyn BlobStore, url_ttl: Duration) -> anyhow::Result<usize> {
    let candidates = blobs.keys_older_than(blob::INCOMING, url_ttl).await?;
    if candidates.is_empty() {
        return Ok(0);
    }
    let mut swept = 0;
    // Looked up in slices: a long list would exceed a statement's parameter limit.
    for slice in candidates.chunks(500) {
        let awaited: HashSet<String> = session::Entity::find()
            .select_only()
            .column(session::Column::VideoUploadKey)
            .filter(session::Column::VideoUploadKey.is_in(slice.iter().cloned()))
            .into_tuple::<Option<String>>()
            .all(db)
            .await?
            .into_iter()
            .flatten()
            .collect();
        for key in slice.iter().filter(|key| !awaited.contains(*key)) {
            match blobs.delete(key).await {
                Ok(()) => swept += 1,
                Err(error) => tracing::warn!(key, error = format!("{error:#}"), "could not sweep an upload"),
            }
        }
    }
    if swept > 0 {
        tracing::info!(swept, "removed abandoned uploads");
    }
    Ok(swept)
}

/// Sweeps every `every` until `shutdown`; the first sweep waits one period (not at start-up,
/// where every gateway of a deployment would list the store at once).
pub async fn run(
    db: DatabaseConnection,
    blobs: std::sync::Arc<dyn BlobStore>,
    url_ttl: Duration,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shutdown.cancelled() => return,
        }
        if let Err(error) = sweep_once(&db, blobs.as_ref(), url_ttl).await {
            tracing::warn!(error = format!("{error:#}"), "sweeping abandoned uploads");
        }
    }
}
