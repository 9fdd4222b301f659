//! Data arranged directly in the database for tests: organisations, users, children and
//! analysis results (which no mutation writes until the analysis pipeline lands).

use chrono::{TimeZone, Utc};
use entity::{
    analysis_job, behaviour_interval, child, child_counsellor, child_guardian, consent, emotion_interval,
    enums::{Behaviour, ConsentKind, Emotion, JobStatus, ObjectRole, Role, SessionStatus},
    session, tracked_object,
};
use imind_api::NewUser;
use sea_orm::{ActiveModelTrait, ActiveValue::NotSet, DatabaseConnection, EntityTrait, Set};
use uuid::Uuid;

pub const PASSWORD: &str = "a long test password";

pub async fn organisation(db: &DatabaseConnection, name: &str) -> Uuid {
    imind_api::ensure_organisation(db, name).await.unwrap().id
}

pub async fn user(db: &DatabaseConnection, organisation_id: Uuid, email: &str, role: Role) -> Uuid {
    let new = NewUser::parse(email, email, role, PASSWORD.into()).unwrap();
    imind_api::create_user(db, organisation_id, new).await.unwrap().id
}

/// A child whose guardian consented to recording and automated analysis (on paper).
pub async fn child(db: &DatabaseConnection, organisation_id: Uuid, name: &str) -> Uuid {
    let child = child_without_consent(db, organisation_id, name).await;
    for kind in [ConsentKind::Recording, ConsentKind::AutomatedAnalysis] {
        give_consent(db, child, kind).await;
    }
    child
}

/// Records consent to `kind` for the child, as from a paper form.
pub async fn give_consent(db: &DatabaseConnection, child_id: Uuid, kind: ConsentKind) {
    consent::ActiveModel {
        id: Set(Uuid::now_v7()),
        child_id: Set(child_id),
        kind: Set(kind),
        given_by: Set(None),
        given_by_role: Set(Role::Counsellor),
        given_at: Set(Utc::now()),
        text_version: Set("paper-form-1".into()),
        withdrawn_at: Set(None),
        withdrawn_by: Set(None),
    }
    .insert(db)
    .await
    .unwrap();
}

/// A child nobody consented for yet.
pub async fn child_without_consent(db: &DatabaseConnection, organisation_id: Uuid, name: &str) -> Uuid {
    let now = Utc::now();
    child::ActiveModel {
        id: Set(Uuid::now_v7()),
        organisation_id: Set(organisation_id),
        name: Set(name.into()),
        birth_date: Set(None),
        notes: Set(Some(format!("notes about {name}"))),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
    .unwrap()
    .id
}

pub async fn assign_counsellor(db: &DatabaseConnection, child_id: Uuid, user_id: Uuid) {
    child_counsellor::ActiveModel { child_id: Set(child_id), user_id: Set(user_id) }.insert(db).await.unwrap();
}

pub async fn link_guardian(db: &DatabaseConnection, child_id: Uuid, user_id: Uuid) {
    child_guardian::ActiveModel { child_id: Set(child_id), user_id: Set(user_id) }.insert(db).await.unwrap();
}

/// Ids of one analysed session and what hangs under it.
#[derive(Clone, Copy, Debug)]
pub struct Analysed {
    pub session: Uuid,
    pub job: Uuid,
    pub object: Uuid,
    pub emotion_interval: Uuid,
    pub behaviour_interval: Uuid,
}

/// An analysed session (DONE) with `objects` tracked people, each with `intervals` emotion
/// and behaviour intervals of 1 s every 2 s.
pub async fn analysed_session(
    db: &DatabaseConnection,
    child_id: Uuid,
    counsellor_id: Uuid,
    day: u32,
    objects: usize,
    intervals: usize,
) -> Analysed {
    let recorded_at = Utc.with_ymd_and_hms(2026, 10, day, 10, 0, 0).unwrap();
    // Inserted without reading the row back, and with the results version left to the
    // column's default: the migration tests use this on the schema of older versions too.
    let session_id = Uuid::now_v7();
    session::Entity::insert(session::ActiveModel {
        id: Set(session_id),
        child_id: Set(child_id),
        counsellor_id: Set(counsellor_id),
        recorded_at: Set(recorded_at),
        title: Set(format!("Session on day {day}")),
        notes: Set(None),
        status: Set(SessionStatus::Done),
        video_blob_key: Set(None),
        video_size_bytes: Set(None),
        video_sha256: Set(None),
        video_duration_ms: Set(None),
        video_fps: Set(None),
        video_width: Set(None),
        video_height: Set(None),
        video_upload_key: Set(None),
        video_upload_size: Set(None),
        video_upload_expires_at: Set(None),
        results_version: NotSet,
        review_state: NotSet,
        review_state_by: NotSet,
        review_state_at: NotSet,
        analysed_video_sha256: NotSet,
        created_at: Set(recorded_at),
        updated_at: Set(recorded_at),
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    // Rows of tables later migrations add columns to are inserted without reading them back
    // (and those columns left to their defaults), for the same reason.
    let job_id = Uuid::now_v7();
    analysis_job::Entity::insert(analysis_job::ActiveModel {
        id: Set(job_id),
        session_id: Set(session_id),
        status: Set(JobStatus::Done),
        stage: Set(entity::enums::JobStage::Done),
        progress: Set(100.0),
        frames_done: Set(10),
        frames_total: Set(10),
        attempts: Set(1),
        max_attempts: Set(3),
        error: Set(None),
        options: Set(None),
        idempotency_key: Set(None),
        lease_owner: Set(None),
        lease_expires_at: Set(None),
        heartbeat_at: Set(None),
        run_after: Set(recorded_at),
        created_at: Set(recorded_at),
        started_at: Set(Some(recorded_at)),
        finished_at: Set(Some(recorded_at)),
        review_carry_over: NotSet,
    })
    .exec_without_returning(db)
    .await
    .unwrap();
    let emotions = [Emotion::Happy, Emotion::Sad, Emotion::Neutral];
    let behaviours = [Behaviour::Sitting, Behaviour::Moving];
    let mut first = None;
    for index in 0..objects {
        let object_id = Uuid::now_v7();
        // Without RETURNING: the migration tests build this world on older schemas too.
        tracked_object::Entity::insert(tracked_object::ActiveModel {
            id: Set(object_id),
            session_id: Set(session_id),
            label: Set(format!("Person {}", index + 1)),
            role: Set(if index == 0 { ObjectRole::Child } else { ObjectRole::Adult }),
            role_confidence: Set(0.8),
            child_id: Set(None),
            first_seen_ms: Set(index as i64 * 100),
            last_seen_ms: Set(intervals as i64 * 2000),
            ..Default::default()
        })
        .exec_without_returning(db)
        .await
        .unwrap();
        let mut emotion_ids = Vec::new();
        let mut behaviour_ids = Vec::new();
        for n in 0..intervals {
            let start = n as i64 * 2000;
            let emotion_id = Uuid::now_v7();
            emotion_interval::Entity::insert(emotion_interval::ActiveModel {
                id: Set(emotion_id),
                object_id: Set(object_id),
                emotion: Set(emotions[n % emotions.len()]),
                start_ms: Set(start),
                end_ms: Set(start + 1000),
                mean_confidence: Set(0.7),
                peak_confidence: Set(0.9),
                ..Default::default()
            })
            .exec_without_returning(db)
            .await
            .unwrap();
            emotion_ids.push(emotion_id);
            let behaviour_id = Uuid::now_v7();
            behaviour_interval::Entity::insert(behaviour_interval::ActiveModel {
                id: Set(behaviour_id),
                object_id: Set(object_id),
                behaviour: Set(behaviours[n % behaviours.len()]),
                start_ms: Set(start),
                end_ms: Set(start + 1000),
                mean_confidence: Set(0.6),
                peak_confidence: Set(0.8),
                ..Default::default()
            })
            .exec_without_returning(db)
            .await
            .unwrap();
            behaviour_ids.push(behaviour_id);
        }
        first.get_or_insert(Analysed {
            session: session_id,
            job: job_id,
            object: object_id,
            emotion_interval: emotion_ids[0],
            behaviour_interval: behaviour_ids[0],
        });
    }
    first.expect("at least one object")
}

/// Two organisations for authorization tests.
///
/// Organisation A: an admin, a counsellor assigned to `own`, another counsellor assigned to
/// `sibling`, and a guardian linked to `own`. Organisation B: an admin and `foreign`.
pub struct World {
    pub org_a: Uuid,
    pub admin: Uuid,
    pub counsellor: Uuid,
    pub other_counsellor: Uuid,
    pub guardian: Uuid,
    pub admin_b: Uuid,
    pub own: Uuid,
    pub sibling: Uuid,
    pub foreign: Uuid,
    pub own_analysed: Analysed,
    pub sibling_analysed: Analysed,
    pub foreign_analysed: Analysed,
}

pub const ADMIN: &str = "admin@a.test";
pub const COUNSELLOR: &str = "counsellor@a.test";
pub const OTHER_COUNSELLOR: &str = "counsellor2@a.test";
pub const GUARDIAN: &str = "guardian@a.test";
pub const ADMIN_B: &str = "admin@b.test";

impl World {
    pub async fn build(db: &DatabaseConnection) -> World {
        let org_a = organisation(db, "Organisation A").await;
        let org_b = organisation(db, "Organisation B").await;
        let admin = user(db, org_a, ADMIN, Role::Admin).await;
        let counsellor = user(db, org_a, COUNSELLOR, Role::Counsellor).await;
        let other_counsellor = user(db, org_a, OTHER_COUNSELLOR, Role::Counsellor).await;
        let guardian = user(db, org_a, GUARDIAN, Role::Guardian).await;
        let admin_b = user(db, org_b, ADMIN_B, Role::Admin).await;
        let own = child(db, org_a, "Own Child").await;
        let sibling = child(db, org_a, "Sibling Child").await;
        let foreign = child(db, org_b, "Foreign Child").await;
        assign_counsellor(db, own, counsellor).await;
        assign_counsellor(db, sibling, other_counsellor).await;
        link_guardian(db, own, guardian).await;
        let own_analysed = analysed_session(db, own, counsellor, 1, 2, 2).await;
        let sibling_analysed = analysed_session(db, sibling, other_counsellor, 2, 2, 2).await;
        let foreign_analysed = analysed_session(db, foreign, admin_b, 3, 2, 2).await;
        World {
            org_a,
            admin,
            counsellor,
            other_counsellor,
            guardian,
            admin_b,
            own,
            sibling,
            foreign,
            own_analysed,
            sibling_analysed,
            foreign_analysed,
        }
    }
}

/// Relay global id, as the API encodes it.
pub fn global_id(kind: &str, id: Uuid) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    URL_SAFE_NO_PAD.encode(format!("{kind}:{id}"))
}

/// The uuid inside a global id (`Kind:uuid`, base64url).
pub fn uuid_of(global_id: &str) -> Uuid {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    let decoded = String::from_utf8(URL_SAFE_NO_PAD.decode(global_id).expect("a global id")).unwrap();
    decoded.split_once(':').and_then(|(_, id)| id.parse().ok()).expect("Kind:uuid")
}
