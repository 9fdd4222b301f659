use sea_orm::entity::prelude::*;

use crate::enums::{Behaviour, IntervalReview, IntervalSource};

/// A stretch of time during which one tracked person showed one behaviour. Times are
/// milliseconds from the start of the video; `end_ms` is exclusive. The row holds the reviewed
/// view (what a counsellor changed it to); `model_*` the model's original when changed.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "behaviour_intervals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub object_id: Uuid,
    pub behaviour: Behaviour,
    pub start_ms: i64,
    pub end_ms: i64,
    pub mean_confidence: f64,
    pub peak_confidence: f64,
    pub source: IntervalSource,
    /// A counsellor's verdict on a model interval (`None`: not reviewed, or the counsellor's own).
    pub review: Option<IntervalReview>,
    /// The model's own label and boundaries, kept when a counsellor changed them.
    pub model_label: Option<Behaviour>,
    pub model_start_ms: Option<i64>,
    pub model_end_ms: Option<i64>,
    /// The counsellor who coded it (their own intervals only).
    pub coded_by: Option<Uuid>,
    /// Who last reviewed (confirmed, rejected, changed or coded) it, and when.
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<DateTimeUtc>,
    /// The analysed samples a model interval rests on (null for a counsellor's own, and for
    /// results analysed before it was counted).
    pub samples: Option<i32>,
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

impl Model {
    /// The analysed samples the interval rests on, as it stands: none once a counsellor changed
    /// it (they were the model's interval's, and would tell its hidden boundaries).
    pub fn supporting_samples(&self) -> Option<i32> {
        if self.review == Some(IntervalReview::Changed) { None } else { self.samples }
    }
}
