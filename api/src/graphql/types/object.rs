use async_graphql::{Context, ID, Object};
use entity::{
    behaviour_interval, emotion_interval,
    enums::{Behaviour, Emotion, ObjectRole},
    tracked_object,
};

use super::{Child, CodedInterval, EmotionShare, FaceQuality, PersonSummary, TimelineBin};
use crate::{
    access::{self, ChildAction},
    error::{ApiError, ApiResult},
    graphql::{
        context::ContextExt,
        ids::Kind,
        leaf_connection::{LeafConnection, LeafRow},
        loaders::{
            BehaviourList, BehavioursOfSession, ChildById, CodedOfObject, EmotionList, EmotionTimeOfObject,
            EmotionsOfSession, IntervalFilter, IntervalsOfObject, PageKey, SessionById,
        },
        pagination::{Listing, Page, PageRequest, connection_cost, page_in_memory},
    },
    reports,
    review::{IntervalView, Reviewable, codes},
};

/// Coded intervals a person's list holds unless `first` says otherwise.
const CODED_PAGE_SIZE: i32 = 1000;

/// What `codedIntervals` counts against the query's complexity: each interval it may list
/// (pages of connections stop at 1000; this list goes to the per-session bound).
fn coded_cost(first: Option<i32>, child_complexity: usize) -> usize {
    let rows = first.unwrap_or(CODED_PAGE_SIZE).clamp(0, codes::MAX_CODED_PER_SESSION as i32) as usize;
    rows.max(1).saturating_mul(child_complexity).min(crate::graphql::pagination::COST_CEILING)
}

/// A tracked person, and its session's results version when the session row was read in the
/// same request (its interval lists are then read from the interval cache).
/// The interval loaders answer every session they are asked for.
const LOADED: &str = "a session's intervals are always loaded. This is a bug.";

pub struct TrackedObject(pub tracked_object::Model, pub Option<i64>);

impl TrackedObject {
    /// A person reached without its session's row: interval lists go to the database.
    pub fn alone(row: tracked_object::Model) -> Self {
        Self(row, None)
    }

    /// The session's results version for reading intervals from memory: known when the session
    /// row was read on the way here, and looked up for the model view (derived in memory only,
    /// and `FORBIDDEN` to those who may not read the counsellors' notes).
    async fn results_version(&self, ctx: &Context<'_>, view: IntervalView) -> ApiResult<Option<i64>> {
        // What the counsellors rejected is theirs to see, like their notes.
        if view == IntervalView::Model && !access::allows(&ctx.viewer()?, ChildAction::ReadNotes) {
            return Err(ApiError::Forbidden);
        }
        if self.1.is_some() || view == IntervalView::Reviewed {
            return Ok(self.1);
        }
        let session = ctx.loader().load_one(SessionById(self.0.session_id)).await?.ok_or(ApiError::NotFound)?;
        Ok(Some(session.results_version))
    }
}

/// A person's cached rows as `view` shows them, paged like the SQL listing (by start, then id).
fn page_of_view<M: Reviewable + LeafRow>(
    rows: &[M],
    view: IntervalView,
    keeps: impl Fn(&M) -> bool,
    page: &PageRequest,
) -> ApiResult<Page<M>> {
    if view == IntervalView::Reviewed {
        return page_in_memory(rows, keeps, LeafRow::cursor, page);
    }
    let mut shown: Vec<M> = rows.iter().filter_map(|row| row.in_view(view)).collect();
    shown.sort_by_key(|row| (row.coding().start_ms, row.id()));
    page_in_memory(&shown, keeps, LeafRow::cursor, page)
}

/// A person found and followed through a session's video.
#[Object]
impl TrackedObject {
    pub async fn id(&self) -> ID {
        Kind::TrackedObject.id(self.0.id)
    }

    /// A name within the session, e.g. "Person 2".
    async fn label(&self) -> &str {
        &self.0.label
    }

    /// Child or adult: guessed from relative body and face size unless a counsellor said so.
    async fn role(&self) -> ObjectRole {
        self.0.role
    }

    /// 0..1; 1 when a counsellor labelled the person.
    async fn role_confidence(&self) -> f64 {
        self.0.role_confidence
    }

    /// The child this person is, when a counsellor said so.
    async fn child(&self, ctx: &Context<'_>) -> ApiResult<Option<Child>> {
        let Some(child_id) = self.0.child_id else { return Ok(None) };
        Ok(ctx.loader().load_one(ChildById(child_id)).await?.map(Child))
    }

    async fn first_seen_ms(&self) -> i64 {
        self.0.first_seen_ms
    }

    async fn last_seen_ms(&self) -> i64 {
        self.0.last_seen_ms
    }

    /// Observed facial expressions over time. `fromMs`/`toMs` keep intervals overlapping that
    /// range; `minDurationMs` drops shorter ones. `view`: as the counsellors reviewed them
    /// (default) or as the model proposed them.
    #[graphql(complexity = "connection_cost(first, last, EmotionList::DEFAULT_PAGE_SIZE, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn emotion_intervals(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        emotion: Option<Emotion>,
        min_duration_ms: Option<i64>,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        #[graphql(default)] view: IntervalView,
    ) -> ApiResult<LeafConnection<emotion_interval::Model>> {
        let page = PageRequest::new(first, after, last, before, EmotionList::DEFAULT_PAGE_SIZE)?;
        let listing = EmotionList { emotion, interval: IntervalFilter { min_duration_ms, from_ms, to_ms }, view };
        let loader = ctx.loader();
        let loaded = match self.results_version(ctx, view).await? {
            Some(version) => {
                let session = self.0.session_id;
                let entry = match loader.loader().intervals.emotions.get(session, version) {
                    Some(entry) => entry,
                    None => loader.load_one(EmotionsOfSession { session, version }).await?.expect(LOADED),
                };
                page_of_view(entry.of(self.0.id), view, |row| listing.keeps(row), &page)?
            }
            None => loader.load_one(PageKey { parent: self.0.id, listing, page }).await?.unwrap_or_else(Page::empty),
        };
        Ok(LeafConnection::new(loaded))
    }

    /// Observed postures and movements over time, filtered like `emotionIntervals`.
    #[graphql(complexity = "connection_cost(first, last, BehaviourList::DEFAULT_PAGE_SIZE, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn behaviour_intervals(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        behaviour: Option<Behaviour>,
        min_duration_ms: Option<i64>,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        #[graphql(default)] view: IntervalView,
    ) -> ApiResult<LeafConnection<behaviour_interval::Model>> {
        let page = PageRequest::new(first, after, last, before, BehaviourList::DEFAULT_PAGE_SIZE)?;
        let listing = BehaviourList { behaviour, interval: IntervalFilter { min_duration_ms, from_ms, to_ms }, view };
        let loader = ctx.loader();
        let loaded = match self.results_version(ctx, view).await? {
            Some(version) => {
                let session = self.0.session_id;
                let entry = match loader.loader().intervals.behaviours.get(session, version) {
                    Some(entry) => entry,
                    None => loader.load_one(BehavioursOfSession { session, version }).await?.expect(LOADED),
                };
                page_of_view(entry.of(self.0.id), view, |row| listing.keeps(row), &page)?
            }
            None => loader.load_one(PageKey { parent: self.0.id, listing, page }).await?.unwrap_or_else(Page::empty),
        };
        Ok(LeafConnection::new(loaded))
    }

    /// The intervals counsellors coded with the organisation's own codes (`codingScheme`), by
    /// start: the `first` (default 1000, at most 20000); `code` keeps one code's. `view`:
    /// `MODEL` has none (the model proposes no codes).
    #[graphql(complexity = "coded_cost(first, child_complexity)")]
    async fn coded_intervals(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        code: Option<String>,
        #[graphql(default)] view: IntervalView,
    ) -> ApiResult<Vec<CodedInterval>> {
        let first = match first {
            None => CODED_PAGE_SIZE as usize,
            Some(first) if (0..=codes::MAX_CODED_PER_SESSION as i32).contains(&first) => first as usize,
            Some(first) => {
                return Err(ApiError::bad_input(format!(
                    "`first` must be 0..={}; got {first}",
                    codes::MAX_CODED_PER_SESSION
                )));
            }
        };
        if view == IntervalView::Model {
            self.results_version(ctx, view).await?;
            return Ok(Vec::new());
        }
        let rows = ctx.loader().load_one(CodedOfObject(self.0.id)).await?.unwrap_or_default();
        let code = code.as_deref().map(codes::name_key);
        Ok(rows
            .into_iter()
            .filter(|(_, interval_code)| code.as_ref().is_none_or(|code| *code == interval_code.name_key))
            .take(first)
            .map(|(row, code)| CodedInterval(row, code))
            .collect())
    }

    /// How well the analysis could read this person's face: samples seen, faces found, faces
    /// good enough to vote on an expression, and why the others were not. A person whose face
    /// was never readable has no expression intervals and says so here (`expression`). Null
    /// for results analysed before faces were counted, and for a person kept only for a
    /// counsellor's coding after a re-analysis no longer found them.
    async fn face_quality(&self) -> Option<FaceQuality> {
        reports::face_counts(&self.0).map(FaceQuality::from)
    }

    /// What a report draws of this person: shares of each observed expression and behaviour,
    /// the dominant expression, expression changes, time with a readable face.
    async fn summary(&self, ctx: &Context<'_>) -> ApiResult<PersonSummary> {
        let intervals = ctx.loader().load_one(IntervalsOfObject(self.0.id)).await?.unwrap_or_default();
        Ok(reports::summary(&intervals.emotions, &intervals.behaviours).into())
    }

    /// The person's expressions and behaviours in bins of `binMs` (at least 100; at most 1000
    /// bins) from the start of the video to where they were last seen, so a chart draws without
    /// fetching every interval.
    #[graphql(complexity = "reports::max_bins(bin_ms.into()) * child_complexity + 1")]
    async fn timeline(&self, ctx: &Context<'_>, bin_ms: i32) -> ApiResult<Vec<TimelineBin>> {
        let intervals = ctx.loader().load_one(IntervalsOfObject(self.0.id)).await?.unwrap_or_default();
        let ends = intervals
            .emotions
            .iter()
            .map(|span| span.end_ms)
            .chain(intervals.behaviours.iter().map(|span| span.end_ms));
        let until_ms = ends.max().unwrap_or(0).max(self.0.last_seen_ms);
        let bins = reports::timeline(&intervals.emotions, &intervals.behaviours, bin_ms.into(), until_ms)
            .map_err(|error| ApiError::bad_input(error.to_string()))?;
        Ok(bins.into_iter().map(TimelineBin::from).collect())
    }

    /// The fraction of the time this person's face was observed that it showed each expression.
    async fn emotion_share(&self, ctx: &Context<'_>) -> ApiResult<Vec<EmotionShare>> {
        let times = ctx.loader().load_one(EmotionTimeOfObject(self.0.id)).await?.unwrap_or_default();
        Ok(EmotionShare::from_times(&times))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_coded_list_costs_every_interval_it_may_list() {
        // Connections' pages stop at 1000; this list does not, so neither does its cost.
        assert_eq!(coded_cost(Some(20_000), 1), 20_000);
        assert_eq!(coded_cost(None, 2), 2_000);
        assert_eq!(coded_cost(Some(0), 3), 3);
        assert!(connection_cost(Some(20_000), None, CODED_PAGE_SIZE, 1) < coded_cost(Some(20_000), 1));
    }
}
