//! Progress of a running analysis: what the analysis thread reports, gathered by the worker and
//! published every 250 ms (progress and newly final intervals) and written with every heartbeat.

use std::sync::{Arc, Mutex, PoisonError, TryLockError};

use entity::enums::JobStage;
use imind_inference::{AnalysisSink, Interval, Progress, Stage};
use uuid::Uuid;

use crate::jobs::{
    events::{JobEvent, JobEventKind, JobSnapshot, LiveBehaviourInterval, LiveEmotionInterval, LiveIntervals},
    labels,
    queue::{ProgressUpdate, Queue},
};

/// Messages from the analysis thread.
enum Update {
    Progress(Progress),
    Emotion(LiveEmotionInterval),
    Behaviour(LiveBehaviourInterval),
}

/// Updates the analysis thread has produced and the worker not yet taken.
///
/// The analysis thread runs at the lowest priority and is preempted whenever the gateway has
/// work, possibly while holding a lock. So it shares no lock that the runtime's threads wait
/// for: it never wakes a task (that takes the runtime's scheduler lock), and the worker only
/// *tries* this mutex on its publish and heartbeat ticks, leaving the updates for the next tick
/// if the analysis holds it (measurements: docs/perf.md).
#[derive(Clone, Default)]
pub(super) struct Updates(Arc<Mutex<Vec<Update>>>);

impl Updates {
    fn push(&self, update: Update) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(update);
    }

    /// What has arrived, unless the analysis thread is adding to it right now.
    fn try_take(&self) -> Vec<Update> {
        match self.0.try_lock() {
            Ok(mut updates) => std::mem::take(&mut *updates),
            Err(TryLockError::Poisoned(poisoned)) => std::mem::take(&mut *poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => Vec::new(),
        }
    }

    /// Everything, once the analysis thread has finished.
    fn take(&self) -> Vec<Update> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The sink the analysis thread reports into.
    pub(super) fn sink(&self) -> impl AnalysisSink + Send + 'static {
        UpdateSink(self.clone())
    }
}

struct UpdateSink(Updates);

impl AnalysisSink for UpdateSink {
    fn progress(&mut self, progress: &Progress) {
        self.0.push(Update::Progress(progress.clone()));
    }

    fn emotion_interval(&mut self, track_id: u32, interval: &Interval<imind_inference::Emotion>) {
        self.0.push(Update::Emotion(LiveEmotionInterval {
            track_id,
            emotion: labels::emotion(interval.label),
            start_ms: interval.start_ms,
            end_ms: interval.end_ms,
            mean_confidence: f64::from(interval.mean_confidence),
            peak_confidence: f64::from(interval.peak_confidence),
            samples: Some(i32::try_from(interval.samples).unwrap_or(i32::MAX)),
        }));
    }

    fn behaviour_interval(&mut self, track_id: u32, interval: &Interval<imind_inference::Behaviour>) {
        self.0.push(Update::Behaviour(LiveBehaviourInterval {
            track_id,
            behaviour: labels::behaviour(interval.label),
            start_ms: interval.start_ms,
            end_ms: interval.end_ms,
            mean_confidence: f64::from(interval.mean_confidence),
            peak_confidence: f64::from(interval.peak_confidence),
            samples: Some(i32::try_from(interval.samples).unwrap_or(i32::MAX)),
        }));
    }
}

/// What the worker knows of a running job's progress, and what it has yet to publish.
pub(super) struct Report {
    child_id: Uuid,
    /// The job as subscribers last heard of it, updated with the latest progress.
    snapshot: JobSnapshot,
    latest: Option<Progress>,
    pending: LiveIntervals,
    /// (stage, frames) of the last published progress, so an unchanged one is not repeated.
    published: Option<(Stage, i64)>,
}

impl Report {
    pub(super) fn new(child_id: Uuid, snapshot: JobSnapshot) -> Self {
        Self { child_id, snapshot, latest: None, pending: LiveIntervals::default(), published: None }
    }

    /// Takes what the analysis thread has reported, unless it is reporting right now.
    pub(super) fn gather(&mut self, updates: &Updates) {
        self.absorb(updates.try_take());
    }

    /// Takes everything the (finished) analysis thread reported.
    pub(super) fn gather_all(&mut self, updates: &Updates) {
        self.absorb(updates.take());
    }

    fn absorb(&mut self, updates: Vec<Update>) {
        for update in updates {
            match update {
                Update::Progress(progress) => self.latest = Some(progress),
                Update::Emotion(interval) => self.pending.emotions.push(interval),
                Update::Behaviour(interval) => self.pending.behaviours.push(interval),
            }
        }
    }

    /// What the next heartbeat records.
    pub(super) fn heartbeat(&self) -> Option<ProgressUpdate> {
        self.latest.as_ref().map(|progress| ProgressUpdate {
            stage: stage(progress.stage),
            percent: progress.percent,
            frames_done: progress.frames_done,
            frames_total: progress.frames_total,
        })
    }

    /// Publishes what changed since the last event: progress and newly final intervals.
    pub(super) async fn flush(&mut self, queue: &Queue) {
        let moved = self.latest.as_ref().map(|progress| (progress.stage, progress.frames_done));
        if moved == self.published && self.pending.is_empty() {
            return;
        }
        let mut eta_seconds = None;
        if let Some(progress) = &self.latest {
            self.snapshot.stage = stage(progress.stage);
            self.snapshot.percent = progress.percent;
            self.snapshot.frames_done = progress.frames_done;
            self.snapshot.frames_total = progress.frames_total;
            eta_seconds = progress.eta_seconds;
        }
        self.published = moved;
        let mut event = JobEvent::new(JobEventKind::Progress, self.child_id, self.snapshot.clone())
            .with_intervals(std::mem::take(&mut self.pending));
        event.eta_seconds = eta_seconds;
        queue.publish(event).await;
    }

    /// The intervals not published yet (they ride on the DONE event).
    pub(super) fn into_unpublished(self) -> LiveIntervals {
        self.pending
    }
}

fn stage(stage: Stage) -> JobStage {
    match stage {
        Stage::Analysing => JobStage::Analysing,
        Stage::Done => JobStage::Done,
    }
}
