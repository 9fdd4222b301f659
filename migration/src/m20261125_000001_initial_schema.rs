//! The whole first data model: organisations, users, children and their counsellor/guardian
//! links, sessions, analysis jobs, tracked objects, their intervals and refresh tokens.
//!
//! Every foreign key has an index; deleting a child or a session cascades to everything under
//! it. Timestamps are `timestamptz` on PostgreSQL and ISO-8601 text in UTC on SQLite.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    date_null, double, integer, integer_null, json_null, pk_uuid, string, string_len, string_len_null, string_null,
    text_null, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid, uuid_null,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Organisations {
    Table,
    Id,
    Name,
    CreatedAt,
}

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
enum Children {
    Table,
    Id,
    OrganisationId,
    Name,
    BirthDate,
    Notes,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ChildCounsellors {
    Table,
    ChildId,
    UserId,
}

#[derive(DeriveIden)]
enum ChildGuardians {
    Table,
    ChildId,
    UserId,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    ChildId,
    CounsellorId,
    RecordedAt,
    Title,
    Notes,
    Status,
    VideoBlobKey,
    VideoSizeBytes,
    VideoSha256,
    VideoDurationMs,
    VideoFps,
    VideoWidth,
    VideoHeight,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AnalysisJobs {
    Table,
    Id,
    SessionId,
    Status,
    Stage,
    Progress,
    FramesDone,
    FramesTotal,
    Attempts,
    MaxAttempts,
    Error,
    Options,
    IdempotencyKey,
    LeaseOwner,
    LeaseExpiresAt,
    HeartbeatAt,
    RunAfter,
    CreatedAt,
    StartedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum TrackedObjects {
    Table,
    Id,
    SessionId,
    Label,
    Role,
    RoleConfidence,
    ChildId,
    FirstSeenMs,
    LastSeenMs,
}

#[derive(DeriveIden)]
enum EmotionIntervals {
    Table,
    Id,
    ObjectId,
    Emotion,
    StartMs,
    EndMs,
    MeanConfidence,
    PeakConfidence,
}

#[derive(DeriveIden)]
enum BehaviourIntervals {
    Table,
    Id,
    ObjectId,
    Behaviour,
    StartMs,
    EndMs,
    MeanConfidence,
    PeakConfidence,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Id,
    UserId,
    FamilyId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    RevokedAt,
}

/// Stored enums are short upper-case words (see `entity::enums`).
fn label<T: IntoIden>(col: T) -> ColumnDef {
    string_len(col, 16)
}

fn big<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().not_null().take()
}

fn big_null<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).big_integer().null().take()
}

fn foreign_key(
    from: (impl IntoIden, impl IntoIden),
    to: (impl IntoIden, impl IntoIden),
    on_delete: ForeignKeyAction,
) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(from.0, from.1).to(to.0, to.1).on_delete(on_delete).take()
}

async fn index(
    manager: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    columns: &[&'static str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut statement = Index::create();
    statement.name(name).table(table);
    for column in columns {
        statement.col(Alias::new(*column));
    }
    if unique {
        statement.unique();
    }
    manager.create_index(statement).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use ForeignKeyAction::{Cascade, Restrict, SetNull};

        manager
            .create_table(
                Table::create()
                    .table(Organisations::Table)
                    .col(pk_uuid(Organisations::Id))
                    .col(string(Organisations::Name).unique_key())
                    .col(timestamp_with_time_zone(Organisations::CreatedAt))
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(uuid(Users::OrganisationId))
                    .col(string(Users::Email).unique_key())
                    .col(string(Users::Name))
                    .col(string(Users::PasswordHash))
                    .col(label(Users::Role))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .foreign_key(&mut foreign_key(
                        (Users::Table, Users::OrganisationId),
                        (Organisations::Table, Organisations::Id),
                        Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "ix_users_organisation", Users::Table, &["organisation_id"], false).await?;

        manager
            .create_table(
                Table::create()
                    .table(Children::Table)
                    .col(pk_uuid(Children::Id))
                    .col(uuid(Children::OrganisationId))
                    .col(string(Children::Name))
                    .col(date_null(Children::BirthDate))
                    .col(text_null(Children::Notes))
                    .col(timestamp_with_time_zone(Children::CreatedAt))
                    .col(timestamp_with_time_zone(Children::UpdatedAt))
                    .foreign_key(&mut foreign_key(
                        (Children::Table, Children::OrganisationId),
                        (Organisations::Table, Organisations::Id),
                        Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "ix_children_organisation_name", Children::Table, &["organisation_id", "name"], false).await?;

        for (table, child, user, name) in [
            (
                ChildCounsellors::Table.into_iden(),
                ChildCounsellors::ChildId.into_iden(),
                ChildCounsellors::UserId.into_iden(),
                "child_counsellors",
            ),
            (
                ChildGuardians::Table.into_iden(),
                ChildGuardians::ChildId.into_iden(),
                ChildGuardians::UserId.into_iden(),
                "child_guardians",
            ),
        ] {
            manager
                .create_table(
                    Table::create()
                        .table(table.clone())
                        .col(uuid(child.clone()))
                        .col(uuid(user.clone()))
                        .primary_key(Index::create().col(child.clone()).col(user.clone()))
                        .foreign_key(&mut foreign_key((table.clone(), child), (Children::Table, Children::Id), Cascade))
                        .foreign_key(&mut foreign_key((table.clone(), user), (Users::Table, Users::Id), Cascade))
                        .take(),
                )
                .await?;
            // The primary key (child_id, user_id) already serves look-ups by child.
            index(manager, &format!("ix_{name}_user"), table, &["user_id"], false).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(pk_uuid(Sessions::Id))
                    .col(uuid(Sessions::ChildId))
                    .col(uuid(Sessions::CounsellorId))
                    .col(timestamp_with_time_zone(Sessions::RecordedAt))
                    .col(string(Sessions::Title))
                    .col(text_null(Sessions::Notes))
                    .col(label(Sessions::Status))
                    .col(string_null(Sessions::VideoBlobKey))
                    .col(big_null(Sessions::VideoSizeBytes))
                    .col(string_len_null(Sessions::VideoSha256, 64))
                    .col(big_null(Sessions::VideoDurationMs))
                    .col(ColumnDef::new(Sessions::VideoFps).double().null().take())
                    .col(integer_null(Sessions::VideoWidth))
                    .col(integer_null(Sessions::VideoHeight))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::UpdatedAt))
                    .foreign_key(&mut foreign_key(
                        (Sessions::Table, Sessions::ChildId),
                        (Children::Table, Children::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        (Sessions::Table, Sessions::CounsellorId),
                        (Users::Table, Users::Id),
                        Restrict,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "ix_sessions_child_recorded", Sessions::Table, &["child_id", "recorded_at"], false).await?;
        index(manager, "ix_sessions_counsellor", Sessions::Table, &["counsellor_id"], false).await?;

        manager
            .create_table(
                Table::create()
                    .table(AnalysisJobs::Table)
                    .col(pk_uuid(AnalysisJobs::Id))
                    .col(uuid(AnalysisJobs::SessionId))
                    .col(label(AnalysisJobs::Status))
                    .col(string_len(AnalysisJobs::Stage, 32))
                    .col(double(AnalysisJobs::Progress))
                    .col(big(AnalysisJobs::FramesDone))
                    .col(big(AnalysisJobs::FramesTotal))
                    .col(integer(AnalysisJobs::Attempts))
                    .col(integer(AnalysisJobs::MaxAttempts))
                    .col(text_null(AnalysisJobs::Error))
                    .col(json_null(AnalysisJobs::Options))
                    .col(string_len_null(AnalysisJobs::IdempotencyKey, 128))
                    .col(string_len_null(AnalysisJobs::LeaseOwner, 128))
                    .col(timestamp_with_time_zone_null(AnalysisJobs::LeaseExpiresAt))
                    .col(timestamp_with_time_zone_null(AnalysisJobs::HeartbeatAt))
                    .col(timestamp_with_time_zone(AnalysisJobs::RunAfter))
                    .col(timestamp_with_time_zone(AnalysisJobs::CreatedAt))
                    .col(timestamp_with_time_zone_null(AnalysisJobs::StartedAt))
                    .col(timestamp_with_time_zone_null(AnalysisJobs::FinishedAt))
                    .foreign_key(&mut foreign_key(
                        (AnalysisJobs::Table, AnalysisJobs::SessionId),
                        (Sessions::Table, Sessions::Id),
                        Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "ix_analysis_jobs_session_created", AnalysisJobs::Table, &["session_id", "created_at"], false)
            .await?;
        // Same key for the same session → same job; NULL keys never collide.
        index(manager, "ux_analysis_jobs_idempotency", AnalysisJobs::Table, &["session_id", "idempotency_key"], true)
            .await?;
        // What a worker scans when it claims the next job.
        index(manager, "ix_analysis_jobs_claim", AnalysisJobs::Table, &["status", "run_after"], false).await?;

        manager
            .create_table(
                Table::create()
                    .table(TrackedObjects::Table)
                    .col(pk_uuid(TrackedObjects::Id))
                    .col(uuid(TrackedObjects::SessionId))
                    .col(string_len(TrackedObjects::Label, 64))
                    .col(label(TrackedObjects::Role))
                    .col(double(TrackedObjects::RoleConfidence))
                    .col(uuid_null(TrackedObjects::ChildId))
                    .col(big(TrackedObjects::FirstSeenMs))
                    .col(big(TrackedObjects::LastSeenMs))
                    .foreign_key(&mut foreign_key(
                        (TrackedObjects::Table, TrackedObjects::SessionId),
                        (Sessions::Table, Sessions::Id),
                        Cascade,
                    ))
                    .foreign_key(&mut foreign_key(
                        (TrackedObjects::Table, TrackedObjects::ChildId),
                        (Children::Table, Children::Id),
                        SetNull,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "ix_tracked_objects_session_first_seen",
            TrackedObjects::Table,
            &["session_id", "first_seen_ms"],
            false,
        )
        .await?;
        index(manager, "ix_tracked_objects_child", TrackedObjects::Table, &["child_id"], false).await?;

        for (table, id, object, value, start, end, mean, peak, name) in [
            (
                EmotionIntervals::Table.into_iden(),
                EmotionIntervals::Id.into_iden(),
                EmotionIntervals::ObjectId.into_iden(),
                EmotionIntervals::Emotion.into_iden(),
                EmotionIntervals::StartMs.into_iden(),
                EmotionIntervals::EndMs.into_iden(),
                EmotionIntervals::MeanConfidence.into_iden(),
                EmotionIntervals::PeakConfidence.into_iden(),
                "emotion_intervals",
            ),
            (
                BehaviourIntervals::Table.into_iden(),
                BehaviourIntervals::Id.into_iden(),
                BehaviourIntervals::ObjectId.into_iden(),
                BehaviourIntervals::Behaviour.into_iden(),
                BehaviourIntervals::StartMs.into_iden(),
                BehaviourIntervals::EndMs.into_iden(),
                BehaviourIntervals::MeanConfidence.into_iden(),
                BehaviourIntervals::PeakConfidence.into_iden(),
                "behaviour_intervals",
            ),
        ] {
            manager
                .create_table(
                    Table::create()
                        .table(table.clone())
                        .col(pk_uuid(id))
                        .col(uuid(object.clone()))
                        .col(label(value))
                        .col(big(start))
                        .col(big(end))
                        .col(double(mean))
                        .col(double(peak))
                        .foreign_key(&mut foreign_key(
                            (table.clone(), object),
                            (TrackedObjects::Table, TrackedObjects::Id),
                            Cascade,
                        ))
                        .take(),
                )
                .await?;
            index(manager, &format!("ix_{name}_object_start"), table, &["object_id", "start_ms"], false).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(pk_uuid(RefreshTokens::Id))
                    .col(uuid(RefreshTokens::UserId))
                    .col(uuid(RefreshTokens::FamilyId))
                    .col(string_len(RefreshTokens::TokenHash, 64).unique_key())
                    .col(timestamp_with_time_zone(RefreshTokens::CreatedAt))
                    .col(timestamp_with_time_zone(RefreshTokens::ExpiresAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::UsedAt))
                    .col(timestamp_with_time_zone_null(RefreshTokens::RevokedAt))
                    .foreign_key(&mut foreign_key(
                        (RefreshTokens::Table, RefreshTokens::UserId),
                        (Users::Table, Users::Id),
                        Cascade,
                    ))
                    .take(),
            )
            .await?;
        index(manager, "ix_refresh_tokens_user", RefreshTokens::Table, &["user_id"], false).await?;
        index(manager, "ix_refresh_tokens_family", RefreshTokens::Table, &["family_id"], false).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            RefreshTokens::Table.into_iden(),
            BehaviourIntervals::Table.into_iden(),
            EmotionIntervals::Table.into_iden(),
            TrackedObjects::Table.into_iden(),
            AnalysisJobs::Table.into_iden(),
            Sessions::Table.into_iden(),
            ChildGuardians::Table.into_iden(),
            ChildCounsellors::Table.into_iden(),
            Children::Table.into_iden(),
            Users::Table.into_iden(),
            Organisations::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}
