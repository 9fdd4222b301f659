//! Chart-ready figures of a person, against values computed by hand on a seeded session.

use entity::{
    behaviour_interval, emotion_interval,
    enums::{Behaviour, Emotion},
};
use imind_tests::{
    fixtures::{self, COUNSELLOR, GUARDIAN, World, global_id},
    spawn_app,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
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
            ..Default::default()
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
            ..Default::default()
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

const TREND: &str = "query($c: ID!, $from: DateTime, $to: DateTime) { child(id: $c) {
    emotionTrend(from: $from, to: $to) { recordedAt shares { emotion fraction durationMs }
      summary { expressionShares { label share seconds } behaviourShares { label share seconds }
                dominantExpression expressionChanges faceVisibleSeconds } } } }";

#[tokio::test]
async fn a_childs_trend_has_the_child_persons_figures_only_within_from_and_to() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    // Day 9: the child (seeded by hand) and an adult whose fixture intervals must not count.
    let seeded = fixtures::analysed_session(&app.db, world.own, world.counsellor, 9, 2, 3).await;
    seed(&app.db, seeded.object).await;
    // Day 12: the fixture's child alone — happy 0–1 s, sad 2–3 s; sitting 0–1 s, moving 2–3 s.
    fixtures::analysed_session(&app.db, world.own, world.counsellor, 12, 1, 2).await;
    // Day 20 and the world's day 1 lie outside the window.
    fixtures::analysed_session(&app.db, world.own, world.counsellor, 20, 1, 2).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let window =
        json!({ "c": global_id("Child", world.own), "from": "2026-10-08T00:00:00Z", "to": "2026-10-20T10:00:00Z" });
    let trend = app.graphql(Some(&token), TREND, window).await;
    assert_eq!(
        trend.data()["child"]["emotionTrend"],
        json!([
            { "recordedAt": "2026-10-09T10:00:00+00:00",
              "shares": [{ "emotion": "HAPPY", "fraction": 0.875, "durationMs": 7000 },
                         { "emotion": "SAD", "fraction": 0.125, "durationMs": 1000 }],
              "summary": {
                "expressionShares": [{ "label": "HAPPY", "share": 0.875, "seconds": 7.0 },
                                     { "label": "SAD", "share": 0.125, "seconds": 1.0 }],
                "behaviourShares": [{ "label": "STANDING", "share": 1.0, "seconds": 10.0 },
                                    { "label": "HAND_RAISED", "share": 0.1, "seconds": 1.0 }],
                "dominantExpression": "HAPPY", "expressionChanges": 2, "faceVisibleSeconds": 8.0 } },
            { "recordedAt": "2026-10-12T10:00:00+00:00",
              "shares": [{ "emotion": "HAPPY", "fraction": 0.5, "durationMs": 1000 },
                         { "emotion": "SAD", "fraction": 0.5, "durationMs": 1000 }],
              "summary": {
                "expressionShares": [{ "label": "HAPPY", "share": 0.5, "seconds": 1.0 },
                                     { "label": "SAD", "share": 0.5, "seconds": 1.0 }],
                "behaviourShares": [{ "label": "SITTING", "share": 0.5, "seconds": 1.0 },
                                    { "label": "MOVING", "share": 0.5, "seconds": 1.0 }],
                "dominantExpression": "HAPPY", "expressionChanges": 1, "faceVisibleSeconds": 2.0 } }
        ]),
        "{}",
        trend.body
    );
    // Unbounded, the trend has all four sessions, oldest first.
    let all = app.graphql(Some(&token), TREND, json!({ "c": global_id("Child", world.own) })).await;
    let days: Vec<&str> = all.data()["child"]["emotionTrend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| &entry["recordedAt"].as_str().unwrap()[..10])
        .collect();
    assert_eq!(days, ["2026-10-01", "2026-10-09", "2026-10-12", "2026-10-20"]);
    // A counsellor not assigned to the child, and another organisation's admin, read no trend.
    for email in [fixtures::OTHER_COUNSELLOR, fixtures::ADMIN_B] {
        let stranger = app.login(email, fixtures::PASSWORD).await;
        let refused = app.graphql(Some(&stranger), TREND, json!({ "c": global_id("Child", world.own) })).await;
        assert!(refused.body["data"]["child"].is_null(), "{email}: {}", refused.body);
    }
}

/// Statements a counsellor's request for every person's figures in `sessions` sessions costs.
async fn statements_for(sessions: u32) -> u64 {
    // As `n_plus_one` does: a generous batching window, no worker polls, no read entries.
    let app = imind_tests::spawn_app_with(false, |settings| {
        settings.dataloader_delay_ms = 10;
        settings.embedded_worker = false;
        settings.audit_reads = false;
    })
    .await;
    let world = World::build(&app.db).await;
    for day in 10..10 + sessions {
        fixtures::analysed_session(&app.db, world.own, world.counsellor, day, 3, 4).await;
    }
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    app.graphql(Some(&token), "{ me { id } }", json!({})).await.data();
    let query = "{ children { nodes { emotionTrend { summary { dominantExpression } } sessions(first: 20) { nodes { objects { nodes {
        summary { dominantExpression expressionShares { label share } } timeline(binMs: 1000) { startMs } } } } } } } }";
    let before = app.sql_statements().await;
    app.graphql(Some(&token), query, json!({})).await.data();
    app.sql_statements().await - before
}

#[tokio::test]
async fn figures_cost_the_same_statements_for_one_person_or_many() {
    assert_eq!(statements_for(1).await, statements_for(6).await);
}

const CSV_REPORT: &str = "query($s: ID!) { session(id: $s) { intervalsCsvUrl objects { nodes { id label role
    emotionIntervals(first: 1000) { nodes { emotion startMs endMs meanConfidence samples } }
    behaviourIntervals(first: 1000) { nodes { behaviour startMs endMs peakConfidence samples } } } } } }";

/// (person, role, kind, label, start, end, samples) of every interval, sorted.
type Rows = Vec<(String, String, String, String, i64, i64, Option<i64>)>;

fn csv_rows(text: &str) -> Rows {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(
        header,
        [
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
            "samples"
        ]
    );
    let mut rows: Rows = reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            let field = |index: usize| record[index].to_owned();
            let number = |index: usize| field(index).parse().unwrap();
            let samples = (!record[11].is_empty()).then(|| number(11));
            (field(1), field(2), field(3), field(4), number(5), number(6), samples)
        })
        .collect();
    rows.sort();
    rows
}

fn graphql_rows(session: &serde_json::Value) -> Rows {
    let mut rows = Rows::new();
    for person in session["objects"]["nodes"].as_array().unwrap() {
        let (label, role) = (person["label"].as_str().unwrap(), person["role"].as_str().unwrap());
        for (kind, list, name) in
            [("EXPRESSION", "emotionIntervals", "emotion"), ("BEHAVIOUR", "behaviourIntervals", "behaviour")]
        {
            for interval in person[list]["nodes"].as_array().unwrap() {
                rows.push((
                    label.to_owned(),
                    role.to_owned(),
                    kind.to_owned(),
                    interval[name].as_str().unwrap().to_owned(),
                    interval["startMs"].as_i64().unwrap(),
                    interval["endMs"].as_i64().unwrap(),
                    interval["samples"].as_i64(),
                ));
            }
        }
    }
    rows.sort();
    rows
}

#[tokio::test]
async fn a_sessions_csv_round_trips_against_the_graphql_report_and_is_audited() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let analysed = fixtures::analysed_session(&app.db, world.own, world.counsellor, 12, 3, 7).await;
    // Samples per interval as an analysis counts them, different from one interval to the
    // next, and unknown (results analysed before they were counted) for some.
    for table in ["emotion_intervals", "behaviour_intervals"] {
        let samples = "CASE WHEN (start_ms / 2000) % 4 = 0 THEN NULL ELSE (start_ms / 2000) % 3 + 2 END";
        app.db.execute_unprepared(&format!("UPDATE {table} SET samples = {samples}")).await.unwrap();
    }
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let report = app.graphql(Some(&token), CSV_REPORT, json!({ "s": global_id("Session", analysed.session) })).await;
    let session = &report.data()["session"];
    let link = session["intervalsCsvUrl"].as_str().unwrap();
    assert!(link.starts_with(&app.address), "{link}");

    // By the link alone, as a browser download would fetch it.
    let by_link = app.client.get(link).send().await.unwrap();
    assert_eq!(by_link.status(), 200);
    assert_eq!(by_link.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(by_link.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let text = by_link.text().await.unwrap();
    let rows = csv_rows(&text);
    assert_eq!(rows.len(), 3 * 7 * 2);
    assert!(rows.iter().any(|row| row.6.is_none()) && rows.iter().any(|row| row.6 == Some(4)), "{rows:?}");
    assert_eq!(rows, graphql_rows(session), "the same intervals as the GraphQL report");

    // With a bearer token instead, the same file.
    let url = format!("{}/sessions/{}/intervals.csv", app.address, global_id("Session", analysed.session));
    let by_token = app.client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(by_token.status(), 200);
    assert_eq!(by_token.text().await.unwrap(), text);

    // Each download is a read of the child's data.
    let admin = app.login(fixtures::ADMIN, fixtures::PASSWORD).await;
    let log = app
        .graphql(
            Some(&admin),
            "{ auditLog(action: \"child.read\", first: 100) { nodes { actor sessionId operationName } } }",
            json!({}),
        )
        .await;
    let downloads = log.data()["auditLog"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| {
            entry["sessionId"] == global_id("Session", analysed.session) && entry["operationName"].is_null()
        })
        .filter(|entry| entry["actor"] == global_id("User", world.counsellor))
        .count();
    assert!(downloads >= 1, "{}", log.body);
}

#[tokio::test]
async fn a_sessions_csv_keeps_the_sessions_rights() {
    let app = imind_tests::spawn_app_with(false, |settings| settings.video_url_ttl_secs = 2).await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let session = global_id("Session", world.own_analysed.session);
    let url = format!("{}/sessions/{session}/intervals.csv", app.address);
    let status = |response: reqwest::Response| response.status().as_u16();
    assert_eq!(status(app.client.get(&url).send().await.unwrap()), 401, "no credentials");
    let admin_b = app.login(fixtures::ADMIN_B, fixtures::PASSWORD).await;
    assert_eq!(status(app.client.get(&url).bearer_auth(&admin_b).send().await.unwrap()), 404, "another organisation");
    let sibling =
        format!("{}/sessions/{}/intervals.csv", app.address, global_id("Session", world.sibling_analysed.session));
    assert_eq!(status(app.client.get(&sibling).bearer_auth(&token).send().await.unwrap()), 404, "not their child");
    let admin = app.login(fixtures::ADMIN, fixtures::PASSWORD).await;
    let (_, key) = app.create_api_key(&admin, "REPORTS", Some(&[world.own])).await;
    assert_eq!(status(app.client.get(&url).bearer_auth(&key).send().await.unwrap()), 200, "a key of the child");
    assert_eq!(status(app.client.get(&sibling).bearer_auth(&key).send().await.unwrap()), 404, "not the key's child");

    let link_query = "query($s: ID!) { session(id: $s) { intervalsCsvUrl } }";
    let link =
        app.graphql(Some(&token), link_query, json!({ "s": session })).await.data()["session"]["intervalsCsvUrl"]
            .as_str()
            .unwrap()
            .to_owned();
    assert_eq!(status(app.client.get(&link).send().await.unwrap()), 200);
    let tampered = link.replace(&world.counsellor.to_string(), &world.admin.to_string());
    assert_ne!(tampered, link);
    assert_eq!(status(app.client.get(&tampered).send().await.unwrap()), 401, "another viewer's name in a link");
    // The link carries the counsellor's rights as they are when it is used: unassigned, refused.
    let unassign = "mutation($c: ID!) { updateChild(id: $c, input: { counsellorIds: [] }) { id } }";
    app.graphql(Some(&admin), unassign, json!({ "c": global_id("Child", world.own) })).await.data();
    assert_eq!(status(app.client.get(&link).send().await.unwrap()), 404, "no longer their child");
    // And it expires.
    let key_link =
        app.graphql(Some(&key), link_query, json!({ "s": session })).await.data()["session"]["intervalsCsvUrl"]
            .as_str()
            .unwrap()
            .to_owned();
    assert_eq!(status(app.client.get(&key_link).send().await.unwrap()), 200);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(status(app.client.get(&key_link).send().await.unwrap()), 401, "expired");
}
