//! The examples of `docs/getting-started.md` run as written, with a key.

use std::time::Duration;

use imind_tests::{
    fixtures::global_id,
    ws::{Event, GraphQLSocket, Protocol},
};
use serde_json::json;

use super::app;

/// The guide's GraphQL examples, in order.
fn examples() -> Vec<String> {
    let guide = include_str!("../../../../docs/getting-started.md");
    guide.split("```graphql\n").skip(1).map(|block| block.split("```").next().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_getting_started_examples_run_as_written() {
    let (app, world, admin) = app().await;
    let examples = examples();
    assert_eq!(examples.len(), 3, "create a key, the report, following a job");
    let create = examples[0].replace("Q2hpbGQ6…", &global_id("Child", world.own));
    let created = app.graphql(Some(&admin), &create, json!({})).await;
    let key = created.data()["createApiKey"]["secret"].as_str().unwrap().to_owned();

    let report = app.graphql(Some(&key), &examples[1], json!({ "child": global_id("Child", world.own) })).await;
    let sessions = &report.data()["child"]["sessions"]["nodes"];
    assert!(
        sessions[0]["objects"]["nodes"][0]["emotionIntervals"]["nodes"].as_array().is_some_and(|i| !i.is_empty()),
        "{}",
        report.body
    );

    let mut socket = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&key)).await.unwrap();
    socket
        .subscribe("1", &examples[2], json!({ "job": global_id("AnalysisJob", world.own_analysed.job) }))
        .await
        .unwrap();
    let (_, event) = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("the job's state");
    match event {
        Event::Next(payload) => assert_eq!(payload["data"]["analysisProgress"]["job"]["status"], "DONE", "{payload}"),
        other => panic!("expected the job's state, got {other:?}"),
    }
}
