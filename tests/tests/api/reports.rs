//! Chart-ready figures of a person, against values computed by hand on a seeded session.

use entity::{
    behaviour_interval, emotion_interval,
    enums::{Behaviour, Emotion},
};
use imind_tests::{
    fixtures::{self, COUNSELLOR, GUARDIAN, World, global_id},
    spawn_app,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;
use uuid::Uuid;

/// A face seen 0–4 s (happy), 4–5 s (sad), 7–10 s (happy); the body standing 0–10 s and
/// raising a hand 2–3 s.
async fn seed(db: &sea_orm::DatabaseConnection, object: Uuid) {
    // The fixture's own intervals go first.
    emotion_interval::Entity::delete_many()
        .filter(emotion_interval::Column::ObjectId.eq(object))
        .exec(db)
        .await
        .unwrap();
    behaviour_interval::Entity::delete_many()
        .filter(behaviour_interval::Column::ObjectId.eq(object))
        .exec(db)
        .await
        .unwrap();
    for (emotion, start_ms, end_ms) in
        [(Emotion::Happy, 0, 4000), (Emotion::Sad, 4000, 5000), (Emotion::Happy, 7000, 10000)]
    {
        let row = emotion_interval::ActiveModel {
            id: Set(Uuid::now_v7()),
            object_id: Set(object),
            emotion: Set(emotion),
            start_ms: Set(start_ms),
            end_ms: Set(end_ms),
            mean_confidence: Set(0.8),
            peak_confidence: Set(0.9),
        };
        row.insert(db).await.unwrap();
    }
    for (behaviour, start_ms, end_ms) in [(Behaviour::Standing, 0, 10000), (Behaviour::HandRaised, 2000, 3000)] {
        let row = behaviour_interval::ActiveModel {
            id: Set(Uuid::now_v7()),
            object_id: Set(object),
            behaviour: Set(behaviour),
            start_ms: Set(start_ms),
            end_ms: Set(end_ms),
            mean_confidence: Set(0.8),
            peak_confidence: Set(0.9),
        };
        row.insert(db).await.unwrap();
    }
}

const REPORT: &str = "query($s: ID!) { session(id: $s) { objects { nodes {
    summary { expressionShares { label share seconds } behaviourShares { label share seconds }
              dominantExpression expressionChanges faceVisibleSeconds }
    timeline(binMs: 4000) { startMs endMs expressions { label share seconds } behaviours { label share } } } } } }";

#[tokio::test]
async fn a_persons_summary_and_timeline_are_the_hand_computed_ones() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let analysed = fixtures::analysed_session(&app.db, world.own, world.counsellor, 9, 1, 1).await;
    seed(&app.db, analysed.object).await;
    let session = json!({ "s": global_id("Session", analysed.session) });
    for email in [COUNSELLOR, GUARDIAN] {
        let token = app.login(email, fixtures::PASSWORD).await;
        let report = app.graphql(Some(&token), REPORT, session.clone()).await;
        let person = &report.data()["session"]["objects"]["nodes"][0];
        assert_eq!(
            person["summary"],
            json!({
                "expressionShares": [
                    { "label": "HAPPY", "share": 0.875, "seconds": 7.0 },
                    { "label": "SAD", "share": 0.125, "seconds": 1.0 }
                ],
                "behaviourShares": [
                    { "label": "STANDING", "share": 1.0, "seconds": 10.0 },
                    { "label": "HAND_RAISED", "share": 0.1, "seconds": 1.0 }
                ],
                "dominantExpression": "HAPPY",
                "expressionChanges": 2,
                "faceVisibleSeconds": 8.0
            }),
            "{email}"
        );
        assert_eq!(
            person["timeline"],
            json!([
                { "startMs": 0, "endMs": 4000, "expressions": [{ "label": "HAPPY", "share": 1.0, "seconds": 4.0 }],
                  "behaviours": [{ "label": "STANDING", "share": 1.0 }, { "label": "HAND_RAISED", "share": 0.25 }] },
                { "startMs": 4000, "endMs": 8000,
                  "expressions": [{ "label": "HAPPY", "share": 0.25, "seconds": 1.0 }, { "label": "SAD", "share": 0.25, "seconds": 1.0 }],
                  "behaviours": [{ "label": "STANDING", "share": 1.0 }] },
                { "startMs": 8000, "endMs": 10000, "expressions": [{ "label": "HAPPY", "share": 1.0, "seconds": 2.0 }],
                  "behaviours": [{ "label": "STANDING", "share": 1.0 }] }
            ]),
            "{email}"
        );
    }
}

#[tokio::test]
async fn timelines_are_bounded_and_counted_by_the_complexity_limit() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let one =
        "query($s: ID!, $bin: Int!) { session(id: $s) { objects { nodes { timeline(binMs: $bin) { startMs } } } } }";
    let session = global_id("Session", world.own_analysed.session);
    let too_fine = app.graphql(Some(&token), one, json!({ "s": session, "bin": 50 })).await;
    assert_eq!(too_fine.error_code(), Some("BAD_USER_INPUT"), "{}", too_fine.body);
    let fine = app.graphql(Some(&token), one, json!({ "s": session, "bin": 1000 })).await;
    assert!(fine.data()["session"]["objects"]["nodes"][0]["timeline"].is_array());
    // 20 children × 10 sessions × 10 people × 1000 bins: over the cost limit before it runs.
    let everything = "{ children(first: 20) { nodes { sessions(first: 10) { nodes { objects(first: 10) { nodes {
        timeline(binMs: 100) { startMs expressions { label share } } } } } } } } }";
    let refused = app.graphql(Some(&token), everything, json!({})).await;
    assert_eq!(refused.error_code(), Some("BAD_USER_INPUT"), "{}", refused.body);
    assert!(refused.error_message().unwrap().contains("complex"), "{}", refused.body);
}

/// Statements a counsellor's request for every person's figures in `sessions` sessions costs.
async fn statements_for(sessions: u32) -> u64 {
    let app = imind_tests::spawn_app_with(false, |settings| settings.audit_reads = false).await;
    let world = World::build(&app.db).await;
    for day in 10..10 + sessions {
        fixtures::analysed_session(&app.db, world.own, world.counsellor, day, 3, 4).await;
    }
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    app.graphql(Some(&token), "{ me { id } }", json!({})).await.data();
    let query = "{ children { nodes { sessions(first: 20) { nodes { objects { nodes {
        summary { dominantExpression expressionShares { label share } } timeline(binMs: 1000) { startMs } } } } } } } }";
    let before = app.sql_statements().await;
    app.graphql(Some(&token), query, json!({})).await.data();
    app.sql_statements().await - before
}

#[tokio::test]
async fn figures_cost_the_same_statements_for_one_person_or_many() {
    assert_eq!(statements_for(1).await, statements_for(6).await);
}
