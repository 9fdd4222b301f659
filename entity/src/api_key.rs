use sea_orm::entity::prelude::*;

use crate::enums::ApiKeyScope;

/// A third party's credential for one organisation. The secret itself is shown once, when the
/// key is created; only its SHA-256 (hex) is kept.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organisation_id: Uuid,
    pub name: String,
    pub scope: ApiKeyScope,
    #[sea_orm(unique)]
    pub secret_hash: String,
    /// Whether the key sees only the children listed for it in `api_key_children`.
    pub restricted: bool,
    /// The admin who created it, and answers for it: the key stands only while they are an
    /// admin of its organisation.
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    pub expires_at: Option<DateTimeUtc>,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
