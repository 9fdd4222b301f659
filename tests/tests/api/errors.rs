//! Internal errors are masked with a request id; client errors are clear and typed.

use imind_tests::{
    fixtures::{self, ADMIN, World, global_id},
    spawn_app,
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
    World::build(&app.db).await;
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
    ];
    for (query, message) in cases {
        let variables = json!({ "id": global_id("Child", uuid::Uuid::now_v7()) });
        let response = app.graphql(Some(&token), query, variables).await;
        assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{query}: {}", response.body);
        let got = response.error_message().unwrap_or_default();
        assert!(got.contains(message), "{query}: expected `{message}` in `{got}`");
    }
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
