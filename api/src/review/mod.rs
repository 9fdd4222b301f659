//! Counsellor review: the model proposes intervals, a counsellor decides.
//!
//! An interval row holds the *reviewed view*: what the model proposed, or what a counsellor
//! changed it to (the model's label and boundaries are kept beside it), or a counsellor's own
//! coding. A rejected interval stays, marked, for the *model view* and for agreement. Every
//! reader of intervals for a report goes through [`IntervalView`], so the two views are defined
//! here only.
//!
//! # Layout
//! - this file: the two views, and what each review action does to one interval ([`Coding`]).
//! - [`agreement`]: Cohen's kappa on time bins and event agreement between two codings.
//! - [`carry_over`]: what a re-analysis keeps of the counsellors' work.
//! - [`codes`]: an organisation's own codes (coding schemes) and the rules for coding with them.

pub mod agreement;
pub mod carry_over;
pub mod codes;

use entity::{
    behaviour_interval, emotion_interval,
    enums::{Behaviour, Emotion, IntervalReview, IntervalSource},
};

use crate::{
    error::{ApiError, ApiResult},
    sql::Sql,
};

/// Which of a session's intervals a report shows.
#[derive(async_graphql::Enum, Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum IntervalView {
    /// What the counsellors decided: the model's intervals as confirmed or changed (or not yet
    /// reviewed), without the rejected ones, and the counsellors' own.
    #[default]
    Reviewed,
    /// What the model proposed, as it proposed it (rejected ones included, counsellors' own not).
    Model,
}

impl IntervalView {
    /// The SQL condition on an interval table aliased `alias` for the reviewed view (the only
    /// view SQL readers use; the model view is derived in memory, see [`Coding::proposed`]).
    pub fn reviewed_sql(alias: &str) -> String {
        format!("({alias}.review IS NULL OR {alias}.review <> 'REJECTED')")
    }

    /// The reviewed view as a condition on an interval table's `review` column.
    pub fn reviewed<C: sea_orm::ColumnTrait>(review: C) -> sea_orm::Condition {
        sea_orm::Condition::any().add(review.is_null()).add(review.ne(IntervalReview::Rejected.as_str()))
    }

    pub fn sql(self, alias: &str) -> Sql {
        match self {
            Self::Reviewed => Sql::new(Self::reviewed_sql(alias), []),
            Self::Model => Sql::new(format!("{alias}.source = 'MODEL'"), []),
        }
    }
}

/// What a counsellor decides about one interval.
#[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewAction {
    /// The model's interval is right as it proposed it (undoing an earlier change).
    Confirm,
    /// The interval is wrong: it leaves the reviewed view.
    Reject,
    /// The label or boundaries are wrong: `label`, `startMs`, `endMs` say what is right.
    Change,
}

/// The parts of an interval a review decides about, for either kind of label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coding<L> {
    pub source: IntervalSource,
    pub review: Option<IntervalReview>,
    pub label: L,
    pub start_ms: i64,
    pub end_ms: i64,
    /// The model's proposal, when a counsellor changed it.
    pub model: Option<(L, i64, i64)>,
}

/// A change asked for (each part optional: what is not given stays).
#[derive(Clone, Copy, Debug)]
pub struct Change<L> {
    pub label: Option<L>,
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
}

impl<L> Default for Change<L> {
    fn default() -> Self {
        Self { label: None, start_ms: None, end_ms: None }
    }
}

impl<L: Copy + Eq> Coding<L> {
    /// The model's proposal: its label and boundaries as the analysis wrote them.
    pub fn proposal(&self) -> (L, i64, i64) {
        self.model.unwrap_or((self.label, self.start_ms, self.end_ms))
    }

    /// Whether the reviewed view shows it.
    pub fn in_view(&self, view: IntervalView) -> bool {
        match view {
            IntervalView::Reviewed => self.review != Some(IntervalReview::Rejected),
            IntervalView::Model => self.source == IntervalSource::Model,
        }
    }

    /// The coding after `action`. `video_ms` bounds the boundaries when the video's length is
    /// known.
    pub fn decide(self, action: ReviewAction, change: Change<L>, video_ms: Option<i64>) -> ApiResult<Self> {
        let counsellors = self.source == IntervalSource::Counsellor;
        match action {
            ReviewAction::Confirm if counsellors => Err(ApiError::bad_input(
                "a counsellor's own interval is not a proposal to confirm: change or reject it",
            )),
            ReviewAction::Confirm => {
                let (label, start_ms, end_ms) = self.proposal();
                Ok(Self { review: Some(IntervalReview::Confirmed), label, start_ms, end_ms, model: None, ..self })
            }
            ReviewAction::Reject => Ok(Self { review: Some(IntervalReview::Rejected), ..self }),
            ReviewAction::Change => {
                if change.label.is_none() && change.start_ms.is_none() && change.end_ms.is_none() {
                    return Err(ApiError::bad_input("CHANGE needs a new `label`, `startMs` or `endMs`"));
                }
                let label = change.label.unwrap_or(self.label);
                let start_ms = change.start_ms.unwrap_or(self.start_ms);
                let end_ms = change.end_ms.unwrap_or(self.end_ms);
                check_bounds(start_ms, end_ms, video_ms)?;
                if counsellors {
                    return Ok(Self { review: None, label, start_ms, end_ms, ..self });
                }
                let proposal = self.proposal();
                if (label, start_ms, end_ms) == proposal {
                    return self.decide(ReviewAction::Confirm, Change::default(), video_ms);
                }
                Ok(Self {
                    review: Some(IntervalReview::Changed),
                    label,
                    start_ms,
                    end_ms,
                    model: Some(proposal),
                    ..self
                })
            }
        }
    }

    /// As the model proposed it (for the model view).
    pub fn proposed(self) -> Self {
        let (label, start_ms, end_ms) = self.proposal();
        Self { label, start_ms, end_ms, model: None, ..self }
    }
}

/// Boundaries of an interval a counsellor gives: `0 <= start < end`, within the video.
pub fn check_bounds(start_ms: i64, end_ms: i64, video_ms: Option<i64>) -> ApiResult<()> {
    if start_ms < 0 || end_ms <= start_ms {
        return Err(ApiError::bad_input(format!("an interval needs 0 <= startMs < endMs; got {start_ms}..{end_ms}")));
    }
    if let Some(video_ms) = video_ms
        && end_ms > video_ms
    {
        return Err(ApiError::bad_input(format!("endMs {end_ms} is past the end of the video ({video_ms} ms)")));
    }
    Ok(())
}

/// An interval row of either table, as a [`Coding`].
pub trait Reviewable: Clone {
    type Label: Copy + Eq + std::hash::Hash + Send + Sync + 'static;

    fn coding(&self) -> Coding<Self::Label>;
    /// The row with `coding`'s parts.
    fn with_coding(self, coding: Coding<Self::Label>) -> Self;
    fn object_id(&self) -> uuid::Uuid;
    fn id(&self) -> uuid::Uuid;
    fn coded_by(&self) -> Option<uuid::Uuid>;
    /// The row as reviewed by `user` at `at`.
    fn stamped(self, user: uuid::Uuid, at: chrono::DateTime<chrono::Utc>) -> Self;

    /// The row as `view` shows it, if it does.
    fn in_view(&self, view: IntervalView) -> Option<Self> {
        let coding = self.coding();
        match view {
            _ if !coding.in_view(view) => None,
            IntervalView::Reviewed => Some(self.clone()),
            IntervalView::Model => Some(self.clone().with_coding(coding.proposed())),
        }
    }
}

macro_rules! reviewable {
    ($module:ident, $label:ident, $type:ty) => {
        impl Reviewable for $module::Model {
            type Label = $type;

            fn coding(&self) -> Coding<$type> {
                let model = match (self.model_label, self.model_start_ms, self.model_end_ms) {
                    (Some(label), Some(start), Some(end)) => Some((label, start, end)),
                    _ => None,
                };
                Coding {
                    source: self.source,
                    review: self.review,
                    label: self.$label,
                    start_ms: self.start_ms,
                    end_ms: self.end_ms,
                    model,
                }
            }

            fn with_coding(mut self, coding: Coding<$type>) -> Self {
                self.source = coding.source;
                self.review = coding.review;
                self.$label = coding.label;
                self.start_ms = coding.start_ms;
                self.end_ms = coding.end_ms;
                self.model_label = coding.model.map(|model| model.0);
                self.model_start_ms = coding.model.map(|model| model.1);
                self.model_end_ms = coding.model.map(|model| model.2);
                self
            }

            fn object_id(&self) -> uuid::Uuid {
                self.object_id
            }

            fn id(&self) -> uuid::Uuid {
                self.id
            }

            fn coded_by(&self) -> Option<uuid::Uuid> {
                self.coded_by
            }

            fn stamped(mut self, user: uuid::Uuid, at: chrono::DateTime<chrono::Utc>) -> Self {
                self.reviewed_by = Some(user);
                self.reviewed_at = Some(at);
                self
            }
        }
    };
}

reviewable!(emotion_interval, emotion, Emotion);
reviewable!(behaviour_interval, behaviour, Behaviour);

/// The kinds of interval a counsellor codes, as `addInterval(kind:)` spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntervalKind {
    /// An observed facial expression (`EXPRESSION`, or `EMOTION`).
    Emotion,
    /// A built-in behaviour label, or one of the organisation's codes.
    Behaviour,
    /// One of the organisation's codes (`CODE`).
    Code,
}

impl IntervalKind {
    pub fn parse(kind: &str) -> ApiResult<Self> {
        match kind {
            "EXPRESSION" | "EMOTION" => Ok(Self::Emotion),
            "BEHAVIOUR" => Ok(Self::Behaviour),
            "CODE" => Ok(Self::Code),
            other => {
                Err(ApiError::bad_input(format!("`{other}` is not a kind of interval: EXPRESSION, BEHAVIOUR or CODE")))
            }
        }
    }
}

/// A label of `L` from its API spelling, or a clear error that lists the labels there are.
pub fn parse_label<L: sea_orm::Iterable + Copy>(label: &str, as_str: impl Fn(L) -> &'static str) -> ApiResult<L> {
    L::iter().find(|candidate| as_str(*candidate) == label).ok_or_else(|| {
        let names: Vec<&str> = L::iter().map(as_str).collect();
        ApiError::bad_input(format!("`{label}` is not one of {}", names.join(", ")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposed(label: Emotion, start_ms: i64, end_ms: i64) -> Coding<Emotion> {
        Coding { source: IntervalSource::Model, review: None, label, start_ms, end_ms, model: None }
    }

    #[test]
    fn a_change_keeps_the_proposal_and_confirming_restores_it() {
        let model = proposed(Emotion::Happy, 1_000, 4_000);
        let change = Change { label: Some(Emotion::Surprise), end_ms: Some(3_000), ..Change::default() };
        let changed = model.decide(ReviewAction::Change, change, Some(10_000)).unwrap();
        assert_eq!((changed.label, changed.start_ms, changed.end_ms), (Emotion::Surprise, 1_000, 3_000));
        assert_eq!(changed.review, Some(IntervalReview::Changed));
        assert_eq!(changed.model, Some((Emotion::Happy, 1_000, 4_000)));
        // A second change keeps the model's original, not the first change.
        let again = changed.decide(ReviewAction::Change, Change { start_ms: Some(500), ..Change::default() }, None);
        assert_eq!(again.unwrap().model, Some((Emotion::Happy, 1_000, 4_000)));
        assert_eq!(changed.proposed().label, Emotion::Happy);
        let confirmed = changed.decide(ReviewAction::Confirm, Change::default(), None).unwrap();
        assert_eq!(confirmed, Coding { review: Some(IntervalReview::Confirmed), ..model });
        // Changing back to the proposal is confirming it.
        let back = Change { label: Some(Emotion::Happy), end_ms: Some(4_000), ..Change::default() };
        assert_eq!(changed.decide(ReviewAction::Change, back, None).unwrap(), confirmed);
    }

    #[test]
    fn rejected_intervals_leave_the_reviewed_view_only() {
        let rejected = proposed(Emotion::Sad, 0, 10).decide(ReviewAction::Reject, Change::default(), None).unwrap();
        assert!(!rejected.in_view(IntervalView::Reviewed) && rejected.in_view(IntervalView::Model));
        let own = Coding { source: IntervalSource::Counsellor, ..proposed(Emotion::Sad, 0, 10) };
        assert!(own.in_view(IntervalView::Reviewed) && !own.in_view(IntervalView::Model));
        assert!(own.decide(ReviewAction::Confirm, Change::default(), None).is_err());
    }

    #[test]
    fn boundaries_are_checked() {
        let model = proposed(Emotion::Happy, 1_000, 4_000);
        for (start, end) in [(-1, 10), (5_000, 5_000), (3_000, 2_000), (0, 10_001)] {
            let change = Change { start_ms: Some(start), end_ms: Some(end), ..Change::default() };
            assert!(model.decide(ReviewAction::Change, change, Some(10_000)).is_err(), "{start}..{end}");
        }
        assert!(model.decide(ReviewAction::Change, Change::default(), None).is_err(), "nothing to change");
    }
}
