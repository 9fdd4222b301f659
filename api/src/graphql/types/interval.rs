use async_graphql::{ID, InputType, Object, ScalarType, Value};
use entity::{
    behaviour_interval, emotion_interval,
    enums::{Behaviour, Emotion},
};

use crate::graphql::{
    ids::Kind,
    leaf_connection::LeafRow,
    pagination::{CursorKey, SortValue},
};

pub struct EmotionInterval(pub emotion_interval::Model);

/// A stretch of video during which one person's face showed one expression. Expressions are
/// what the face looked like to a classifier trained on FER2013 (~66% accurate, mostly adult
/// faces) — observations, not a statement about what the person felt.
#[Object]
impl EmotionInterval {
    pub async fn id(&self) -> ID {
        Kind::EmotionInterval.id(self.0.id)
    }

    /// The observed facial expression.
    async fn emotion(&self) -> Emotion {
        self.0.emotion
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

    /// Mean classifier confidence over the interval, 0..1.
    async fn mean_confidence(&self) -> f64 {
        self.0.mean_confidence
    }

    /// Highest classifier confidence within the interval, 0..1.
    async fn peak_confidence(&self) -> f64 {
        self.0.peak_confidence
    }
}

pub struct BehaviourInterval(pub behaviour_interval::Model);

/// A stretch of video during which one person showed one posture or movement, derived from
/// body keypoints.
#[Object]
impl BehaviourInterval {
    pub async fn id(&self) -> ID {
        Kind::BehaviourInterval.id(self.0.id)
    }

    async fn behaviour(&self) -> Behaviour {
        self.0.behaviour
    }

    async fn start_ms(&self) -> i64 {
        self.0.start_ms
    }

    async fn end_ms(&self) -> i64 {
        self.0.end_ms
    }

    async fn duration_ms(&self) -> i64 {
        self.0.end_ms - self.0.start_ms
    }

    async fn mean_confidence(&self) -> f64 {
        self.0.mean_confidence
    }

    async fn peak_confidence(&self) -> f64 {
        self.0.peak_confidence
    }
}

/// The interval lists are resolved in one pass (`leaf_connection`): each scalar field here must
/// answer what the resolver of the same name above answers.
macro_rules! leaf_row {
    ($model:ty, $object:ident, $kind:ident, $label:ident, $label_name:literal) => {
        impl LeafRow for $model {
            type Object = $object;
            const TYPE: &'static str = stringify!($object);
            const INTERFACES: &'static [&'static str] = &["Node"];
            const SCALARS: &'static [&'static str] =
                &["id", $label_name, "startMs", "endMs", "durationMs", "meanConfidence", "peakConfidence"];

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
                    _ => unreachable!("`{name}` is not in SCALARS. This is a bug."),
                }
            }
        }
    };
}

leaf_row!(emotion_interval::Model, EmotionInterval, EmotionInterval, emotion, "emotion");
leaf_row!(behaviour_interval::Model, BehaviourInterval, BehaviourInterval, behaviour, "behaviour");
