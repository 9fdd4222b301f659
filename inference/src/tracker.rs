//! Multi-person tracking with stable ids.
//!
//! Each analysed frame's people are matched to the current tracks by an optimal assignment
//! (Hungarian method, `pathfinding::kuhn_munkres`) on a score mixing box overlap, centre
//! distance and appearance (colour histogram). A track not seen for a while becomes *lost*; a
//! new person who looks like a lost track (appearance) is the same person coming back, and gets
//! the old id. At a shot cut (two analysed frames whose pictures differ wholesale) every track
//! is lost at once: across a cut, where a box was says nothing about who is in it, so only
//! appearance can carry an id over. Tracks seen only a handful of times are dropped at the end
//! as noise.

use pathfinding::{kuhn_munkres::kuhn_munkres, matrix::Matrix};

use crate::{
    appearance::{Appearance, Thumbnail, similarity},
    models::BoundingBox,
};

#[derive(Clone, Debug)]
pub struct TrackedDetection {
    pub bbox: BoundingBox,
    pub appearance: Appearance,
}

#[derive(Clone, Debug)]
pub struct Track {
    pub id: u32,
    pub bbox: BoundingBox,
    pub appearance: Appearance,
    pub last_seen_ms: i64,
    pub hits: u32,
    /// Lost at a cut: only re-identification can revive it.
    pub lost: bool,
}

#[derive(Clone, Debug)]
pub struct TrackerOptions {
    /// A track unseen for longer than this is lost (only re-identification can revive it).
    pub max_gap_ms: i64,
    /// Minimum appearance similarity (0..1) to revive a lost track.
    pub reidentify_similarity: f32,
    /// Minimum match score to continue a track.
    pub min_score: f32,
    /// Two consecutive analysed frames whose thumbnails differ by more than this (mean
    /// absolute difference, 0..1) lie on two sides of a cut.
    pub cut_difference: f32,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        Self { max_gap_ms: 2_000, reidentify_similarity: 0.75, min_score: 0.25, cut_difference: CUT_DIFFERENCE }
    }
}

/// Megamind.avi's cuts differ by 0.14–0.15 at 4 fps; within a shot the test footage stays
/// below 0.07 (a close-up turning its head). A false cut costs little: the same person, a
/// moment later, is re-identified by appearance.
const CUT_DIFFERENCE: f32 = 0.10;

pub struct Tracker {
    options: TrackerOptions,
    tracks: Vec<Track>,
    next_id: u32,
    previous_frame: Option<Thumbnail>,
    cuts_ms: Vec<i64>,
}

fn proximity(a: &BoundingBox, b: &BoundingBox) -> f32 {
    let (ax, ay) = a.center();
    let (bx, by) = b.center();
    let scale = (a.width.hypot(a.height) + b.width.hypot(b.height)) / 2.0;
    if scale <= 0.0 {
        return 0.0;
    }
    (1.0 - (ax - bx).hypot(ay - by) / scale).max(0.0)
}

fn match_score(track: &Track, detection: &TrackedDetection) -> f32 {
    0.45 * track.bbox.intersection_over_union(&detection.bbox)
        + 0.35 * proximity(&track.bbox, &detection.bbox)
        + 0.2 * similarity(&track.appearance, &detection.appearance)
}

impl Tracker {
    pub fn new(options: TrackerOptions) -> Self {
        Self { options, tracks: Vec::new(), next_id: 1, previous_frame: None, cuts_ms: Vec::new() }
    }

    /// Times of the frames that began a new shot.
    pub fn cuts_ms(&self) -> &[i64] {
        &self.cuts_ms
    }

    fn is_lost(&self, track: &Track, t_ms: i64) -> bool {
        track.lost || t_ms - track.last_seen_ms > self.options.max_gap_ms
    }

    /// Assigns a track id to each detection of the frame at `t_ms`, whose picture is `frame`.
    pub fn update(&mut self, t_ms: i64, frame: Thumbnail, detections: &[TrackedDetection]) -> Vec<u32> {
        if self
            .previous_frame
            .as_ref()
            .is_some_and(|previous| previous.difference(&frame) > self.options.cut_difference)
        {
            self.tracks.iter_mut().for_each(|track| track.lost = true);
            self.cuts_ms.push(t_ms);
        }
        self.previous_frame = Some(frame);
        let active: Vec<usize> = (0..self.tracks.len()).filter(|&i| !self.is_lost(&self.tracks[i], t_ms)).collect();
        let mut assigned: Vec<Option<usize>> = vec![None; detections.len()];

        if !active.is_empty() && !detections.is_empty() {
            // kuhn_munkres wants rows ≤ columns: pad to a square of zero-weight dummies.
            let size = active.len().max(detections.len());
            let scale = 10_000.0;
            let weights = Matrix::from_fn(size, size, |(row, column)| {
                if row < detections.len() && column < active.len() {
                    (match_score(&self.tracks[active[column]], &detections[row]) * scale) as i64
                } else {
                    0
                }
            });
            let (_, columns) = kuhn_munkres(&weights);
            for (row, column) in columns.into_iter().enumerate().take(detections.len()) {
                if column < active.len() {
                    let score = match_score(&self.tracks[active[column]], &detections[row]);
                    if score >= self.options.min_score {
                        assigned[row] = Some(active[column]);
                    }
                }
            }
        }

        self.reidentify(t_ms, detections, &mut assigned);

        let mut ids = Vec::with_capacity(detections.len());
        for (row, detection) in detections.iter().enumerate() {
            let index = assigned[row].unwrap_or_else(|| {
                self.tracks.push(Track {
                    id: self.next_id,
                    bbox: detection.bbox,
                    appearance: detection.appearance,
                    last_seen_ms: t_ms,
                    hits: 0,
                    lost: false,
                });
                self.next_id += 1;
                self.tracks.len() - 1
            });
            let track = &mut self.tracks[index];
            track.bbox = detection.bbox;
            for (kept, new) in track.appearance.iter_mut().zip(&detection.appearance) {
                *kept = 0.8 * *kept + 0.2 * new;
            }
            track.last_seen_ms = t_ms;
            track.hits += 1;
            track.lost = false;
            ids.push(track.id);
        }
        ids
    }

    /// Gives unassigned detections the lost tracks they look like, most alike pairs first, each
    /// track to one detection at most.
    fn reidentify(&self, t_ms: i64, detections: &[TrackedDetection], assigned: &mut [Option<usize>]) {
        let lost: Vec<usize> = (0..self.tracks.len()).filter(|&i| self.is_lost(&self.tracks[i], t_ms)).collect();
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (row, detection) in detections.iter().enumerate().filter(|(row, _)| assigned[*row].is_none()) {
            for &track in &lost {
                let alike = similarity(&self.tracks[track].appearance, &detection.appearance);
                if alike >= self.options.reidentify_similarity {
                    pairs.push((alike, row, track));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, row, track) in pairs {
            if assigned[row].is_none() && !assigned.contains(&Some(track)) {
                assigned[row] = Some(track);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One unchanging picture: no cuts.
    fn scene() -> Thumbnail {
        Thumbnail::uniform(128)
    }

    fn detection(x: f32, colour: usize) -> TrackedDetection {
        let mut appearance = [0.0; 16];
        appearance[colour] = 1.0;
        TrackedDetection { bbox: BoundingBox { x, y: 10.0, width: 40.0, height: 100.0 }, appearance }
    }

    #[test]
    fn keeps_ids_through_motion_and_crossing_order() {
        let mut tracker = Tracker::new(TrackerOptions::default());
        let first = tracker.update(0, scene(), &[detection(0.0, 1), detection(200.0, 5)]);
        assert_eq!(first, [1, 2]);
        // Both moved a little; listed in the other order.
        let second = tracker.update(500, scene(), &[detection(210.0, 5), detection(8.0, 1)]);
        assert_eq!(second, [2, 1]);
    }

    #[test]
    fn a_returning_person_gets_their_old_id() {
        let mut tracker = Tracker::new(TrackerOptions::default());
        tracker.update(0, scene(), &[detection(0.0, 1), detection(300.0, 5)]);
        // Person 1 leaves for five seconds; person 2 stays.
        for t in (500..5_500).step_by(500) {
            tracker.update(t, scene(), &[detection(300.0, 5)]);
        }
        // Person 1 comes back elsewhere in the room.
        let ids = tracker.update(6_000, scene(), &[detection(300.0, 5), detection(120.0, 1)]);
        assert_eq!(ids, [2, 1]);
        assert_eq!(tracker.tracks.len(), 2, "no new id for a returning person");
        // A stranger who looks different is someone new.
        let ids = tracker.update(6_500, scene(), &[detection(300.0, 5), detection(120.0, 1), detection(500.0, 3)]);
        assert_eq!(ids, [2, 1, 3]);
    }

    #[test]
    fn across_a_cut_appearance_decides_and_position_does_not() {
        let mut tracker = Tracker::new(TrackerOptions::default());
        assert_eq!(tracker.update(0, scene(), &[detection(100.0, 1), detection(300.0, 5)]), [1, 2]);
        // Another shot: someone new where person 1 stood, person 2 elsewhere.
        let ids = tracker.update(250, Thumbnail::uniform(20), &[detection(100.0, 3), detection(500.0, 5)]);
        assert_eq!(ids, [3, 2]);
        assert_eq!(tracker.cuts_ms(), [250]);
        // Without the cut, the newcomer would have continued person 1 by position alone.
        let mut uncut = Tracker::new(TrackerOptions::default());
        uncut.update(0, scene(), &[detection(100.0, 1)]);
        assert_eq!(uncut.update(250, scene(), &[detection(100.0, 3)]), [1]);
    }

    #[test]
    fn two_lookalikes_do_not_revive_one_track_twice() {
        let mut tracker = Tracker::new(TrackerOptions::default());
        tracker.update(0, scene(), &[detection(100.0, 1)]);
        let ids = tracker.update(250, Thumbnail::uniform(20), &[detection(100.0, 1), detection(400.0, 1)]);
        assert_eq!(ids, [1, 2]);
    }
}
