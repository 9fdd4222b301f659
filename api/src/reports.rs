//! Chart-ready figures of one tracked person, computed from their intervals: the share of
//! visible time of each expression and behaviour, the dominant expression, how often the
//! expression changed, how long a face was visible, and a binned timeline. Pure functions,
//! tested against hand-computed values.
//!
//! A person shows one expression at a time, so expression shares add up to 1 (of the time a
//! face was seen). Behaviours may overlap (standing while raising a hand), so each behaviour's
//! share is of the time the body was tracked, and they may add up to more than 1.

use std::sync::atomic::{AtomicI64, Ordering};

use entity::{
    enums::{Behaviour, Emotion},
    tracked_object,
};
use imind_inference::FaceCounts;

/// A stored person's face counts (`imind_inference::FaceCounts`); `None` for results analysed
/// before faces were counted, and for a person kept only for a counsellor's coding.
pub fn face_counts(person: &tracked_object::Model) -> Option<FaceCounts> {
    let count = |value: Option<i32>| u32::try_from(value.unwrap_or(0)).unwrap_or(0);
    Some(FaceCounts {
        samples: count(Some(person.samples?)),
        with_face: count(person.face_samples),
        usable: count(person.usable_face_samples),
        too_small: count(person.faces_too_small),
        uncertain: count(person.faces_uncertain),
        blurred: count(person.faces_blurred),
        turned_away: count(person.faces_turned_away),
    })
}

/// The most bins a timeline may have.
pub const MAX_BINS: i64 = 1000;
/// The shortest bin.
pub const MIN_BIN_MS: i64 = 100;

/// `a ÷ b` rounded up, for `a ≥ 0`, `b > 0`.
fn ceil_div(a: i64, b: i64) -> i64 {
    (a + b - 1) / b
}

/// One interval of a label.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Span<L> {
    pub label: L,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// How much of some time a label took.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Share<L> {
    pub label: L,
    /// 0..1 of the time it is a share of.
    pub share: f64,
    pub seconds: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub expressions: Vec<Share<Emotion>>,
    pub behaviours: Vec<Share<Behaviour>>,
    pub dominant_expression: Option<Emotion>,
    pub expression_changes: usize,
    pub face_visible_seconds: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Bin {
    pub start_ms: i64,
    pub end_ms: i64,
    /// Of the bin's length; the rest of it no face (or body) was seen.
    pub expressions: Vec<Share<Emotion>>,
    pub behaviours: Vec<Share<Behaviour>>,
}

/// A label's place in its enum, for a stable order.
pub trait Ordered: Copy + PartialEq {
    fn rank(self) -> u8;
}

impl Ordered for Emotion {
    fn rank(self) -> u8 {
        self as u8
    }
}

impl Ordered for Behaviour {
    fn rank(self) -> u8 {
        self as u8
    }
}

/// The length of the union of `spans` (overlaps counted once).
fn covered_ms<L>(spans: &[Span<L>]) -> i64 {
    let mut edges: Vec<(i64, i64)> = spans.iter().map(|span| (span.start_ms, span.end_ms.max(span.start_ms))).collect();
    edges.sort_unstable();
    let (mut total, mut reach) = (0, i64::MIN);
    for (start, end) in edges {
        let start = start.max(reach);
        if end > start {
            total += end - start;
            reach = end;
        }
    }
    total
}

/// Each label's time within `[from, to)`, in enum order, those never seen left out; shares of
/// `of_ms`.
fn shares<L: Ordered>(spans: &[Span<L>], from: i64, to: i64, of_ms: i64) -> Vec<Share<L>> {
    let mut times: Vec<(L, i64)> = Vec::new();
    for span in spans {
        let overlap = span.end_ms.min(to) - span.start_ms.max(from);
        if overlap <= 0 {
            continue;
        }
        match times.iter_mut().find(|(label, _)| *label == span.label) {
            Some((_, ms)) => *ms += overlap,
            None => times.push((span.label, overlap)),
        }
    }
    times.sort_by_key(|(label, _)| label.rank());
    times
        .into_iter()
        .map(|(label, ms)| Share {
            label,
            share: if of_ms > 0 { (ms as f64 / of_ms as f64).min(1.0) } else { 0.0 },
            seconds: ms as f64 / 1000.0,
        })
        .collect()
}

pub fn summary(emotions: &[Span<Emotion>], behaviours: &[Span<Behaviour>]) -> Summary {
    let face_ms = covered_ms(emotions);
    let expressions = shares(emotions, i64::MIN, i64::MAX, face_ms);
    let behaviours = shares(behaviours, i64::MIN, i64::MAX, covered_ms(behaviours));
    // The longest-shown expression; a tie goes to the first in the enum's order.
    let dominant_expression = expressions.iter().fold(None::<&Share<Emotion>>, |best, share| match best {
        Some(best) if best.seconds >= share.seconds => Some(best),
        _ => Some(share),
    });
    let mut ordered: Vec<&Span<Emotion>> = emotions.iter().collect();
    ordered.sort_by_key(|span| (span.start_ms, span.end_ms));
    let expression_changes = ordered.windows(2).filter(|pair| pair[0].label != pair[1].label).count();
    Summary {
        dominant_expression: dominant_expression.map(|share| share.label),
        expressions,
        behaviours,
        expression_changes,
        face_visible_seconds: face_ms as f64 / 1000.0,
    }
}

/// Why a timeline can't be drawn as asked.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimelineError {
    #[error("binMs must be at least {MIN_BIN_MS}")]
    BinTooShort,
    #[error("a timeline has at most {MAX_BINS} bins: binMs must be at least {0} for this person")]
    TooManyBins(i64),
}

/// Bins of `bin_ms` from 0 to `until_ms` (the last one may be shorter). Each span is added to
/// the bins it overlaps only: the work is spans + bins, not spans × bins.
pub fn timeline(
    emotions: &[Span<Emotion>],
    behaviours: &[Span<Behaviour>],
    bin_ms: i64,
    until_ms: i64,
) -> Result<Vec<Bin>, TimelineError> {
    if bin_ms < MIN_BIN_MS {
        return Err(TimelineError::BinTooShort);
    }
    let until_ms = until_ms.max(0);
    let count = ceil_div(until_ms, bin_ms);
    if count > MAX_BINS {
        return Err(TimelineError::TooManyBins(ceil_div(until_ms, MAX_BINS).max(MIN_BIN_MS)));
    }
    let expressions = binned(emotions, bin_ms, until_ms, count);
    let behaviours = binned(behaviours, bin_ms, until_ms, count);
    Ok(expressions
        .into_iter()
        .zip(behaviours)
        .enumerate()
        .map(|(index, (expressions, behaviours))| {
            let start_ms = index as i64 * bin_ms;
            Bin { start_ms, end_ms: (start_ms + bin_ms).min(until_ms), expressions, behaviours }
        })
        .collect())
}

/// Each bin's shares of `spans`.
fn binned<L: Ordered>(spans: &[Span<L>], bin_ms: i64, until_ms: i64, count: i64) -> Vec<Vec<Share<L>>> {
    let mut times: Vec<Vec<(L, i64)>> = vec![Vec::new(); count as usize];
    for span in spans {
        let (start, end) = (span.start_ms.max(0), span.end_ms.min(until_ms));
        if end <= start {
            continue;
        }
        for index in start / bin_ms..=((end - 1) / bin_ms).min(count - 1) {
            let (from, to) = (index * bin_ms, (index * bin_ms + bin_ms).min(until_ms));
            let overlap = end.min(to) - start.max(from);
            let bin = &mut times[index as usize];
            match bin.iter_mut().find(|(label, _)| *label == span.label) {
                Some((_, ms)) => *ms += overlap,
                None => bin.push((span.label, overlap)),
            }
        }
    }
    times
        .into_iter()
        .enumerate()
        .map(|(index, mut labels)| {
            let length = (index as i64 * bin_ms + bin_ms).min(until_ms) - index as i64 * bin_ms;
            labels.sort_by_key(|(label, _)| label.rank());
            labels
                .into_iter()
                .map(|(label, ms)| Share {
                    label,
                    share: (ms as f64 / length as f64).min(1.0),
                    seconds: ms as f64 / 1000.0,
                })
                .collect()
        })
        .collect()
}

/// The longest video the gateway accepts, for cost estimates (`set_longest_video_ms`).
static LONGEST_VIDEO_MS: AtomicI64 = AtomicI64::new(3 * 3600 * 1000);

/// Tells cost estimates the longest video accepted (`max_video_duration_secs`).
pub fn set_longest_video_ms(ms: i64) {
    LONGEST_VIDEO_MS.store(ms.max(1), Ordering::Relaxed);
}

/// The most bins a request for `bin_ms` bins may get (what the complexity limit counts).
pub fn max_bins(bin_ms: i64) -> usize {
    ceil_div(LONGEST_VIDEO_MS.load(Ordering::Relaxed), bin_ms.max(MIN_BIN_MS)).clamp(1, MAX_BINS) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span<L>(label: L, start_ms: i64, end_ms: i64) -> Span<L> {
        Span { label, start_ms, end_ms }
    }

    /// A session by hand: a face seen 0–4 s (happy), 4–5 s (sad), 7–10 s (happy), nothing
    /// 5–7 s; the body standing 0–10 s, raising a hand 2–3 s.
    fn seeded() -> (Vec<Span<Emotion>>, Vec<Span<Behaviour>>) {
        (
            vec![span(Emotion::Happy, 7000, 10000), span(Emotion::Happy, 0, 4000), span(Emotion::Sad, 4000, 5000)],
            vec![span(Behaviour::Standing, 0, 10000), span(Behaviour::HandRaised, 2000, 3000)],
        )
    }

    #[test]
    fn a_summary_matches_the_hand_computed_one() {
        let (emotions, behaviours) = seeded();
        let summary = summary(&emotions, &behaviours);
        assert_eq!(summary.face_visible_seconds, 8.0);
        assert_eq!(
            summary.expressions,
            [
                Share { label: Emotion::Happy, share: 7.0 / 8.0, seconds: 7.0 },
                Share { label: Emotion::Sad, share: 1.0 / 8.0, seconds: 1.0 },
            ]
        );
        assert_eq!(summary.dominant_expression, Some(Emotion::Happy));
        assert_eq!(summary.expression_changes, 2, "happy → sad → happy");
        assert_eq!(
            summary.behaviours,
            [
                Share { label: Behaviour::Standing, share: 1.0, seconds: 10.0 },
                Share { label: Behaviour::HandRaised, share: 0.1, seconds: 1.0 },
            ]
        );
    }

    #[test]
    fn nobody_seen_has_an_empty_summary() {
        let summary = summary(&[], &[]);
        assert_eq!((summary.dominant_expression, summary.expression_changes), (None, 0));
        assert!(summary.expressions.is_empty() && summary.face_visible_seconds == 0.0);
    }

    #[test]
    fn a_timeline_shares_each_bin() {
        let (emotions, behaviours) = seeded();
        let bins = timeline(&emotions, &behaviours, 4000, 10000).unwrap();
        assert_eq!(
            bins.iter().map(|bin| (bin.start_ms, bin.end_ms)).collect::<Vec<_>>(),
            [(0, 4000), (4000, 8000), (8000, 10000)]
        );
        assert_eq!(bins[0].expressions, [Share { label: Emotion::Happy, share: 1.0, seconds: 4.0 }]);
        assert_eq!(
            bins[1].expressions,
            [
                Share { label: Emotion::Happy, share: 0.25, seconds: 1.0 },
                Share { label: Emotion::Sad, share: 0.25, seconds: 1.0 },
            ],
            "half of the bin no face was seen"
        );
        assert_eq!(
            bins[2].expressions,
            [Share { label: Emotion::Happy, share: 1.0, seconds: 2.0 }],
            "a shorter last bin"
        );
        assert_eq!(
            bins[0].behaviours,
            [
                Share { label: Behaviour::Standing, share: 1.0, seconds: 4.0 },
                Share { label: Behaviour::HandRaised, share: 0.25, seconds: 1.0 },
            ]
        );
    }

    #[test]
    fn a_long_span_fills_every_bin_it_crosses() {
        let bins = timeline(&[span(Emotion::Neutral, 500, 9500)], &[], 1000, 10000).unwrap();
        let shares: Vec<f64> =
            bins.iter().map(|bin| bin.expressions.first().map_or(0.0, |share| share.share)).collect();
        assert_eq!(shares, [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5]);
    }

    #[test]
    fn timelines_are_bounded() {
        assert_eq!(timeline(&[], &[], 50, 1000), Err(TimelineError::BinTooShort));
        assert_eq!(timeline(&[], &[], 100, 200_000), Err(TimelineError::TooManyBins(200)));
        assert_eq!(timeline(&[], &[], 200, 200_000).unwrap().len(), 1000);
        assert_eq!(max_bins(100), 1000);
        assert_eq!(max_bins(60_000), 180, "three hours of minutes");
    }
}
