//! Depth and complexity bombs are refused before any resolver runs.

use imind_tests::{
    fixtures::{self, ADMIN, World},
    spawn_app,
};
use serde_json::json;

#[tokio::test]
async fn deep_queries_are_refused() {
    let app = spawn_app().await;
    World::build(&app.db).await;
    let token = app.login(ADMIN, fixtures::PASSWORD).await;
    // child → sessions → child → … four times over: 20 levels, deeper than the limit of 16.
    let mut query = String::from("id");
    for _ in 0..4 {
        query = format!("sessions(first: 1) {{ edges {{ node {{ child {{ {query} }} }} }} }}");
    }
    let query = format!("{{ children(first: 1) {{ edges {{ node {{ {query} }} }} }} }}");
    let before = app.sql_statements().await;
    let response = app.graphql(Some(&token), &query, json!({})).await;
    assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{}", response.body);
    assert!(response.error_message().unwrap().contains("nested too deep"), "{}", response.body);
    assert_eq!(app.sql_statements().await, before, "refused before touching the database");
}

#[tokio::test]
async fn expensive_queries_are_refused() {
    let app = spawn_app().await;
    World::build(&app.db).await;
    let token = app.login(ADMIN, fixtures::PASSWORD).await;
    // Shallow enough, but a thousand of everything at every level: 10¹² intervals.
    let query = "{ children(first: 1000) { edges { node { sessions(first: 1000) { edges { node {
        objects(first: 1000) { edges { node { emotionIntervals(first: 1000) { edges { node { emotion } } } } } } } } } } } } }";
    let response = app.graphql(Some(&token), query, json!({})).await;
    assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{}", response.body);
    assert!(response.error_message().unwrap().contains("too complex"), "{}", response.body);

    // Many aliases of a cheap field add up too.
    let aliases: String = (0..6000).map(|n| format!("a{n}: children(first: 1000) {{ totalCount }} ")).collect();
    let response = app.graphql(Some(&token), &format!("{{ {aliases} }}"), json!({})).await;
    assert!(response.error_message().unwrap().contains("too complex"), "{}", response.body);
}

#[tokio::test]
async fn limits_are_configurable() {
    let app = imind_tests::spawn_app_with(false, |settings| settings.max_query_depth = 3).await;
    World::build(&app.db).await;
    let token = app.login(ADMIN, fixtures::PASSWORD).await;
    let response = app.graphql(Some(&token), "{ children { edges { node { id } } } }", json!({})).await;
    assert!(response.error_message().unwrap().contains("nested too deep"), "{}", response.body);
    let response = app.graphql(Some(&token), "{ me { email } }", json!({})).await;
    assert!(response.error_code().is_none());
}
