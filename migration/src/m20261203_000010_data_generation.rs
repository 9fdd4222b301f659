//! The data generation: one counter that every write to what GraphQL reports shows moves on,
//! in the writing transaction itself, so a response stored with the generation it was read
//! at is known stale the moment any such write commits, on every gateway (the gateway's
//! response cache). Triggers keep it, so no write path can forget to.
//!
//! Not counted: the audit log (every read appends to it), analysis jobs (leases and progress
//! change every few seconds while one runs), scheduled tasks and refresh tokens. Responses
//! that read any of those are never cached.
//!
//! PostgreSQL counts once per statement, before the statement takes its row locks: every
//! writer takes the counter's lock first, so writers queue on it but never deadlock on it.
//! SQLite has one writer at a time and row triggers only.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Every table whose rows a cached response may show. A migration that rebuilds one of these
/// on SQLite (which drops a table's triggers with it) creates its triggers again.
pub const COUNTED_TABLES: [&str; 17] = [
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
    "child_exports",
    "api_keys",
    "api_key_children",
    "trusted_documents",
];

/// The tables left out, each for the reason in the module doc; a new table goes in one list.
pub const UNCOUNTED_TABLES: [&str; 5] =
    ["audit_log", "analysis_jobs", "scheduled_tasks", "refresh_tokens", "data_generation"];

const CREATE_COUNTER: &str = "CREATE TABLE data_generation (id INTEGER PRIMARY KEY, value BIGINT NOT NULL)";
const FIRST_ROW: &str = "INSERT INTO data_generation (id, value) VALUES (1, 0)";

const POSTGRES_FUNCTION: &str = "CREATE FUNCTION data_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN UPDATE data_generation SET value = value + 1 WHERE id = 1; RETURN NULL; END $$";

fn postgres_trigger(table: &str) -> String {
    format!(
        "CREATE TRIGGER {table}_data_generation BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} \
         FOR EACH STATEMENT EXECUTE FUNCTION data_generation_bump()"
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
