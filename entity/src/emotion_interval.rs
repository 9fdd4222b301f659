use sea_orm::entity::prelude::*;

use crate::enums::Emotion;

/// A stretch of time during which one tracked person showed one emotion. Times are
/// milliseconds from the start of the video; `end_ms` is exclusive.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "emotion_intervals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub object_id: Uuid,
    pub emotion: Emotion,
    pub start_ms: i64,
    pub end_ms: i64,
    pub mean_confidence: f64,
    pub peak_confidence: f64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::tracked_object::Entity",
        from = "Column::ObjectId",
        to = "super::tracked_object::Column::Id"
    )]
    Object,
}

impl Related<super::tracked_object::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Object.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
