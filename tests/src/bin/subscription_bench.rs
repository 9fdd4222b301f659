//! Subscription fan-out benchmark: N graphql-transport-ws subscribers (default 10,000) follow
//! one analysis job on one gateway (`imind serve`, release build, its own process); prints the
//! delivery latency of the job's events (worker publishes → subscriber has parsed the message;
//! `emittedAt` against the local clock) and the gateway's memory per subscriber.
//!
//! cargo run --release -p imind-tests --bin subscription_bench -- [N]
//!
//! To have every subscriber in place before the measured job runs, a long "blocker" job keeps
//! the gateway's single worker busy while they connect and is cancelled once all are ready.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use imind_tests::{
    fixtures::uuid_of,
    footage,
    ws::{Event, GraphQLSocket, Protocol},
};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

const QUERY: &str = "subscription($id: ID!) { analysisProgress(jobId: $id) {
    kind emittedAt etaSeconds job { status percent framesDone }
    newEmotionIntervals { trackId emotion startMs endMs } newBehaviourIntervals { trackId behaviour startMs endMs } } }";

const EMITTED_AT: &str = r#""emittedAt":""#;

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|t| t.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|t| t.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn rss_kb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(field).map(|v| v.trim().trim_end_matches(" kB").to_owned()))
        })
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0.0)
}

struct Gateway {
    child: std::process::Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_gateway() -> Gateway {
    let binary = imind_tests::worker::build_imind(true);
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new(binary)
        .args(["serve", "--demo"])
        .env("IMIND_CONFIG", dir.path().join("none.toml"))
        .env("IMIND_DATA_DIR", dir.path())
        .env("IMIND_BIND", format!("127.0.0.1:{port}"))
        .env("IMIND_WORKER_POLL_MS", "100")
        .env("IMIND_DATABASE_MAX_CONNECTIONS", "20")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("imind serve starts");
    let gateway = Gateway { child, address: format!("http://127.0.0.1:{port}"), _dir: dir };
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if client.get(format!("{}/readyz", gateway.address)).send().await.is_ok_and(|r| r.status().is_success()) {
            return gateway;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gateway did not become ready");
}

async fn graphql(address: &str, token: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = reqwest::Client::new()
        .post(format!("{address}/graphql"))
        .json(&json!({ "query": query, "variables": variables }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let body: Value = request.send().await.unwrap().json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

async fn upload(address: &str, token: &str, session: &str, clip: &str) {
    let operations = json!({
        "query": "mutation ($s: ID!, $file: Upload!) { uploadSessionVideo(sessionId: $s, file: $file) { status } }",
        "variables": { "s": session, "file": null }
    });
    let output = tokio::process::Command::new("curl")
        .args(["-sS", &format!("{address}/graphql"), "-H", &format!("authorization: Bearer {token}")])
        .arg("-F")
        .arg(format!("operations={operations}"))
        .args(["-F", r#"map={"0":["variables.file"]}"#])
        .arg("-F")
        .arg(format!("0=@{}", footage(clip).display()))
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("READY"), "{}", String::from_utf8_lossy(&output.stdout));
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let subscribers: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let gateway = start_gateway().await;
    let address = gateway.address.clone();
    let pid = gateway.child.id();
    let login = graphql(
        &address,
        None,
        "mutation { login(email: \"counsellor@demo.local\", password: \"demo-password\") { accessToken } }",
        json!({}),
    )
    .await;
    let token = login["login"]["accessToken"].as_str().unwrap().to_owned();
    let children = graphql(&address, Some(&token), "{ children(first: 10) { nodes { id name } } }", json!({})).await;
    let child = children["children"]["nodes"][0]["id"].as_str().unwrap().to_owned();
    let mut jobs = Vec::new();
    for (title, fps) in [("blocker", 25.0), ("measured", 4.0)] {
        let created = graphql(
            &address,
            Some(&token),
            "mutation($c: ID!, $t: String!) { createSession(input: {childId: $c, title: $t, recordedAt: \"2026-11-25T10:00:00Z\"}) { id } }",
            json!({ "c": child, "t": title }),
        )
        .await;
        let session = created["createSession"]["id"].as_str().unwrap().to_owned();
        upload(&address, &token, &session, "vtest.avi").await;
        let started = graphql(
            &address,
            Some(&token),
            "mutation($s: ID!, $fps: Float) { startAnalysis(sessionId: $s, options: {fps: $fps}) { id } }",
            json!({ "s": session, "fps": fps }),
        )
        .await;
        jobs.push(started["startAnalysis"]["id"].as_str().unwrap().to_owned());
    }
    let (blocker, measured) = (jobs[0].clone(), jobs[1].clone());
    println!("gateway pid {pid}; job {} measured, {subscribers} subscribers", uuid_of(&measured));

    // Connect everyone (a few hundred handshakes at a time), each waiting for the job's
    // current state before it counts as subscribed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = rss_kb(pid, "VmRSS:");
    let ready = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(256));
    let connecting = Instant::now();
    let mut tasks = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let (address, token, job, ready, gate) =
            (address.clone(), token.clone(), measured.clone(), ready.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await.unwrap();
            let mut socket =
                GraphQLSocket::connect(&address, Protocol::TransportWs, Some(&token)).await.expect("connects");
            socket.subscribe("1", QUERY, json!({ "id": job })).await.unwrap();
            let first = socket.next().await.1;
            assert!(matches!(first, Event::Next(_)), "{first:?}");
            drop(permit);
            ready.fetch_add(1, Ordering::SeqCst);
            let mut latencies = Vec::new();
            let mut done = false;
            // Only the timestamp is read: a full parse of every message by ten thousand clients
            // would take CPU from the gateway being measured.
            while let Some(text) = socket.next_raw().await {
                let received = Utc::now();
                let Some(at) = text.find(EMITTED_AT) else { continue };
                let stamp = &text[at + EMITTED_AT.len()..];
                let emitted: DateTime<Utc> = stamp[..stamp.find('"').unwrap()].parse().unwrap();
                latencies.push((received - emitted).num_microseconds().unwrap() as f64 / 1000.0);
                done = text.contains(r#""status":"DONE""#);
            }
            (latencies, done)
        }));
    }
    while ready.load(Ordering::SeqCst) < subscribers {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_seconds = connecting.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = rss_kb(pid, "VmRSS:");
    println!(
        "{subscribers} subscribed in {connect_seconds:.1} s; gateway RSS {:.0} → {:.0} MB: {:.1} KB per subscriber",
        rss_before / 1024.0,
        rss_after / 1024.0,
        (rss_after - rss_before) / subscribers as f64
    );

    // Free the worker: the measured job runs now, with everyone listening.
    graphql(
        &address,
        Some(&token),
        "mutation($j: ID!) { cancelAnalysis(jobId: $j) { status } }",
        json!({ "j": blocker }),
    )
    .await;
    let running = Instant::now();
    let cpu_before = cpu_seconds(pid);
    let clients_before = cpu_seconds(std::process::id());
    let mut latencies = Vec::new();
    let mut completed = 0;
    for task in tasks {
        let (mut mine, done) = tokio::time::timeout(Duration::from_secs(600), task).await.expect("finishes").unwrap();
        latencies.append(&mut mine);
        completed += usize::from(done);
    }
    let run_seconds = running.elapsed().as_secs_f64();
    let gateway_cpu = cpu_seconds(pid) - cpu_before;
    let clients_cpu = cpu_seconds(std::process::id()) - clients_before;
    latencies.sort_by(f64::total_cmp);
    let events_per_subscriber = latencies.len() as f64 / subscribers as f64;
    println!(
        "job ran and every subscriber finished in {run_seconds:.1} s; {} deliveries ({events_per_subscriber:.1} events each), {completed}/{subscribers} saw DONE",
        latencies.len()
    );
    println!(
        "delivery latency: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 < 100 ms)",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    println!("the {subscribers} clients (this process) used {clients_cpu:.1} s of CPU meanwhile, on the same cores");
    println!(
        "gateway CPU during the run {gateway_cpu:.1} s (analysis included): {:.1} µs per delivery; peak RSS {:.0} MB",
        gateway_cpu * 1e6 / latencies.len().max(1) as f64,
        rss_kb(pid, "VmHWM:") / 1024.0
    );
}
