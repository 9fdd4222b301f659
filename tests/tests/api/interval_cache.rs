//! The interval cache: a person's interval lists reached through their session come from
//! memory, page exactly as the database pages them, and follow the session's results version.

use entity::{
    emotion_interval,
    enums::{Emotion, Role},
};
use imind_tests::{TestApp, fixtures, spawn_app};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

const SELECTION: &str = "totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id emotion startMs endMs } }";

struct Seeded {
    app: TestApp,
    token: String,
    session: Uuid,
    object: Uuid,
}

/// One person with 9 intervals of the fixture's, plus 4 starting where others start (ties are
/// broken by id) and 2 of other lengths.
async fn seeded() -> Seeded {
    let app = spawn_app().await;
    let db = &app.db;
    let organisation = fixtures::organisation(db, "Cached").await;
    let admin = fixtures::user(db, organisation, "admin@cached.test", Role::Admin).await;
    let child = fixtures::child(db, organisation, "Ida").await;
    let analysed = fixtures::analysed_session(db, child, admin, 3, 1, 9).await;
    for (start_ms, end_ms, emotion) in [
        (0, 500, Emotion::Angry),
        (2000, 2100, Emotion::Happy),
        (2000, 6000, Emotion::Sad),
        (8000, 8001, Emotion::Happy),
        (3000, 3300, Emotion::Neutral),
        (17_000, 30_000, Emotion::Happy),
    ] {
        add_interval(&app, analysed.object, start_ms, end_ms, emotion).await;
    }
    let token = app.login("admin@cached.test", fixtures::PASSWORD).await;
    Seeded { app, token, session: analysed.session, object: analysed.object }
}

async fn add_interval(app: &TestApp, object: Uuid, start_ms: i64, end_ms: i64, emotion: Emotion) {
    emotion_interval::ActiveModel {
        id: Set(Uuid::now_v7()),
        object_id: Set(object),
        emotion: Set(emotion),
        start_ms: Set(start_ms),
        end_ms: Set(end_ms),
        mean_confidence: Set(0.5),
        peak_confidence: Set(0.6),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
}

impl Seeded {
    /// The person's expression list with `arguments`: through the session (from the cache) and
    /// through the person's own id (from the database).
    async fn both_ways(&self, arguments: &str) -> (Value, Value) {
        let through_session = format!(
            "query($id: ID!) {{ node(id: $id) {{ ... on Session {{ objects {{ nodes {{
                emotionIntervals{arguments} {{ {SELECTION} }} }} }} }} }} }}"
        );
        let session = fixtures::global_id("Session", self.session);
        let cached = self.app.graphql(Some(&self.token), &through_session, json!({ "id": session })).await;
        let cached = cached.data()["node"]["objects"]["nodes"][0]["emotionIntervals"].clone();
        let of_person = format!(
            "query($id: ID!) {{ node(id: $id) {{ ... on TrackedObject {{ emotionIntervals{arguments} {{ {SELECTION} }} }} }} }}"
        );
        let object = fixtures::global_id("TrackedObject", self.object);
        let stored = self.app.graphql(Some(&self.token), &of_person, json!({ "id": object })).await;
        (cached, stored.data()["node"]["emotionIntervals"].clone())
    }
}

fn cursors(list: &Value) -> Vec<String> {
    list["edges"].as_array().unwrap().iter().map(|edge| edge["cursor"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn cached_interval_lists_page_and_filter_like_the_database() {
    let seeded = seeded().await;
    let (all, stored_all) = seeded.both_ways("(first: 100)").await;
    assert_eq!(all, stored_all);
    assert_eq!(all["totalCount"], 15);
    let starts: Vec<i64> =
        all["edges"].as_array().unwrap().iter().map(|e| e["node"]["startMs"].as_i64().unwrap()).collect();
    assert!(starts.windows(2).all(|pair| pair[0] <= pair[1]), "in start order: {starts:?}");
    let cursor = cursors(&all);
    let arguments = [
        "".to_owned(),
        "(first: 3)".into(),
        "(first: 0)".into(),
        "(last: 4)".into(),
        // Cursors inside runs of equal starts.
        format!("(first: 3, after: \"{}\")", cursor[1]),
        format!("(first: 3, after: \"{}\")", cursor[4]),
        format!("(last: 2, before: \"{}\")", cursor[5]),
        format!("(first: 2, before: \"{}\")", cursor[6]),
        format!("(last: 2, after: \"{}\")", cursor[6]),
        format!("(after: \"{}\", before: \"{}\")", cursor[2], cursor[9]),
        format!("(last: 3, after: \"{}\", before: \"{}\")", cursor[2], cursor[12]),
        format!("(first: 5, after: \"{}\")", cursor[14]),
        "(emotion: HAPPY)".into(),
        format!("(emotion: HAPPY, first: 2, after: \"{}\")", cursor[3]),
        "(minDurationMs: 1000)".into(),
        "(minDurationMs: 1001, last: 2)".into(),
        "(fromMs: 2000, toMs: 8001)".into(),
        "(fromMs: 8000, toMs: 8000)".into(),
        "(toMs: 1, first: 1)".into(),
        "(fromMs: 5999, emotion: SAD, minDurationMs: 4000)".into(),
    ];
    for arguments in arguments {
        let (cached, stored) = seeded.both_ways(&arguments).await;
        assert_eq!(cached, stored, "emotionIntervals{arguments}");
    }
}

async fn count_through_session(seeded: &Seeded) -> i64 {
    let query = "query($id: ID!) { node(id: $id) { ... on Session {
        objects { nodes { emotionIntervals { totalCount } } } } } }";
    let answer = seeded
        .app
        .graphql(Some(&seeded.token), query, json!({ "id": fixtures::global_id("Session", seeded.session) }))
        .await;
    answer.data()["node"]["objects"]["nodes"][0]["emotionIntervals"]["totalCount"].as_i64().unwrap()
}

#[tokio::test]
async fn cached_intervals_follow_the_sessions_results_version() {
    let seeded = seeded().await;
    assert_eq!(count_through_session(&seeded).await, 15);
    // A row written behind the gateway's back, without a new results version, is not seen:
    // the lists really come from memory...
    add_interval(&seeded.app, seeded.object, 40_000, 41_000, Emotion::Surprise).await;
    assert_eq!(count_through_session(&seeded).await, 15);
    // ...and a new version (what every results transaction writes) is read at once.
    let backend = seeded.app.db.get_database_backend();
    let placeholder = if backend == sea_orm::DatabaseBackend::Postgres { "$1" } else { "?" };
    let bump = format!("UPDATE sessions SET results_version = results_version + 1 WHERE id = {placeholder}");
    seeded.app.db.execute_raw(Statement::from_sql_and_values(backend, bump, [seeded.session.into()])).await.unwrap();
    assert_eq!(count_through_session(&seeded).await, 16);
}
