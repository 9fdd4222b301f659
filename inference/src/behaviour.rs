//! Behaviour from body keypoints, by explicit rules (keypoints count when their score ≥ 0.3;
//! L is the torso length, mid-shoulder to mid-hip):
//!
//! - **LYING**: the torso is more than 55° from vertical.
//! - **STANDING**: torso within 30° of vertical and thighs (hip → knee) within 35° of vertical.
//! - **SITTING**: torso within 40° of vertical and thighs more than 50° from vertical.
//! - **MOVING / STILL**: the body centre's speed over the last second, in body heights per
//!   second: above 0.3 is MOVING, below 0.1 is STILL, in between keeps the previous label.
//! - **HAND_RAISED**: a wrist more than 0.25 L above the shoulders.
//! - **FACE_COVERED**: a wrist within 0.35 L of the face (nose/eyes), i.e. hands at the face.
//! - **APPROACHING / WITHDRAWING**: the distance to another person, in mean body heights,
//!   shrinks / grows by more than 0.15 within a second, and this person moved more than the other.
//!
//! Confidence is the mean score of the keypoints a rule used (1 − distance to the threshold
//! for the motion rules, which use no keypoints directly).

use std::collections::{HashMap, VecDeque};

use crate::{labels::Behaviour, models::Person};

const MIN_SCORE: f32 = 0.3;
const NOSE: usize = 0;
const LEFT_EYE: usize = 1;
const RIGHT_EYE: usize = 2;
const SHOULDERS: [usize; 2] = [5, 6];
const WRISTS: [usize; 2] = [9, 10];
const HIPS: [usize; 2] = [11, 12];
const KNEES: [usize; 2] = [13, 14];

/// The behaviour channels: within a channel labels exclude each other.
pub const CHANNELS: usize = 5;

/// One sample's labels, by channel: posture, motion, hand raised, face covered, proximity.
pub type Observation = [Option<(Behaviour, f32)>; CHANNELS];

fn point(person: &Person, indices: &[usize]) -> Option<((f32, f32), f32)> {
    let valid: Vec<_> = indices.iter().map(|i| person.keypoints[*i]).filter(|k| k.score >= MIN_SCORE).collect();
    if valid.is_empty() {
        return None;
    }
    let n = valid.len() as f32;
    let x = valid.iter().map(|k| k.x).sum::<f32>() / n;
    let y = valid.iter().map(|k| k.y).sum::<f32>() / n;
    let score = valid.iter().map(|k| k.score).sum::<f32>() / n;
    Some(((x, y), score))
}

/// Degrees between the segment a → b and the vertical.
fn angle_from_vertical(a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    dx.abs().atan2(dy.abs()).to_degrees()
}

fn distance(a: (f32, f32), b: (f32, f32)) -> f32 {
    (a.0 - b.0).hypot(a.1 - b.1)
}

pub fn posture(person: &Person) -> Option<(Behaviour, f32)> {
    let (shoulders, s1) = point(person, &SHOULDERS)?;
    let (hips, s2) = point(person, &HIPS)?;
    let torso = angle_from_vertical(shoulders, hips);
    if torso > 55.0 {
        return Some((Behaviour::Lying, (s1 + s2) / 2.0));
    }
    let (knees, s3) = point(person, &KNEES)?;
    let thighs = angle_from_vertical(hips, knees);
    let confidence = (s1 + s2 + s3) / 3.0;
    if torso < 30.0 && thighs < 35.0 && knees.1 > hips.1 {
        Some((Behaviour::Standing, confidence))
    } else if torso < 40.0 && thighs > 50.0 {
        Some((Behaviour::Sitting, confidence))
    } else {
        None
    }
}

fn torso_length(person: &Person) -> Option<f32> {
    let (shoulders, _) = point(person, &SHOULDERS)?;
    let (hips, _) = point(person, &HIPS)?;
    Some(distance(shoulders, hips)).filter(|l| *l > 1.0)
}

pub fn hand_raised(person: &Person) -> Option<(Behaviour, f32)> {
    let length = torso_length(person)?;
    let (shoulders, s1) = point(person, &SHOULDERS)?;
    WRISTS
        .iter()
        .map(|w| person.keypoints[*w])
        .filter(|wrist| wrist.score >= MIN_SCORE && wrist.y < shoulders.1 - 0.25 * length)
        .map(|wrist| (Behaviour::HandRaised, (s1 + wrist.score) / 2.0))
        .next()
}

pub fn face_covered(person: &Person) -> Option<(Behaviour, f32)> {
    let length = torso_length(person)?;
    let (face, s1) = point(person, &[NOSE, LEFT_EYE, RIGHT_EYE])?;
    WRISTS
        .iter()
        .map(|w| person.keypoints[*w])
        .filter(|wrist| wrist.score >= MIN_SCORE && distance((wrist.x, wrist.y), face) < 0.35 * length)
        .map(|wrist| (Behaviour::FaceCovered, (s1 + wrist.score) / 2.0))
        .next()
}

#[derive(Default)]
struct History {
    /// (time, body centre, body height) over the last couple of seconds.
    positions: VecDeque<(i64, (f32, f32), f32)>,
    motion: Option<Behaviour>,
}

impl History {
    fn at_least_ago(&self, t_ms: i64, ago_ms: i64) -> Option<&(i64, (f32, f32), f32)> {
        self.positions.iter().rev().find(|(t, _, _)| t_ms - t >= ago_ms)
    }
}

/// Follows every track over time for the rules that need history.
#[derive(Default)]
pub struct BehaviourRules {
    history: HashMap<u32, History>,
}

const WINDOW_MS: i64 = 1_000;

type Point = (f32, f32);
/// (speed, position now, position a second ago).
type Displacement = (f32, Point, Point);

impl BehaviourRules {
    /// Labels for every person of one frame (`people[i]` has track id `ids[i]`).
    pub fn observe(&mut self, t_ms: i64, ids: &[u32], people: &[Person]) -> Vec<Observation> {
        for (id, person) in ids.iter().zip(people) {
            let history = self.history.entry(*id).or_default();
            history.positions.push_back((t_ms, person.bbox.center(), person.bbox.height.max(1.0)));
            while history.positions.front().is_some_and(|(t, _, _)| t_ms - t > 3 * WINDOW_MS) {
                history.positions.pop_front();
            }
        }
        let mut observations = Vec::with_capacity(people.len());
        for (index, (id, person)) in ids.iter().zip(people).enumerate() {
            let motion = self.motion(*id, t_ms);
            let proximity = self.proximity(index, ids, t_ms);
            observations.push([posture(person), motion, hand_raised(person), face_covered(person), proximity]);
        }
        observations
    }

    /// Speed (body heights per second) over the last second, with the position now and then.
    fn displacement(&self, id: u32, t_ms: i64) -> Option<Displacement> {
        let history = self.history.get(&id)?;
        let (_, now, height) = *history.positions.back()?;
        let (then_t, then, _) = *history.at_least_ago(t_ms, WINDOW_MS)?;
        let seconds = (t_ms - then_t) as f32 / 1000.0;
        Some((distance(now, then) / height / seconds, now, then))
    }

    fn motion(&mut self, id: u32, t_ms: i64) -> Option<(Behaviour, f32)> {
        let (speed, _, _) = self.displacement(id, t_ms)?;
        let history = self.history.get_mut(&id)?;
        let label = if speed > 0.3 {
            Some(Behaviour::Moving)
        } else if speed < 0.1 {
            Some(Behaviour::Still)
        } else {
            history.motion
        };
        history.motion = label;
        let confidence = match label? {
            Behaviour::Moving => (0.5 + speed).min(1.0),
            _ => (1.0 - speed * 3.0).clamp(0.5, 1.0),
        };
        label.map(|label| (label, confidence))
    }

    fn proximity(&self, index: usize, ids: &[u32], t_ms: i64) -> Option<(Behaviour, f32)> {
        let me = ids[index];
        let (my_speed, my_now, my_then) = self.displacement(me, t_ms)?;
        let mut best: Option<(Behaviour, f32)> = None;
        for other in ids.iter().filter(|other| **other != me) {
            let Some((their_speed, their_now, their_then)) = self.displacement(*other, t_ms) else { continue };
            if my_speed <= their_speed {
                continue;
            }
            let heights = |id: u32| self.history.get(&id).and_then(|h| h.positions.back()).map(|p| p.2).unwrap_or(1.0);
            let scale = (heights(me) + heights(*other)) / 2.0;
            let change = (distance(my_now, their_now) - distance(my_then, their_then)) / scale;
            let label = if change < -0.15 {
                Behaviour::Approaching
            } else if change > 0.15 {
                Behaviour::Withdrawing
            } else {
                continue;
            };
            let confidence = (0.5 + change.abs()).min(1.0);
            if best.is_none_or(|(_, c)| confidence > c) {
                best = Some((label, confidence));
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{BoundingBox, pose::Keypoint};

    /// A skeleton from a few named points; everything else unseen.
    fn person(points: &[(usize, f32, f32)], bbox: BoundingBox) -> Person {
        let mut keypoints = [Keypoint { x: 0.0, y: 0.0, score: 0.0 }; 17];
        for (index, x, y) in points {
            keypoints[*index] = Keypoint { x: *x, y: *y, score: 0.9 };
        }
        Person { bbox, score: 0.9, keypoints }
    }

    fn standing_at(x: f32) -> Person {
        person(
            &[
                (0, x, 10.0),
                (5, x - 10.0, 30.0),
                (6, x + 10.0, 30.0),
                (11, x - 8.0, 80.0),
                (12, x + 8.0, 80.0),
                (13, x - 8.0, 120.0),
                (14, x + 8.0, 120.0),
                (9, x - 15.0, 75.0),
                (10, x + 15.0, 75.0),
            ],
            BoundingBox { x: x - 20.0, y: 0.0, width: 40.0, height: 160.0 },
        )
    }

    #[test]
    fn postures() {
        assert_eq!(posture(&standing_at(100.0)).map(|p| p.0), Some(Behaviour::Standing));
        let sitting = person(
            &[
                (5, 90.0, 30.0),
                (6, 110.0, 30.0),
                (11, 92.0, 80.0),
                (12, 108.0, 80.0),
                (13, 140.0, 85.0),
                (14, 150.0, 85.0),
            ],
            BoundingBox { x: 80.0, y: 0.0, width: 80.0, height: 100.0 },
        );
        assert_eq!(posture(&sitting).map(|p| p.0), Some(Behaviour::Sitting));
        let lying = person(
            &[(5, 20.0, 100.0), (6, 20.0, 110.0), (11, 80.0, 100.0), (12, 80.0, 110.0)],
            BoundingBox { x: 0.0, y: 90.0, width: 160.0, height: 30.0 },
        );
        assert_eq!(posture(&lying).map(|p| p.0), Some(Behaviour::Lying));
    }

    #[test]
    fn hands() {
        let mut raised = standing_at(100.0);
        raised.keypoints[10] = Keypoint { x: 115.0, y: 5.0, score: 0.9 };
        assert_eq!(hand_raised(&raised).map(|b| b.0), Some(Behaviour::HandRaised));
        assert_eq!(hand_raised(&standing_at(100.0)), None);
        let mut covering = standing_at(100.0);
        covering.keypoints[9] = Keypoint { x: 102.0, y: 12.0, score: 0.9 };
        assert_eq!(face_covered(&covering).map(|b| b.0), Some(Behaviour::FaceCovered));
        assert_eq!(face_covered(&standing_at(100.0)), None);
    }

    #[test]
    fn motion_and_proximity() {
        let mut rules = BehaviourRules::default();
        let mut last = Vec::new();
        // Person 1 walks towards person 2, who stands still.
        for step in 0..6 {
            let t = step * 500;
            let walker = standing_at(100.0 + step as f32 * 60.0);
            last = rules.observe(t, &[1, 2], &[walker, standing_at(600.0)]);
        }
        assert_eq!(last[0][1].map(|b| b.0), Some(Behaviour::Moving));
        assert_eq!(last[1][1].map(|b| b.0), Some(Behaviour::Still));
        assert_eq!(last[0][4].map(|b| b.0), Some(Behaviour::Approaching));
        assert_eq!(last[1][4], None, "the one who stood still did not approach");
    }
}
