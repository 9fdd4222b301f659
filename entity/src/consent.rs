use sea_orm::entity::prelude::*;

use crate::enums::{ConsentKind, Role};

/// One consent given for a child, and its withdrawal. Rows are history: a new consent is a new
/// row, a withdrawal stamps the row once; what holds now is derived from them.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub child_id: Uuid,
    pub kind: ConsentKind,
    /// The guardian who gave it, or the counsellor who recorded a paper form (`None` once that
    /// user is deleted).
    pub given_by: Option<Uuid>,
    pub given_by_role: Role,
    pub given_at: DateTimeUtc,
    /// Which version of the consent text was agreed to.
    pub text_version: String,
    pub withdrawn_at: Option<DateTimeUtc>,
    pub withdrawn_by: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "super::child::Entity", from = "Column::ChildId", to = "super::child::Column::Id")]
    Child,
}

impl ActiveModelBehavior for ActiveModel {}
