//! Job events: one JSON-serialisable type for every transport (broadcast channel or NOTIFY).
//! They carry a [`JobSnapshot`] of their own, not the database row, so a migration of
//! `analysis_jobs` does not change what gateways and workers say to each other.

use chrono::{DateTime, Utc};
use entity::{
    analysis_job,
    enums::{Behaviour, Emotion, JobStage, JobStatus},
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What happened to a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobEventKind {
    /// Enqueued, re-queued for a retry, or released by a worker shutting down.
    Queued,
    /// A worker claimed it.
    Started,
    /// Stage / percent / frames moved, or intervals became final.
    Progress,
    Done,
    Failed,
    Cancelled,
    /// A counsellor changed the session's review (an interval, a marker, the review state);
    /// `review` says what. The job is the session's latest.
    Review,
}

impl JobEventKind {
    /// The event that announces a job now in `status`, outside the worker's progress stream.
    pub fn for_status(status: JobStatus) -> Self {
        match status {
            JobStatus::Queued => Self::Queued,
            JobStatus::Running => Self::Started,
            JobStatus::Done => Self::Done,
            JobStatus::Failed => Self::Failed,
            JobStatus::Cancelled => Self::Cancelled,
        }
    }
}

/// An observed facial expression interval that just became final during an analysis. It is
/// what a face looked like to the classifier, not a statement about what the person felt. Not
/// stored yet (results are written in one transaction when the job ends, and then get ids), so
/// it has none; `trackId` is the tracker's number for the person within this analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, async_graphql::SimpleObject)]
#[graphql(name = "EmotionIntervalEvent")]
pub struct LiveEmotionInterval {
    pub track_id: u32,
    pub emotion: Emotion,
    pub start_ms: i64,
    pub end_ms: i64,
    pub mean_confidence: f64,
    pub peak_confidence: f64,
    /// The analysed samples it rests on (see the stored interval's `samples`; null from a
    /// worker that did not count them).
    #[serde(default)]
    pub samples: Option<i32>,
}

/// An observed behaviour interval that just became final during an analysis (see
/// `EmotionIntervalEvent` for why it has no id).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, async_graphql::SimpleObject)]
#[graphql(name = "BehaviourIntervalEvent")]
pub struct LiveBehaviourInterval {
    pub track_id: u32,
    pub behaviour: Behaviour,
    pub start_ms: i64,
    pub end_ms: i64,
    pub mean_confidence: f64,
    pub peak_confidence: f64,
    /// The analysed samples it rests on (see the stored interval's `samples`; null from a
    /// worker that did not count them).
    #[serde(default)]
    pub samples: Option<i32>,
}

/// What clients may know of a job (the `AnalysisJob` type), as of one event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSnapshot {
    pub id: Uuid,
    pub session_id: Uuid,
    pub status: JobStatus,
    pub stage: JobStage,
    /// 0..=100.
    pub percent: f64,
    pub frames_done: i64,
    pub frames_total: i64,
    pub attempts: i32,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// What a DONE analysis kept of the review of the previous one.
    #[serde(default)]
    pub review_carry_over: Option<crate::review::carry_over::CarryOver>,
}

impl From<analysis_job::Model> for JobSnapshot {
    fn from(job: analysis_job::Model) -> Self {
        Self {
            id: job.id,
            session_id: job.session_id,
            status: job.status,
            stage: job.stage,
            percent: job.progress,
            frames_done: job.frames_done,
            frames_total: job.frames_total,
            attempts: job.attempts,
            error: job.error,
            created_at: job.created_at,
            finished_at: job.finished_at,
            review_carry_over: job.review_carry_over.and_then(|json| serde_json::from_value(json).ok()),
        }
    }
}

/// Intervals that became final during an analysis and have not been announced yet.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveIntervals {
    pub emotions: Vec<LiveEmotionInterval>,
    pub behaviours: Vec<LiveBehaviourInterval>,
}

impl LiveIntervals {
    pub fn is_empty(&self) -> bool {
        self.emotions.is_empty() && self.behaviours.is_empty()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobEvent {
    pub kind: JobEventKind,
    /// The session's child, so dashboards can filter without a query.
    pub child_id: Uuid,
    pub job: JobSnapshot,
    pub eta_seconds: Option<f64>,
    pub emotion_intervals: Vec<LiveEmotionInterval>,
    pub behaviour_intervals: Vec<LiveBehaviourInterval>,
    pub emitted_at: DateTime<Utc>,
    /// What a `Review` event changed.
    #[serde(default)]
    pub review: Option<ReviewChange>,
}

/// A change a counsellor made to a session's review, as a `REVIEW` event carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct ReviewChange {
    /// As in the audit log: `interval.review`, `interval.add`, `marker.add` or
    /// `session.review_state`.
    pub action: String,
    /// The interval or marker changed (its global id), when one was.
    pub node_id: Option<async_graphql::ID>,
}

impl JobEvent {
    pub fn new(kind: JobEventKind, child_id: Uuid, job: JobSnapshot) -> Self {
        Self {
            kind,
            child_id,
            job,
            eta_seconds: None,
            emotion_intervals: Vec::new(),
            behaviour_intervals: Vec::new(),
            emitted_at: Utc::now(),
            review: None,
        }
    }

    /// The event that announces `job`'s state as it is now.
    pub fn announcing(child_id: Uuid, job: analysis_job::Model) -> Self {
        Self::new(JobEventKind::for_status(job.status), child_id, job.into())
    }

    /// Carries `intervals` along.
    pub fn with_intervals(mut self, intervals: LiveIntervals) -> Self {
        self.emotion_intervals = intervals.emotions;
        self.behaviour_intervals = intervals.behaviours;
        self
    }

    /// The event that tells a session's followers about a review change (`job`: the session's
    /// latest analysis).
    pub fn reviewing(child_id: Uuid, job: analysis_job::Model, change: ReviewChange) -> Self {
        Self { review: Some(change), ..Self::new(JobEventKind::Review, child_id, job.into()) }
    }

    /// Whether the job has ended with this event (subscriptions complete on it).
    pub fn is_final(&self) -> bool {
        matches!(self.job.status, JobStatus::Done | JobStatus::Failed | JobStatus::Cancelled)
    }

    /// Splits the event so no part's JSON exceeds `max_bytes` (PostgreSQL NOTIFY payloads stop
    /// at 8000 bytes). Every part carries the job; the intervals are shared out in order.
    pub fn split(mut self, max_bytes: usize) -> Vec<JobEvent> {
        let size = serde_json::to_vec(&self).map_or(usize::MAX, |json| json.len());
        // What a re-analysis dropped is listed on the job (`reviewCarryOver`); an event too big
        // carries its counts only.
        if size > max_bytes
            && let Some(carried) = &mut self.job.review_carry_over
            && !(carried.dropped.is_empty() && carried.labels_dropped.is_empty())
        {
            carried.dropped.clear();
            carried.labels_dropped.clear();
            return self.split(max_bytes);
        }
        let intervals = self.emotion_intervals.len() + self.behaviour_intervals.len();
        if size <= max_bytes || intervals <= 1 {
            return vec![self];
        }
        let mut first = self.clone();
        let mut second = self;
        let emotions_first = first.emotion_intervals.len().div_ceil(2);
        let behaviours_first = first.behaviour_intervals.len() / 2;
        second.emotion_intervals = first.emotion_intervals.split_off(emotions_first);
        second.behaviour_intervals = first.behaviour_intervals.split_off(behaviours_first);
        // Only the last part may end the job, so subscribers see every interval first.
        if second.is_final() {
            first.kind = JobEventKind::Progress;
            first.job.status = JobStatus::Running;
        }
        let mut parts = first.split(max_bytes);
        parts.extend(second.split(max_bytes));
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> JobSnapshot {
        let now = Utc::now();
        JobSnapshot {
            id: Uuid::now_v7(),
            session_id: Uuid::now_v7(),
            status: JobStatus::Done,
            stage: JobStage::Done,
            percent: 100.0,
            frames_done: 10,
            frames_total: 10,
            attempts: 1,
            error: None,
            created_at: now,
            finished_at: Some(now),
            review_carry_over: None,
        }
    }

    #[test]
    fn splitting_keeps_every_interval_in_order_and_ends_last() {
        let mut event = JobEvent::new(JobEventKind::Done, Uuid::now_v7(), job());
        event.emotion_intervals = (0..200)
            .map(|i| LiveEmotionInterval {
                track_id: 1,
                emotion: Emotion::Happy,
                start_ms: i * 1000,
                end_ms: i * 1000 + 900,
                mean_confidence: 0.5,
                peak_confidence: 0.9,
                samples: Some(2),
            })
            .collect();
        let parts = event.split(2_000);
        assert!(parts.len() > 1);
        for part in &parts {
            assert!(serde_json::to_vec(part).unwrap().len() <= 2_000);
        }
        let starts: Vec<i64> = parts.iter().flat_map(|p| p.emotion_intervals.iter().map(|i| i.start_ms)).collect();
        assert_eq!(starts, (0..200).map(|i| i * 1000).collect::<Vec<_>>());
        assert!(parts.last().unwrap().is_final());
        assert!(parts[..parts.len() - 1].iter().all(|p| !p.is_final()));
    }

    #[test]
    fn an_event_too_big_for_a_notification_carries_the_carry_overs_counts_only() {
        use crate::review::carry_over::{CarryOver, DroppedReview, MAX_LISTED};
        let dropped = DroppedReview {
            kind: "EMOTION".into(),
            person: "Person 1".into(),
            label: "NEUTRAL".into(),
            start_ms: 4_000,
            end_ms: 5_000,
            review: entity::enums::IntervalReview::Changed,
        };
        let carried = CarryOver {
            reviews_dropped: 150,
            dropped: vec![dropped; MAX_LISTED],
            labels_dropped: vec!["Person 2".into(); MAX_LISTED],
            ..CarryOver::default()
        };
        let event = JobEvent::new(
            JobEventKind::Done,
            Uuid::now_v7(),
            JobSnapshot { review_carry_over: Some(carried), ..job() },
        );
        assert!(serde_json::to_vec(&event).unwrap().len() > 7_900);
        let parts = event.split(7_900);
        assert_eq!(parts.len(), 1);
        assert!(serde_json::to_vec(&parts[0]).unwrap().len() <= 7_900);
        let sent = parts[0].job.review_carry_over.as_ref().unwrap();
        assert_eq!((sent.reviews_dropped, sent.dropped.len(), sent.labels_dropped.len()), (150, 0, 0));
        // Old rows, from before a field existed, still read.
        let old: CarryOver = serde_json::from_str(r#"{"peopleKept": 1}"#).unwrap();
        assert_eq!((old.people_kept, old.video_changed), (1, false));
    }
}
