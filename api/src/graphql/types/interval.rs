use async_graphql::{Context, ID, InputType, Object, ScalarType, Value};
use chrono::{DateTime, Utc};
use entity::{
    behaviour_interval, emotion_interval,
    enums::{Behaviour, Emotion, IntervalReview, IntervalSource},
};

use super::User;
use crate::{
    access::{self, ChildAction},
    error::ApiResult,
    graphql::{
        context::ContextExt,
        ids::Kind,
        leaf_connection::LeafRow,
        loaders::UserById,
        pagination::{CursorKey, SortValue},
    },
    review::Reviewable,
};

/// One interval type: the same fields for either kind of label (`$label`, and the model's
/// `$model_label`), with the type's own documentation.
macro_rules! interval_object {
    ($(#[$doc:meta])* $object:ident($module:ident), $label:ident: $label_type:ty, $label_doc:literal, $model_label:ident) => {
        pub struct $object(pub $module::Model);

        $(#[$doc])*
        #[Object]
        impl $object {
            pub async fn id(&self) -> ID {
                Kind::$object.id(self.0.id)
            }

            #[doc = $label_doc]
            async fn $label(&self) -> $label_type {
                self.0.$label
            }

            /// Milliseconds from the start of the video.
            async fn start_ms(&self) -> i64 {
                self.0.start_ms
            }

            /// Milliseconds from the start of the video; exclusive.
            async fn end_ms(&self) -> i64 {
                self.0.end_ms
            }

            async fn duration_ms(&self) -> i64 {
                self.0.end_ms - self.0.start_ms
            }

            /// Mean classifier confidence over the interval, 0..1 (1 for a counsellor's own).
            async fn mean_confidence(&self) -> f64 {
                self.0.mean_confidence
            }

            /// Highest classifier confidence within the interval, 0..1.
            async fn peak_confidence(&self) -> f64 {
                self.0.peak_confidence
            }

            /// How many analysed samples the model's interval rests on (for expressions: faces
            /// that passed the quality bar); null for a counsellor's own or changed one, and for
            /// results analysed before samples were counted.
            async fn samples(&self) -> Option<i32> {
                self.0.supporting_samples()
            }

            /// Who made it: the analysis (`MODEL`) or a counsellor who coded it (`COUNSELLOR`).
            async fn source(&self) -> IntervalSource {
                self.0.source
            }

            /// A counsellor's verdict on a model interval: null until reviewed, and for a
            /// counsellor's own.
            async fn review(&self) -> Option<IntervalReview> {
                self.0.review
            }

            /// The model's own label: the same as the interval's unless a counsellor changed it;
            /// null for a counsellor's own interval, and for those who may not see the model
            /// view (guardians, `REPORTS` keys).
            async fn $model_label(&self, ctx: &Context<'_>) -> ApiResult<Option<$label_type>> {
                Ok(model_view(ctx, &self.0)?.map(|proposal| proposal.0))
            }

            /// The model's own start (see the model's label).
            async fn model_start_ms(&self, ctx: &Context<'_>) -> ApiResult<Option<i64>> {
                Ok(model_view(ctx, &self.0)?.map(|proposal| proposal.1))
            }

            /// The model's own end (see the model's label).
            async fn model_end_ms(&self, ctx: &Context<'_>) -> ApiResult<Option<i64>> {
                Ok(model_view(ctx, &self.0)?.map(|proposal| proposal.2))
            }

            /// The counsellor who coded it (their own intervals only).
            async fn coded_by(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
                user(ctx, self.0.coded_by).await
            }

            /// Who last reviewed it (confirmed, rejected, changed, or coded it).
            async fn reviewed_by(&self, ctx: &Context<'_>) -> ApiResult<Option<User>> {
                user(ctx, self.0.reviewed_by).await
            }

            async fn reviewed_at(&self) -> Option<DateTime<Utc>> {
                self.0.reviewed_at
            }
        }
    };
}

interval_object!(
    /// A stretch of video during which one person's face showed one expression. Expressions are
    /// what the face looked like to a classifier trained on FER2013 (mostly adult faces; it reads
    /// 58% of the FER2013 test faces right, 63% of the faces the pipeline finds and lets vote) —
    /// observations, not a statement about what the person felt.
    EmotionInterval(emotion_interval),
    emotion: Emotion,
    "The observed facial expression.",
    model_emotion
);

interval_object!(
    /// A stretch of video during which one person showed one posture or movement, derived from
    /// body keypoints.
    BehaviourInterval(behaviour_interval),
    behaviour: Behaviour,
    "The observed posture or movement.",
    model_behaviour
);

/// The model's proposal of a model interval (label, start, end), for those who may see the
/// model view (like the counsellors' notes); null for everyone else. Not among the leaf rows'
/// scalars (`leaf_row!`), so it is always resolved here, with the viewer.
fn model_view<R: Reviewable>(ctx: &Context<'_>, row: &R) -> ApiResult<Option<(R::Label, i64, i64)>> {
    if !access::allows(&ctx.viewer()?, ChildAction::ReadNotes) {
        return Ok(None);
    }
    let coding = row.coding();
    Ok((coding.source == IntervalSource::Model).then(|| coding.proposal()))
}

async fn user(ctx: &Context<'_>, id: Option<uuid::Uuid>) -> ApiResult<Option<User>> {
    let Some(id) = id else { return Ok(None) };
    Ok(ctx.loader().load_one(UserById(id)).await?.map(User))
}

/// The interval lists are resolved in one pass (`leaf_connection`): each scalar field here must
/// answer what the resolver of the same name above answers. The model's proposal depends on
/// who asks, so it is not among them.
macro_rules! leaf_row {
    ($model:ty, $object:ident, $kind:ident, $label:ident, $label_name:literal) => {
        impl LeafRow for $model {
            type Object = $object;
            const TYPE: &'static str = stringify!($object);
            const INTERFACES: &'static [&'static str] = &["Node"];
            const SCALARS: &'static [&'static str] = &[
                "id",
                $label_name,
                "startMs",
                "endMs",
                "durationMs",
                "meanConfidence",
                "peakConfidence",
                "samples",
                "source",
                "review",
                "reviewedAt",
            ];

            fn into_object(self) -> $object {
                $object(self)
            }

            fn cursor(&self) -> CursorKey {
                CursorKey { sort: SortValue::Int(self.start_ms), id: self.id }
            }

            fn scalar(&self, name: &str) -> Value {
                match name {
                    "id" => Value::String(Kind::$kind.id(self.id).0),
                    $label_name => InputType::to_value(&self.$label),
                    "startMs" => ScalarType::to_value(&self.start_ms),
                    "endMs" => ScalarType::to_value(&self.end_ms),
                    "durationMs" => ScalarType::to_value(&(self.end_ms - self.start_ms)),
                    "meanConfidence" => ScalarType::to_value(&self.mean_confidence),
                    "peakConfidence" => ScalarType::to_value(&self.peak_confidence),
                    "samples" => InputType::to_value(&self.supporting_samples()),
                    "source" => InputType::to_value(&self.source),
                    "review" => InputType::to_value(&self.review),
                    "reviewedAt" => InputType::to_value(&self.reviewed_at),
                    _ => unreachable!("`{name}` is not in SCALARS. This is a bug."),
                }
            }
        }
    };
}

leaf_row!(emotion_interval::Model, EmotionInterval, EmotionInterval, emotion, "emotion");
leaf_row!(behaviour_interval::Model, BehaviourInterval, BehaviourInterval, behaviour, "behaviour");
