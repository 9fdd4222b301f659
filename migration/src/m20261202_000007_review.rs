//! Counsellor review: each interval's provenance and review (the model's original kept beside
//! what the counsellor changed), timestamped session markers, each session's review state, and
//! what each analysis kept of the review of the one before (and of which video the results
//! are, so a replaced video's results never inherit the old one's review), and whether an
//! organisation shows guardians reviewed sessions only.
//!
//! A review column names its user without a foreign key (SQLite cannot add one to an existing
//! table); users who recorded sessions cannot be deleted anyway (`sessions.counsellor_id`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, boolean, json_null, pk_uuid, string_len, string_len_null, text_null,
    timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum Interval {
    Source,
    Review,
    ModelLabel,
    ModelStartMs,
    ModelEndMs,
    CodedBy,
    ReviewedBy,
    ReviewedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    Id,
    ReviewState,
    ReviewStateBy,
    ReviewStateAt,
    AnalysedVideoSha256,
}

#[derive(DeriveIden, Clone, Copy)]
enum SessionMarkers {
    Table,
    Id,
    SessionId,
    AtMs,
    Code,
    Note,
    AuthorId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AnalysisJobs {
    Table,
    ReviewCarryOver,
}

#[derive(DeriveIden, Clone, Copy)]
enum Organisations {
    Table,
    GuardiansSeeReviewedOnly,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

const INTERVAL_TABLES: [&str; 2] = ["emotion_intervals", "behaviour_intervals"];

fn interval_columns() -> Vec<ColumnDef> {
    let mut source = string_len(Interval::Source, 16);
    source.default("MODEL");
    vec![
        source,
        string_len_null(Interval::Review, 16),
        string_len_null(Interval::ModelLabel, 16),
        big_integer_null(Interval::ModelStartMs),
        big_integer_null(Interval::ModelEndMs),
        uuid_null(Interval::CodedBy),
        uuid_null(Interval::ReviewedBy),
        timestamp_with_time_zone_null(Interval::ReviewedAt),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds only one at a time.
        for table in INTERVAL_TABLES {
            for mut column in interval_columns() {
                manager.alter_table(Table::alter().table(Alias::new(table)).add_column(&mut column).take()).await?;
            }
        }
        let mut state = string_len(Sessions::ReviewState, 16);
        state.default("NOT_REVIEWED");
        for mut column in [
            state,
            uuid_null(Sessions::ReviewStateBy),
            timestamp_with_time_zone_null(Sessions::ReviewStateAt),
            string_len_null(Sessions::AnalysedVideoSha256, 64),
        ] {
            manager.alter_table(Table::alter().table(Sessions::Table).add_column(&mut column).take()).await?;
        }
        let mut reviewed_only = boolean(Organisations::GuardiansSeeReviewedOnly);
        reviewed_only.default(false);
        manager.alter_table(Table::alter().table(Organisations::Table).add_column(&mut reviewed_only).take()).await?;
        let mut carry_over = json_null(AnalysisJobs::ReviewCarryOver);
        manager.alter_table(Table::alter().table(AnalysisJobs::Table).add_column(&mut carry_over).take()).await?;
        manager
            .create_table(
                Table::create()
                    .table(SessionMarkers::Table)
                    .col(pk_uuid(SessionMarkers::Id))
                    .col(uuid(SessionMarkers::SessionId))
                    .col(big_integer(SessionMarkers::AtMs))
                    .col(string_len(SessionMarkers::Code, 100))
                    .col(text_null(SessionMarkers::Note))
                    .col(uuid(SessionMarkers::AuthorId))
                    .col(timestamp_with_time_zone(SessionMarkers::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SessionMarkers::Table, SessionMarkers::SessionId)
                            .to(Sessions::Table, Sessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SessionMarkers::Table, SessionMarkers::AuthorId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_session_markers_session")
                    .table(SessionMarkers::Table)
                    .col(SessionMarkers::SessionId)
                    .col(SessionMarkers::AtMs)
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(SessionMarkers::Table).take()).await?;
        manager
            .alter_table(Table::alter().table(AnalysisJobs::Table).drop_column(AnalysisJobs::ReviewCarryOver).take())
            .await?;
        manager
            .alter_table(
                Table::alter().table(Organisations::Table).drop_column(Organisations::GuardiansSeeReviewedOnly).take(),
            )
            .await?;
        for column in
            [Sessions::ReviewState, Sessions::ReviewStateBy, Sessions::ReviewStateAt, Sessions::AnalysedVideoSha256]
        {
            manager.alter_table(Table::alter().table(Sessions::Table).drop_column(column).take()).await?;
        }
        for table in INTERVAL_TABLES {
            for column in [
                Interval::Source,
                Interval::Review,
                Interval::ModelLabel,
                Interval::ModelStartMs,
                Interval::ModelEndMs,
                Interval::CodedBy,
                Interval::ReviewedBy,
                Interval::ReviewedAt,
            ] {
                manager.alter_table(Table::alter().table(Alias::new(table)).drop_column(column).take()).await?;
            }
        }
        Ok(())
    }
}
