//! Connecting to SQLite or PostgreSQL (chosen by the URL alone) and running migrations.

use std::{path::Path, time::Duration};

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};

use crate::{metrics::Metrics, private_files};

pub async fn connect(url: &str, max_connections: u32, metrics: Option<&Metrics>) -> anyhow::Result<DatabaseConnection> {
    if let Some(file) = sqlite_file(url).filter(|path| !path.is_empty() && !path.starts_with(':')).map(Path::new) {
        if let Some(dir) = file.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            private_files::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        // Created here as 0600 (SQLite gives its -wal and -shm files the same mode).
        match private_files::new_file().open(file) {
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => private_files::restrict(file)?,
            opened => drop(opened.with_context(|| format!("creating {}", file.display()))?),
        }
    }
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(max_connections)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        // WAL lets readers proceed while the worker writes results; foreign keys make the
        // cascades real (sqlx turns them on by default, stated here because we rely on it).
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    let mut db =
        Database::connect(options).await.with_context(|| format!("connecting to the database at {}", redact(url)))?;
    if let Some(metrics) = metrics {
        let metrics = metrics.clone();
        db.set_metric_callback(move |info| {
            metrics.sql_statements.inc();
            metrics.sql_seconds.observe(info.elapsed.as_secs_f64());
            if info.failed {
                metrics.sql_failures.inc();
            }
        });
    }
    Ok(db)
}

/// A transaction that reads before it writes. On SQLite it takes the write lock at BEGIN
/// (waiting up to the busy timeout): a deferred one that read first fails at once when another
/// connection commits a write before its own first write (SQLITE_BUSY_SNAPSHOT), and the audit
/// log's writer commits often. Elsewhere (PostgreSQL, nested) a plain begin.
pub async fn begin_write<C: TransactionTrait>(db: &C) -> Result<C::Transaction, sea_orm::DbErr> {
    db.begin_with_options(TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    })
    .await
}

/// Locks the child's row until the transaction ends (PostgreSQL; SQLite's write transactions
/// are serialised already). Changes to what a child's consent allows take it, so a withdrawal
/// and an upload, or an erasure and an upload, never interleave.
pub async fn lock_child(txn: &impl ConnectionTrait, child_id: uuid::Uuid) -> Result<(), sea_orm::DbErr> {
    lock_row(txn, "children", child_id).await
}

/// Locks the organisation's row until the transaction ends (as [`lock_child`]): counts of what
/// an organisation holds (its codes) are checked under it.
pub async fn lock_organisation(txn: &impl ConnectionTrait, organisation_id: uuid::Uuid) -> Result<(), sea_orm::DbErr> {
    lock_row(txn, "organisations", organisation_id).await
}

async fn lock_row(txn: &impl ConnectionTrait, table: &'static str, id: uuid::Uuid) -> Result<(), sea_orm::DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        let lock = Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!("SELECT id FROM {table} WHERE id = $1 FOR UPDATE"),
            [id.into()],
        );
        txn.query_one_raw(lock).await?;
    }
    Ok(())
}

/// Whether `error` is a unique constraint's refusal (a client's conflict, not an internal error).
pub fn is_unique_violation(error: &sea_orm::DbErr) -> bool {
    matches!(error.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await.context("running database migrations")
}

fn sqlite_file(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then_some(path)
}

/// The URL without its password, for error messages and logs.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("postgres://me:secret@host:5432/db"), "postgres://me:***@host:5432/db");
        assert_eq!(redact("sqlite://data/imind.db?mode=rwc"), "sqlite://data/imind.db?mode=rwc");
    }

    #[test]
    fn finds_sqlite_files() {
        assert_eq!(sqlite_file("sqlite://data/imind.db?mode=rwc"), Some("data/imind.db"));
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x@y/z"), None);
    }

    /// A write transaction that read first still commits when another connection writes in
    /// between: the other writer waits for it instead (a deferred one fails with SQLITE_BUSY).
    #[tokio::test]
    async fn a_write_transaction_that_reads_first_survives_a_concurrent_writer() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("race.db").display());
        let db = connect(&url, 4, None).await.expect("SQLite opens");
        db.execute_unprepared("CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter VALUES (0);")
            .await
            .expect("the table is created");

        let txn = begin_write(&db).await.expect("the transaction begins");
        let read = Statement::from_string(DbBackend::Sqlite, "SELECT n FROM counter");
        let n: i64 = txn.query_one_raw(read).await.expect("read").expect("a row").try_get("", "n").expect("n");
        let other = db.clone();
        let racing_writer =
            tokio::spawn(async move { other.execute_unprepared("UPDATE counter SET n = n + 10").await.map(|_| ()) });
        tokio::time::sleep(Duration::from_millis(200)).await;
        txn.execute_unprepared(&format!("UPDATE counter SET n = {}", n + 1)).await.expect("the write after the read");
        txn.commit().await.expect("the commit");
        racing_writer.await.expect("the task").expect("the racing writer waited its turn");

        let read = Statement::from_string(DbBackend::Sqlite, "SELECT n FROM counter");
        let n: i64 = db.query_one_raw(read).await.expect("read").expect("a row").try_get("", "n").expect("n");
        assert_eq!(n, 11, "both writes landed, one after the other");
    }
}
