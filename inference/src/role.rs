//! Child or adult? A guess from relative body and face size, with a confidence.
//!
//! For each person: the median box height over the video, where their feet are (the box's
//! bottom, as a fraction of the frame height), and the median ratio of face height to body
//! height (children's heads are large for their bodies: ~1/5 of the height for a young child,
//! ~1/8 for an adult). Heights are only compared between people standing at a similar depth
//! (feet within 10% of the frame height of each other), since distance to the camera shrinks
//! everyone: there, someone under 75% of the tallest person's height counts as a child cue,
//! someone at 90% or more as an adult cue; a
//! head-to-body ratio above 0.17 is a child cue, below 0.13 an adult cue. Two agreeing cues
//! give a confident guess, one gives a weaker one, none or a contradiction gives UNKNOWN.
//! Camera distance distorts all of this, so confidence never exceeds 0.85.

use crate::labels::Role;

#[derive(Clone, Debug, Default)]
pub struct BodyStats {
    pub heights: Vec<f32>,
    /// Bottom of the box as a fraction of the frame height.
    pub feet: Vec<f32>,
    pub head_ratios: Vec<f32>,
}

fn median(values: &[f32]) -> Option<f32> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    Some(sorted[sorted.len() / 2])
}

/// One role guess per person, in the order given.
pub fn guess_roles(people: &[BodyStats]) -> Vec<(Role, f32)> {
    let heights: Vec<Option<f32>> = people.iter().map(|p| median(&p.heights)).collect();
    let feet: Vec<Option<f32>> = people.iter().map(|p| median(&p.feet)).collect();
    people
        .iter()
        .enumerate()
        .map(|(me, person)| {
            let mut child = 0i32;
            let mut adult = 0i32;
            // The tallest of the people at about my depth, other than me.
            let peers: Vec<f32> = (0..people.len())
                .filter(|other| *other != me)
                .filter(|other| match (feet[me], feet[*other]) {
                    (Some(a), Some(b)) => (a - b).abs() <= 0.1,
                    _ => false,
                })
                .filter_map(|other| heights[other])
                .collect();
            let tallest = peers.iter().copied().fold(heights[me].unwrap_or(0.0), f32::max);
            if let Some(height) = heights[me].filter(|_| !peers.is_empty() && tallest > 0.0) {
                let relative = height / tallest;
                if relative < 0.75 {
                    child += 1;
                } else if relative >= 0.9 {
                    adult += 1;
                }
            }
            if let Some(ratio) = median(&person.head_ratios) {
                if ratio > 0.17 {
                    child += 1;
                } else if ratio < 0.13 {
                    adult += 1;
                }
            }
            match (child, adult) {
                (2, 0) => (Role::Child, 0.85),
                (1, 0) => (Role::Child, 0.6),
                (0, 2) => (Role::Adult, 0.85),
                (0, 1) => (Role::Adult, 0.6),
                _ => (Role::Unknown, 0.5),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaller_big_headed_person_is_the_child() {
        let adult = BodyStats { heights: vec![400.0, 410.0, 405.0], feet: vec![0.9], head_ratios: vec![0.12, 0.11] };
        let child = BodyStats { heights: vec![250.0, 260.0], feet: vec![0.92], head_ratios: vec![0.2, 0.19] };
        let roles = guess_roles(&[adult, child]);
        assert_eq!(roles, [(Role::Adult, 0.85), (Role::Child, 0.85)]);
    }

    #[test]
    fn people_further_away_are_not_children() {
        let near = BodyStats { heights: vec![400.0], feet: vec![0.95], head_ratios: vec![] };
        let far = BodyStats { heights: vec![150.0], feet: vec![0.5], head_ratios: vec![] };
        assert_eq!(guess_roles(&[near, far]), [(Role::Unknown, 0.5), (Role::Unknown, 0.5)]);
    }

    #[test]
    fn one_person_without_a_face_is_unknown() {
        let roles = guess_roles(&[BodyStats { heights: vec![300.0], feet: vec![0.9], head_ratios: vec![] }]);
        assert_eq!(roles, [(Role::Unknown, 0.5)]);
    }
}
