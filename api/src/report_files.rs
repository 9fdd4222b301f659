//! Report files served over plain HTTP: a session's intervals as CSV (one row per interval of
//! every person), and the short-lived links that fetch them for one viewer. A link names its
//! viewer (`user:<uuid>` or `apikey:<uuid>`), so the viewer's rights are checked again when it
//! is used, as they are now rather than as they were when it was made.

use std::collections::HashMap;

use chrono::Utc;
use entity::{behaviour_interval, emotion_interval, tracked_object, user};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::{
    auth::Viewer,
    error::{ApiError, ApiResult},
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

/// What a link's signature covers: the file and its viewer.
pub fn link_subject(session: Uuid, viewer: &LinkedViewer) -> String {
    format!("sessions/{session}/intervals.csv|{}", viewer.as_string())
}

/// A link to `session`'s intervals for `viewer`, valid for `video_url_ttl_secs`. `path_id` is
/// the session's id as clients know it (its global id).
pub fn intervals_link(app: &AppState, session: Uuid, path_id: &str, viewer: &Viewer) -> String {
    let linked = LinkedViewer::of(viewer);
    let expires = Utc::now().timestamp() + app.settings.video_url_ttl_secs as i64;
    let signature = app.links.sign("GET", &link_subject(session, &linked), None, expires);
    format!(
        "{}/sessions/{path_id}/intervals.csv?viewer={}&expires={expires}&signature={signature}",
        app.public_url.trim_end_matches('/'),
        linked.as_string()
    )
}

const HEADER: [&str; 9] =
    ["person_id", "person", "role", "kind", "label", "start_ms", "end_ms", "mean_confidence", "peak_confidence"];

/// One line of the file, in `HEADER`'s order.
#[derive(serde::Serialize)]
struct IntervalRow<'a> {
    person_id: Uuid,
    person: &'a str,
    role: &'static str,
    kind: &'static str,
    label: &'static str,
    start_ms: i64,
    end_ms: i64,
    mean_confidence: f64,
    peak_confidence: f64,
}

/// Every interval of every person in `session`: by person (as listed in the session), then
/// expressions before behaviours, each by start. Returns the file and its number of rows.
pub async fn intervals_csv(db: &impl ConnectionTrait, session: Uuid) -> ApiResult<(Vec<u8>, usize)> {
    let people = tracked_object::Entity::find()
        .filter(tracked_object::Column::SessionId.eq(session))
        .order_by_asc(tracked_object::Column::FirstSeenMs)
        .order_by_asc(tracked_object::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = people.iter().map(|person| person.id).collect();
    let emotions = emotion_interval::Entity::find()
        .filter(emotion_interval::Column::ObjectId.is_in(ids.clone()))
        .order_by_asc(emotion_interval::Column::StartMs)
        .order_by_asc(emotion_interval::Column::Id)
        .all(db)
        .await?;
    let behaviours = behaviour_interval::Entity::find()
        .filter(behaviour_interval::Column::ObjectId.is_in(ids))
        .order_by_asc(behaviour_interval::Column::StartMs)
        .order_by_asc(behaviour_interval::Column::Id)
        .all(db)
        .await?;
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
        };
        for i in emotions_of.remove(&person.id).unwrap_or_default() {
            let expression =
                row("EXPRESSION", i.emotion.as_str(), i.start_ms, i.end_ms, i.mean_confidence, i.peak_confidence);
            writer.serialize(expression).map_err(internal)?;
        }
        for i in behaviours_of.remove(&person.id).unwrap_or_default() {
            let behaviour =
                row("BEHAVIOUR", i.behaviour.as_str(), i.start_ms, i.end_ms, i.mean_confidence, i.peak_confidence);
            writer.serialize(behaviour).map_err(internal)?;
        }
    }
    let rows = emotions.len() + behaviours.len();
    let file = writer.into_inner().map_err(|error| ApiError::from(anyhow::anyhow!("writing a CSV: {error}")))?;
    Ok((file, rows))
}
