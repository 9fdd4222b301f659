//! What the throughput benchmarks share: concurrent clients sending one request in a loop.

use std::time::{Duration, Instant};

use serde_json::Value;

/// Requests answered by `clients` concurrent clients in `length`, each POSTing `body` to
/// `/graphql` (with `token` as bearer, if any) and checking the answer is a success without
/// errors, with the rate-limit headers every answer carries.
pub async fn throughput(address: &str, token: Option<&str>, body: &Value, clients: usize, length: Duration) -> u64 {
    let deadline = Instant::now() + length;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (client, url) = (reqwest::Client::new(), format!("{address}/graphql"));
            let (body, token) = (body.clone(), token.map(str::to_owned));
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    let mut request = client.post(&url).json(&body);
                    if let Some(token) = &token {
                        request = request.bearer_auth(token);
                    }
                    let response = request.send().await.unwrap();
                    assert!(response.status().is_success(), "{}", response.status());
                    assert!(response.headers().contains_key("ratelimit-remaining"));
                    let answer: Value = response.json().await.unwrap();
                    assert!(answer.get("errors").is_none(), "{answer}");
                    done += 1;
                }
                done
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total
}
