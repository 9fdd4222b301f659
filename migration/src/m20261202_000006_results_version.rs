//! A session's results version: bumped by every transaction that changes its people or
//! intervals, so what is derived from them (cached intervals, report pictures) is keyed by it
//! and never outlives the results it was made from.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    ResultsVersion,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut column = big_integer(Sessions::ResultsVersion);
        column.default(0);
        manager.alter_table(Table::alter().table(Sessions::Table).add_column(&mut column).take()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table(Sessions::Table).drop_column(Sessions::ResultsVersion).take()).await
    }
}
