//! Reads are logged without slowing the request that makes them: one task owns the pending
//! entries and writes them in batches, a statement per batch. It runs until it is closed
//! (after the server has finished its last request), writing whatever is pending.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};

use super::{AuditEntry, append_all};

/// At most this many entries per statement (PostgreSQL binds at most 65535 values; an entry
/// has 12).
const MAX_BATCH: usize = 2000;

/// How long the first entry of a batch waits for company.
const GATHER: Duration = Duration::from_millis(20);

/// How long a failed batch waits before its second try.
const RETRY_AFTER: Duration = Duration::from_millis(500);

enum Command {
    Append(AuditEntry),
    /// Answered once everything sent before it is written.
    Flush(oneshot::Sender<()>),
    /// Writes what is pending, answers, and stops.
    Close(oneshot::Sender<()>),
}

/// The handle every request logs its reads through. The channel is unbounded on purpose: a
/// read is never dropped, and the writer drains up to 2000 entries per statement, far faster
/// than requests arrive (docs/perf.md).
#[derive(Clone)]
pub struct ReadLog {
    commands: mpsc::UnboundedSender<Command>,
    /// `false` only to measure what logging reads costs (`audit_reads`).
    enabled: bool,
}

impl ReadLog {
    /// Starts the writer on `db`.
    pub fn start(db: DatabaseConnection, enabled: bool) -> Self {
        if !enabled {
            tracing::warn!("reads of children's data are not audited (IMIND_AUDIT_READS=false)");
        }
        let (commands, receiver) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(db, receiver));
        Self { commands, enabled }
    }

    /// Logs a read; returns at once.
    pub fn append(&self, entry: AuditEntry) {
        if self.enabled && self.commands.send(Command::Append(entry)).is_err() {
            tracing::error!("a read was not audited: the audit writer has stopped");
        }
    }

    /// Waits until every read logged before is written (before the log is read).
    pub async fn flush(&self) {
        self.ask(Command::Flush).await;
    }

    /// Writes what is pending and stops the writer (at shutdown, once requests are done).
    pub async fn close(&self) {
        self.ask(Command::Close).await;
    }

    async fn ask(&self, command: impl FnOnce(oneshot::Sender<()>) -> Command) {
        let (done, written) = oneshot::channel();
        if self.commands.send(command(done)).is_ok() {
            let _ = written.await;
        }
    }
}

#[tracing::instrument(name = "audit_writer", skip_all)]
async fn write_batches(db: DatabaseConnection, mut commands: mpsc::UnboundedReceiver<Command>) {
    let mut batch = Vec::new();
    let mut waiting = Vec::new();
    let mut closing = false;
    while !closing {
        let Some(first) = commands.recv().await else { break };
        let deadline = tokio::time::Instant::now() + GATHER;
        let mut next = Some(first);
        while let Some(command) = next.take() {
            match command {
                Command::Append(entry) => batch.push(entry),
                Command::Flush(done) => waiting.push(done),
                Command::Close(done) => {
                    waiting.push(done);
                    closing = true;
                }
            }
            if batch.len() >= MAX_BATCH || !waiting.is_empty() {
                break;
            }
            next = match commands.try_recv() {
                Ok(command) => Some(command),
                Err(_) => tokio::time::timeout_at(deadline, commands.recv()).await.ok().flatten(),
            };
        }
        write(&db, std::mem::take(&mut batch)).await;
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Writes one batch; once more after a pause (a connection lost, a lock held too long), then
/// gives up with an error in the log.
async fn write(db: &DatabaseConnection, entries: Vec<AuditEntry>) {
    let count = entries.len();
    if let Err(error) = append_all(db, entries.clone()).await {
        tracing::warn!(%error, count, "writing audited reads; trying again");
        tokio::time::sleep(RETRY_AFTER).await;
        if let Err(error) = append_all(db, entries).await {
            tracing::error!(%error, count, "audited reads were lost");
        }
    }
}
