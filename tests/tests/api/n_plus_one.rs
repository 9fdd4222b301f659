//! The number of SQL statements of a nested query does not grow with the rows it returns.

use entity::enums::Role;
use imind_tests::{TestApp, backend_name, fixtures, spawn_app_with};
use serde_json::json;

const NESTED: &str =
    "{ children(first: 5) { totalCount edges { node { name sessions(first: 25) { totalCount edges { node { title
    objects { totalCount edges { node { label
        emotionIntervals { totalCount edges { node { emotion startMs endMs } } }
        behaviourIntervals { totalCount edges { node { behaviour startMs endMs } } } } } } } } } } } } }";

/// A child with `sessions` analysed sessions of 2 people × 3 intervals each; returns the
/// statements the nested query took and the intervals it returned.
async fn statements_for(sessions: u32) -> (u64, usize) {
    // A generous batching window: this test measures batching, not how promptly a loaded
    // 2-core CI machine schedules the resolvers of one level. No embedded worker: its polls
    // would land in the statement count now and then.
    let app: TestApp = spawn_app_with(false, |settings| {
        settings.dataloader_delay_ms = 10;
        settings.embedded_worker = false;
        // The read's audit entry is written a moment later, in a batch of its own (measured by
        // the audit benchmark): it would land in this count or not, by timing.
        settings.audit_reads = false;
    })
    .await;
    let db = &app.db;
    let organisation = fixtures::organisation(db, "Counted").await;
    let admin = fixtures::user(db, organisation, "admin@counted.test", Role::Admin).await;
    for name in ["Ann", "Ben"] {
        let child = fixtures::child(db, organisation, name).await;
        for day in 1..=sessions {
            fixtures::analysed_session(db, child, admin, day, 2, 3).await;
        }
    }
    let token = app.login("admin@counted.test", fixtures::PASSWORD).await;
    // The token's sign-in is checked once and then remembered for a few seconds: a first
    // request takes that statement out of the count.
    app.graphql(Some(&token), "{ me { id } }", json!({})).await.data();
    let before = app.sql_statements().await;
    let response = app.graphql(Some(&token), NESTED, json!({})).await;
    let after = app.sql_statements().await;
    let data = response.data();
    let mut intervals = 0;
    for child in data["children"]["edges"].as_array().unwrap() {
        assert_eq!(child["node"]["sessions"]["totalCount"], sessions);
        for session in child["node"]["sessions"]["edges"].as_array().unwrap() {
            for object in session["node"]["objects"]["edges"].as_array().unwrap() {
                intervals += object["node"]["emotionIntervals"]["edges"].as_array().unwrap().len();
                intervals += object["node"]["behaviourIntervals"]["edges"].as_array().unwrap().len();
            }
        }
    }
    (after - before, intervals)
}

#[tokio::test]
async fn nested_query_statements_do_not_grow_with_rows() {
    let (small, small_rows) = statements_for(2).await;
    let (large, large_rows) = statements_for(20).await;
    println!(
        "N+1 guard on {}: 2 sessions/child → {small} statements ({small_rows} intervals); \
         20 sessions/child → {large} statements ({large_rows} intervals)",
        backend_name()
    );
    assert_eq!(small_rows, 2 * 2 * 2 * 3 * 2);
    assert_eq!(large_rows, 2 * 20 * 2 * 3 * 2);
    assert_eq!(small, large, "statement count must not depend on the number of rows");
    // One per level: children, sessions, objects, emotion intervals, behaviour intervals.
    assert_eq!(large, 5);
}
