use sea_orm::entity::prelude::*;

use crate::enums::CodeKind;

/// A code of an organisation's coding scheme, beside the built-in expression and behaviour
/// labels. Codes are retired rather than deleted: intervals coded with them keep them.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "behaviour_codes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub organisation_id: Uuid,
    /// As its admin spelled it; none of the built-in labels.
    pub name: String,
    /// The name in lower case: unique within the organisation, what lookups match.
    pub name_key: String,
    pub kind: CodeKind,
    /// Codes of one group are mutually exclusive: one person is in at most one of its states
    /// at a time.
    pub exclusive_group: Option<String>,
    pub description: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    /// Since when no new interval may use it.
    pub retired_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
