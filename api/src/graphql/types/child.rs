use async_graphql::{ComplexObject, Context, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{
    child,
    enums::{Emotion, SessionStatus},
};

use super::{AuditEntry, Consent, Date, PersonSummary, Session};
use crate::{
    access::{self, ChildAction},
    error::{ApiError, ApiResult},
    graphql::{
        context::{ContextExt, sees_reviewed_only},
        ids::Kind,
        loaders::{
            AccessLogList, AuditFilter, ChildPersonOfSession, ConsentsOfChild, EmotionTrendOfChild, PageKey,
            SessionList,
        },
        pagination::{Listing, Page, PageRequest, PagedConnection, connection_cost, into_connection},
    },
};

pub struct Child(pub child::Model);

/// Sessions `emotionTrend` covers unless told otherwise.
const TREND_DEFAULT_SESSIONS: i32 = 100;

/// A child in counselling.
#[Object]
impl Child {
    pub async fn id(&self) -> ID {
        Kind::Child.id(self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn birth_date(&self) -> Option<Date> {
        self.0.birth_date.map(Date)
    }

    /// Counsellors' notes; not shown to guardians.
    async fn notes(&self, ctx: &Context<'_>) -> ApiResult<Option<&str>> {
        let viewer = ctx.viewer()?;
        Ok(if access::allows(&viewer, ChildAction::ReadNotes) { self.0.notes.as_deref() } else { None })
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// Sessions in the order they were recorded. `from`/`to` bound `recordedAt` (to exclusive).
    #[graphql(complexity = "connection_cost(first, last, SessionList::DEFAULT_PAGE_SIZE, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn sessions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        status: Option<SessionStatus>,
    ) -> ApiResult<PagedConnection<Session>> {
        let page = PageRequest::new(first, after, last, before, SessionList::DEFAULT_PAGE_SIZE)?;
        let reviewed_only = sees_reviewed_only(ctx).await?;
        let key = PageKey { parent: self.0.id, listing: SessionList { from, to, status, reviewed_only }, page };
        let loaded = ctx.loader().load_one(key).await?.unwrap_or_else(Page::empty);
        Ok(into_connection::<SessionList, _>(loaded, Session))
    }

    /// Every consent given for the child, and withdrawn, oldest first.
    async fn consents(&self, ctx: &Context<'_>) -> ApiResult<Vec<Consent>> {
        let records = ctx.loader().load_one(ConsentsOfChild(self.0.id)).await?.unwrap_or_default();
        Ok(records.into_iter().map(Consent).collect())
    }

    /// Who read or changed this child's records, oldest first. For admins and the child's
    /// guardians (`FORBIDDEN` for counsellors). `action`, `from` and `to` (exclusive) filter.
    #[graphql(complexity = "connection_cost(first, last, AccessLogList::DEFAULT_PAGE_SIZE, child_complexity)")]
    #[allow(clippy::too_many_arguments)]
    async fn access_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        action: Option<String>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> ApiResult<PagedConnection<AuditEntry>> {
        let viewer = ctx.viewer()?;
        if !access::allows(&viewer, ChildAction::ReadAccessLog) {
            return Err(ApiError::Forbidden);
        }
        ctx.state().reads.flush().await;
        let page = PageRequest::new(first, after, last, before, AccessLogList::DEFAULT_PAGE_SIZE)?;
        let filter = AuditFilter {
            organisation: self.0.organisation_id,
            action: super::action_filter(action)?,
            from,
            to,
            sessions_seen_by: Some(viewer),
            ..Default::default()
        };
        let key = PageKey { parent: self.0.id, listing: AccessLogList(filter), page };
        let loaded = ctx.loader().load_one(key).await?.unwrap_or_else(Page::empty);
        Ok(into_connection::<AccessLogList, _>(loaded, AuditEntry))
    }

    /// One entry per analysed session, oldest first: how the child looked in it (the person
    /// labelled as the child, or else guessed CHILD; other people never count). `from`/`to`
    /// bound `recordedAt` (to exclusive); `last` keeps the most recent of those sessions
    /// (default 100, at most 1000).
    #[graphql(complexity = "connection_cost(None, last, TREND_DEFAULT_SESSIONS, child_complexity)")]
    async fn emotion_trend(
        &self,
        ctx: &Context<'_>,
        last: Option<i32>,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> ApiResult<Vec<SessionEmotionSummary>> {
        let keep = PageRequest::new(None, None, last, None, TREND_DEFAULT_SESSIONS)?.limit as usize;
        let key = EmotionTrendOfChild { child: self.0.id, from, to, reviewed_only: sees_reviewed_only(ctx).await? };
        let trend = ctx.loader().load_one(key).await?.unwrap_or_default();
        let skip = trend.len().saturating_sub(keep);
        Ok(trend
            .into_iter()
            .skip(skip)
            .map(|(session, times)| SessionEmotionSummary {
                recorded_at: session.recorded_at,
                shares: EmotionShare::from_times(&times),
                session: Session(session),
            })
            .collect())
    }
}

/// The share of observed time one expression took.
#[derive(SimpleObject, Clone, Copy, Debug)]
pub struct EmotionShare {
    pub emotion: Emotion,
    /// 0..1 of the time a face was observed.
    pub fraction: f64,
    pub duration_ms: i64,
}

impl EmotionShare {
    /// Shares in the order of the `Emotion` enum; expressions never observed are left out.
    pub fn from_times(times: &[(Emotion, i64)]) -> Vec<EmotionShare> {
        let total: i64 = times.iter().map(|(_, ms)| ms).sum();
        let mut shares: Vec<EmotionShare> = times
            .iter()
            .filter(|(_, ms)| *ms > 0)
            .map(|(emotion, ms)| EmotionShare {
                emotion: *emotion,
                fraction: *ms as f64 / total as f64,
                duration_ms: *ms,
            })
            .collect();
        shares.sort_by_key(|share| share.emotion as u8);
        shares
    }
}

/// How one analysed session looked for the child.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct SessionEmotionSummary {
    #[graphql(skip)]
    pub session: Session,
    pub recorded_at: DateTime<Utc>,
    pub shares: Vec<EmotionShare>,
}

#[ComplexObject]
impl SessionEmotionSummary {
    async fn session(&self) -> &Session {
        &self.session
    }

    /// The child's figures in this session, as `TrackedObject.summary` gives them for one
    /// person: expression and behaviour shares, the dominant expression, expression changes,
    /// time with a readable face. Empty when no person in it is the child.
    async fn summary(&self, ctx: &Context<'_>) -> ApiResult<PersonSummary> {
        let intervals = ctx.loader().load_one(ChildPersonOfSession(self.session.0.id)).await?.unwrap_or_default();
        Ok(crate::reports::summary(&intervals.emotions, &intervals.behaviours).into())
    }
}
