//! How well each person's face could be read: per tracked person, the analysed samples, those
//! with a face, those whose face passed the quality bar, and why the others did not; per model
//! interval, the samples it rests on. All nullable: results analysed before know none of it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::integer_null;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum TrackedObjects {
    Table,
    Samples,
    FaceSamples,
    UsableFaceSamples,
    FacesTooSmall,
    FacesUncertain,
    FacesBlurred,
    FacesTurnedAway,
}

#[derive(DeriveIden, Clone, Copy)]
enum Interval {
    Samples,
}

const INTERVAL_TABLES: [&str; 2] = ["emotion_intervals", "behaviour_intervals"];

const PERSON_COLUMNS: [TrackedObjects; 7] = [
    TrackedObjects::Samples,
    TrackedObjects::FaceSamples,
    TrackedObjects::UsableFaceSamples,
    TrackedObjects::FacesTooSmall,
    TrackedObjects::FacesUncertain,
    TrackedObjects::FacesBlurred,
    TrackedObjects::FacesTurnedAway,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds only one at a time.
        for column in PERSON_COLUMNS {
            let alter = Table::alter().table(TrackedObjects::Table).add_column(integer_null(column)).take();
            manager.alter_table(alter).await?;
        }
        for table in INTERVAL_TABLES {
            let alter = Table::alter().table(Alias::new(table)).add_column(integer_null(Interval::Samples)).take();
            manager.alter_table(alter).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in INTERVAL_TABLES {
            manager.alter_table(Table::alter().table(Alias::new(table)).drop_column(Interval::Samples).take()).await?;
        }
        for column in PERSON_COLUMNS {
            manager.alter_table(Table::alter().table(TrackedObjects::Table).drop_column(column).take()).await?;
        }
        Ok(())
    }
}
