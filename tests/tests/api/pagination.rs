//! Cursor connections: forward and backward paging, totals and filters.

use entity::enums::Role;
use imind_tests::{fixtures, spawn_app};
use serde_json::{Value, json};

async fn setup() -> (imind_tests::TestApp, String, String) {
    let app = spawn_app().await;
    let db = &app.db;
    let organisation = fixtures::organisation(db, "Paged").await;
    let admin = fixtures::user(db, organisation, "admin@paged.test", Role::Admin).await;
    for name in ["Alma", "Bo", "Cleo", "Dana", "Emil"] {
        fixtures::child(db, organisation, name).await;
    }
    let child = fixtures::child(db, organisation, "Zed").await;
    let analysed = fixtures::analysed_session(db, child, admin, 5, 1, 9).await;
    let token = app.login("admin@paged.test", fixtures::PASSWORD).await;
    (app, token, fixtures::global_id("TrackedObject", analysed.object))
}

fn names(data: &Value) -> Vec<String> {
    data["children"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn children_page_forward_and_backward() {
    let (app, token, _) = setup().await;
    let query = "query($first: Int, $after: String, $last: Int, $before: String) {
        children(first: $first, after: $after, last: $last, before: $before) {
            totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { name } } } }";
    let page1 = app.graphql(Some(&token), query, json!({ "first": 2 })).await;
    let page1 = page1.data();
    assert_eq!(names(page1), ["Alma", "Bo"]);
    assert_eq!(page1["children"]["totalCount"], 6);
    assert_eq!(page1["children"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(page1["children"]["pageInfo"]["hasPreviousPage"], false);

    let after = page1["children"]["pageInfo"]["endCursor"].clone();
    let page2 = app.graphql(Some(&token), query, json!({ "first": 2, "after": after })).await;
    let page2 = page2.data();
    assert_eq!(names(page2), ["Cleo", "Dana"]);
    assert_eq!(page2["children"]["totalCount"], 6);
    assert_eq!(page2["children"]["pageInfo"]["hasPreviousPage"], true);

    let after = page2["children"]["pageInfo"]["endCursor"].clone();
    let page3 = app.graphql(Some(&token), query, json!({ "first": 2, "after": after })).await;
    let page3 = page3.data();
    assert_eq!(names(page3), ["Emil", "Zed"]);
    assert_eq!(page3["children"]["pageInfo"]["hasNextPage"], false);

    let last = app.graphql(Some(&token), query, json!({ "last": 2 })).await;
    assert_eq!(names(last.data()), ["Emil", "Zed"], "edges stay in natural order");
    assert_eq!(last.data()["children"]["pageInfo"]["hasPreviousPage"], true);

    let before = page3["children"]["pageInfo"]["startCursor"].clone();
    let back = app.graphql(Some(&token), query, json!({ "last": 3, "before": before })).await;
    assert_eq!(names(back.data()), ["Bo", "Cleo", "Dana"]);

    // A page past the end is empty but still knows the total.
    let end_cursor = page3["children"]["pageInfo"]["endCursor"].clone();
    let beyond = app.graphql(Some(&token), query, json!({ "first": 2, "after": end_cursor })).await;
    assert!(names(beyond.data()).is_empty());
    assert_eq!(beyond.data()["children"]["totalCount"], 6);
}

#[tokio::test]
async fn children_search_is_case_insensitive_and_literal() {
    let (app, token, _) = setup().await;
    let query = "query($s: String) { children(search: $s) { totalCount edges { node { name } } } }";
    let found = app.graphql(Some(&token), query, json!({ "s": "LE" })).await;
    assert_eq!(names(found.data()), ["Cleo"]);
    let wildcard = app.graphql(Some(&token), query, json!({ "s": "%" })).await;
    assert_eq!(wildcard.data()["children"]["totalCount"], 0, "% is matched literally");
}

#[tokio::test]
async fn interval_filters_and_paging() {
    let (app, token, object) = setup().await;
    // Nine 1-second intervals starting every 2 s, emotions HAPPY, SAD, NEUTRAL repeating.
    let query = "query($id: ID!, $first: Int, $after: String, $emotion: Emotion, $min: Int, $from: Int, $to: Int) {
        node(id: $id) { ... on TrackedObject {
            emotionIntervals(first: $first, after: $after, emotion: $emotion, minDurationMs: $min, fromMs: $from, toMs: $to) {
                totalCount pageInfo { hasNextPage endCursor } edges { node { emotion startMs endMs } } }
            emotionShare { emotion fraction durationMs } } } }";
    let run = |variables: Value| {
        let app = &app;
        let token = &token;
        async move { app.graphql(Some(token), query, variables).await }
    };
    let starts = |response: &imind_tests::Response| -> Vec<i64> {
        response.data()["node"]["emotionIntervals"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["startMs"].as_i64().unwrap())
            .collect()
    };

    let sad = run(json!({ "id": object, "emotion": "SAD" })).await;
    assert_eq!(starts(&sad), [2000, 8000, 14000]);
    let window = run(json!({ "id": object, "from": 3500, "to": 8000 })).await;
    assert_eq!(starts(&window), [4000, 6000], "overlapping [3500, 8000)");
    let long = run(json!({ "id": object, "min": 1001 })).await;
    assert_eq!(long.data()["node"]["emotionIntervals"]["totalCount"], 0);

    let first = run(json!({ "id": object, "first": 4 })).await;
    assert_eq!(starts(&first), [0, 2000, 4000, 6000]);
    let cursor = first.data()["node"]["emotionIntervals"]["pageInfo"]["endCursor"].clone();
    let second = run(json!({ "id": object, "first": 4, "after": cursor })).await;
    assert_eq!(starts(&second), [8000, 10000, 12000, 14000]);
    assert_eq!(second.data()["node"]["emotionIntervals"]["totalCount"], 9);

    let share = &first.data()["node"]["emotionShare"];
    assert_eq!(
        share,
        &json!([
            { "emotion": "HAPPY", "fraction": 3.0 / 9.0, "durationMs": 3000 },
            { "emotion": "SAD", "fraction": 3.0 / 9.0, "durationMs": 3000 },
            { "emotion": "NEUTRAL", "fraction": 3.0 / 9.0, "durationMs": 3000 },
        ])
    );
}
