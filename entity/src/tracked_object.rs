use sea_orm::entity::prelude::*;

use crate::enums::ObjectRole;

/// A person found and tracked through a session's video.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tracked_objects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub session_id: Uuid,
    /// Human-readable name within the session ("Person 1").
    pub label: String,
    pub role: ObjectRole,
    /// 0..=1; 1 when a counsellor labelled the object by hand.
    pub role_confidence: f64,
    /// Set when a counsellor says which child this person is.
    pub child_id: Option<Uuid>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    /// Analysed samples in which the person was seen, those with their face, and those whose
    /// face passed the quality bar and voted on an expression; then, per reason, the faces
    /// that did not (null for results analysed before these were counted).
    pub samples: Option<i32>,
    pub face_samples: Option<i32>,
    pub usable_face_samples: Option<i32>,
    pub faces_too_small: Option<i32>,
    pub faces_uncertain: Option<i32>,
    pub faces_blurred: Option<i32>,
    pub faces_turned_away: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "super::session::Entity", from = "Column::SessionId", to = "super::session::Column::Id")]
    Session,
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
