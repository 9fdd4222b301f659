use sea_orm::entity::prelude::*;

/// An interval a counsellor coded with one of the organisation's codes (`behaviour_code`).
/// A STATE code's interval has `start_ms < end_ms` (exclusive end); a POINT code's is an
/// instant, `start_ms == end_ms`. Always the counsellor's own: the model proposes no codes.
/// Its coder takes it back by rejecting it, which deletes it (the audit log keeps the act).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "coded_intervals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub object_id: Uuid,
    pub code_id: Uuid,
    pub start_ms: i64,
    pub end_ms: i64,
    pub coded_by: Uuid,
    /// Who last coded or changed it, and when.
    pub reviewed_by: Uuid,
    pub reviewed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tracked_object::Entity",
        from = "Column::ObjectId",
        to = "super::tracked_object::Column::Id"
    )]
    Object,
    #[sea_orm(
        belongs_to = "super::behaviour_code::Entity",
        from = "Column::CodeId",
        to = "super::behaviour_code::Column::Id"
    )]
    Code,
}

impl Related<super::tracked_object::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Object.def()
    }
}

impl Related<super::behaviour_code::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Code.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
