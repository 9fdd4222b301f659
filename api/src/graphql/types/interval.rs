use async_graphql::{ID, Object};
use entity::{
    behaviour_interval, emotion_interval,
    enums::{Behaviour, Emotion},
};

use crate::graphql::ids::Kind;

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
