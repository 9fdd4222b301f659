//! `imind eval identities`: does the engine keep different people apart?
//!
//! A hand-labelled clip (JSON, see `IdentityLabels`) says, shot by shot, who is visible and
//! where (the horizontal span of their body and face, in fractions of the frame width). Each
//! sighting of each engine track is attributed to the labelled person its body overlaps most;
//! from that come the CLEAR-MOT style figures:
//! - *switches*: a labelled person's consecutive sightings change track (across a cut too: a
//!   person who comes back in a later shot should get their old id);
//! - *merges*: a track that holds more than one labelled person (each extra one counts);
//! - *misses*: a labelled person (not marked partial) in a shot with no sighting at all;
//! - *wrong faces*: a sighting whose face lies outside its person's labelled face span;
//! - *unlabelled*: sightings that match nobody labelled (false people).
//!
//! Partially visible people (a back of a head at the frame's edge) may be found or not: they
//! count towards merges when found, never towards misses or switches.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::analysis::{AnalysisResult, Sighting};

/// A clip's hand labels.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct IdentityLabels {
    /// File name of the clip the labels belong to.
    pub video: String,
    /// Frame rate the frame numbers count in.
    pub fps: f64,
    /// Who the labels name, with a line each on how to tell them apart.
    pub people: BTreeMap<String, String>,
    pub shots: Vec<LabelledShot>,
}

/// A stretch between two cuts.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct LabelledShot {
    /// First and last frame of the shot, inclusive (0-based).
    pub frames: [i64; 2],
    pub visible: Vec<LabelledPerson>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct LabelledPerson {
    pub person: String,
    /// Horizontal span of the body, fractions of the frame width.
    pub x: [f32; 2],
    /// Horizontal span of the face when it is visible.
    #[serde(default)]
    pub face_x: Option<[f32; 2]>,
    /// Only part of the person is in the frame (seen from behind, cut by the edge).
    #[serde(default)]
    pub partial: bool,
}

/// Figures for one labelled person.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonFigures {
    pub person: String,
    /// Engine tracks this person's sightings went to, in order of first use.
    pub tracks: Vec<u32>,
    pub sightings: usize,
    pub switches: usize,
    pub missed_shots: usize,
    pub wrong_faces: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IdentityReport {
    pub video: String,
    pub analysed_frames: i64,
    pub tracks: usize,
    pub switches: usize,
    pub merges: usize,
    pub misses: usize,
    pub wrong_faces: usize,
    pub unlabelled_sightings: usize,
    pub people: Vec<PersonFigures>,
}

/// A sighting attributed to a labelled person needs at least this share of its body's width
/// inside the person's span.
const MIN_OVERLAP: f32 = 0.4;
/// A track holds a person when at least this many of its sightings are theirs (one stray
/// sighting at a cut is a flicker, not a merge).
const MIN_SIGHTINGS_FOR_MERGE: usize = 2;

fn overlap(span: [f32; 2], from: f32, to: f32) -> f32 {
    (to.min(span[1]) - from.max(span[0])).max(0.0)
}

impl IdentityLabels {
    fn shot_at(&self, t_ms: i64) -> Option<&LabelledShot> {
        let frame = (t_ms as f64 * self.fps / 1000.0).round() as i64;
        self.shots.iter().find(|shot| frame >= shot.frames[0] && frame <= shot.frames[1])
    }

    /// The labelled person a sighting shows, if any.
    fn attribute<'a>(&'a self, sighting: &Sighting) -> Option<&'a LabelledPerson> {
        let shot = self.shot_at(sighting.t_ms)?;
        let (from, to) = (sighting.body.x, sighting.body.x + sighting.body.width);
        let width = (to - from).max(f32::EPSILON);
        shot.visible
            .iter()
            .map(|person| (person, overlap(person.x, from, to) / width))
            .filter(|(_, share)| *share >= MIN_OVERLAP)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(person, _)| person)
    }
}

/// Scores an analysis of the labelled clip.
pub fn evaluate_identities(labels: &IdentityLabels, result: &AnalysisResult) -> IdentityReport {
    struct Seen {
        t_ms: i64,
        track: u32,
        partial: bool,
        wrong_face: bool,
    }
    let mut seen: BTreeMap<&str, Vec<Seen>> = labels.people.keys().map(|name| (name.as_str(), Vec::new())).collect();
    let mut unlabelled = 0;
    for object in &result.objects {
        for sighting in &object.sightings {
            let Some(person) = labels.attribute(sighting) else {
                unlabelled += 1;
                continue;
            };
            let wrong_face = match (sighting.face, person.face_x) {
                (Some(face), Some(span)) => {
                    let centre = face.x + face.width / 2.0;
                    centre < span[0] || centre > span[1]
                }
                (Some(_), None) => true,
                (None, _) => false,
            };
            seen.entry(person.person.as_str()).or_default().push(Seen {
                t_ms: sighting.t_ms,
                track: object.track_id,
                partial: person.partial,
                wrong_face,
            });
        }
    }

    let mut people = Vec::new();
    let mut holders: BTreeMap<u32, BTreeMap<&str, usize>> = BTreeMap::new();
    for (name, sightings) in seen.iter_mut() {
        sightings.sort_by_key(|s| (s.t_ms, s.track));
        let mut tracks = Vec::new();
        for s in sightings.iter() {
            *holders.entry(s.track).or_default().entry(name).or_default() += 1;
            if !tracks.contains(&s.track) {
                tracks.push(s.track);
            }
        }
        let whole: Vec<&Seen> = sightings.iter().filter(|s| !s.partial).collect();
        let switches = whole.windows(2).filter(|pair| pair[0].track != pair[1].track).count();
        let missed_shots = labels
            .shots
            .iter()
            .filter(|shot| shot.visible.iter().any(|v| v.person == *name && !v.partial))
            .filter(|shot| !whole.iter().any(|s| labels.shot_at(s.t_ms).is_some_and(|at| std::ptr::eq(at, *shot))))
            .count();
        people.push(PersonFigures {
            person: name.to_string(),
            tracks,
            sightings: sightings.len(),
            switches,
            missed_shots,
            wrong_faces: sightings.iter().filter(|s| s.wrong_face).count(),
        });
    }
    let merges = holders
        .values()
        .map(|held| held.values().filter(|count| **count >= MIN_SIGHTINGS_FOR_MERGE).count().saturating_sub(1))
        .sum();
    let distinct_tracks: BTreeSet<u32> = result.objects.iter().map(|o| o.track_id).collect();
    IdentityReport {
        video: labels.video.clone(),
        analysed_frames: result.analysed_frames,
        tracks: distinct_tracks.len(),
        switches: people.iter().map(|p| p.switches).sum(),
        merges,
        misses: people.iter().map(|p| p.missed_shots).sum(),
        wrong_faces: people.iter().map(|p| p.wrong_faces).sum(),
        unlabelled_sightings: unlabelled,
        people,
    }
}

/// The report as the CLI prints it.
pub fn format_identity_report(report: &IdentityReport) -> String {
    let mut out = format!(
        "{}: {} frames analysed, {} tracks — switches {}, merges {}, misses {}, wrong faces {}, unlabelled sightings {}\n",
        report.video,
        report.analysed_frames,
        report.tracks,
        report.switches,
        report.merges,
        report.misses,
        report.wrong_faces,
        report.unlabelled_sightings
    );
    out.push_str("  person            sightings  tracks        switches  missed shots  wrong faces\n");
    for p in &report.people {
        let tracks = p.tracks.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        out.push_str(&format!(
            "  {:<17} {:>9}  {:<12} {:>9} {:>13} {:>12}\n",
            p.person, p.sightings, tracks, p.switches, p.missed_shots, p.wrong_faces
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        analysis::{Timings, TrackedObject},
        labels::Role,
        models::BoundingBox,
        video::VideoInfo,
    };

    fn labels() -> IdentityLabels {
        serde_json::from_str(
            r#"{ "video": "clip", "fps": 10, "people": { "a": "left", "b": "right" },
                 "shots": [
                   { "frames": [0, 9], "visible": [
                       { "person": "a", "x": [0.0, 0.4], "face_x": [0.1, 0.3] },
                       { "person": "b", "x": [0.6, 1.0], "face_x": [0.7, 0.9] } ] },
                   { "frames": [10, 19], "visible": [ { "person": "a", "x": [0.3, 0.7] } ] } ] }"#,
        )
        .expect("valid labels")
    }

    fn object(track_id: u32, sightings: &[(i64, f32, Option<f32>)]) -> TrackedObject {
        TrackedObject {
            track_id,
            label: format!("Person {track_id}"),
            role: Role::Adult,
            role_confidence: 0.5,
            first_seen_ms: sightings[0].0,
            last_seen_ms: sightings[sightings.len() - 1].0,
            emotion_intervals: Vec::new(),
            behaviour_intervals: Vec::new(),
            emotion_share: Vec::new(),
            faces: Default::default(),
            sightings: sightings
                .iter()
                .map(|&(t_ms, x, face_x)| Sighting {
                    t_ms,
                    body: BoundingBox { x, y: 0.1, width: 0.3, height: 0.8 },
                    face: face_x.map(|x| BoundingBox { x, y: 0.1, width: 0.1, height: 0.1 }),
                })
                .collect(),
        }
    }

    fn result(objects: Vec<TrackedObject>) -> AnalysisResult {
        AnalysisResult {
            video: VideoInfo {
                duration_ms: 2_000,
                fps: 10.0,
                frame_count: 20,
                width: 640,
                height: 480,
                codec: "MJPG".into(),
            },
            analysed_frames: 8,
            objects,
            cuts_ms: Vec::new(),
            timings: Timings::default(),
        }
    }

    #[test]
    fn a_clean_run_scores_nothing_wrong() {
        let report = evaluate_identities(
            &labels(),
            &result(vec![
                object(1, &[(0, 0.05, Some(0.15)), (500, 0.05, Some(0.15)), (1_200, 0.35, None)]),
                object(2, &[(0, 0.65, Some(0.75)), (500, 0.65, Some(0.75))]),
            ]),
        );
        assert_eq!((report.switches, report.merges, report.misses, report.wrong_faces), (0, 0, 0, 0));
        assert_eq!(report.people[0].tracks, [1]);
    }

    #[test]
    fn merges_switches_misses_and_wrong_faces_are_counted() {
        let report = evaluate_identities(
            &labels(),
            &result(vec![
                // Track 1 holds a, then b: a merge. a comes back in shot 2 as track 3: a switch.
                object(1, &[(0, 0.05, Some(0.15)), (300, 0.05, Some(0.75)), (500, 0.65, None), (600, 0.65, None)]),
                object(3, &[(1_200, 0.35, None), (1_500, 0.35, None)]),
            ]),
        );
        assert_eq!(report.merges, 1);
        assert_eq!(report.switches, 1, "{report:?}");
        assert_eq!(report.wrong_faces, 1, "a's face lies in b's span");
        assert_eq!(report.misses, 0);
        let without_b = evaluate_identities(&labels(), &result(vec![object(1, &[(0, 0.05, None), (500, 0.05, None)])]));
        assert_eq!(without_b.misses, 2, "b in shot 1 and a in shot 2 were never seen");
    }

    #[test]
    fn the_committed_labels_are_consistent() {
        let labels: IdentityLabels =
            serde_json::from_str(include_str!("../tests/identity/megamind.json")).expect("valid labels");
        assert_eq!(labels.shots[0].frames[0], 0);
        for pair in labels.shots.windows(2) {
            assert_eq!(pair[0].frames[1] + 1, pair[1].frames[0], "shots follow each other without gaps");
        }
        for shot in &labels.shots {
            for visible in &shot.visible {
                assert!(labels.people.contains_key(&visible.person), "{} is described", visible.person);
                assert!(visible.x[0] < visible.x[1] && visible.partial == visible.face_x.is_none());
            }
        }
    }
}
