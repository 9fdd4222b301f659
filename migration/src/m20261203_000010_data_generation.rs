//! The data generation: one counter that every write to what GraphQL reports shows moves on,
//! in the writing transaction itself, so a response stored with the generation it was read
//! at is known stale the moment any such write commits, on every gateway (the gateway's
//! response cache). Triggers keep it, so no write path can forget to.
//!
//! Not counted: the audit log (every read appends to it), analysis jobs (leases and progress
//! change every few seconds while one runs), child exports (claimed by every worker poll),
//! scheduled tasks and refresh tokens. Responses that read any of those are never cached.
//!
//! PostgreSQL moves it once per transaction, at commit (a deferred constraint trigger with a
//! transaction-local flag): the counter is the last lock a writer takes, so writers never
//! deadlock on it and hold it only while committing. SQLite has one writer at a time and row
//! triggers only. Both count rows changed, not statements: an update that matches nothing
//! moves nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every table whose rows a cached response may show. A migration that rebuilds one of these
/// on SQLite (which drops a table's triggers with it) creates its triggers again.
pub const COUNTED_TABLES: [&str; 16] = [
    "organisations",
    "users",
    "children",
    "child_counsellors",
    "child_guardians",
    "sessions",
    "tracked_objects",
    "emotion_intervals",
    "behaviour_intervals",
    "coded_intervals",
    "session_markers",
    "behaviour_codes",
    "consents",
    "api_keys",
    "api_key_children",
    "trusted_documents",
];

/// The tables left out, each for the reason in the module doc; a new table goes in one list.
pub const UNCOUNTED_TABLES: [&str; 6] =
    ["audit_log", "analysis_jobs", "child_exports", "scheduled_tasks", "refresh_tokens", "data_generation"];

const CREATE_COUNTER: &str = "CREATE TABLE data_generation (id INTEGER PRIMARY KEY, value BIGINT NOT NULL)";
const FIRST_ROW: &str = "INSERT INTO data_generation (id, value) VALUES (1, 0)";

const POSTGRES_FUNCTION: &str = "CREATE FUNCTION data_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN \
       IF current_setting('imind.data_generation_moved', true) IS DISTINCT FROM 'yes' THEN \
         UPDATE data_generation SET value = value + 1 WHERE id = 1; \
         PERFORM set_config('imind.data_generation_moved', 'yes', true); \
       END IF; \
       RETURN NULL; \
     END $$";

fn postgres_trigger(table: &str) -> String {
    format!(
        "CREATE CONSTRAINT TRIGGER {table}_data_generation AFTER INSERT OR UPDATE OR DELETE ON {table} \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION data_generation_bump()"
    )
}

fn sqlite_triggers(table: &str) -> impl Iterator<Item = String> + '_ {
    ["insert", "update", "delete"].into_iter().map(move |event| {
        format!(
            "CREATE TRIGGER {table}_data_generation_{event} AFTER {event} ON {table} \
             BEGIN UPDATE data_generation SET value = value + 1 WHERE id = 1; END"
        )
    })
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(CREATE_COUNTER).await?;
        db.execute_unprepared(FIRST_ROW).await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(POSTGRES_FUNCTION).await?;
                for table in COUNTED_TABLES {
                    db.execute_unprepared(&postgres_trigger(table)).await?;
                }
            }
            _ => {
                for table in COUNTED_TABLES {
                    for trigger in sqlite_triggers(table) {
                        db.execute_unprepared(&trigger).await?;
                    }
                }
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for table in COUNTED_TABLES {
                    db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {table}_data_generation ON {table}"))
                        .await?;
                }
                db.execute_unprepared("DROP FUNCTION IF EXISTS data_generation_bump()").await?;
            }
            _ => {
                for table in COUNTED_TABLES {
                    for event in ["insert", "update", "delete"] {
                        db.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {table}_data_generation_{event}"))
                            .await?;
                    }
                }
            }
        }
        db.execute_unprepared("DROP TABLE data_generation").await?;
        Ok(())
    }
}
