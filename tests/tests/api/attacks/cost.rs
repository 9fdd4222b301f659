//! Requests that cost the server far more than they cost the client: password guessing by the
//! hundred per request, aliases, cycles through unbounded lists, arithmetic overflow.

use std::time::{Duration, Instant};

use imind_tests::{
    TestApp,
    fixtures::{self, ADMIN, World, global_id},
    spawn_app, spawn_app_with,
};
use serde_json::json;

const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }";

#[tokio::test]
async fn one_sign_in_per_request() {
    let app = spawn_app().await;
    World::build(&app.db).await;
    let guesses: String = (0..200)
        .map(|n| format!("g{n}: login(email: \"{ADMIN}\", password: \"guess number {n}\") {{ accessToken }} "))
        .collect();
    let started = Instant::now();
    let response = app.graphql(None, &format!("mutation {{ {guesses} }}"), json!({})).await;
    let took = started.elapsed();
    assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{}", response.body);
    assert!(took < Duration::from_secs(1), "refused before checking 200 passwords: {took:?}");
    let twice = "mutation { a: login(email: \"a@b.c\", password: \"x\") { accessToken } b: refreshToken(refreshToken: \"y\") { accessToken } }";
    assert!(app.graphql(None, twice, json!({})).await.error_message().unwrap().contains("only once"));

    let wrong = app.graphql(None, LOGIN, json!({ "e": ADMIN, "p": "not the password" })).await;
    assert_eq!(wrong.error_code(), Some("UNAUTHENTICATED"));
    assert_eq!(wrong.error_message(), Some("wrong e-mail or password"));
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> (u16, Option<String>, serde_json::Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": LOGIN, "variables": { "e": email, "p": password } }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, response.json().await.unwrap())
}

#[tokio::test]
async fn guessing_is_slowed_and_the_account_recovers() {
    let app = spawn_app_with(false, |settings| {
        settings.login_burst = 3;
        settings.login_per_account_and_address_per_minute = 60;
    })
    .await;
    World::build(&app.db).await;
    for n in 0..3 {
        let (status, _, body) = login_status(&app, ADMIN, &format!("guess {n}")).await;
        assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (200, Some("UNAUTHENTICATED")));
    }
    // Over the limit: refused without checking the password, even the right one.
    let (status, retry_after, body) = login_status(&app, ADMIN, fixtures::PASSWORD).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["code"], "TOO_MANY_REQUESTS");
    let seconds: u64 = retry_after.expect("a Retry-After header").parse().unwrap();
    assert!((1..=2).contains(&seconds), "{seconds}");
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], seconds);
    // A back-off, not a lock: after the wait, the right password works.
    tokio::time::sleep(Duration::from_secs(seconds) + Duration::from_millis(100)).await;
    let (status, _, body) = login_status(&app, ADMIN, fixtures::PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"]["login"]["accessToken"].is_string(), "{body}");
}

#[tokio::test]
async fn one_address_guessing_many_accounts_is_slowed() {
    let app = spawn_app_with(false, |settings| settings.login_per_address_per_minute = 5).await;
    World::build(&app.db).await;
    let mut refused = None;
    for n in 0..40 {
        let (status, _, _) = login_status(&app, &format!("user{n}@a.test"), "some password").await;
        if status == 429 {
            refused = Some(n);
            break;
        }
    }
    let refused = refused.expect("one address can't try forty accounts at once");
    assert!(refused >= 5, "the burst is allowed: refused at {refused}");
}

#[tokio::test]
async fn aliases_and_top_level_fields_are_capped() {
    let app = spawn_app().await;
    World::build(&app.db).await;
    let token = app.login(ADMIN, fixtures::PASSWORD).await;
    let many: String = (0..5000).map(|n| format!("m{n}: me {{ email }} ")).collect();
    let response = app.graphql(Some(&token), &format!("{{ {many} }}"), json!({})).await;
    assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{}", &response.body.to_string()[..200]);
    assert!(response.error_message().unwrap().contains("top level"), "{}", response.body);
    let nested: String = (0..100).map(|n| format!("e{n}: email ")).collect();
    let response = app.graphql(Some(&token), &format!("{{ me {{ {nested} }} }}"), json!({})).await;
    assert!(response.error_message().unwrap().contains("aliases"), "{}", response.body);
    // An ordinary request is well within the limits.
    let ordinary = app.graphql(Some(&token), "{ me { email } children { totalCount } }", json!({})).await;
    assert!(ordinary.error_code().is_none(), "{}", ordinary.body);
}

#[tokio::test]
async fn cycles_through_unbounded_lists_are_costed() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let token = app.login(ADMIN, fixtures::PASSWORD).await;
    // child → emotionTrend → session → child → … : each trend is up to 100 entries.
    let mut query = String::from("recordedAt");
    for _ in 0..4 {
        query = format!("emotionTrend {{ session {{ child {{ {query} }} }} }}");
    }
    let query = format!("query($c: ID!) {{ child(id: $c) {{ {query} }} }}");
    let response = app.graphql(Some(&token), &query, json!({ "c": global_id("Child", world.own) })).await;
    assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{}", response.body);
    assert!(response.error_message().unwrap().contains("too complex"), "{}", response.body);
    let one = "query($c: ID!) { child(id: $c) { emotionTrend(last: 2) { recordedAt shares { emotion } } } }";
    let response = app.graphql(Some(&token), one, json!({ "c": global_id("Child", world.own) })).await;
    assert!(response.error_code().is_none(), "{}", response.body);
}

#[tokio::test]
async fn cost_arithmetic_saturates() {
    let app = spawn_app_with(false, |settings| settings.max_query_depth = 64).await;
    World::build(&app.db).await;
    let token = app.login(ADMIN, fixtures::PASSWORD).await;
    // 1000⁸ overflows a 64-bit cost: it must count as too much, not wrap around to little.
    let mut query = String::from("id");
    for _ in 0..8 {
        query = format!("sessions(first: 1000) {{ nodes {{ child {{ {query} }} }} }}");
    }
    let query = format!("{{ children(first: 1000) {{ nodes {{ {query} }} }} }}");
    let response = app.graphql(Some(&token), &query, json!({})).await;
    assert_eq!(response.status, 200);
    assert!(response.error_message().unwrap_or_default().contains("too complex"), "{}", response.body);
}
