//! Internal errors are masked with a request id; client errors are clear and typed — over HTTP
//! and over WebSocket alike.

use imind_tests::{
    fixtures::{self, ADMIN, World, global_id},
    spawn_app,
    ws::{Event, GraphQLSocket, Protocol},
};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

#[tokio::test]
async fn internal_errors_are_masked_with_the_request_id() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let token = app.login(ADMIN, fixtures::PASSWORD).await;
    // Break the database under the server: the next read of intervals fails inside it.
    app.db
        .execute_raw(Statement::from_string(app.db.get_database_backend(), "DROP TABLE emotion_intervals"))
        .await
        .unwrap();
    let response = app
        .graphql(
            Some(&token),
            "query($id: ID!) { session(id: $id) { objects { edges { node { emotionIntervals { totalCount } } } } } }",
            json!({ "id": global_id("Session", world.own_analysed.session) }),
        )
        .await;
    assert_eq!(response.error_code(), Some("INTERNAL"));
    let request_id = response.request_id.clone().expect("every response has an x-request-id");
    assert_eq!(response.error_message(), Some(format!("internal error (request id {request_id})").as_str()));
    assert_eq!(response.body["errors"][0]["extensions"]["requestId"], request_id);
    let text = response.body.to_string().to_lowercase();
    for leak in ["emotion_intervals", "select", "sqlite", "postgres", "no such table", "relation"] {
        assert!(!text.contains(leak), "the response leaks `{leak}`: {text}");
    }
}

#[tokio::test]
async fn bad_input_gets_bad_user_input() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let token = app.login(ADMIN, fixtures::PASSWORD).await;
    let cases = [
        ("{ child(id: \"nonsense\") { id } }", "not a valid id"),
        ("query($id: ID!) { session(id: $id) { id } }", "is not a Session id"),
        ("{ children(first: 1, last: 1) { totalCount } }", "not both"),
        ("{ children(first: -1) { totalCount } }", "between 0"),
        ("{ children(after: \"bogus\") { totalCount } }", "not a valid cursor"),
        ("mutation { createChild(input: { name: \"   \" }) { id } }", "must not be empty"),
        ("mutation { createChild(input: { name: \"X\", birthDate: \"31/12/2020\" }) { id } }", "not a date"),
        ("{ nonsense }", "Unknown field"),
        ("{ auditLog(action: \"child.peek\") { totalCount } }", "not an audit action"),
        (
            "mutation { setRetentionPolicy(input: { videoDaysAfterAnalysis: 0 }) { videoDaysAfterAnalysis } }",
            "between 1",
        ),
    ];
    for (query, message) in cases {
        let variables = json!({ "id": global_id("Child", uuid::Uuid::now_v7()) });
        let response = app.graphql(Some(&token), query, variables).await;
        assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{query}: {}", response.body);
        let got = response.error_message().unwrap_or_default();
        assert!(got.contains(message), "{query}: expected `{message}` in `{got}`");
    }
    let future = "mutation($c: ID!) { createSession(input: { childId: $c, title: \"T\", recordedAt: \"2999-01-01T00:00:00Z\" }) { id } }";
    let response = app.graphql(Some(&token), future, json!({ "c": global_id("Child", world.own) })).await;
    assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{}", response.body);
    assert!(response.error_message().unwrap().contains("future"), "{}", response.body);
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let app = spawn_app().await;
    World::build(&app.db).await;
    let token = app.login(ADMIN, fixtures::PASSWORD).await;
    let response = app
        .graphql(
            Some(&token),
            "query($id: ID!) { child(id: $id) { id } }",
            json!({ "id": global_id("Child", uuid::Uuid::now_v7()) }),
        )
        .await;
    assert_eq!(response.error_code(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn health_readiness_metrics_and_playground() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await, (200, "ok".to_owned()));
    assert_eq!(app.get("/readyz").await, (200, "ready".to_owned()));
    let (status, metrics) = app.get("/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("imind_sql_statements_total"));
    assert!(metrics.contains("imind_subscription_delivery_seconds_bucket"), "{metrics}");
    let (status, page) = app.get("/").await;
    assert_eq!(status, 200);
    assert!(page.contains("graphiql"), "GraphiQL is served at /");
}

/// The errors of the first message a subscription (or an operation sent over the socket) gets.
async fn first_errors(socket: &mut GraphQLSocket, query: &str, variables: serde_json::Value) -> serde_json::Value {
    socket.subscribe("1", query, variables).await.unwrap();
    match socket.next().await {
        (_, Event::Next(payload)) => payload["errors"].clone(),
        (_, Event::Error(payload)) if payload.is_array() => payload,
        (_, Event::Error(payload)) => payload["errors"].clone(),
        other => panic!("expected an answer to {query}, got {other:?}"),
    }
}

#[tokio::test]
async fn websocket_operations_get_the_same_codes_and_masking() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let token = app.login(ADMIN, fixtures::PASSWORD).await;
    for protocol in [Protocol::TransportWs, Protocol::Legacy] {
        let mut socket = GraphQLSocket::connect(&app.address, protocol, Some(&token)).await.unwrap();
        // A validation error from async-graphql itself gets its code here too.
        let errors = first_errors(&mut socket, "{ nonsense }", json!({})).await;
        assert_eq!(errors[0]["extensions"]["code"], "BAD_USER_INPUT", "{protocol:?}: {errors}");
        assert!(errors[0]["message"].as_str().unwrap().contains("Unknown field"), "{errors}");
    }

    // Break the database under the server: intervals (a query's) and jobs (a subscription's).
    for table in ["emotion_intervals", "analysis_jobs"] {
        let drop = format!("DROP TABLE {table}");
        app.db.execute_raw(Statement::from_string(app.db.get_database_backend(), drop)).await.unwrap();
    }
    let session = json!({ "id": global_id("Session", world.own_analysed.session) });
    let job = json!({ "id": global_id("AnalysisJob", uuid::Uuid::now_v7()) });
    let operations = [
        (
            "query($id: ID!) { session(id: $id) { objects { edges { node { emotionIntervals { totalCount } } } } } }",
            session,
        ),
        ("subscription($id: ID!) { analysisProgress(jobId: $id) { kind } }", job),
    ];
    for protocol in [Protocol::TransportWs, Protocol::Legacy] {
        for (query, variables) in &operations {
            let mut socket = GraphQLSocket::connect(&app.address, protocol, Some(&token)).await.unwrap();
            let errors = first_errors(&mut socket, query, variables.clone()).await;
            let error = &errors[0];
            assert_eq!(error["extensions"]["code"], "INTERNAL", "{protocol:?} {query}: {errors}");
            let request_id = error["extensions"]["requestId"].as_str().expect("a request id").to_owned();
            assert!(!request_id.is_empty());
            assert_eq!(error["message"], format!("internal error (request id {request_id})"));
            let text = errors.to_string().to_lowercase();
            for leak in
                ["emotion_intervals", "analysis_jobs", "select", "sqlite", "postgres", "no such table", "relation"]
            {
                assert!(!text.contains(leak), "{protocol:?}: the answer leaks `{leak}`: {text}");
            }
        }
    }
}
