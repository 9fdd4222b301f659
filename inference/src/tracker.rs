//! Multi-person tracking with stable ids.
//!
//! Each analysed frame's people are matched to the current tracks by an optimal assignment
//! (Hungarian method, `pathfinding::kuhn_munkres`) on a score mixing box overlap, centre
//! distance and appearance (colour histogram). A track not seen for a while becomes *lost*; a
//! new person who looks like a lost track (appearance) is the same person coming back, and gets
//! the old id. Tracks seen only a handful of times are dropped at the end as noise.

use pathfinding::{kuhn_munkres::kuhn_munkres, matrix::Matrix};

use crate::models::BoundingBox;

/// Colour histogram: 8 bins for each of R, G, B, normalised to sum 1 per channel.
pub type Appearance = [f32; 24];

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
}

#[derive(Clone, Debug)]
pub struct TrackerOptions {
    /// A track unseen for longer than this is lost (only re-identification can revive it).
    pub max_gap_ms: i64,
    /// Minimum appearance similarity (0..1) to revive a lost track.
    pub reidentify_similarity: f32,
    /// Minimum match score to continue a track.
    pub min_score: f32,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        Self { max_gap_ms: 2_000, reidentify_similarity: 0.75, min_score: 0.25 }
    }
}

pub struct Tracker {
    options: TrackerOptions,
    tracks: Vec<Track>,
    next_id: u32,
}

/// Histogram intersection of two appearances, 0..1.
pub fn similarity(a: &Appearance, b: &Appearance) -> f32 {
    a.iter().zip(b).map(|(x, y)| x.min(*y)).sum::<f32>() / 3.0
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
        Self { options, tracks: Vec::new(), next_id: 1 }
    }

    /// Assigns a track id to each detection of the frame at `t_ms`.
    pub fn update(&mut self, t_ms: i64, detections: &[TrackedDetection]) -> Vec<u32> {
        let active: Vec<usize> =
            (0..self.tracks.len()).filter(|&i| t_ms - self.tracks[i].last_seen_ms <= self.options.max_gap_ms).collect();
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

        let mut ids = Vec::with_capacity(detections.len());
        for (row, detection) in detections.iter().enumerate() {
            let index = match assigned[row] {
                Some(index) => index,
                None => self.reidentify(t_ms, detection, &assigned).unwrap_or_else(|| {
                    self.tracks.push(Track {
                        id: self.next_id,
                        bbox: detection.bbox,
                        appearance: detection.appearance,
                        last_seen_ms: t_ms,
                        hits: 0,
                    });
                    self.next_id += 1;
                    self.tracks.len() - 1
                }),
            };
            let track = &mut self.tracks[index];
            track.bbox = detection.bbox;
            for (kept, new) in track.appearance.iter_mut().zip(&detection.appearance) {
                *kept = 0.8 * *kept + 0.2 * new;
            }
            track.last_seen_ms = t_ms;
            track.hits += 1;
            ids.push(track.id);
        }
        ids
    }

    /// The lost track that looks most like `detection`, if alike enough.
    fn reidentify(&self, t_ms: i64, detection: &TrackedDetection, taken: &[Option<usize>]) -> Option<usize> {
        (0..self.tracks.len())
            .filter(|&i| t_ms - self.tracks[i].last_seen_ms > self.options.max_gap_ms)
            .filter(|i| !taken.contains(&Some(*i)))
            .map(|i| (i, similarity(&self.tracks[i].appearance, &detection.appearance)))
            .filter(|(_, s)| *s >= self.options.reidentify_similarity)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(x: f32, colour: usize) -> TrackedDetection {
        let mut appearance = [0.0; 24];
        for channel in 0..3 {
            appearance[channel * 8 + (colour + channel) % 8] = 1.0;
        }
        TrackedDetection { bbox: BoundingBox { x, y: 10.0, width: 40.0, height: 100.0 }, appearance }
    }

    #[test]
    fn keeps_ids_through_motion_and_crossing_order() {
        let mut tracker = Tracker::new(TrackerOptions::default());
        let first = tracker.update(0, &[detection(0.0, 1), detection(200.0, 5)]);
        assert_eq!(first, [1, 2]);
        // Both moved a little; listed in the other order.
        let second = tracker.update(500, &[detection(210.0, 5), detection(8.0, 1)]);
        assert_eq!(second, [2, 1]);
    }

    #[test]
    fn a_returning_person_gets_their_old_id() {
        let mut tracker = Tracker::new(TrackerOptions::default());
        tracker.update(0, &[detection(0.0, 1), detection(300.0, 5)]);
        // Person 1 leaves for five seconds; person 2 stays.
        for t in (500..5_500).step_by(500) {
            tracker.update(t, &[detection(300.0, 5)]);
        }
        // Person 1 comes back elsewhere in the room.
        let ids = tracker.update(6_000, &[detection(300.0, 5), detection(120.0, 1)]);
        assert_eq!(ids, [2, 1]);
        assert_eq!(tracker.tracks.len(), 2, "no new id for a returning person");
        // A stranger who looks different is someone new.
        let ids = tracker.update(6_500, &[detection(300.0, 5), detection(120.0, 1), detection(500.0, 3)]);
        assert_eq!(ids, [2, 1, 3]);
    }
}
