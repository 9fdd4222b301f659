use sea_orm::entity::prelude::*;

/// A GraphQL document an organisation's admins registered: with "trusted documents only" on,
/// the organisation's API keys may run these and nothing else.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "trusted_documents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub organisation_id: Uuid,
    /// SHA-256 of the document's exact text, lower-case hex.
    #[sea_orm(primary_key, auto_increment = false)]
    pub hash: String,
    pub document: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
