//! Coding schemes: an organisation's own behaviour codes (STATE or POINT, in mutually
//! exclusive groups), and the intervals counsellors code with them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, pk_uuid, string_len, string_len_null, text_null, timestamp_with_time_zone,
    timestamp_with_time_zone_null, uuid,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum BehaviourCodes {
    Table,
    Id,
    OrganisationId,
    Name,
    NameKey,
    Kind,
    ExclusiveGroup,
    Description,
    CreatedBy,
    CreatedAt,
    RetiredAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum CodedIntervals {
    Table,
    Id,
    ObjectId,
    CodeId,
    StartMs,
    EndMs,
    CodedBy,
    ReviewedBy,
    ReviewedAt,
}

#[derive(DeriveIden)]
enum Organisations {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum TrackedObjects {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BehaviourCodes::Table)
                    .col(pk_uuid(BehaviourCodes::Id))
                    .col(uuid(BehaviourCodes::OrganisationId))
                    .col(string_len(BehaviourCodes::Name, 60))
                    .col(string_len(BehaviourCodes::NameKey, 240))
                    .col(string_len(BehaviourCodes::Kind, 16))
                    .col(string_len_null(BehaviourCodes::ExclusiveGroup, 60))
                    .col(text_null(BehaviourCodes::Description))
                    .col(uuid(BehaviourCodes::CreatedBy))
                    .col(timestamp_with_time_zone(BehaviourCodes::CreatedAt))
                    .col(timestamp_with_time_zone_null(BehaviourCodes::RetiredAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BehaviourCodes::Table, BehaviourCodes::OrganisationId)
                            .to(Organisations::Table, Organisations::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(BehaviourCodes::Table, BehaviourCodes::CreatedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .take(),
            )
            .await?;
        // A name, in any case, is one code within an organisation; the constraint decides races.
        manager
            .create_index(
                Index::create()
                    .name("ux_behaviour_codes_name")
                    .table(BehaviourCodes::Table)
                    .col(BehaviourCodes::OrganisationId)
                    .col(BehaviourCodes::NameKey)
                    .unique()
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_behaviour_codes_created_by")
                    .table(BehaviourCodes::Table)
                    .col(BehaviourCodes::CreatedBy)
                    .take(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CodedIntervals::Table)
                    .col(pk_uuid(CodedIntervals::Id))
                    .col(uuid(CodedIntervals::ObjectId))
                    .col(uuid(CodedIntervals::CodeId))
                    .col(big_integer(CodedIntervals::StartMs))
                    .col(big_integer(CodedIntervals::EndMs))
                    .col(uuid(CodedIntervals::CodedBy))
                    .col(uuid(CodedIntervals::ReviewedBy))
                    .col(timestamp_with_time_zone(CodedIntervals::ReviewedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(CodedIntervals::Table, CodedIntervals::ObjectId)
                            .to(TrackedObjects::Table, TrackedObjects::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CodedIntervals::Table, CodedIntervals::CodeId)
                            .to(BehaviourCodes::Table, BehaviourCodes::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CodedIntervals::Table, CodedIntervals::CodedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_coded_intervals_object")
                    .table(CodedIntervals::Table)
                    .col(CodedIntervals::ObjectId)
                    .col(CodedIntervals::StartMs)
                    .take(),
            )
            .await?;
        for (name, column) in [
            ("ix_coded_intervals_code", CodedIntervals::CodeId),
            ("ix_coded_intervals_coded_by", CodedIntervals::CodedBy),
        ] {
            manager.create_index(Index::create().name(name).table(CodedIntervals::Table).col(column).take()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(CodedIntervals::Table).take()).await?;
        manager.drop_table(Table::drop().table(BehaviourCodes::Table).take()).await
    }
}
