//! What a clinic needs to handle children's data: consent records per child, the append-only
//! access audit log, retention policies per organisation, scheduled tasks (retention) and
//! child exports, both claimed by workers with leases like analyses.
//!
//! `consents` rows are never deleted while their child exists; withdrawal stamps a row once.
//! `audit_log` has no foreign keys: its entries outlive the children, users and sessions they
//! name (by id only), and triggers on both backends refuse to change or delete one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer_null, boolean, integer, integer_null, pk_uuid, string_len, string_len_null, string_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Consents {
    Table,
    Id,
    ChildId,
    Kind,
    GivenBy,
    GivenByRole,
    GivenAt,
    TextVersion,
    WithdrawnAt,
    WithdrawnBy,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditLog {
    Table,
    Id,
    At,
    OrganisationId,
    Actor,
    ActorUserId,
    Role,
    Action,
    ChildId,
    SessionId,
    OperationName,
    RequestId,
    ClientAddress,
}

#[derive(DeriveIden)]
enum Children {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Organisations {
    Table,
    VideoRetentionDays,
    ChildRetentionDays,
}

#[derive(DeriveIden)]
enum ScheduledTasks {
    Table,
    Name,
    RunAfter,
    LeaseOwner,
    LeaseExpiresAt,
    LastFinishedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ChildExports {
    Table,
    Id,
    ChildId,
    OrganisationId,
    RequestedBy,
    IncludeVideos,
    IncludeNotes,
    Status,
    Attempts,
    LeaseOwner,
    LeaseExpiresAt,
    BlobKey,
    SizeBytes,
    Error,
    CreatedAt,
    FinishedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

/// Refuses every change to a written audit entry (PostgreSQL).
const POSTGRES_APPEND_ONLY: &[&str] = &[
    "CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
     BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$",
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log \
     FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log \
     FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()",
];

/// The same rule on SQLite (which has no TRUNCATE).
const SQLITE_APPEND_ONLY: &[&str] = &[
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log \
     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log \
     BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END",
];

/// Creates the named indexes, each on its columns, of `table`.
async fn indexes<C: Iden + Copy + 'static>(
    manager: &SchemaManager<'_>,
    table: impl Iden + Copy + 'static,
    indexes: &[(&str, &[C])],
) -> Result<(), DbErr> {
    for (name, columns) in indexes {
        let mut index = Index::create();
        index.name(*name).table(table);
        for column in *columns {
            index.col(*column);
        }
        manager.create_index(index.take()).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Consents::Table)
                    .col(pk_uuid(Consents::Id))
                    .col(uuid(Consents::ChildId))
                    .col(string_len(Consents::Kind, 32))
                    .col(uuid_null(Consents::GivenBy))
                    .col(string_len(Consents::GivenByRole, 16))
                    .col(timestamp_with_time_zone(Consents::GivenAt))
                    .col(string_len(Consents::TextVersion, 64))
                    .col(timestamp_with_time_zone_null(Consents::WithdrawnAt))
                    .col(uuid_null(Consents::WithdrawnBy))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Consents::Table, Consents::ChildId)
                            .to(Children::Table, Children::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Consents::Table, Consents::GivenBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Consents::Table, Consents::WithdrawnBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .take(),
            )
            .await?;
        indexes(
            manager,
            Consents::Table,
            &[
                ("ix_consents_child_kind", &[Consents::ChildId, Consents::Kind][..]),
                ("ix_consents_given_by", &[Consents::GivenBy][..]),
                ("ix_consents_withdrawn_by", &[Consents::WithdrawnBy][..]),
            ],
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(pk_uuid(AuditLog::Id))
                    .col(timestamp_with_time_zone(AuditLog::At))
                    .col(uuid_null(AuditLog::OrganisationId))
                    .col(string_len(AuditLog::Actor, 64))
                    .col(uuid_null(AuditLog::ActorUserId))
                    .col(string_len_null(AuditLog::Role, 16))
                    .col(string_len(AuditLog::Action, 48))
                    .col(uuid_null(AuditLog::ChildId))
                    .col(uuid_null(AuditLog::SessionId))
                    .col(string_null(AuditLog::OperationName))
                    .col(string_null(AuditLog::RequestId))
                    .col(string_len_null(AuditLog::ClientAddress, 64))
                    .take(),
            )
            .await?;
        // Ids are UUIDv7: in the order written. Each listing filters by organisation first.
        indexes(
            manager,
            AuditLog::Table,
            &[
                ("ix_audit_log_organisation", &[AuditLog::OrganisationId, AuditLog::Id][..]),
                ("ix_audit_log_child", &[AuditLog::ChildId, AuditLog::Id][..]),
                ("ix_audit_log_actor", &[AuditLog::ActorUserId, AuditLog::Id][..]),
            ],
        )
        .await?;
        // Retention policies, off (NULL) for the organisations that exist: an upgrade must not
        // delete anybody's videos. New organisations start with 30 days (`users`).
        for column in [integer_null(Organisations::VideoRetentionDays), integer_null(Organisations::ChildRetentionDays)]
        {
            let mut column = column;
            manager.alter_table(Table::alter().table(Organisations::Table).add_column(&mut column).take()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ScheduledTasks::Table)
                    .col(string_len(ScheduledTasks::Name, 32).primary_key())
                    .col(timestamp_with_time_zone(ScheduledTasks::RunAfter))
                    .col(string_null(ScheduledTasks::LeaseOwner))
                    .col(timestamp_with_time_zone_null(ScheduledTasks::LeaseExpiresAt))
                    .col(timestamp_with_time_zone_null(ScheduledTasks::LastFinishedAt))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ChildExports::Table)
                    .col(pk_uuid(ChildExports::Id))
                    .col(uuid(ChildExports::ChildId))
                    .col(uuid(ChildExports::OrganisationId))
                    .col(uuid_null(ChildExports::RequestedBy))
                    .col(boolean(ChildExports::IncludeVideos))
                    .col(boolean(ChildExports::IncludeNotes))
                    .col(string_len(ChildExports::Status, 16))
                    .col(integer(ChildExports::Attempts))
                    .col(string_null(ChildExports::LeaseOwner))
                    .col(timestamp_with_time_zone_null(ChildExports::LeaseExpiresAt))
                    .col(string_null(ChildExports::BlobKey))
                    .col(big_integer_null(ChildExports::SizeBytes))
                    .col(string_null(ChildExports::Error))
                    .col(timestamp_with_time_zone(ChildExports::CreatedAt))
                    .col(timestamp_with_time_zone_null(ChildExports::FinishedAt))
                    .col(timestamp_with_time_zone_null(ChildExports::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ChildExports::Table, ChildExports::ChildId)
                            .to(Children::Table, Children::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ChildExports::Table, ChildExports::RequestedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .take(),
            )
            .await?;
        indexes(
            manager,
            ChildExports::Table,
            &[
                ("ix_child_exports_child", &[ChildExports::ChildId][..]),
                ("ix_child_exports_requested_by", &[ChildExports::RequestedBy][..]),
                ("ix_child_exports_claim", &[ChildExports::Status, ChildExports::CreatedAt][..]),
            ],
        )
        .await?;

        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_APPEND_ONLY,
            _ => SQLITE_APPEND_ONLY,
        };
        for statement in statements {
            manager.get_connection().execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(ChildExports::Table).take()).await?;
        manager.drop_table(Table::drop().table(ScheduledTasks::Table).take()).await?;
        for column in [Organisations::VideoRetentionDays, Organisations::ChildRetentionDays] {
            manager.alter_table(Table::alter().table(Organisations::Table).drop_column(column).take()).await?;
        }
        manager.drop_table(Table::drop().table(AuditLog::Table).take()).await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            manager.get_connection().execute_unprepared("DROP FUNCTION IF EXISTS audit_log_append_only()").await?;
        }
        manager.drop_table(Table::drop().table(Consents::Table).take()).await?;
        Ok(())
    }
}
