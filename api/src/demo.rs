//! `imind serve --demo`: a demo organisation with logins, children, analysed sessions and
//! plausible intervals, so the playground has something to show before any video is analysed.
//! Deterministic (fixed seed) and idempotent (skipped when the demo admin exists).

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use entity::{
    behaviour_interval, emotion_interval,
    enums::{Behaviour, ConsentKind, Emotion, ObjectRole, Role, SessionStatus},
    tracked_object,
};
use rand::{Rng, SeedableRng, rngs::StdRng};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, Set};
use uuid::Uuid;

pub use self::logins::*;
use crate::{
    children::{self, Links, NewChild},
    consents::{self, Giver},
    jobs::queue,
    sessions::{self, NewSession},
    users::{self, NewUser},
};

/// The demo organisation and its logins.
pub mod logins {
    pub const ORGANISATION: &str = "Demo Practice";
    pub const PASSWORD: &str = "demo-password";
    pub const ADMIN: &str = "admin@demo.local";
    pub const COUNSELLOR: &str = "counsellor@demo.local";
    pub const GUARDIAN: &str = "guardian@demo.local";
}

/// A session length: 25 minutes.
const SESSION_MS: i64 = 25 * 60 * 1000;
/// The demo's results look analysed at the default 2 samples a second.
const DEMO_SAMPLE_MS: i64 = 500;

struct DemoChild {
    name: &'static str,
    birth_date: (i32, u32, u32),
    counselled: bool,
    guarded: bool,
    sessions: usize,
}

const CHILDREN: [DemoChild; 3] = [
    DemoChild { name: "Mia Example", birth_date: (2017, 4, 12), counselled: true, guarded: true, sessions: 4 },
    DemoChild { name: "Noah Example", birth_date: (2015, 9, 3), counselled: true, guarded: false, sessions: 2 },
    DemoChild { name: "Leo Example", birth_date: (2018, 1, 27), counselled: false, guarded: false, sessions: 1 },
];

/// The consent text the demo's guardians agreed to.
const CONSENT_TEXT_VERSION: &str = "demo-2026-11";

pub async fn seed(db: &DatabaseConnection) -> anyhow::Result<()> {
    if users::account_for_sign_in(db, ADMIN, Some(ORGANISATION)).await?.is_some() {
        tracing::info!("demo data already present");
        return Ok(());
    }
    let txn = crate::db::begin_write(db).await?;
    let organisation = users::ensure_organisation(&txn, ORGANISATION).await?;
    let mut ids = Vec::new();
    for (email, name, role) in [
        (ADMIN, "Ada Admin", Role::Admin),
        (COUNSELLOR, "Chris Counsellor", Role::Counsellor),
        (GUARDIAN, "Gina Guardian", Role::Guardian),
    ] {
        let new = NewUser::parse(email, name, role, PASSWORD.to_owned())?;
        ids.push(users::create_user(&txn, organisation.id, new).await?.id);
    }
    let (counsellor, guardian) = (ids[1], ids[2]);

    let mut rng = StdRng::seed_from_u64(20261125);
    let first_session = Utc.with_ymd_and_hms(2026, 9, 7, 15, 0, 0).single().expect("a valid date");
    for (child_index, demo) in CHILDREN.iter().enumerate() {
        let (y, m, d) = demo.birth_date;
        let notes = Some("Demo record: all names and results are invented.".to_owned());
        let new = NewChild::parse(demo.name, NaiveDate::from_ymd_opt(y, m, d), notes)?;
        let links = Links {
            counsellors: Some(if demo.counselled { vec![counsellor] } else { Vec::new() }),
            guardians: Some(if demo.guarded { vec![guardian] } else { Vec::new() }),
        };
        let child = children::create(&txn, organisation.id, new, links, None).await?;
        // The guardian's consent; for children without a linked guardian, the paper form the
        // counsellor recorded.
        let giver = if demo.guarded {
            Giver { user: guardian, role: Role::Guardian }
        } else {
            Giver { user: counsellor, role: Role::Counsellor }
        };
        for kind in [ConsentKind::Recording, ConsentKind::AutomatedAnalysis] {
            consents::give(&txn, child.id, kind, giver, CONSENT_TEXT_VERSION, None).await?;
        }
        for number in 0..demo.sessions {
            let recorded_at = first_session + Duration::days(7 * number as i64 + child_index as i64);
            // Later sessions go a little better: the trend view has something to show.
            let progress = number as f64 / demo.sessions.max(2) as f64;
            seed_session(&txn, &mut rng, child.id, counsellor, recorded_at, number + 1, progress).await?;
        }
    }
    txn.commit().await?;
    tracing::info!(
        admin = ADMIN,
        counsellor = COUNSELLOR,
        guardian = GUARDIAN,
        password = PASSWORD,
        "seeded demo data"
    );
    Ok(())
}

async fn seed_session(
    db: &impl ConnectionTrait,
    rng: &mut StdRng,
    child_id: Uuid,
    counsellor_id: Uuid,
    recorded_at: DateTime<Utc>,
    number: usize,
    progress: f64,
) -> anyhow::Result<()> {
    let new = NewSession::parse(child_id, counsellor_id, recorded_at, &format!("Play session {number}"), None)?;
    let mut session = sessions::row(new);
    session.status = Set(SessionStatus::Done);
    // Metadata of a video that was never stored: the demo has results but no footage.
    session.video_size_bytes = Set(Some(1_480_000_000));
    session.video_sha256 = Set(Some(format!("{:064x}", rng.random::<u128>())));
    session.video_duration_ms = Set(Some(SESSION_MS));
    session.video_fps = Set(Some(25.0));
    session.video_width = Set(Some(1280));
    session.video_height = Set(Some(720));
    session.created_at = Set(recorded_at);
    session.updated_at = Set(recorded_at);
    let session = session.insert(db).await?;
    let frames = SESSION_MS / 40;
    let analysed_at = recorded_at + Duration::hours(1);
    queue::insert_done(db, session.id, frames, analysed_at, analysed_at + Duration::minutes(2)).await?;

    for (label, role, confidence, linked) in
        [("Person 1", ObjectRole::Child, 0.86, number % 2 == 1), ("Person 2", ObjectRole::Adult, 0.93, false)]
    {
        let object = tracked_object::ActiveModel {
            id: Set(Uuid::now_v7()),
            session_id: Set(session.id),
            label: Set(label.into()),
            role: Set(role),
            role_confidence: Set(if linked { 1.0 } else { confidence }),
            child_id: Set(linked.then_some(child_id)),
            first_seen_ms: Set(rng.random_range(0..4_000)),
            last_seen_ms: Set(SESSION_MS - rng.random_range(0..4_000)),
            ..Default::default()
        }
        .insert(db)
        .await?;
        let moods = if role == ObjectRole::Child { child_moods(progress) } else { ADULT_MOODS };
        let usable = insert_emotions(db, rng, object.id, &moods).await?;
        insert_behaviours(db, rng, object.id, role).await?;
        // The samples without a usable face: mostly turned away, some blurred by movement.
        let samples = ((object.last_seen_ms - object.first_seen_ms) / DEMO_SAMPLE_MS) as i32;
        let usable = usable.min(samples);
        let unusable = samples - usable;
        let (turned_away, blurred) = (unusable * 2 / 3, unusable / 6);
        let mut counts = object.into_active_model();
        counts.samples = Set(Some(samples));
        counts.face_samples = Set(Some(usable + turned_away + blurred));
        counts.usable_face_samples = Set(Some(usable));
        counts.faces_too_small = Set(Some(0));
        counts.faces_uncertain = Set(Some(0));
        counts.faces_blurred = Set(Some(blurred));
        counts.faces_turned_away = Set(Some(turned_away));
        counts.update(db).await?;
    }
    Ok(())
}

const ADULT_MOODS: [(Emotion, f64); 7] = [
    (Emotion::Neutral, 0.55),
    (Emotion::Happy, 0.3),
    (Emotion::Surprise, 0.06),
    (Emotion::Sad, 0.04),
    (Emotion::Fear, 0.02),
    (Emotion::Angry, 0.02),
    (Emotion::Disgust, 0.01),
];

/// Expression weights for a child, shifting from sad/fearful towards happy as `progress` grows.
fn child_moods(progress: f64) -> [(Emotion, f64); 7] {
    [
        (Emotion::Neutral, 0.35),
        (Emotion::Happy, 0.12 + 0.25 * progress),
        (Emotion::Sad, 0.22 - 0.15 * progress),
        (Emotion::Fear, 0.1 - 0.06 * progress),
        (Emotion::Angry, 0.08 - 0.04 * progress),
        (Emotion::Surprise, 0.1),
        (Emotion::Disgust, 0.03),
    ]
}

fn pick<T: Copy>(rng: &mut StdRng, weighted: &[(T, f64)]) -> T {
    let total: f64 = weighted.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random::<f64>() * total;
    for (value, weight) in weighted {
        if roll < *weight {
            return *value;
        }
        roll -= weight;
    }
    weighted[weighted.len() - 1].0
}

async fn insert_emotions(
    db: &impl ConnectionTrait,
    rng: &mut StdRng,
    object_id: Uuid,
    moods: &[(Emotion, f64)],
) -> anyhow::Result<i32> {
    let mut rows = Vec::new();
    let mut samples = 0;
    let mut t = rng.random_range(0..5_000);
    while t < SESSION_MS - 5_000 {
        let length = rng.random_range(3_000..45_000).min(SESSION_MS - t);
        let mean = rng.random_range(0.45..0.9);
        rows.push(emotion_interval::ActiveModel {
            id: Set(Uuid::now_v7()),
            object_id: Set(object_id),
            emotion: Set(pick(rng, moods)),
            start_ms: Set(t),
            end_ms: Set(t + length),
            mean_confidence: Set(mean),
            peak_confidence: Set((mean + rng.random_range(0.02..0.1f64)).min(0.99)),
            samples: Set(Some((length / DEMO_SAMPLE_MS) as i32)),
            ..Default::default()
        });
        samples += (length / DEMO_SAMPLE_MS) as i32;
        // Sometimes the face is turned away for a while: no expression is observed.
        let gap = if rng.random_bool(0.25) { rng.random_range(2_000..15_000) } else { 0 };
        t += length + gap;
    }
    for chunk in rows.chunks(200) {
        emotion_interval::Entity::insert_many(chunk.to_vec()).exec(db).await?;
    }
    Ok(samples)
}

async fn insert_behaviours(
    db: &impl ConnectionTrait,
    rng: &mut StdRng,
    object_id: Uuid,
    role: ObjectRole,
) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    let mut push = |behaviour, start: i64, end: i64, rng: &mut StdRng| {
        let mean = rng.random_range(0.55..0.95);
        rows.push(behaviour_interval::ActiveModel {
            id: Set(Uuid::now_v7()),
            object_id: Set(object_id),
            behaviour: Set(behaviour),
            start_ms: Set(start),
            end_ms: Set(end.min(SESSION_MS)),
            mean_confidence: Set(mean),
            peak_confidence: Set((mean + 0.04f64).min(0.99)),
            samples: Set(Some(((end.min(SESSION_MS) - start) / DEMO_SAMPLE_MS) as i32)),
            ..Default::default()
        });
    };
    // Posture: alternating stretches of sitting and standing (children also lie on the floor).
    let postures: &[(Behaviour, f64)] = if role == ObjectRole::Child {
        &[(Behaviour::Sitting, 0.55), (Behaviour::Standing, 0.35), (Behaviour::Lying, 0.1)]
    } else {
        &[(Behaviour::Sitting, 0.8), (Behaviour::Standing, 0.2)]
    };
    let mut t = 0;
    while t < SESSION_MS {
        let length = rng.random_range(30_000..240_000);
        push(pick(rng, postures), t, t + length, rng);
        t += length;
    }
    // Motion: moving vs still.
    let mut t = 0;
    let mut moving = false;
    while t < SESSION_MS {
        let length = if moving { rng.random_range(2_000..20_000) } else { rng.random_range(10_000..90_000) };
        push(if moving { Behaviour::Moving } else { Behaviour::Still }, t, t + length, rng);
        t += length;
        moving = !moving;
    }
    // Short events.
    let events: &[(Behaviour, f64)] = &[
        (Behaviour::HandRaised, 0.35),
        (Behaviour::FaceCovered, if role == ObjectRole::Child { 0.25 } else { 0.05 }),
        (Behaviour::Approaching, 0.2),
        (Behaviour::Withdrawing, 0.2),
    ];
    for _ in 0..rng.random_range(6..14) {
        let start = rng.random_range(0..SESSION_MS - 10_000);
        push(pick(rng, events), start, start + rng.random_range(1_500..8_000), rng);
    }
    rows.sort_by_key(|row| *row.start_ms.as_ref());
    for chunk in rows.chunks(200) {
        behaviour_interval::Entity::insert_many(chunk.to_vec()).exec(db).await?;
    }
    Ok(())
}
