//! The label sets the engine produces. Spelled like the API's enums.

use serde::Serialize;

/// An observed facial expression (FER2013 classes, in the model's output order). It says what
/// a face looked like, not what the person felt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Emotion {
    Angry,
    Disgust,
    Fear,
    Happy,
    Sad,
    Surprise,
    Neutral,
}

impl Emotion {
    pub const ALL: [Emotion; 7] = [
        Emotion::Angry,
        Emotion::Disgust,
        Emotion::Fear,
        Emotion::Happy,
        Emotion::Sad,
        Emotion::Surprise,
        Emotion::Neutral,
    ];

    /// The name of the folder of this class in an evaluation set (FER2013's, lower case).
    pub fn folder_name(self) -> &'static str {
        match self {
            Emotion::Angry => "angry",
            Emotion::Disgust => "disgust",
            Emotion::Fear => "fear",
            Emotion::Happy => "happy",
            Emotion::Sad => "sad",
            Emotion::Surprise => "surprise",
            Emotion::Neutral => "neutral",
        }
    }
}

/// An observed posture or movement (rules in `behaviour`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Behaviour {
    Standing,
    Sitting,
    Lying,
    Moving,
    Still,
    HandRaised,
    FaceCovered,
    Approaching,
    Withdrawing,
}

/// Who a tracked person appears to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Child,
    Adult,
    Unknown,
}
