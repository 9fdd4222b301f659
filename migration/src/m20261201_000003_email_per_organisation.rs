//! An e-mail address is unique within an organisation, not across them: one person may work
//! for two clinics, and a clinic adding a user must not learn that the address has an account
//! at another one (which, for a guardian, would say that a child is in counselling there).
//!
//! PostgreSQL drops the column's unique constraint. SQLite cannot drop a column constraint, so
//! the table is rebuilt (SQLite's documented twelve-step procedure: foreign keys off on one
//! connection, copy, drop, rename, check, back on) — with them on, dropping `users` would
//! cascade to everything that references it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{pk_uuid, string, string_len, timestamp_with_time_zone, uuid};
use sea_orm_migration::sea_orm::{self, ConnectionTrait, DatabaseExecutor, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    OrganisationId,
    Email,
    Name,
    PasswordHash,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Organisations {
    Table,
    Id,
}

/// Where a rebuilt SQLite table is built before it takes the old one's name.
const REBUILT: &str = "users_rebuilt";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            // In the migration's transaction: the new indexes exist from the moment the old
            // constraint is gone.
            DbBackend::Postgres => {
                let db = manager.get_connection();
                db.execute_unprepared("ALTER TABLE users DROP CONSTRAINT users_email_key").await?;
                for index in INDEXES {
                    db.execute_unprepared(index).await?;
                }
                Ok(())
            }
            DbBackend::Sqlite => rebuild_sqlite_users(manager, false).await,
            other => Err(DbErr::Migration(format!("{other:?} is not supported"))),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Fails, changing nothing (one transaction either way), while an address has accounts
        // in two organisations.
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for index in ["ux_users_organisation_email", "ix_users_email"] {
                    manager.drop_index(Index::drop().name(index).table(Users::Table).to_owned()).await?;
                }
                manager
                    .get_connection()
                    .execute_unprepared("ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email)")
                    .await?;
            }
            // The rebuilt table has none of this migration's indexes.
            DbBackend::Sqlite => rebuild_sqlite_users(manager, true).await?,
            other => return Err(DbErr::Migration(format!("{other:?} is not supported"))),
        }
        Ok(())
    }
}

/// One account per organisation and address; sign-in looks accounts up by address.
const INDEXES: [&str; 2] = [
    "CREATE UNIQUE INDEX ux_users_organisation_email ON users (organisation_id, email)",
    "CREATE INDEX ix_users_email ON users (email)",
];

/// The `users` table as the first migration made it, with or without a unique e-mail column.
fn users_table(name: impl IntoIden, email_unique: bool) -> TableCreateStatement {
    let mut email = string(Users::Email);
    if email_unique {
        email.unique_key();
    }
    Table::create()
        .table(name)
        .col(pk_uuid(Users::Id))
        .col(uuid(Users::OrganisationId))
        .col(email)
        .col(string(Users::Name))
        .col(string(Users::PasswordHash))
        .col(string_len(Users::Role, 16))
        .col(timestamp_with_time_zone(Users::CreatedAt))
        .foreign_key(
            ForeignKey::create()
                .from(Users::Table, Users::OrganisationId)
                .to(Organisations::Table, Organisations::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .take()
}

async fn rebuild_sqlite_users(manager: &SchemaManager<'_>, email_unique: bool) -> Result<(), DbErr> {
    let DatabaseExecutor::Connection(db) = manager.get_connection() else {
        return Err(DbErr::Migration("the users rebuild needs its own connection, not a transaction".into()));
    };
    // PRAGMA foreign_keys is per connection and ignored inside a transaction: hold one
    // connection for the whole procedure.
    let mut connection = db.get_sqlite_connection_pool().acquire().await.map_err(sqlx_error)?;
    let create = users_table(Alias::new(REBUILT), email_unique).to_string(SqliteQueryBuilder);
    let columns = "id, organisation_id, email, name, password_hash, role, created_at";
    let mut steps = vec![
        "PRAGMA foreign_keys = OFF".to_owned(),
        "BEGIN IMMEDIATE".to_owned(),
        create,
        format!("INSERT INTO {REBUILT} ({columns}) SELECT {columns} FROM users"),
        "DROP TABLE users".to_owned(),
        format!("ALTER TABLE {REBUILT} RENAME TO users"),
        "CREATE INDEX ix_users_organisation ON users (organisation_id)".to_owned(),
    ];
    // Inside the transaction: uniqueness never lapses.
    if !email_unique {
        steps.extend(INDEXES.map(str::to_owned));
    }
    let result = async {
        for step in &steps {
            sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(step.as_str())).execute(&mut *connection).await?;
        }
        let dangling = sea_orm::sqlx::query("PRAGMA foreign_key_check").fetch_all(&mut *connection).await?;
        if !dangling.is_empty() {
            return Ok(Some(dangling.len()));
        }
        sea_orm::sqlx::query("COMMIT").execute(&mut *connection).await?;
        Ok::<_, sea_orm::sqlx::Error>(None)
    }
    .await;
    let outcome = match result {
        Ok(None) => Ok(()),
        Ok(Some(dangling)) => Err(DbErr::Migration(format!("rebuilding users left {dangling} dangling references"))),
        Err(error) => Err(sqlx_error(error)),
    };
    if outcome.is_err() {
        // Nothing of a failed rebuild stays (the transaction may already be gone).
        let _ = sea_orm::sqlx::query("ROLLBACK").execute(&mut *connection).await;
    }
    let restored = sea_orm::sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *connection).await;
    if outcome.is_err() || restored.is_err() {
        // A connection that may still have foreign keys off never goes back to the pool: on
        // it, erasing a child would not cascade.
        drop(connection.detach());
    }
    restored.map_err(sqlx_error)?;
    outcome
}

fn sqlx_error(error: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Migration(format!("rebuilding users: {error}"))
}
