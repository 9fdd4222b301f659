//! Third-party access: API keys (only a hash of each secret is stored), the children a key
//! may be restricted to, an organisation's trusted documents, and its "trusted documents only"
//! switch for keys.
//!
//! A key is its organisation's, created by one of its admins: deleting the organisation or the
//! admin's account deletes the key. Erasing a child removes it from every key's list; a key
//! that was restricted stays restricted (to what is left), never widened.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    boolean, pk_uuid, string_len, text, timestamp_with_time_zone, timestamp_with_time_zone_null, uuid,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden, Clone, Copy)]
enum ApiKeys {
    Table,
    Id,
    OrganisationId,
    Name,
    Scope,
    SecretHash,
    Restricted,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiKeyChildren {
    Table,
    KeyId,
    ChildId,
}

#[derive(DeriveIden, Clone, Copy)]
enum TrustedDocuments {
    Table,
    OrganisationId,
    Hash,
    Document,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Organisations {
    Table,
    Id,
    TrustedDocumentsOnly,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Children {
    Table,
    Id,
}

fn cascade(from: (impl IntoIden, impl IntoIden), to: (impl IntoIden, impl IntoIden)) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(from.0, from.1).to(to.0, to.1).on_delete(ForeignKeyAction::Cascade).take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(pk_uuid(ApiKeys::Id))
                    .col(uuid(ApiKeys::OrganisationId))
                    .col(string_len(ApiKeys::Name, 100))
                    .col(string_len(ApiKeys::Scope, 16))
                    .col(string_len(ApiKeys::SecretHash, 64).unique_key())
                    .col(boolean(ApiKeys::Restricted))
                    .col(uuid(ApiKeys::CreatedBy))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::LastUsedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .foreign_key(&mut cascade(
                        (ApiKeys::Table, ApiKeys::OrganisationId),
                        (Organisations::Table, Organisations::Id),
                    ))
                    .foreign_key(&mut cascade((ApiKeys::Table, ApiKeys::CreatedBy), (Users::Table, Users::Id)))
                    .take(),
            )
            .await?;
        for (name, column) in
            [("ix_api_keys_organisation", ApiKeys::OrganisationId), ("ix_api_keys_created_by", ApiKeys::CreatedBy)]
        {
            manager.create_index(Index::create().name(name).table(ApiKeys::Table).col(column).take()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ApiKeyChildren::Table)
                    .col(uuid(ApiKeyChildren::KeyId))
                    .col(uuid(ApiKeyChildren::ChildId))
                    .primary_key(Index::create().col(ApiKeyChildren::KeyId).col(ApiKeyChildren::ChildId))
                    .foreign_key(&mut cascade(
                        (ApiKeyChildren::Table, ApiKeyChildren::KeyId),
                        (ApiKeys::Table, ApiKeys::Id),
                    ))
                    .foreign_key(&mut cascade(
                        (ApiKeyChildren::Table, ApiKeyChildren::ChildId),
                        (Children::Table, Children::Id),
                    ))
                    .take(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_api_key_children_child")
                    .table(ApiKeyChildren::Table)
                    .col(ApiKeyChildren::ChildId)
                    .take(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TrustedDocuments::Table)
                    .col(uuid(TrustedDocuments::OrganisationId))
                    .col(string_len(TrustedDocuments::Hash, 64))
                    .col(text(TrustedDocuments::Document))
                    .col(timestamp_with_time_zone(TrustedDocuments::CreatedAt))
                    .primary_key(Index::create().col(TrustedDocuments::OrganisationId).col(TrustedDocuments::Hash))
                    .foreign_key(&mut cascade(
                        (TrustedDocuments::Table, TrustedDocuments::OrganisationId),
                        (Organisations::Table, Organisations::Id),
                    ))
                    .take(),
            )
            .await?;
        // A document found by its hash alone (APQ-style requests name no organisation).
        manager
            .create_index(
                Index::create()
                    .name("ix_trusted_documents_hash")
                    .table(TrustedDocuments::Table)
                    .col(TrustedDocuments::Hash)
                    .take(),
            )
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(Organisations::Table)
                    .add_column(boolean(Organisations::TrustedDocumentsOnly).default(false))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table(Organisations::Table).drop_column(Organisations::TrustedDocumentsOnly).take(),
            )
            .await?;
        for table in
            [TrustedDocuments::Table.into_iden(), ApiKeyChildren::Table.into_iden(), ApiKeys::Table.into_iden()]
        {
            manager.drop_table(Table::drop().table(table).take()).await?;
        }
        Ok(())
    }
}
