//! From per-sample labels to intervals.
//!
//! Smoothing: a centred sliding window of `2·radius + 1` samples (default radius 2, i.e. ±1 s
//! at 2 fps). Each sample carries votes — a confidence per label (the classifier's whole
//! probability vector for expressions, one label and its confidence for a behaviour rule). A
//! sample's smoothed label is the label with the largest summed vote over the labelled samples
//! of its window (a sliding mean of probabilities; with one vote per sample, a confidence-
//! weighted majority); ties keep the sample's own best label. Its confidence is that label's mean
//! vote over the window. Unlabelled samples (no face, no keypoints) stay unlabelled, so gaps stay gaps. A sample's smoothed label is final once
//! `radius` later samples have arrived, so intervals stream out with a delay of `radius` samples.
//!
//! Intervals: consecutive samples with the same smoothed label, not separated by more than
//! 1.5 sample periods. An interval runs from its first sample to one period after its last
//! (end exclusive). Intervals shorter than the minimum duration are dropped as flicker. Each
//! carries the mean and the peak confidence of its samples, and how many samples it rests on.

use std::collections::VecDeque;

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Interval<L> {
    pub label: L,
    pub start_ms: i64,
    pub end_ms: i64,
    pub mean_confidence: f32,
    pub peak_confidence: f32,
    /// The labelled samples it was made of (faces that passed the quality bar, for expressions).
    pub samples: u32,
}

#[derive(Clone, Copy, Debug)]
pub struct TimelineOptions {
    pub radius: usize,
    /// Time between analysed samples.
    pub period_ms: i64,
    pub min_duration_ms: i64,
}

/// A sample's time and its votes (confidence per label), if anything was observed.
type Sample<L> = (i64, Option<Vec<(L, f32)>>);

struct Open<L> {
    label: L,
    start_ms: i64,
    last_ms: i64,
    confidence_sum: f32,
    samples: u32,
    peak: f32,
}

/// One label channel of one tracked person (e.g. its expression, or its posture).
pub struct Timeline<L> {
    options: TimelineOptions,
    /// Samples still needed, at most `2·radius + 1`.
    window: VecDeque<Sample<L>>,
    /// How many samples of `window` are already final (the older half).
    finalised_in_window: usize,
    open: Option<Open<L>>,
}

impl<L: Copy + PartialEq> Timeline<L> {
    pub fn new(options: TimelineOptions) -> Self {
        Self { options, window: VecDeque::new(), finalised_in_window: 0, open: None }
    }

    /// Adds the next sample with one label (times must increase); returns intervals that
    /// became final.
    pub fn push(&mut self, t_ms: i64, label: Option<(L, f32)>) -> Vec<Interval<L>> {
        self.push_votes(t_ms, label.map(|vote| vec![vote]))
    }

    /// Adds the next sample with a confidence per label (e.g. class probabilities).
    pub fn push_votes(&mut self, t_ms: i64, votes: Option<Vec<(L, f32)>>) -> Vec<Interval<L>> {
        self.window.push_back((t_ms, votes));
        let mut done = Vec::new();
        // The sample `radius` places back now has its whole window.
        if self.window.len() > self.options.radius + self.finalised_in_window {
            let index = self.window.len() - 1 - self.options.radius;
            if index >= self.finalised_in_window {
                self.finalise(index, &mut done);
                self.finalised_in_window = index + 1;
            }
        }
        while self.finalised_in_window > self.options.radius {
            self.window.pop_front();
            self.finalised_in_window -= 1;
        }
        done
    }

    /// Ends the timeline (end of video or of the track): flushes everything.
    pub fn finish(&mut self, end_ms: i64) -> Vec<Interval<L>> {
        let mut done = Vec::new();
        for index in self.finalised_in_window..self.window.len() {
            self.finalise(index, &mut done);
        }
        self.finalised_in_window = self.window.len();
        if let Some(open) = self.open.take() {
            done.extend(self.close(open, Some(end_ms)));
        }
        done
    }

    fn smoothed(&self, index: usize) -> Option<(L, f32)> {
        let own = self.window[index].1.as_ref()?;
        let vote_of =
            |votes: &[(L, f32)], label: L| votes.iter().filter(|(l, _)| *l == label).map(|(_, v)| v).sum::<f32>();
        let (own_best, _) = *own.iter().max_by(|a, b| a.1.total_cmp(&b.1))?;
        let from = index.saturating_sub(self.options.radius);
        let to = (index + self.options.radius).min(self.window.len() - 1);
        let total =
            |label: L| (from..=to).filter_map(|i| self.window[i].1.as_deref()).map(|v| vote_of(v, label)).sum::<f32>();
        let own_total = total(own_best);
        let best = (from..=to)
            .filter_map(|i| self.window[i].1.as_deref())
            .flat_map(|votes| votes.iter().map(|(label, _)| *label))
            .map(|label| (label, total(label)))
            .filter(|(_, sum)| *sum > own_total)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map_or(own_best, |(label, _)| label);
        let labelled = (from..=to).filter(|i| self.window[*i].1.is_some()).count().max(1);
        Some((best, total(best) / labelled as f32))
    }

    fn finalise(&mut self, index: usize, done: &mut Vec<Interval<L>>) {
        let t_ms = self.window[index].0;
        let smoothed = self.smoothed(index);
        let max_gap = self.options.period_ms * 3 / 2;
        if let Some(open) = self.open.take() {
            let continues = smoothed.is_some_and(|(label, _)| label == open.label) && t_ms - open.last_ms <= max_gap;
            if continues {
                let (_, confidence) = smoothed.expect("checked above");
                self.open = Some(Open {
                    last_ms: t_ms,
                    confidence_sum: open.confidence_sum + confidence,
                    samples: open.samples + 1,
                    peak: open.peak.max(confidence),
                    ..open
                });
                return;
            }
            done.extend(self.close(open, None));
        }
        if let Some((label, confidence)) = smoothed {
            self.open = Some(Open {
                label,
                start_ms: t_ms,
                last_ms: t_ms,
                confidence_sum: confidence,
                samples: 1,
                peak: confidence,
            });
        }
    }

    fn close(&self, open: Open<L>, end_limit: Option<i64>) -> Option<Interval<L>> {
        let mut end_ms = open.last_ms + self.options.period_ms;
        if let Some(limit) = end_limit {
            end_ms = end_ms.min(limit.max(open.last_ms + 1));
        }
        (end_ms - open.start_ms >= self.options.min_duration_ms).then(|| Interval {
            label: open.label,
            start_ms: open.start_ms,
            end_ms,
            mean_confidence: open.confidence_sum / open.samples as f32,
            peak_confidence: open.peak,
            samples: open.samples,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> TimelineOptions {
        TimelineOptions { radius: 2, period_ms: 500, min_duration_ms: 1000 }
    }

    fn run(labels: &[Option<char>]) -> Vec<Interval<char>> {
        let mut timeline = Timeline::new(options());
        let mut out = Vec::new();
        for (i, label) in labels.iter().enumerate() {
            out.extend(timeline.push(i as i64 * 500, label.map(|l| (l, 0.8))));
        }
        out.extend(timeline.finish(labels.len() as i64 * 500));
        out
    }

    #[test]
    fn a_single_flicker_is_smoothed_away() {
        let labels: Vec<Option<char>> = "aaaabaaaa".chars().map(Some).collect();
        let intervals = run(&labels);
        assert_eq!(intervals.len(), 1);
        assert_eq!((intervals[0].label, intervals[0].start_ms, intervals[0].end_ms), ('a', 0, 4500));
        assert_eq!(intervals[0].samples, 9);
    }

    #[test]
    fn changes_and_gaps_split_intervals() {
        let mut labels: Vec<Option<char>> = "aaaaaa".chars().map(Some).collect();
        labels.extend([None, None, None]);
        labels.extend("bbbbbb".chars().map(Some));
        let intervals = run(&labels);
        let spans: Vec<(char, i64, i64)> = intervals.iter().map(|i| (i.label, i.start_ms, i.end_ms)).collect();
        assert_eq!(spans, [('a', 0, 3000), ('b', 4500, 7500)]);
        assert_eq!(intervals.iter().map(|i| i.samples).collect::<Vec<_>>(), [6, 6]);
    }

    #[test]
    fn short_intervals_are_dropped_and_confidence_is_kept() {
        let mut timeline = Timeline::new(options());
        let mut out = Vec::new();
        for (i, confidence) in [0.5, 0.9, 0.7].iter().enumerate() {
            out.extend(timeline.push(i as i64 * 500, Some(('x', *confidence))));
        }
        out.extend(timeline.push(1500, None));
        out.extend(timeline.push(2000, None));
        out.extend(timeline.push(2500, Some(('y', 0.9))));
        out.extend(timeline.finish(3000));
        assert_eq!(out.len(), 1, "the lone 'y' is too short: {out:?}");
        // Each sample's confidence is the window's mean vote: (0.5 + 0.9 + 0.7) / 3 throughout.
        assert!((out[0].mean_confidence - 0.7).abs() < 1e-6);
        assert!((out[0].peak_confidence - 0.7).abs() < 1e-6);
    }

    #[test]
    fn intervals_stream_out_before_the_end() {
        let mut timeline = Timeline::new(options());
        let mut streamed = Vec::new();
        for (i, label) in "aaaaabbbbbbbb".chars().enumerate() {
            streamed.extend(timeline.push(i as i64 * 500, Some((label, 0.8))));
        }
        assert_eq!(streamed.len(), 1, "the 'a' interval is final while the video goes on");
        assert_eq!(streamed[0].label, 'a');
    }
}
