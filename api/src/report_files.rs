//! Report files served over plain HTTP: a session's intervals as CSV (one row per interval of
//! every person) and its timeline picture, a child's trend picture, and the short-lived links
//! that fetch a session's files for one viewer. A link names its
//! viewer (`user:<uuid>` or `apikey:<uuid>`), so the viewer's rights are checked again when it
//! is used, as they are now rather than as they were when it was made.

use std::collections::HashMap;

use chrono::Utc;
use entity::{
    behaviour_code, behaviour_interval, child, coded_interval, emotion_interval,
    enums::{Emotion, ObjectRole, SessionStatus},
    session, session_marker, tracked_object, user,
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Value,
};
use uuid::Uuid;

use crate::review::IntervalView;
use crate::{
    auth::Viewer,
    error::{ApiError, ApiResult},
    report_pictures,
    sql::{Sql, statement},
    state::AppState,
};

/// Whose rights a link carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkedViewer {
    User(Uuid),
    Key(Uuid),
}

impl LinkedViewer {
    pub fn of(viewer: &Viewer) -> Self {
        match viewer.key() {
            Some(key) => LinkedViewer::Key(key.id),
            None => LinkedViewer::User(viewer.user_id),
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        let (kind, id) = text.split_once(':')?;
        let id = Uuid::parse_str(id).ok()?;
        match kind {
            "user" => Some(LinkedViewer::User(id)),
            "apikey" => Some(LinkedViewer::Key(id)),
            _ => None,
        }
    }

    fn as_string(&self) -> String {
        match self {
            LinkedViewer::User(id) => format!("user:{id}"),
            LinkedViewer::Key(id) => format!("apikey:{id}"),
        }
    }

    /// The viewer as they stand now: the user with their current role, or the key if it still
    /// stands.
    pub async fn viewer(&self, app: &AppState) -> ApiResult<Option<Viewer>> {
        match *self {
            LinkedViewer::User(id) => {
                let found = user::Entity::find_by_id(id).one(&app.db).await?;
                Ok(found.map(|user| Viewer::user(user.id, user.organisation_id, user.role)))
            }
            LinkedViewer::Key(id) => Ok(app.sign_ins.keys().by_id(id).await?.map(|credential| credential.viewer)),
        }
    }
}

/// A session's files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionFile {
    IntervalsCsv,
    TimelineSvg,
    TimelinePng,
    CodingTsv,
}

impl SessionFile {
    const ALL: [SessionFile; 4] =
        [SessionFile::IntervalsCsv, SessionFile::TimelineSvg, SessionFile::TimelinePng, SessionFile::CodingTsv];

    /// The file a path's last segment names.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|file| file.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            SessionFile::IntervalsCsv => "intervals.csv",
            SessionFile::TimelineSvg => "timeline.svg",
            SessionFile::TimelinePng => "timeline.png",
            SessionFile::CodingTsv => "coding.tsv",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            SessionFile::IntervalsCsv => "text/csv; charset=utf-8",
            SessionFile::TimelineSvg => "image/svg+xml",
            SessionFile::TimelinePng => "image/png",
            SessionFile::CodingTsv => "text/tab-separated-values; charset=utf-8",
        }
    }
}

/// What a link's signature covers: the file and its viewer.
pub fn link_subject(session: Uuid, file: SessionFile, viewer: &LinkedViewer) -> String {
    format!("sessions/{session}/{}|{}", file.name(), viewer.as_string())
}

/// A link to one of `session`'s files for `viewer`, valid for `video_url_ttl_secs`. `path_id`
/// is the session's id as clients know it (its global id).
pub fn session_link(app: &AppState, session: Uuid, path_id: &str, file: SessionFile, viewer: &Viewer) -> String {
    let linked = LinkedViewer::of(viewer);
    let expires = Utc::now().timestamp() + app.settings.video_url_ttl_secs as i64;
    let signature = app.links.sign("GET", &link_subject(session, file, &linked), None, expires);
    format!(
        "{}/sessions/{path_id}/{}?viewer={}&expires={expires}&signature={signature}",
        app.public_url.trim_end_matches('/'),
        file.name(),
        linked.as_string()
    )
}

/// The session's timeline picture as `file` (SVG or PNG) and the number of intervals it draws,
/// drawn once per results version. `NotFound` for a session without results.
pub async fn timeline(app: &AppState, session_id: Uuid, file: SessionFile) -> ApiResult<(Vec<u8>, usize)> {
    let session = session::Entity::find_by_id(session_id).one(&app.db).await?.ok_or(ApiError::NotFound)?;
    if session.status != SessionStatus::Done {
        return Err(ApiError::NotFound);
    }
    let key = (session.id, session.results_version, file.name());
    if let Some(drawn) = app.pictures.get(&key) {
        return Ok(drawn);
    }
    let (people, emotions, behaviours) = session_rows(&app.db, session.id).await?;
    let markers = session_marker::Entity::find()
        .filter(session_marker::Column::SessionId.eq(session.id))
        .order_by_asc(session_marker::Column::AtMs)
        .all(&app.db)
        .await?;
    let chart = report_pictures::session_chart(&session, &people, &emotions, &behaviours, &markers)
        .ok_or(ApiError::NotFound)?;
    let bytes = match file {
        SessionFile::TimelinePng => tokio::task::spawn_blocking(move || {
            imind_inference::chart::lanes_png(&chart.title, chart.duration_ms, &chart.lanes, &chart.legend)
        })
        .await
        .map_err(|error| ApiError::from(anyhow::Error::new(error).context("drawing a timeline")))?
        .map_err(|error| ApiError::from(anyhow::Error::new(error).context("drawing a timeline")))?,
        _ => report_pictures::timeline_svg(&chart).into_bytes(),
    };
    let drawn = (bytes, emotions.len() + behaviours.len());
    app.pictures.put(key, drawn.clone());
    Ok(drawn)
}

/// The most sessions a trend draws (the most recent ones), as `Child.emotionTrend` pages.
const TREND_SESSIONS: u64 = 1000;

/// A child's expression shares per analysed session, as SVG, and the rows it summed: the
/// figures of `Child.emotionTrend` (the person labelled as the child, else guessed CHILD),
/// summed by the database.
pub async fn trend(app: &AppState, child_id: Uuid, reviewed_only: bool) -> ApiResult<(Vec<u8>, usize)> {
    let child = child::Entity::find_by_id(child_id).one(&app.db).await?.ok_or(ApiError::NotFound)?;
    let mut sessions = session::Entity::find()
        .filter(session::Column::ChildId.eq(child.id))
        .filter(session::Column::Status.eq(SessionStatus::Done));
    if reviewed_only {
        sessions = sessions.filter(crate::access::reviewed_sessions());
    }
    let mut sessions = sessions
        .order_by_desc(session::Column::RecordedAt)
        .order_by_desc(session::Column::Id)
        .limit(TREND_SESSIONS)
        .all(&app.db)
        .await?;
    sessions.reverse();
    let times = emotion_time_of_child_person(&app.db, sessions.iter().map(|session| session.id)).await?;
    let rows: usize = times.values().map(Vec::len).sum();
    let trend: Vec<report_pictures::TrendSession> = sessions
        .iter()
        .map(|session| report_pictures::TrendSession {
            recorded_at: session.recorded_at,
            expression_ms: times.get(&session.id).cloned().unwrap_or_default(),
        })
        .collect();
    Ok((report_pictures::trend_svg(&child.name, &trend).into_bytes(), rows.max(trend.len())))
}

/// Which of a session's people (`o`, of session `s`) is its child: the one labelled as them,
/// or else one guessed CHILD. Binds one value: `ObjectRole::Child`.
const CHILD_PERSON: &str = "(o.child_id = s.child_id OR (o.child_id IS NULL AND o.role = ?))";

/// Per session, the intervals of one kind (`table`, whose label is in `label_column`) of the
/// person who is the session's child, as `emotion_time_of_child_person` picks them; one
/// statement.
pub async fn spans_of_child_person<L: sea_orm::TryGetable>(
    db: &impl ConnectionTrait,
    table: &str,
    label_column: &str,
    sessions: impl IntoIterator<Item = Uuid>,
) -> Result<HashMap<Uuid, Vec<crate::reports::Span<L>>>, sea_orm::DbErr> {
    let condition = Sql::is_in("s.id", sessions.into_iter().map(Value::from));
    let text = format!(
        "SELECT s.id AS owner, i.{label_column} AS label, i.start_ms AS start_ms, i.end_ms AS end_ms \
         FROM sessions s \
         JOIN tracked_objects o ON o.session_id = s.id \
         JOIN {table} i ON i.object_id = o.id \
         WHERE {} AND {CHILD_PERSON} AND {}",
        condition.text,
        IntervalView::reviewed_sql("i"),
    );
    let mut values = condition.values;
    values.push(ObjectRole::Child.as_str().into());
    let rows = db.query_all_raw(statement(db.get_database_backend(), &text, values)).await?;
    let mut spans: HashMap<Uuid, Vec<crate::reports::Span<L>>> = HashMap::new();
    for row in rows {
        let span = crate::reports::Span {
            label: row.try_get("", "label")?,
            start_ms: row.try_get("", "start_ms")?,
            end_ms: row.try_get("", "end_ms")?,
        };
        spans.entry(row.try_get("", "owner")?).or_default().push(span);
    }
    Ok(spans)
}

#[derive(sea_orm::FromQueryResult)]
struct EmotionTimeRow {
    owner: Uuid,
    emotion: Emotion,
    total_ms: i64,
}

/// Per session, milliseconds of each expression shown by the person who is the session's
/// child (labelled as them, or else guessed CHILD), by expression name; one statement.
pub async fn emotion_time_of_child_person(
    db: &impl ConnectionTrait,
    sessions: impl IntoIterator<Item = Uuid>,
) -> Result<HashMap<Uuid, Vec<(Emotion, i64)>>, sea_orm::DbErr> {
    let condition = Sql::is_in("s.id", sessions.into_iter().map(Value::from));
    let text = format!(
        "SELECT s.id AS owner, i.emotion AS emotion, CAST(SUM(i.end_ms - i.start_ms) AS BIGINT) AS total_ms \
         FROM sessions s \
         JOIN tracked_objects o ON o.session_id = s.id \
         JOIN emotion_intervals i ON i.object_id = o.id \
         WHERE {} AND {CHILD_PERSON} AND {} \
         GROUP BY s.id, i.emotion ORDER BY s.id, i.emotion",
        condition.text,
        IntervalView::reviewed_sql("i"),
    );
    let mut values = condition.values;
    values.push(ObjectRole::Child.as_str().into());
    let rows = EmotionTimeRow::find_by_statement(statement(db.get_database_backend(), &text, values)).all(db).await?;
    let mut times: HashMap<Uuid, Vec<(Emotion, i64)>> = HashMap::new();
    for row in rows {
        times.entry(row.owner).or_default().push((row.emotion, row.total_ms));
    }
    Ok(times)
}

/// A session's people (as listed) and their intervals (reviewed view), each kind by start.
pub async fn session_rows(
    db: &impl ConnectionTrait,
    session: Uuid,
) -> ApiResult<(Vec<tracked_object::Model>, Vec<emotion_interval::Model>, Vec<behaviour_interval::Model>)> {
    let people = tracked_object::Entity::find()
        .filter(tracked_object::Column::SessionId.eq(session))
        .order_by_asc(tracked_object::Column::FirstSeenMs)
        .order_by_asc(tracked_object::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = people.iter().map(|person| person.id).collect();
    let emotions = emotion_interval::Entity::find()
        .filter(emotion_interval::Column::ObjectId.is_in(ids.clone()))
        .filter(IntervalView::reviewed(emotion_interval::Column::Review))
        .order_by_asc(emotion_interval::Column::StartMs)
        .order_by_asc(emotion_interval::Column::Id)
        .all(db)
        .await?;
    let behaviours = behaviour_interval::Entity::find()
        .filter(behaviour_interval::Column::ObjectId.is_in(ids))
        .filter(IntervalView::reviewed(behaviour_interval::Column::Review))
        .order_by_asc(behaviour_interval::Column::StartMs)
        .order_by_asc(behaviour_interval::Column::Id)
        .all(db)
        .await?;
    Ok((people, emotions, behaviours))
}

/// The intervals of `people` coded with the organisation's codes, by start, each with its
/// code.
pub async fn coded_rows(
    db: &impl ConnectionTrait,
    people: &[Uuid],
) -> ApiResult<Vec<(coded_interval::Model, behaviour_code::Model)>> {
    let mut rows = Vec::new();
    // Bounded lists: well under both backends' bound-parameter limits.
    for ids in people.chunks(500) {
        let found = coded_interval::Entity::find()
            .find_also_related(behaviour_code::Entity)
            .filter(coded_interval::Column::ObjectId.is_in(ids.iter().copied()))
            .order_by_asc(coded_interval::Column::StartMs)
            .order_by_asc(coded_interval::Column::Id)
            .all(db)
            .await?;
        rows.extend(
            found.into_iter().map(|(row, code)| {
                (row, code.expect("a coded interval's code is kept by a foreign key. This is a bug."))
            }),
        );
    }
    Ok(rows)
}

const HEADER: [&str; 12] = [
    "person_id",
    "person",
    "role",
    "kind",
    "label",
    "start_ms",
    "end_ms",
    "mean_confidence",
    "peak_confidence",
    "source",
    "review",
    "samples",
];

/// One line of the file, in `HEADER`'s order.
#[derive(serde::Serialize)]
struct IntervalRow<'a> {
    person_id: Uuid,
    person: &'a str,
    role: &'static str,
    kind: &'static str,
    label: &'a str,
    start_ms: i64,
    end_ms: i64,
    mean_confidence: f64,
    peak_confidence: f64,
    source: &'static str,
    review: &'static str,
    /// Empty for a counsellor's own, and for results analysed before samples were counted.
    samples: Option<i32>,
}

/// Every interval of every person in `session`: by person (as listed in the session), then
/// expressions, behaviours and the organisation's codes (kind `CODE`), each by start. Returns
/// the file and its number of rows.
pub async fn intervals_csv(db: &impl ConnectionTrait, session: Uuid) -> ApiResult<(Vec<u8>, usize)> {
    let (people, emotions, behaviours) = session_rows(db, session).await?;
    let coded = coded_rows(db, &people.iter().map(|person| person.id).collect::<Vec<_>>()).await?;
    let mut coded_of: HashMap<Uuid, Vec<&(coded_interval::Model, behaviour_code::Model)>> = HashMap::new();
    for interval in &coded {
        coded_of.entry(interval.0.object_id).or_default().push(interval);
    }
    // The header written by hand: a session without people still opens as a table.
    let mut writer = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
    let internal = |error: csv::Error| ApiError::from(anyhow::Error::new(error).context("writing a CSV"));
    writer.write_record(HEADER).map_err(internal)?;
    let mut emotions_of: HashMap<Uuid, Vec<&emotion_interval::Model>> = HashMap::new();
    for interval in &emotions {
        emotions_of.entry(interval.object_id).or_default().push(interval);
    }
    let mut behaviours_of: HashMap<Uuid, Vec<&behaviour_interval::Model>> = HashMap::new();
    for interval in &behaviours {
        behaviours_of.entry(interval.object_id).or_default().push(interval);
    }
    for person in &people {
        let row = |kind, label, start_ms, end_ms, mean_confidence, peak_confidence| IntervalRow {
            person_id: person.id,
            person: &person.label,
            role: person.role.as_str(),
            kind,
            label,
            start_ms,
            end_ms,
            mean_confidence,
            peak_confidence,
            source: "",
            review: "",
            samples: None,
        };
        let review = |review: Option<entity::enums::IntervalReview>| review.map_or("", |review| review.as_str());
        for i in emotions_of.remove(&person.id).unwrap_or_default() {
            let expression = IntervalRow {
                source: i.source.as_str(),
                review: review(i.review),
                samples: i.supporting_samples(),
                ..row("EXPRESSION", i.emotion.as_str(), i.start_ms, i.end_ms, i.mean_confidence, i.peak_confidence)
            };
            writer.serialize(expression).map_err(internal)?;
        }
        for i in behaviours_of.remove(&person.id).unwrap_or_default() {
            let behaviour = IntervalRow {
                source: i.source.as_str(),
                review: review(i.review),
                samples: i.supporting_samples(),
                ..row("BEHAVIOUR", i.behaviour.as_str(), i.start_ms, i.end_ms, i.mean_confidence, i.peak_confidence)
            };
            writer.serialize(behaviour).map_err(internal)?;
        }
        for (i, code) in coded_of.remove(&person.id).unwrap_or_default() {
            let coded = IntervalRow { source: "COUNSELLOR", ..row("CODE", &code.name, i.start_ms, i.end_ms, 1.0, 1.0) };
            writer.serialize(coded).map_err(internal)?;
        }
    }
    let rows = emotions.len() + behaviours.len() + coded.len();
    let file = writer.into_inner().map_err(|error| ApiError::from(anyhow::anyhow!("writing a CSV: {error}")))?;
    Ok((file, rows))
}
