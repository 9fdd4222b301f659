//! How well the analysis could read a person's face: the quality bar's verdicts on their face
//! samples (`imind_inference::QualityBar`), stored with the person.

use async_graphql::{Enum, SimpleObject};
use imind_inference::{FaceCounts, Readability, Unusable};

/// Whether the analysis could read a person's facial expression at all.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpressionReadability {
    /// At least one face sample passed the quality bar and voted on an expression.
    Readable,
    /// Faces were seen but none was good enough to read (see `mainProblem`): the person has no
    /// expression intervals from the analysis, which says nothing about how they looked.
    FaceUnusable,
    /// The person's face was never seen (their back was turned, or it was out of the picture).
    NoFaceSeen,
}

/// Why a face sample was not good enough to read.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaceProblem {
    /// Under 24 pixels on its short side.
    TooSmall,
    /// The face detector was unsure it was a face (score under 0.6).
    Uncertain,
    /// Out of focus or moving (too little fine detail).
    Blurred,
    /// Turned more than about 30° away from the camera.
    TurnedAway,
}

/// Counts of a person's analysed samples (video frames looked at, 2 a second by default) and
/// how many showed a face good enough to read. Only faces that pass the quality bar vote on
/// expressions; each model interval's `samples` says how many it rests on.
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct FaceQuality {
    /// Samples in which the person was seen.
    pub samples: i32,
    /// Samples in which a face was attributed to them.
    pub face_samples: i32,
    /// Faces that passed the quality bar and voted on an expression.
    pub usable_face_samples: i32,
    /// Faces below the bar, per reason (each face counts for the first reason it failed, in
    /// the order of these fields).
    pub too_small: i32,
    pub uncertain: i32,
    pub blurred: i32,
    pub turned_away: i32,
    pub expression: ExpressionReadability,
    /// The most common reason faces were unusable (a tie: the first listed); null when none was.
    pub main_problem: Option<FaceProblem>,
}

impl From<FaceCounts> for FaceQuality {
    fn from(counts: FaceCounts) -> Self {
        let int = |count: u32| i32::try_from(count).unwrap_or(i32::MAX);
        Self {
            samples: int(counts.samples),
            face_samples: int(counts.with_face),
            usable_face_samples: int(counts.usable),
            too_small: int(counts.too_small),
            uncertain: int(counts.uncertain),
            blurred: int(counts.blurred),
            turned_away: int(counts.turned_away),
            expression: match counts.readability() {
                Readability::Readable => ExpressionReadability::Readable,
                Readability::FaceUnusable => ExpressionReadability::FaceUnusable,
                Readability::NoFaceSeen => ExpressionReadability::NoFaceSeen,
            },
            main_problem: counts.main_reason().map(|reason| match reason {
                Unusable::TooSmall => FaceProblem::TooSmall,
                Unusable::Uncertain => FaceProblem::Uncertain,
                Unusable::Blurred => FaceProblem::Blurred,
                Unusable::TurnedAway => FaceProblem::TurnedAway,
            }),
        }
    }
}
