//! Direct uploads: where a session's video is being uploaded to, how big it will be, and until
//! when the upload URL is valid. Finished uploads move into the `video_*` columns.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer_null, string_null, timestamp_with_time_zone_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Sessions {
    Table,
    VideoUploadKey,
    VideoUploadSize,
    VideoUploadExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            string_null(Sessions::VideoUploadKey),
            big_integer_null(Sessions::VideoUploadSize),
            timestamp_with_time_zone_null(Sessions::VideoUploadExpiresAt),
        ] {
            let mut column = column;
            manager.alter_table(Table::alter().table(Sessions::Table).add_column(&mut column).take()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Sessions::VideoUploadKey, Sessions::VideoUploadSize, Sessions::VideoUploadExpiresAt] {
            manager.alter_table(Table::alter().table(Sessions::Table).drop_column(column).take()).await?;
        }
        Ok(())
    }
}
