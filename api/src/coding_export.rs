//! The coding as research data: ELAN-compatible tab-delimited text of a session
//! (`GET /sessions/{id}/coding.tsv`) or of a child's sessions (`GET /children/{id}/coding.tsv`).
//!
//! One row per annotation, in the reviewed view: the tier is person × kind ("Person 1
//! expression"); the organisation's codes go on a tier per person × exclusive group for STATE
//! codes in one ("Person 1 group play", whose states never overlap), else per person × code
//! ("Person 1 code looks away"); a session's markers are points on its "markers" tier. ELAN imports it with
//! File › Import › CSV / Tab-delimited Text (tier, begin, end and annotation columns); pandas
//! reads it with `read_csv(sep="\t")`. Free text (markers' codes and notes) never breaks a row
//! (tabs and line breaks become spaces) nor runs as a spreadsheet formula.

use entity::{behaviour_code, enums::CodeKind, session, session_marker};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::{
    error::{ApiError, ApiResult},
    report_files::{coded_rows, session_rows},
};

const HEADER: [&str; 11] = [
    "Session",
    "Tier",
    "Participant",
    "Begin Time - msec",
    "End Time - msec",
    "Duration - msec",
    "Begin Time - hh:mm:ss.ms",
    "End Time - hh:mm:ss.ms",
    "Annotation",
    "Source",
    "Review",
];

/// The markers' tier.
pub const MARKERS_TIER: &str = "markers";
/// A child's file holds their most recent sessions, at most this many.
const MAX_SESSIONS: u64 = 1000;

#[derive(serde::Serialize)]
struct Row<'a> {
    session: Uuid,
    tier: String,
    participant: &'a str,
    begin_ms: i64,
    end_ms: i64,
    duration_ms: i64,
    begin: String,
    end: String,
    annotation: String,
    source: &'static str,
    review: &'static str,
}

/// One session's coding. `with_notes`: markers' notes too (for those who may read notes).
pub async fn session_tsv(db: &impl ConnectionTrait, session: Uuid, with_notes: bool) -> ApiResult<(Vec<u8>, usize)> {
    let mut file = Tsv::new()?;
    file.session(db, session, with_notes).await?;
    file.finish()
}

/// Every session of a child, oldest first (`reviewed_only`: the REVIEWED ones).
pub async fn child_tsv(
    db: &impl ConnectionTrait,
    child: Uuid,
    with_notes: bool,
    reviewed_only: bool,
) -> ApiResult<(Vec<u8>, usize)> {
    let mut sessions = session::Entity::find().filter(session::Column::ChildId.eq(child));
    if reviewed_only {
        sessions = sessions.filter(crate::access::reviewed_sessions());
    }
    // The most recent sessions at most, oldest first, as the trend draws them.
    let mut sessions = sessions
        .order_by_desc(session::Column::RecordedAt)
        .order_by_desc(session::Column::Id)
        .limit(MAX_SESSIONS)
        .all(db)
        .await?;
    sessions.reverse();
    let mut file = Tsv::new()?;
    for session in &sessions {
        file.session(db, session.id, with_notes).await?;
    }
    // Each session costs one, like each row: sessions without rows are not free.
    let (bytes, rows) = file.finish()?;
    Ok((bytes, rows + sessions.len()))
}

struct Tsv {
    writer: csv::Writer<Vec<u8>>,
    rows: usize,
}

fn internal(error: csv::Error) -> ApiError {
    ApiError::from(anyhow::Error::new(error).context("writing a coding TSV"))
}

impl Tsv {
    fn new() -> ApiResult<Self> {
        let mut writer = csv::WriterBuilder::new().delimiter(b'\t').has_headers(false).from_writer(Vec::new());
        writer.write_record(HEADER).map_err(internal)?;
        Ok(Self { writer, rows: 0 })
    }

    async fn session(&mut self, db: &impl ConnectionTrait, session: Uuid, with_notes: bool) -> ApiResult<()> {
        let (people, emotions, behaviours) = session_rows(db, session).await?;
        let coded = coded_rows(db, &people.iter().map(|person| person.id).collect::<Vec<_>>()).await?;
        for person in &people {
            let participant = plain_text(&person.label);
            let tier = |kind: &str| format!("{participant} {kind}");
            for interval in emotions.iter().filter(|interval| interval.object_id == person.id) {
                self.write(Row {
                    source: interval.source.as_str(),
                    review: interval.review.map_or("", |review| review.as_str()),
                    ..row(
                        session,
                        tier("expression"),
                        &participant,
                        interval.start_ms,
                        interval.end_ms,
                        interval.emotion.as_str(),
                    )
                })?;
            }
            for interval in behaviours.iter().filter(|interval| interval.object_id == person.id) {
                self.write(Row {
                    source: interval.source.as_str(),
                    review: interval.review.map_or("", |review| review.as_str()),
                    ..row(
                        session,
                        tier("behaviour"),
                        &participant,
                        interval.start_ms,
                        interval.end_ms,
                        interval.behaviour.as_str(),
                    )
                })?;
            }
            for (interval, code) in coded.iter().filter(|(interval, _)| interval.object_id == person.id) {
                self.write(Row {
                    source: "COUNSELLOR",
                    ..row(session, tier(&code_tier(code)), &participant, interval.start_ms, interval.end_ms, &code.name)
                })?;
            }
        }
        let markers = session_marker::Entity::find()
            .filter(session_marker::Column::SessionId.eq(session))
            .order_by_asc(session_marker::Column::AtMs)
            .order_by_asc(session_marker::Column::Id)
            .all(db)
            .await?;
        for marker in markers {
            let annotation = match (&marker.note, with_notes) {
                (Some(note), true) => format!("{}: {note}", marker.code),
                _ => marker.code.clone(),
            };
            self.write(Row {
                source: "COUNSELLOR",
                ..row(session, MARKERS_TIER.to_owned(), "", marker.at_ms, marker.at_ms, &annotation)
            })?;
        }
        Ok(())
    }

    fn write(&mut self, row: Row<'_>) -> ApiResult<()> {
        self.rows += 1;
        self.writer.serialize(row).map_err(internal)
    }

    fn finish(self) -> ApiResult<(Vec<u8>, usize)> {
        let rows = self.rows;
        let bytes = self
            .writer
            .into_inner()
            .map_err(|error| ApiError::from(anyhow::anyhow!("writing a coding TSV: {error}")))?;
        Ok((bytes, rows))
    }
}

fn row<'a>(session: Uuid, tier: String, participant: &'a str, begin_ms: i64, end_ms: i64, annotation: &str) -> Row<'a> {
    Row {
        session,
        tier,
        participant,
        begin_ms,
        end_ms,
        duration_ms: end_ms - begin_ms,
        begin: clock(begin_ms),
        end: clock(end_ms),
        annotation: plain_text(annotation),
        source: "MODEL",
        review: "",
    }
}

/// The tier of a code's intervals (after the person's name): its exclusive group's for a
/// STATE code in one ("group play": the group's states never overlap), else its own ("code
/// looks away"). The prefixes keep them apart from the built-in kinds' tiers and each other.
fn code_tier(code: &behaviour_code::Model) -> String {
    match (&code.exclusive_group, code.kind) {
        (Some(group), CodeKind::State) => format!("group {}", plain_text(group)),
        _ => format!("code {}", plain_text(&code.name)),
    }
}

/// `hh:mm:ss.mmm`, as ELAN writes times.
fn clock(ms: i64) -> String {
    let ms = ms.max(0);
    format!("{:02}:{:02}:{:02}.{:03}", ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000)
}

/// Free text as one safe cell: no tabs or line breaks, and no leading formula character.
fn plain_text(text: &str) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    match flat.chars().next() {
        Some('=' | '+' | '-' | '@') => format!("'{flat}"),
        _ => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_free_text_are_written_safely() {
        assert_eq!(clock(3_723_045), "01:02:03.045");
        assert_eq!(clock(0), "00:00:00.000");
        assert_eq!(plain_text("topic:\tschool\nbreak"), "topic: school break");
        assert_eq!(plain_text("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(plain_text("break"), "break");
    }
}
