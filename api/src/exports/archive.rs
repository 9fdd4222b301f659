//! One export's ZIP: what the service holds about a child, readable without this service.
//!
//! - `README.txt` — what each file holds.
//! - `child.json` — the child and their consent history; `sessions.json` — every session with
//!   its people and their intervals, nested.
//! - `sessions.csv`, `people.csv`, `expressions.csv`, `behaviours.csv` — the same as tables.
//! - `timelines/<session>.png` — per analysed session, who showed what when.
//! - `videos/<session>.<ext>` — the videos, when asked for (stored uncompressed: they are
//!   compressed already).
//!
//! Ids are the database's UUIDs (the API's global ids are `base64("Kind:<uuid>")`).

use std::{collections::BTreeMap, io::Write, path::Path};

use anyhow::Context;
use entity::{
    behaviour_code, behaviour_interval, child, child_export, coded_interval, consent, emotion_interval,
    enums::{IntervalReview, Role},
    organisation, session, session_marker, tracked_object, user,
};
use imind_inference::{Readability, chart::lanes_png};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::review::IntervalView;
use crate::{
    blob::{self, BlobStore, LocalCopy},
    report_pictures,
};

const README: &str = "\
This archive holds what i-mind stores about one child.

child.json        the child's record and the history of consents given and withdrawn
sessions.json     every session, the people found in its video and their intervals (and the
                  counsellors' intervals coded with the organisation's codes), nested
sessions.csv      one row per session
people.csv        one row per person found in a session's video
expressions.csv   one row per interval of an observed facial expression
behaviours.csv    one row per interval of an observed posture, movement or gesture
coding.tsv        the coding as ELAN-compatible tab-delimited text: one row per interval
                  (tier = person and kind, or person and code group) with its source (MODEL
                  or COUNSELLOR) and review, and the sessions' markers as points on the
                  markers tier
timelines/        one picture per analysed session: who showed what, when
videos/           the session videos, if they were asked for

Times are milliseconds from the start of the session's video; an interval's end is exclusive.
Intervals are as the counsellors reviewed them (without those they rejected).
Expression labels describe what a face showed, as a model observed it, not what the person
felt. Ids are UUIDs.
";

/// Rows per `IN (...)` list: well under both backends' bound-parameter limits.
const CHUNK: usize = 500;

/// Everything exported, loaded before the ZIP is written.
struct Contents {
    child: child::Model,
    consents: Vec<consent::Model>,
    sessions: Vec<session::Model>,
    people: Vec<tracked_object::Model>,
    expressions: Vec<emotion_interval::Model>,
    behaviours: Vec<behaviour_interval::Model>,
    coded: Vec<(coded_interval::Model, behaviour_code::Model)>,
    markers: Vec<session_marker::Model>,
    coding_tsv: Vec<u8>,
    include_notes: bool,
}

/// Builds the export's ZIP in a temporary file under `temp_dir`; returns it and its size.
pub async fn build(
    db: &DatabaseConnection,
    blobs: &dyn BlobStore,
    temp_dir: &Path,
    export: &child_export::Model,
) -> anyhow::Result<(tempfile::TempPath, u64)> {
    let contents = load(db, export).await?;
    let videos: Vec<(Uuid, String)> = match export.include_videos {
        true => contents.sessions.iter().filter_map(|s| Some((s.id, s.video_blob_key.clone()?))).collect(),
        false => Vec::new(),
    };
    let zip_path = blob::temp_file(temp_dir, "export-")?;
    let file = std::fs::File::create(&zip_path)?;
    let mut zip = tokio::task::spawn_blocking(move || write_records(file, &contents)).await??;
    // One video at a time: a temporary copy (from S3) exists only while it is added.
    for (session_id, key) in videos {
        let copy = LocalCopy::of(blobs, &key, temp_dir).await.context("fetching a video")?;
        zip = tokio::task::spawn_blocking(move || add_video(zip, session_id, &copy)).await??;
    }
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        zip.finish()?.flush()?;
        Ok(())
    })
    .await??;
    let size = std::fs::metadata(&zip_path)?.len();
    Ok((zip_path, size))
}

async fn load(db: &DatabaseConnection, export: &child_export::Model) -> anyhow::Result<Contents> {
    let child = child::Entity::find_by_id(export.child_id).one(db).await?.context("the child was erased")?;
    let consents = consent::Entity::find()
        .filter(consent::Column::ChildId.eq(child.id))
        .order_by_asc(consent::Column::GivenAt)
        .all(db)
        .await?;
    // A guardian's export holds what they may see: with the organisation's policy, the
    // REVIEWED sessions only.
    let requester = match export.requested_by {
        Some(id) => user::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let organisation = organisation::Entity::find_by_id(child.organisation_id).one(db).await?;
    let reviewed_only = requester.is_some_and(|requester| requester.role == Role::Guardian)
        && organisation.is_some_and(|organisation| organisation.guardians_see_reviewed_only);
    let mut sessions = session::Entity::find().filter(session::Column::ChildId.eq(child.id));
    if reviewed_only {
        sessions = sessions.filter(crate::access::reviewed_sessions());
    }
    let sessions = sessions.order_by_asc(session::Column::RecordedAt).order_by_asc(session::Column::Id).all(db).await?;
    let mut people = Vec::new();
    for ids in sessions.iter().map(|s| s.id).collect::<Vec<_>>().chunks(CHUNK) {
        people.extend(
            tracked_object::Entity::find()
                .filter(tracked_object::Column::SessionId.is_in(ids.iter().copied()))
                .order_by_asc(tracked_object::Column::FirstSeenMs)
                .order_by_asc(tracked_object::Column::Id)
                .all(db)
                .await?,
        );
    }
    let (mut expressions, mut behaviours) = (Vec::new(), Vec::new());
    for ids in people.iter().map(|p| p.id).collect::<Vec<_>>().chunks(CHUNK) {
        expressions.extend(
            emotion_interval::Entity::find()
                .filter(emotion_interval::Column::ObjectId.is_in(ids.iter().copied()))
                .filter(IntervalView::reviewed(emotion_interval::Column::Review))
                .order_by_asc(emotion_interval::Column::StartMs)
                .order_by_asc(emotion_interval::Column::Id)
                .all(db)
                .await?,
        );
        behaviours.extend(
            behaviour_interval::Entity::find()
                .filter(behaviour_interval::Column::ObjectId.is_in(ids.iter().copied()))
                .filter(IntervalView::reviewed(behaviour_interval::Column::Review))
                .order_by_asc(behaviour_interval::Column::StartMs)
                .order_by_asc(behaviour_interval::Column::Id)
                .all(db)
                .await?,
        );
    }
    let person_ids: Vec<Uuid> = people.iter().map(|person| person.id).collect();
    let coded = crate::report_files::coded_rows(db, &person_ids)
        .await
        .map_err(|error| anyhow::anyhow!("loading the coded intervals: {error:?}"))?;
    let mut markers = Vec::new();
    for ids in sessions.iter().map(|s| s.id).collect::<Vec<_>>().chunks(CHUNK) {
        markers.extend(
            session_marker::Entity::find()
                .filter(session_marker::Column::SessionId.is_in(ids.iter().copied()))
                .order_by_asc(session_marker::Column::AtMs)
                .order_by_asc(session_marker::Column::Id)
                .all(db)
                .await?,
        );
    }
    let (coding_tsv, _) = crate::coding_export::child_tsv(db, child.id, export.include_notes, reviewed_only)
        .await
        .map_err(|error| anyhow::anyhow!("writing the coding: {error:?}"))?;
    Ok(Contents {
        child,
        consents,
        sessions,
        people,
        expressions,
        behaviours,
        coded,
        markers,
        coding_tsv,
        include_notes: export.include_notes,
    })
}

type Archive = zip::ZipWriter<std::io::BufWriter<std::fs::File>>;

/// Starts the ZIP with everything but the videos.
fn write_records(file: std::fs::File, contents: &Contents) -> anyhow::Result<Archive> {
    use zip::{CompressionMethod, write::SimpleFileOptions};
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let mut add = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        zip.start_file(name, deflated)?;
        zip.write_all(bytes)?;
        Ok(())
    };
    add("README.txt", README.as_bytes())?;
    add("child.json", &serde_json::to_vec_pretty(&child_json(contents))?)?;
    add("sessions.json", &serde_json::to_vec_pretty(&sessions_json(contents))?)?;
    add("sessions.csv", &sessions_csv(contents)?)?;
    add("people.csv", &people_csv(contents)?)?;
    add("expressions.csv", &expressions_csv(contents)?)?;
    add("behaviours.csv", &behaviours_csv(contents)?)?;
    add("coding.tsv", &contents.coding_tsv)?;
    for session in &contents.sessions {
        if let Some(png) = timeline(contents, session)? {
            add(&format!("timelines/{}.png", session.id), &png)?;
        }
    }
    Ok(zip)
}

/// Adds a session's video, uncompressed (it is compressed already).
fn add_video(mut zip: Archive, session_id: Uuid, copy: &LocalCopy) -> anyhow::Result<Archive> {
    use zip::{CompressionMethod, write::SimpleFileOptions};
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored).large_file(true);
    let mut video = std::fs::File::open(copy.path())?;
    zip.start_file(format!("videos/{session_id}.{}", video_extension(copy.path())), stored)?;
    std::io::copy(&mut video, &mut zip)?;
    Ok(zip)
}

fn child_json(contents: &Contents) -> Value {
    let child = &contents.child;
    json!({
        "id": child.id,
        "name": child.name,
        "birthDate": child.birth_date,
        "notes": if contents.include_notes { child.notes.clone() } else { None },
        "createdAt": child.created_at,
        "consents": contents.consents.iter().map(|consent| json!({
            "kind": consent.kind.as_str(),
            "givenBy": consent.given_by,
            "givenByRole": consent.given_by_role.as_str(),
            "givenAt": consent.given_at,
            "textVersion": consent.text_version,
            "withdrawnAt": consent.withdrawn_at,
        })).collect::<Vec<_>>(),
    })
}

fn sessions_json(contents: &Contents) -> Value {
    let mut people_of: BTreeMap<Uuid, Vec<&tracked_object::Model>> = BTreeMap::new();
    for person in &contents.people {
        people_of.entry(person.session_id).or_default().push(person);
    }
    let mut expressions_of: BTreeMap<Uuid, Vec<Value>> = BTreeMap::new();
    for interval in &contents.expressions {
        expressions_of.entry(interval.object_id).or_default().push(json!({
            "id": interval.id,
            "expression": interval.emotion.as_str(),
            "source": interval.source.as_str(),
            "review": interval.review.map(IntervalReview::as_str),
            "startMs": interval.start_ms,
            "endMs": interval.end_ms,
            "meanConfidence": interval.mean_confidence,
            "peakConfidence": interval.peak_confidence,
            "samples": interval.supporting_samples(),
        }));
    }
    let mut behaviours_of: BTreeMap<Uuid, Vec<Value>> = BTreeMap::new();
    for interval in &contents.behaviours {
        behaviours_of.entry(interval.object_id).or_default().push(json!({
            "id": interval.id,
            "behaviour": interval.behaviour.as_str(),
            "source": interval.source.as_str(),
            "review": interval.review.map(IntervalReview::as_str),
            "startMs": interval.start_ms,
            "endMs": interval.end_ms,
            "meanConfidence": interval.mean_confidence,
            "samples": interval.supporting_samples(),
        }));
    }
    let mut coded_of: BTreeMap<Uuid, Vec<Value>> = BTreeMap::new();
    for (interval, code) in &contents.coded {
        coded_of.entry(interval.object_id).or_default().push(json!({
            "id": interval.id,
            "code": code.name,
            "kind": code.kind.as_str(),
            "group": code.exclusive_group,
            "startMs": interval.start_ms,
            "endMs": interval.end_ms,
            // Who coded it, for research exports (two coders' agreement); not for families.
            "codedBy": contents.include_notes.then_some(interval.coded_by),
        }));
    }
    let sessions = contents.sessions.iter().map(|session| {
        let people = people_of.get(&session.id).into_iter().flatten().map(|person| {
            json!({
                "id": person.id,
                "label": person.label,
                "role": person.role.as_str(),
                "roleConfidence": person.role_confidence,
                "isThisChild": person.child_id == Some(contents.child.id),
                "firstSeenMs": person.first_seen_ms,
                "lastSeenMs": person.last_seen_ms,
                "faceQuality": crate::reports::face_counts(person),
                "expressions": expressions_of.remove(&person.id).unwrap_or_default(),
                "behaviours": behaviours_of.remove(&person.id).unwrap_or_default(),
                "codes": coded_of.remove(&person.id).unwrap_or_default(),
            })
        });
        json!({
            "id": session.id,
            "title": session.title,
            "recordedAt": session.recorded_at,
            "status": session.status.as_str(),
            "notes": if contents.include_notes { session.notes.clone() } else { None },
            "video": session.video_duration_ms.map(|duration| json!({
                "durationMs": duration,
                "fps": session.video_fps,
                "width": session.video_width,
                "height": session.video_height,
                "sha256": session.video_sha256,
            })),
            "people": people.collect::<Vec<_>>(),
            "markers": contents.markers.iter().filter(|marker| marker.session_id == session.id).map(|marker| json!({
                "atMs": marker.at_ms,
                "code": marker.code,
                "note": if contents.include_notes { marker.note.clone() } else { None },
                "author": marker.author_id,
            })).collect::<Vec<_>>(),
        })
    });
    Value::Array(sessions.collect())
}

fn csv_of<R: serde::Serialize>(rows: impl IntoIterator<Item = R>) -> anyhow::Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        writer.serialize(row)?;
    }
    Ok(writer.into_inner()?)
}

#[derive(serde::Serialize)]
struct SessionRow<'a> {
    session_id: Uuid,
    recorded_at: String,
    title: &'a str,
    status: &'static str,
    video_duration_ms: Option<i64>,
}

fn sessions_csv(contents: &Contents) -> anyhow::Result<Vec<u8>> {
    csv_of(contents.sessions.iter().map(|session| SessionRow {
        session_id: session.id,
        recorded_at: session.recorded_at.to_rfc3339(),
        title: &session.title,
        status: session.status.as_str(),
        video_duration_ms: session.video_duration_ms,
    }))
}

#[derive(serde::Serialize)]
struct PersonRow<'a> {
    session_id: Uuid,
    person_id: Uuid,
    label: &'a str,
    role: &'static str,
    role_confidence: f64,
    is_this_child: bool,
    first_seen_ms: i64,
    last_seen_ms: i64,
    /// Analysed samples the person was seen in, with a face, and with a face good enough to
    /// read (empty for results analysed before they were counted).
    samples: Option<i32>,
    face_samples: Option<i32>,
    usable_face_samples: Option<i32>,
    /// READABLE, FACE_UNUSABLE or NO_FACE_SEEN (empty as the counts).
    expression_readability: &'static str,
}

fn people_csv(contents: &Contents) -> anyhow::Result<Vec<u8>> {
    csv_of(contents.people.iter().map(|person| PersonRow {
        session_id: person.session_id,
        person_id: person.id,
        label: &person.label,
        role: person.role.as_str(),
        role_confidence: person.role_confidence,
        is_this_child: person.child_id == Some(contents.child.id),
        first_seen_ms: person.first_seen_ms,
        last_seen_ms: person.last_seen_ms,
        samples: person.samples,
        face_samples: person.face_samples,
        usable_face_samples: person.usable_face_samples,
        expression_readability: crate::reports::face_counts(person).map_or("", |counts| match counts.readability() {
            Readability::Readable => "READABLE",
            Readability::FaceUnusable => "FACE_UNUSABLE",
            Readability::NoFaceSeen => "NO_FACE_SEEN",
        }),
    }))
}

#[derive(serde::Serialize)]
struct IntervalRow {
    session_id: Uuid,
    person_id: Uuid,
    interval_id: Uuid,
    label: &'static str,
    start_ms: i64,
    end_ms: i64,
    mean_confidence: f64,
    peak_confidence: Option<f64>,
    source: &'static str,
    review: Option<&'static str>,
    samples: Option<i32>,
}

fn session_of(contents: &Contents) -> BTreeMap<Uuid, Uuid> {
    contents.people.iter().map(|person| (person.id, person.session_id)).collect()
}

fn expressions_csv(contents: &Contents) -> anyhow::Result<Vec<u8>> {
    let session_of = session_of(contents);
    csv_of(contents.expressions.iter().map(|interval| IntervalRow {
        session_id: session_of[&interval.object_id],
        person_id: interval.object_id,
        interval_id: interval.id,
        label: interval.emotion.as_str(),
        start_ms: interval.start_ms,
        end_ms: interval.end_ms,
        mean_confidence: interval.mean_confidence,
        peak_confidence: Some(interval.peak_confidence),
        source: interval.source.as_str(),
        review: interval.review.map(IntervalReview::as_str),
        samples: interval.supporting_samples(),
    }))
}

fn behaviours_csv(contents: &Contents) -> anyhow::Result<Vec<u8>> {
    let session_of = session_of(contents);
    csv_of(contents.behaviours.iter().map(|interval| IntervalRow {
        session_id: session_of[&interval.object_id],
        person_id: interval.object_id,
        interval_id: interval.id,
        label: interval.behaviour.as_str(),
        start_ms: interval.start_ms,
        end_ms: interval.end_ms,
        mean_confidence: interval.mean_confidence,
        peak_confidence: None,
        source: interval.source.as_str(),
        review: interval.review.map(IntervalReview::as_str),
        samples: interval.supporting_samples(),
    }))
}

/// The session's timeline picture (`report_pictures`). `None` for a session without results.
fn timeline(contents: &Contents, session: &session::Model) -> anyhow::Result<Option<Vec<u8>>> {
    let Some(chart) = report_pictures::session_chart(
        session,
        &contents.people,
        &contents.expressions,
        &contents.behaviours,
        &contents.markers,
    ) else {
        return Ok(None);
    };
    Ok(Some(lanes_png(&chart.title, chart.duration_ms, &chart.lanes, &chart.legend)?))
}

/// The container, from the first bytes (the store keeps no file names).
fn video_extension(path: &Path) -> &'static str {
    use std::io::Read;
    let mut head = [0u8; 12];
    let read = std::fs::File::open(path).and_then(|mut file| file.read(&mut head)).unwrap_or(0);
    let head = &head[..read];
    if head.len() >= 8 && &head[4..8] == b"ftyp" {
        "mp4"
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"AVI " {
        "avi"
    } else if head.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]) {
        "mkv"
    } else {
        "video"
    }
}
