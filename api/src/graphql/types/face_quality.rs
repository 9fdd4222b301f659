//! How well the analysis could read a person's face: the quality bar's verdicts on their face
//! samples (`imind_inference::QualityBar`), stored with the person.

use async_graphql::{Enum, SimpleObject};
use entity::tracked_object;

/// Whether the analysis could read a person's facial expression at all.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpressionReadability {
    /// At least one face sample passed the quality bar and voted on an expression.
    Readable,
    /// Faces were seen but none was good enough to read (see `mainProblem`): the person has no
    /// expression intervals, which says nothing about how they looked.
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
    /// Turned more than 30° away from the camera.
    TurnedAway,
}

/// Counts of a person's analysed samples (video frames looked at, 2 a second by default) and
/// how many showed a face good enough to read. Only faces that pass the quality bar vote on
/// expressions; each interval's `samples` says how many it rests on.
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
    /// The most common reason faces were unusable; null when none was.
    pub main_problem: Option<FaceProblem>,
}

impl FaceQuality {
    /// The person's counts; `None` for results analysed before they were counted.
    pub fn of(row: &tracked_object::Model) -> Option<Self> {
        let samples = row.samples?;
        let count = |value: Option<i32>| value.unwrap_or(0);
        let (face_samples, usable_face_samples) = (count(row.face_samples), count(row.usable_face_samples));
        let problems = [
            (FaceProblem::TooSmall, count(row.faces_too_small)),
            (FaceProblem::Uncertain, count(row.faces_uncertain)),
            (FaceProblem::Blurred, count(row.faces_blurred)),
            (FaceProblem::TurnedAway, count(row.faces_turned_away)),
        ];
        // The most frequent; on a tie, the first listed.
        let main_problem = problems
            .iter()
            .filter(|(_, faces)| *faces > 0)
            .fold(None::<(FaceProblem, i32)>, |best, &(problem, faces)| match best {
                Some((_, most)) if most >= faces => best,
                _ => Some((problem, faces)),
            })
            .map(|(problem, _)| problem);
        let expression = if usable_face_samples > 0 {
            ExpressionReadability::Readable
        } else if face_samples > 0 {
            ExpressionReadability::FaceUnusable
        } else {
            ExpressionReadability::NoFaceSeen
        };
        Some(Self {
            samples,
            face_samples,
            usable_face_samples,
            too_small: problems[0].1,
            uncertain: problems[1].1,
            blurred: problems[2].1,
            turned_away: problems[3].1,
            expression,
            main_problem,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(counts: [Option<i32>; 7]) -> tracked_object::Model {
        tracked_object::Model {
            id: uuid::Uuid::nil(),
            session_id: uuid::Uuid::nil(),
            label: "Person 1".into(),
            role: entity::enums::ObjectRole::Unknown,
            role_confidence: 0.5,
            child_id: None,
            first_seen_ms: 0,
            last_seen_ms: 1000,
            samples: counts[0],
            face_samples: counts[1],
            usable_face_samples: counts[2],
            faces_too_small: counts[3],
            faces_uncertain: counts[4],
            faces_blurred: counts[5],
            faces_turned_away: counts[6],
        }
    }

    #[test]
    fn readability_and_the_main_problem_follow_the_counts() {
        assert_eq!(FaceQuality::of(&person([None; 7])), None);
        let read = FaceQuality::of(&person([Some(10), Some(8), Some(5), Some(0), Some(1), Some(1), Some(1)])).unwrap();
        assert_eq!(read.expression, ExpressionReadability::Readable);
        // A tie goes to the first listed.
        assert_eq!(read.main_problem, Some(FaceProblem::Uncertain));
        let blurred =
            FaceQuality::of(&person([Some(10), Some(4), Some(0), Some(0), Some(0), Some(4), Some(0)])).unwrap();
        assert_eq!(
            (blurred.expression, blurred.main_problem),
            (ExpressionReadability::FaceUnusable, Some(FaceProblem::Blurred))
        );
        let unseen =
            FaceQuality::of(&person([Some(10), Some(0), Some(0), Some(0), Some(0), Some(0), Some(0)])).unwrap();
        assert_eq!((unseen.expression, unseen.main_problem), (ExpressionReadability::NoFaceSeen, None));
    }
}
