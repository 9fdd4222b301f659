//! Rate limits and quotas: a runaway script gets 429 with `Retry-After` and recovers, while
//! other callers are not slowed; every answer says what is left; query cost is metered; a
//! flood from one address is refused before its body is read.

use std::time::Duration;

use imind_tests::{
    TestApp,
    fixtures::{self, COUNSELLOR},
    spawn_app_with, with_default_rate_limits,
    ws::{Event, GraphQLSocket, Protocol},
};
use serde_json::{Value, json};

use super::app_with;

/// A `{ me { id } }` with `token`: status, the rate-limit headers, and the body.
async fn me(app: &TestApp, token: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .json(&json!({ "query": "{ me { id } }" }))
        .send()
        .await
        .unwrap();
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    (status, headers, response.json().await.unwrap())
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> u64 {
    headers.get(name).unwrap_or_else(|| panic!("a {name} header")).to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_runaway_script_is_refused_and_recovers_while_people_go_on() {
    let (app, _world, admin) = app_with(with_default_rate_limits).await;
    let (_, key) = app.create_api_key(&admin, "REPORTS", None).await;
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    // The default allows a burst of 120 requests, then 10 a second: a script in a loop runs
    // into it, a front end never does.
    let mut served = 0;
    let refusal = loop {
        let (status, headers, body) = me(&app, &key).await;
        if status == 429 {
            break (headers, body);
        }
        assert_eq!(status, 200, "{body}");
        assert_eq!(header(&headers, "ratelimit-limit"), 120);
        assert!(header(&headers, "ratelimit-remaining") < 120);
        served += 1;
        assert!(served < 1000, "never refused");
    };
    // The burst, and what the bucket refilled while they were answered (10 a second).
    assert!((115..=400).contains(&served), "refused after the burst: {served}");
    let (headers, body) = refusal;
    assert_eq!(body["errors"][0]["extensions"]["code"], "TOO_MANY_REQUESTS", "{body}");
    let retry_after = header(&headers, "retry-after");
    assert!((1..=6).contains(&retry_after), "{retry_after}");
    assert_eq!(header(&headers, "ratelimit-remaining"), 0);
    assert!(headers.contains_key("ratelimit-reset") && headers.contains_key("ratelimit-policy"));
    // A person from the same address is not slowed by the script.
    let (status, headers, body) = me(&app, &counsellor).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "ratelimit-remaining"), 119, "their own bucket");
    // After `Retry-After`, the script may go on.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let (status, _, body) = me(&app, &key).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn query_cost_is_metered_per_minute() {
    let (app, world, admin) = app_with(|settings| settings.rate_limit_cost_per_minute = 2_000).await;
    let (_, key) = app.create_api_key(&admin, "REPORTS", None).await;
    // 50 sessions × (a few fields) × 20 people: a cost of several hundred.
    let report = "{ children(first: 2) { edges { node { sessions(first: 10) { edges { node { id \
        objects(first: 20) { edges { node { id } } } } } } } } } }";
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        let response = app.graphql(Some(&key), report, json!({})).await;
        outcomes.push((response.status, response.error_code().map(str::to_owned)));
    }
    let refused =
        outcomes.iter().position(|(status, _)| *status == 429).expect("refused once the minute's cost is spent");
    assert!(refused >= 1, "the first ran: {outcomes:?}");
    assert_eq!(outcomes[refused].1.as_deref(), Some("TOO_MANY_REQUESTS"));
    // Small queries still fit for others; the spent bucket is the key's alone.
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let cheap = app.graphql(Some(&counsellor), report, json!({})).await;
    assert!(cheap.error_code().is_none(), "{}", cheap.body);
    let _ = world;
}

#[tokio::test]
async fn a_flood_from_one_address_is_refused_before_its_body_is_read() {
    let app = spawn_app_with(false, |settings| settings.rate_limit_address_requests_per_minute = 50).await;
    // 50 a minute allows a burst of 10 from the address, whoever sends them (forged tokens).
    let mut statuses = Vec::new();
    for _ in 0..15 {
        let response = app
            .client
            .post(format!("{}/graphql", app.address))
            .bearer_auth("forged.token.value")
            .json(&json!({ "query": "{ me { id } }" }))
            .send()
            .await
            .unwrap();
        assert!(response.headers().contains_key("ratelimit-remaining"), "on every answer");
        statuses.push(response.status().as_u16());
    }
    // The burst goes through; then, as fast as a client sends, mostly refusals (the bucket
    // refills one request in 1.2 s).
    assert!(statuses[..10].iter().all(|status| *status == 200), "{statuses:?}");
    assert!(statuses[10..].iter().filter(|status| **status == 429).count() >= 3, "{statuses:?}");
}

#[tokio::test]
async fn a_sockets_operations_count_as_requests() {
    let (app, _world, admin) = app_with(|settings| {
        settings.rate_limit_requests_per_minute = 60;
        settings.rate_limit_burst = 3;
    })
    .await;
    let (_, key) = app.create_api_key(&admin, "REPORTS", None).await;
    let mut socket = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&key)).await.unwrap();
    let mut codes = Vec::new();
    for n in 0..4 {
        // Each a document the gateway does not know by hash: refused, and counted all the same.
        let unknown = json!({ "id": n.to_string(), "type": "subscribe", "payload": {
            "query": "", "extensions": { "persistedQuery": { "version": 1, "sha256Hash": "ab".repeat(32) } } } });
        socket.send_text(&unknown.to_string()).await.unwrap();
        loop {
            match socket.next().await.1 {
                Event::Next(payload) | Event::Error(payload) => {
                    let errors = if payload.is_array() { payload.clone() } else { payload["errors"].clone() };
                    codes.push(errors[0]["extensions"]["code"].as_str().unwrap_or_default().to_owned());
                    break;
                }
                Event::Complete => continue,
                Event::Closed(frame) => panic!("closed: {frame:?}"),
            }
        }
    }
    assert_eq!(
        codes,
        ["PERSISTED_QUERY_NOT_FOUND", "PERSISTED_QUERY_NOT_FOUND", "PERSISTED_QUERY_NOT_FOUND", "TOO_MANY_REQUESTS"]
    );
}
