//! What the throughput benchmarks share: concurrent clients sending one request in a loop.

use std::time::{Duration, Instant};

use serde_json::Value;

/// Where the clients send their request.
pub struct Target<'a> {
    /// The GraphQL endpoint's URL.
    pub url: String,
    pub token: Option<&'a str>,
    /// Our gateway answers every request with rate-limit headers; other servers don't.
    pub rate_limited: bool,
}

impl<'a> Target<'a> {
    /// Our gateway at `address`.
    pub fn gateway(address: &str, token: Option<&'a str>) -> Self {
        Self { url: format!("{address}/graphql"), token, rate_limited: true }
    }
}

/// What one round measured.
pub struct Measured {
    pub requests: u64,
    pub length: Duration,
    /// Every request's latency, sorted.
    pub latencies: Vec<Duration>,
}

impl Measured {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.length.as_secs_f64()
    }

    /// The latency `fraction` (0..1) of requests stayed under, in milliseconds.
    pub fn percentile_ms(&self, fraction: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies.len() as f64 * fraction).ceil() as usize).clamp(1, self.latencies.len()) - 1;
        self.latencies[index].as_secs_f64() * 1000.0
    }
}

/// `clients` concurrent clients POSTing `body` to `target` for `length`, each checking every
/// answer is a success without errors; with each request's latency.
pub async fn measure(target: &Target<'_>, body: &Value, clients: usize, length: Duration) -> Measured {
    let started = Instant::now();
    let deadline = started + length;
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let client = reqwest::Client::new();
            let (url, body, token, rate_limited) =
                (target.url.clone(), body.clone(), target.token.map(str::to_owned), target.rate_limited);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let mut request = client.post(&url).json(&body);
                    if let Some(token) = &token {
                        request = request.bearer_auth(token);
                    }
                    let response = request.send().await.unwrap();
                    assert!(response.status().is_success(), "{}", response.status());
                    assert!(!rate_limited || response.headers().contains_key("ratelimit-remaining"));
                    // A substring test, not a parse: the client shares the server's cores.
                    let answer = response.text().await.unwrap();
                    assert!(answer.starts_with("{\"data\"") && !answer.contains("\"errors\""), "{answer}");
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let length = started.elapsed();
    latencies.sort_unstable();
    Measured { requests: latencies.len() as u64, length, latencies }
}

/// Requests answered by `clients` concurrent clients in `length`, each POSTing `body` to
/// `/graphql` (with `token` as bearer, if any) and checking the answer is a success without
/// errors, with the rate-limit headers every answer carries.
pub async fn throughput(address: &str, token: Option<&str>, body: &Value, clients: usize, length: Duration) -> u64 {
    measure(&Target::gateway(address, token), body, clients, length).await.requests
}
