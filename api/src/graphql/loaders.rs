//! Per-request batch loaders: every nested edge goes through one of these, so a nested query
//! costs one statement per level, whatever the number of rows.
//!
//! They trust their keys: a key only exists because its parent object was already authorised
//! (see `crate::access`).

use std::{collections::HashMap, hash::Hash, sync::Arc};

use async_graphql::dataloader::Loader;
use chrono::{DateTime, Utc};
use entity::{
    analysis_job, audit_entry, behaviour_code, behaviour_interval, child, coded_interval, consent, emotion_interval,
    enums::{Behaviour, Emotion, JobStatus, ObjectRole, ReviewState, SessionStatus},
    organisation, session, session_marker, tracked_object, user,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, Value,
};
use uuid::Uuid;

use super::pagination::{CursorKey, Listing, Page, PageRequest, SortValue, fetch_pages};
use crate::{
    auth::Viewer,
    error::ApiError,
    interval_cache::{IntervalCache, IntervalRow, SessionIntervals},
    reports::Span,
    review::{IntervalView, Reviewable},
    sql::{Sql, statement},
};

/// A failed batch; every resolver waiting on it receives a clone.
pub type LoadError = ApiError;

pub struct Loaders {
    pub db: DatabaseConnection,
    /// Analysed sessions' intervals: the interval lists of a person reached through its session
    /// are read from here, and loaded into it a level at a time.
    pub intervals: Arc<IntervalCache>,
}

/// One parent's page of a listing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageKey<L> {
    pub parent: Uuid,
    pub listing: L,
    pub page: PageRequest,
}

impl<L: Listing> Loader<PageKey<L>> for Loaders {
    type Value = Page<L::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[PageKey<L>]) -> Result<HashMap<PageKey<L>, Self::Value>, Self::Error> {
        // Keys of one level share filters and paging; group anyway, in case they don't.
        let mut groups: HashMap<(&L, &PageRequest), Vec<Uuid>> = HashMap::new();
        for key in keys {
            groups.entry((&key.listing, &key.page)).or_default().push(key.parent);
        }
        let mut loaded = HashMap::with_capacity(keys.len());
        for ((listing, page), parents) in groups {
            let pages = fetch_pages(&self.db, &parents, listing, page).await.map_err(db_error)?;
            for (parent, rows) in pages {
                loaded.insert(PageKey { parent, listing: listing.clone(), page: page.clone() }, rows);
            }
        }
        Ok(loaded)
    }
}

fn db_error(error: sea_orm::DbErr) -> LoadError {
    anyhow::Error::new(error).context("batch load").into()
}

fn uuids(keys: impl IntoIterator<Item = Uuid>) -> Vec<Uuid> {
    keys.into_iter().collect()
}

/// Children visible to a viewer, by name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChildList {
    pub viewer: Viewer,
    pub search: Option<String>,
}

impl Listing for ChildList {
    type Model = child::Model;
    const TABLE: &'static str = "children";
    const PARENT: &'static str = "organisation_id";
    const SORT: &'static str = "name";
    const DEFAULT_PAGE_SIZE: i32 = 20;

    fn cursor_key(model: &Self::Model) -> CursorKey {
        CursorKey { sort: SortValue::Text(model.name.clone()), id: model.id }
    }

    fn filter(&self) -> Sql {
        let mut filter = crate::access::child_scope(&self.viewer, "t");
        if let Some(search) = self.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            let escaped = search.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            filter.and(Sql::new("LOWER(t.name) LIKE ? ESCAPE '\\'", [format!("%{escaped}%").into()]));
        }
        filter
    }
}

/// A child's sessions, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct SessionList {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub status: Option<SessionStatus>,
    /// REVIEWED sessions only (`access::session_scope`).
    pub reviewed_only: bool,
}

impl Listing for SessionList {
    type Model = session::Model;
    const TABLE: &'static str = "sessions";
    const PARENT: &'static str = "child_id";
    const SORT: &'static str = "recorded_at";
    const DEFAULT_PAGE_SIZE: i32 = 10;

    fn cursor_key(model: &Self::Model) -> CursorKey {
        CursorKey { sort: SortValue::Time(model.recorded_at), id: model.id }
    }

    fn filter(&self) -> Sql {
        let mut filter = Sql::default();
        if let Some(from) = self.from {
            filter.and(Sql::new("t.recorded_at >= ?", [from.into()]));
        }
        if let Some(to) = self.to {
            filter.and(Sql::new("t.recorded_at < ?", [to.into()]));
        }
        if let Some(status) = self.status {
            filter.and(Sql::new("t.status = ?", [status.as_str().into()]));
        }
        if self.reviewed_only {
            filter.and(Sql::new("t.review_state = ?", [ReviewState::Reviewed.as_str().into()]));
            filter.and(Sql::new("t.status = ?", [SessionStatus::Done.as_str().into()]));
        }
        filter
    }
}

/// A session's tracked people, in order of first appearance.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct ObjectList {
    pub role: Option<ObjectRole>,
}

impl Listing for ObjectList {
    type Model = tracked_object::Model;
    const TABLE: &'static str = "tracked_objects";
    const PARENT: &'static str = "session_id";
    const SORT: &'static str = "first_seen_ms";
    const DEFAULT_PAGE_SIZE: i32 = 10;

    fn cursor_key(model: &Self::Model) -> CursorKey {
        CursorKey { sort: SortValue::Int(model.first_seen_ms), id: model.id }
    }

    fn filter(&self) -> Sql {
        match self.role {
            Some(role) => Sql::new("t.role = ?", [role.as_str().into()]),
            None => Sql::default(),
        }
    }
}

/// Filters shared by both interval lists.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct IntervalFilter {
    pub min_duration_ms: Option<i64>,
    /// Keep intervals overlapping `[from_ms, to_ms)`.
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

impl IntervalFilter {
    /// What `sql` keeps, for rows in memory.
    fn keeps(&self, start_ms: i64, end_ms: i64) -> bool {
        self.min_duration_ms.is_none_or(|min| end_ms - start_ms >= min)
            && self.from_ms.is_none_or(|from| end_ms > from)
            && self.to_ms.is_none_or(|to| start_ms < to)
    }

    fn sql(&self, label_column: &str, label: Option<&'static str>) -> Sql {
        let mut filter = Sql::default();
        if let Some(label) = label {
            filter.and(Sql::new(format!("t.{label_column} = ?"), [label.into()]));
        }
        if let Some(min) = self.min_duration_ms {
            filter.and(Sql::new("t.end_ms - t.start_ms >= ?", [min.into()]));
        }
        if let Some(from) = self.from_ms {
            filter.and(Sql::new("t.end_ms > ?", [from.into()]));
        }
        if let Some(to) = self.to_ms {
            filter.and(Sql::new("t.start_ms < ?", [to.into()]));
        }
        filter
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct EmotionList {
    pub emotion: Option<Emotion>,
    pub interval: IntervalFilter,
    pub view: IntervalView,
}

impl EmotionList {
    /// Whether the listing's filter keeps `row` (as its view shows it).
    pub fn keeps(&self, row: &emotion_interval::Model) -> bool {
        row.coding().in_view(self.view)
            && self.emotion.is_none_or(|emotion| row.emotion == emotion)
            && self.interval.keeps(row.start_ms, row.end_ms)
    }
}

impl Listing for EmotionList {
    type Model = emotion_interval::Model;
    const TABLE: &'static str = "emotion_intervals";
    const PARENT: &'static str = "object_id";
    const SORT: &'static str = "start_ms";
    const DEFAULT_PAGE_SIZE: i32 = 100;

    fn cursor_key(model: &Self::Model) -> CursorKey {
        CursorKey { sort: SortValue::Int(model.start_ms), id: model.id }
    }

    fn filter(&self) -> Sql {
        let mut filter = self.interval.sql("emotion", self.emotion.map(Emotion::as_str));
        filter.and(self.view.sql("t"));
        filter
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct BehaviourList {
    pub behaviour: Option<Behaviour>,
    pub interval: IntervalFilter,
    pub view: IntervalView,
}

impl BehaviourList {
    /// Whether the listing's filter keeps `row`.
    pub fn keeps(&self, row: &behaviour_interval::Model) -> bool {
        row.coding().in_view(self.view)
            && self.behaviour.is_none_or(|behaviour| row.behaviour == behaviour)
            && self.interval.keeps(row.start_ms, row.end_ms)
    }
}

impl Listing for BehaviourList {
    type Model = behaviour_interval::Model;
    const TABLE: &'static str = "behaviour_intervals";
    const PARENT: &'static str = "object_id";
    const SORT: &'static str = "start_ms";
    const DEFAULT_PAGE_SIZE: i32 = 100;

    fn cursor_key(model: &Self::Model) -> CursorKey {
        CursorKey { sort: SortValue::Int(model.start_ms), id: model.id }
    }

    fn filter(&self) -> Sql {
        let mut filter = self.interval.sql("behaviour", self.behaviour.map(Behaviour::as_str));
        filter.and(self.view.sql("t"));
        filter
    }
}

/// Filters of the audit log's listings.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct AuditFilter {
    /// Always set: entries are only ever listed within one organisation.
    pub organisation: Uuid,
    pub child: Option<Uuid>,
    pub user: Option<Uuid>,
    pub action: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Entries naming a session only if this viewer may see the session
    /// (`access::session_scope`: a guardian under the reviewed-only policy is not told a
    /// hidden session exists, not even by who read it).
    pub sessions_seen_by: Option<Viewer>,
}

impl AuditFilter {
    fn sql(&self) -> Sql {
        let mut filter = Sql::new("t.organisation_id = ?", [self.organisation.into()]);
        if let Some(child) = self.child {
            filter.and(Sql::new("t.child_id = ?", [child.into()]));
        }
        if let Some(user) = self.user {
            filter.and(Sql::new("t.actor_user_id = ?", [user.into()]));
        }
        if let Some(action) = &self.action {
            filter.and(Sql::new("t.action = ?", [action.clone().into()]));
        }
        if let Some(from) = self.from {
            filter.and(Sql::new("t.at >= ?", [from.into()]));
        }
        if let Some(to) = self.to {
            filter.and(Sql::new("t.at < ?", [to.into()]));
        }
        if let Some(viewer) = &self.sessions_seen_by {
            let scope = crate::access::session_scope(viewer, "audit_s");
            if !scope.text.is_empty() {
                let text = format!(
                    "t.session_id IS NULL OR EXISTS (SELECT 1 FROM sessions audit_s WHERE audit_s.id = t.session_id AND {})",
                    scope.text
                );
                filter.and(Sql::new(text, scope.values));
            }
        }
        filter
    }
}

/// Audit log listings: the same rows and order, paged per `$parent`.
macro_rules! audit_listing {
    ($(#[$doc:meta])* $name:ident by $parent:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub struct $name(pub AuditFilter);

        impl Listing for $name {
            type Model = audit_entry::Model;
            const TABLE: &'static str = "audit_log";
            const PARENT: &'static str = $parent;
            const SORT: &'static str = "at";
            const DEFAULT_PAGE_SIZE: i32 = 50;

            fn cursor_key(model: &Self::Model) -> CursorKey {
                CursorKey { sort: SortValue::Time(model.at), id: model.id }
            }

            fn filter(&self) -> Sql {
                self.0.sql()
            }
        }
    };
}

audit_listing!(
    /// An organisation's audit log, oldest first (`auditLog`).
    AuditList by "organisation_id"
);
audit_listing!(
    /// One child's entries of the audit log, oldest first (`Child.accessLog`).
    AccessLogList by "child_id"
);

/// A child's consent records, oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConsentsOfChild(pub Uuid);

impl Loader<ConsentsOfChild> for Loaders {
    type Value = Vec<consent::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[ConsentsOfChild]) -> Result<HashMap<ConsentsOfChild, Self::Value>, Self::Error> {
        let records = consent::Entity::find()
            .filter(consent::Column::ChildId.is_in(uuids(keys.iter().map(|key| key.0))))
            .order_by_asc(consent::Column::GivenAt)
            .order_by_asc(consent::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let mut by_child: HashMap<ConsentsOfChild, Self::Value> = HashMap::new();
        for record in records {
            by_child.entry(ConsentsOfChild(record.child_id)).or_default().push(record);
        }
        Ok(by_child)
    }
}

macro_rules! by_id_loader {
    ($key:ident, $entity:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $key(pub Uuid);

        impl Loader<$key> for Loaders {
            type Value = $entity::Model;
            type Error = LoadError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, Self::Error> {
                let rows = $entity::Entity::find()
                    .filter($entity::Column::Id.is_in(uuids(keys.iter().map(|key| key.0))))
                    .all(&self.db)
                    .await
                    .map_err(db_error)?;
                Ok(rows.into_iter().map(|row| ($key(row.id), row)).collect())
            }
        }
    };
}

by_id_loader!(ChildById, child, "A child by id (a session's or a tracked person's child).");
by_id_loader!(UserById, user, "A user by id (a session's counsellor).");
by_id_loader!(SessionById, session, "A session by id (a job's session).");
by_id_loader!(OrganisationById, organisation, "An organisation by id (its retention policy).");

/// A session's markers, by time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MarkersOfSession(pub Uuid);

impl Loader<MarkersOfSession> for Loaders {
    type Value = Vec<session_marker::Model>;
    type Error = LoadError;

    async fn load(&self, keys: &[MarkersOfSession]) -> Result<HashMap<MarkersOfSession, Self::Value>, Self::Error> {
        let rows = session_marker::Entity::find()
            .filter(session_marker::Column::SessionId.is_in(uuids(keys.iter().map(|key| key.0))))
            .order_by_asc(session_marker::Column::AtMs)
            .order_by_asc(session_marker::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let mut out: HashMap<MarkersOfSession, Self::Value> = HashMap::new();
        for row in rows {
            out.entry(MarkersOfSession(row.session_id)).or_default().push(row);
        }
        Ok(out)
    }
}

/// A person's coded intervals with their codes, by start (every view's rows: the caller
/// filters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CodedOfObject(pub Uuid);

impl Loader<CodedOfObject> for Loaders {
    type Value = Vec<(coded_interval::Model, behaviour_code::Model)>;
    type Error = LoadError;

    async fn load(&self, keys: &[CodedOfObject]) -> Result<HashMap<CodedOfObject, Self::Value>, Self::Error> {
        let rows = coded_interval::Entity::find()
            .find_also_related(behaviour_code::Entity)
            .filter(coded_interval::Column::ObjectId.is_in(uuids(keys.iter().map(|key| key.0))))
            .order_by_asc(coded_interval::Column::StartMs)
            .order_by_asc(coded_interval::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let mut out: HashMap<CodedOfObject, Self::Value> = HashMap::new();
        for (row, code) in rows {
            let code = code.expect("a coded interval's code is kept by a foreign key. This is a bug.");
            out.entry(CodedOfObject(row.object_id)).or_default().push((row, code));
        }
        Ok(out)
    }
}

/// When a session's last DONE analysis finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LastAnalysedAt(pub Uuid);

impl Loader<LastAnalysedAt> for Loaders {
    type Value = DateTime<Utc>;
    type Error = LoadError;

    async fn load(&self, keys: &[LastAnalysedAt]) -> Result<HashMap<LastAnalysedAt, Self::Value>, Self::Error> {
        let sessions = Sql::is_in("session_id", keys.iter().map(|key| Value::from(key.0)));
        let text = format!(
            "SELECT session_id, MAX(finished_at) AS finished_at FROM analysis_jobs \
             WHERE status = ? AND finished_at IS NOT NULL AND {} GROUP BY session_id",
            sessions.text
        );
        let mut values = vec![Value::from(JobStatus::Done.as_str())];
        values.extend(sessions.values);
        let rows =
            self.db.query_all_raw(statement(self.db.get_database_backend(), &text, values)).await.map_err(db_error)?;
        let mut found = HashMap::new();
        for row in rows {
            let session: Uuid = row.try_get("", "session_id").map_err(db_error)?;
            let finished: DateTime<Utc> = row.try_get("", "finished_at").map_err(db_error)?;
            found.insert(LastAnalysedAt(session), finished);
        }
        Ok(found)
    }
}

/// The most recent analysis job of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LatestJob(pub Uuid);

impl Loader<LatestJob> for Loaders {
    type Value = analysis_job::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[LatestJob]) -> Result<HashMap<LatestJob, Self::Value>, Self::Error> {
        let jobs = analysis_job::Entity::find()
            .filter(analysis_job::Column::SessionId.is_in(uuids(keys.iter().map(|key| key.0))))
            .order_by_asc(analysis_job::Column::CreatedAt)
            .order_by_asc(analysis_job::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_error)?;
        // Ascending order: the last one inserted per session wins.
        Ok(jobs.into_iter().map(|job| (LatestJob(job.session_id), job)).collect())
    }
}

/// Milliseconds of each observed expression, per tracked person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EmotionTimeOfObject(pub Uuid);

#[derive(FromQueryResult)]
struct EmotionTimeRow {
    owner: Uuid,
    emotion: Emotion,
    total_ms: i64,
}

impl Loader<EmotionTimeOfObject> for Loaders {
    type Value = Vec<(Emotion, i64)>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[EmotionTimeOfObject],
    ) -> Result<HashMap<EmotionTimeOfObject, Self::Value>, Self::Error> {
        let owners = Sql::is_in("object_id", keys.iter().map(|key| Value::from(key.0)));
        let text = format!(
            "SELECT object_id AS owner, emotion, CAST(SUM(end_ms - start_ms) AS BIGINT) AS total_ms \
             FROM emotion_intervals WHERE {} AND {} GROUP BY object_id, emotion ORDER BY object_id, emotion",
            owners.text,
            IntervalView::reviewed_sql("emotion_intervals"),
        );
        let rows = EmotionTimeRow::find_by_statement(statement(self.db.get_database_backend(), &text, owners.values))
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let mut out: HashMap<EmotionTimeOfObject, Self::Value> = HashMap::new();
        for row in rows {
            out.entry(EmotionTimeOfObject(row.owner)).or_default().push((row.emotion, row.total_ms));
        }
        Ok(out)
    }
}

/// Every interval of a tracked person, of both kinds, for the chart-ready figures (`reports`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IntervalsOfObject(pub Uuid);

#[derive(Clone, Debug, Default)]
pub struct ObjectIntervals {
    pub emotions: Vec<Span<Emotion>>,
    pub behaviours: Vec<Span<Behaviour>>,
}

impl Loader<IntervalsOfObject> for Loaders {
    type Value = ObjectIntervals;
    type Error = LoadError;

    async fn load(&self, keys: &[IntervalsOfObject]) -> Result<HashMap<IntervalsOfObject, Self::Value>, Self::Error> {
        let objects = uuids(keys.iter().map(|key| key.0));
        let emotions = emotion_interval::Entity::find()
            .filter(emotion_interval::Column::ObjectId.is_in(objects.clone()))
            .filter(IntervalView::reviewed(emotion_interval::Column::Review))
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let behaviours = behaviour_interval::Entity::find()
            .filter(behaviour_interval::Column::ObjectId.is_in(objects))
            .filter(IntervalView::reviewed(behaviour_interval::Column::Review))
            .all(&self.db)
            .await
            .map_err(db_error)?;
        let mut out: HashMap<IntervalsOfObject, ObjectIntervals> = HashMap::new();
        for row in emotions {
            let span = Span { label: row.emotion, start_ms: row.start_ms, end_ms: row.end_ms };
            out.entry(IntervalsOfObject(row.object_id)).or_default().emotions.push(span);
        }
        for row in behaviours {
            let span = Span { label: row.behaviour, start_ms: row.start_ms, end_ms: row.end_ms };
            out.entry(IntervalsOfObject(row.object_id)).or_default().behaviours.push(span);
        }
        Ok(out)
    }
}

/// Per analysed session of a child recorded in `from..to`, milliseconds of each expression
/// shown by the person who is that child (labelled by a counsellor, or else guessed CHILD).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EmotionTrendOfChild {
    pub child: Uuid,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// REVIEWED sessions only (`access::session_scope`).
    pub reviewed_only: bool,
}

impl Loader<EmotionTrendOfChild> for Loaders {
    type Value = Vec<(session::Model, Vec<(Emotion, i64)>)>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[EmotionTrendOfChild],
    ) -> Result<HashMap<EmotionTrendOfChild, Self::Value>, Self::Error> {
        // Keys of one level share their bounds; group anyway, in case they don't.
        type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>, bool);
        let mut groups: HashMap<Bounds, Vec<Uuid>> = HashMap::new();
        for key in keys {
            groups.entry((key.from, key.to, key.reviewed_only)).or_default().push(key.child);
        }
        let mut out: HashMap<EmotionTrendOfChild, Self::Value> = HashMap::new();
        for ((from, to, reviewed_only), children) in groups {
            let mut sessions = session::Entity::find()
                .filter(session::Column::ChildId.is_in(uuids(children)))
                .filter(session::Column::Status.eq(SessionStatus::Done));
            if reviewed_only {
                sessions = sessions.filter(crate::access::reviewed_sessions());
            }
            if let Some(from) = from {
                sessions = sessions.filter(session::Column::RecordedAt.gte(from));
            }
            if let Some(to) = to {
                sessions = sessions.filter(session::Column::RecordedAt.lt(to));
            }
            let sessions = sessions
                .order_by_asc(session::Column::RecordedAt)
                .order_by_asc(session::Column::Id)
                .all(&self.db)
                .await
                .map_err(db_error)?;
            let mut times = crate::report_files::emotion_time_of_child_person(&self.db, sessions.iter().map(|s| s.id))
                .await
                .map_err(db_error)?;
            for session in sessions {
                let emotion_times = times.remove(&session.id).unwrap_or_default();
                let key = EmotionTrendOfChild { child: session.child_id, from, to, reviewed_only };
                out.entry(key).or_default().push((session, emotion_times));
            }
        }
        Ok(out)
    }
}

/// Every interval, of both kinds, of the person who is a session's child (as
/// `EmotionTrendOfChild` picks them), for the trend's figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChildPersonOfSession(pub Uuid);

impl Loader<ChildPersonOfSession> for Loaders {
    type Value = ObjectIntervals;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ChildPersonOfSession],
    ) -> Result<HashMap<ChildPersonOfSession, Self::Value>, Self::Error> {
        let sessions: Vec<Uuid> = keys.iter().map(|key| key.0).collect();
        let mut emotions = crate::report_files::spans_of_child_person::<Emotion>(
            &self.db,
            "emotion_intervals",
            "emotion",
            sessions.iter().copied(),
        )
        .await
        .map_err(db_error)?;
        let mut behaviours = crate::report_files::spans_of_child_person::<Behaviour>(
            &self.db,
            "behaviour_intervals",
            "behaviour",
            sessions.iter().copied(),
        )
        .await
        .map_err(db_error)?;
        Ok(sessions
            .into_iter()
            .map(|session| {
                let intervals = ObjectIntervals {
                    emotions: emotions.remove(&session).unwrap_or_default(),
                    behaviours: behaviours.remove(&session).unwrap_or_default(),
                };
                (ChildPersonOfSession(session), intervals)
            })
            .collect())
    }
}

/// Every interval of one kind of the given sessions, with the results version each was read
/// at (one statement, whatever the number of sessions and people).
async fn session_intervals<M: IntervalRow + FromQueryResult>(
    db: &DatabaseConnection,
    table: &str,
    sessions: impl IntoIterator<Item = (Uuid, i64)>,
) -> Result<HashMap<Uuid, Arc<SessionIntervals<M>>>, LoadError> {
    let asked: HashMap<Uuid, i64> = sessions.into_iter().collect();
    let condition = Sql::is_in("o.session_id", asked.keys().map(|id| Value::from(*id)));
    let text = format!(
        "SELECT t.*, o.session_id AS interval_session, s.results_version AS interval_version \
         FROM {table} t JOIN tracked_objects o ON o.id = t.object_id JOIN sessions s ON s.id = o.session_id \
         WHERE {}",
        condition.text
    );
    let rows =
        db.query_all_raw(statement(db.get_database_backend(), &text, condition.values)).await.map_err(db_error)?;
    let mut read: HashMap<Uuid, (i64, Vec<M>)> = HashMap::new();
    for row in rows {
        let session: Uuid = row.try_get("", "interval_session").map_err(db_error)?;
        let version: i64 = row.try_get("", "interval_version").map_err(db_error)?;
        let interval = M::from_query_result(&row, "").map_err(db_error)?;
        read.entry(session).or_insert_with(|| (version, Vec::new())).1.push(interval);
    }
    // A session without intervals has them at the version its reader saw.
    Ok(asked
        .into_iter()
        .map(|(session, version)| {
            let (version, rows) = read.remove(&session).unwrap_or((version, Vec::new()));
            (session, Arc::new(SessionIntervals::new(version, rows)))
        })
        .collect())
}

/// A session's intervals of one kind as of a results version, loaded into the interval cache.
macro_rules! session_intervals_loader {
    ($key:ident, $entity:ident, $shelf:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub struct $key {
            pub session: Uuid,
            pub version: i64,
        }

        impl Loader<$key> for Loaders {
            type Value = Arc<SessionIntervals<$entity::Model>>;
            type Error = LoadError;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Self::Value>, Self::Error> {
                let table = <$entity::Entity as sea_orm::EntityName>::table_name(&$entity::Entity);
                let loaded =
                    session_intervals(&self.db, table, keys.iter().map(|key| (key.session, key.version))).await?;
                for (session, entry) in &loaded {
                    self.intervals.$shelf.put(*session, entry.clone());
                }
                Ok(keys.iter().map(|key| (*key, loaded[&key.session].clone())).collect())
            }
        }
    };
}

session_intervals_loader!(
    EmotionsOfSession,
    emotion_interval,
    emotions,
    "A session's expression intervals as of a results version."
);
session_intervals_loader!(
    BehavioursOfSession,
    behaviour_interval,
    behaviours,
    "A session's behaviour intervals as of a results version."
);
