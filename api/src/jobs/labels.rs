//! The engine's label sets in the API's (and database's) terms. Spelled alike on both sides;
//! written out as matches so that a label added to one side and not the other fails to compile.

use entity::enums::{Behaviour, Emotion, ObjectRole};
use imind_inference as engine;

pub fn emotion(label: engine::Emotion) -> Emotion {
    match label {
        engine::Emotion::Angry => Emotion::Angry,
        engine::Emotion::Disgust => Emotion::Disgust,
        engine::Emotion::Fear => Emotion::Fear,
        engine::Emotion::Happy => Emotion::Happy,
        engine::Emotion::Sad => Emotion::Sad,
        engine::Emotion::Surprise => Emotion::Surprise,
        engine::Emotion::Neutral => Emotion::Neutral,
    }
}

pub fn behaviour(label: engine::Behaviour) -> Behaviour {
    match label {
        engine::Behaviour::Standing => Behaviour::Standing,
        engine::Behaviour::Sitting => Behaviour::Sitting,
        engine::Behaviour::Lying => Behaviour::Lying,
        engine::Behaviour::Moving => Behaviour::Moving,
        engine::Behaviour::Still => Behaviour::Still,
        engine::Behaviour::HandRaised => Behaviour::HandRaised,
        engine::Behaviour::FaceCovered => Behaviour::FaceCovered,
        engine::Behaviour::Approaching => Behaviour::Approaching,
        engine::Behaviour::Withdrawing => Behaviour::Withdrawing,
    }
}

pub fn role(label: engine::Role) -> ObjectRole {
    match label {
        engine::Role::Child => ObjectRole::Child,
        engine::Role::Adult => ObjectRole::Adult,
        engine::Role::Unknown => ObjectRole::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_keep_their_spelling() {
        for label in engine::Emotion::ALL {
            assert_eq!(serde_json::to_value(label).unwrap().as_str(), Some(emotion(label).as_str()));
        }
        let behaviours = [
            engine::Behaviour::Standing,
            engine::Behaviour::HandRaised,
            engine::Behaviour::FaceCovered,
            engine::Behaviour::Withdrawing,
        ];
        for label in behaviours {
            assert_eq!(serde_json::to_value(label).unwrap().as_str(), Some(behaviour(label).as_str()));
        }
        assert_eq!(role(engine::Role::Unknown), ObjectRole::Unknown);
    }
}
