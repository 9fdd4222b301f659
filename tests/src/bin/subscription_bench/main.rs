//! Subscription fan-out benchmark: N graphql-transport-ws subscribers (default 10,000) follow
//! one analysis job on one gateway (`imind serve`, release build, its own process); prints the
//! delivery latency of the job's events and the gateway's memory per subscriber.
//!
//! cargo run --release -p imind-tests --bin subscription_bench -- [N] [--per-event] [--clients-same-priority]
//!
//! Latency runs from the event's `emittedAt` (the worker publishing it) to the message's
//! arrival at the subscriber, seen on the wire: a packet capture on the loopback interface
//! (`capture`, needs root) timestamps every segment the gateway sends. Also shown: the
//! subscriber socket's own receive timestamp (`arrivals`; an upper bound where TCP merged an
//! unread message with the next) and when the client process read it.
//!
//! The clients share this machine's cores with the gateway. By default they run at the lowest
//! priority (`SCHED_IDLE`, like the gateway's own analysis), so that they take only CPU time the
//! gateway leaves, as clients on machines of their own would, and the kernel's scheduler treats
//! a core running only them as free for the gateway's threads (measured: with the clients at
//! `SCHED_BATCH` nice 19 instead, both gateway threads were at times woken onto one core for
//! 70 ms while the other ran clients, doubling some fan-outs). `--clients-same-priority` to see
//! them compete.
//!
//! To have every subscriber in place before the measured job runs, a long "blocker" job keeps
//! the gateway's single worker busy while they connect and is cancelled once all are ready.

mod arrivals;
mod capture;

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use arrivals::{Frame, TimestampedFrames};
use capture::{WireCapture, WireDelivery};
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
const KIND: &str = r#""kind":""#;

/// One event as one subscriber received it.
struct Delivery {
    emitted: DateTime<Utc>,
    /// When the message reached the subscriber's socket.
    arrived: DateTime<Utc>,
    /// When the client process read it.
    read: DateTime<Utc>,
    /// Its segment was merged with the next message's in the socket before the client read
    /// it (the kernel then keeps the later arrival time): `latency_ms` is an upper bound.
    merged: bool,
}

impl Delivery {
    fn latency_ms(&self) -> f64 {
        milliseconds(self.arrived - self.emitted)
    }

    fn read_ms(&self) -> f64 {
        milliseconds(self.read - self.emitted)
    }
}

fn milliseconds(duration: chrono::TimeDelta) -> f64 {
    duration.num_microseconds().unwrap_or(0) as f64 / 1000.0
}

/// The string value that follows `opening` (`"name":"`) in a JSON text.
fn field<'t>(text: &'t str, opening: &str) -> Option<&'t str> {
    let value = &text[text.find(opening)? + opening.len()..];
    Some(&value[..value.find('"')?])
}

/// One event's latencies, as seen on the wire, in the sockets, and by the client process.
struct EventLatencies<'d> {
    kind: &'d str,
    bytes: usize,
    wire: Vec<f64>,
    socket: Vec<f64>,
    read: Vec<f64>,
}

/// Each event's kind, when it was emitted (after the first), its message size and its
/// delivery latencies on the wire (and p99 in the socket and until read): shows which events
/// make the tail.
fn print_per_event(wire: &[WireDelivery], clients: &[Delivery]) {
    let mut by_event: BTreeMap<DateTime<Utc>, EventLatencies> = BTreeMap::new();
    for delivery in wire {
        by_event
            .entry(delivery.emitted)
            .or_insert_with(|| EventLatencies {
                kind: &delivery.kind,
                bytes: delivery.bytes,
                wire: vec![],
                socket: vec![],
                read: vec![],
            })
            .wire
            .push(delivery.latency_ms());
    }
    for delivery in clients {
        if let Some(event) = by_event.get_mut(&delivery.emitted) {
            event.socket.push(delivery.latency_ms());
            event.read.push(delivery.read_ms());
        }
    }
    let Some(&first) = by_event.keys().next() else { return };
    println!("  (times after the first event, emitted at {})", first.format("%H:%M:%S%.3f"));
    for (ordinal, (emitted, event)) in by_event.iter_mut().enumerate() {
        for latencies in [&mut event.wire, &mut event.socket, &mut event.read] {
            latencies.sort_by(f64::total_cmp);
        }
        let wire = &event.wire;
        println!(
            "  event {ordinal:>3} {:<9} at {:>6} ms, {:>5} B to {:>6}: min {:>5.1}  p50 {:>6.1}  p99 {:>6.1}  max {:>6.1} ms (p99 in the socket {:>6.1}, read {:>6.1})",
            event.kind,
            (*emitted - first).num_milliseconds(),
            event.bytes,
            wire.len(),
            wire[0],
            percentile(wire, 0.5),
            percentile(wire, 0.99),
            wire.last().copied().unwrap_or(f64::NAN),
            percentile(&event.socket, 0.99),
            percentile(&event.read, 0.99)
        );
    }
}

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

/// The gateway's median RSS over a second: the blocker job's analysis moves it by a few MB
/// from one moment to the next, which a single reading would count as subscribers'.
async fn steady_rss_kb(pid: u32) -> f64 {
    let mut samples = Vec::new();
    for _ in 0..40 {
        samples.push(rss_kb(pid, "VmRSS:"));
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    samples.sort_by(f64::total_cmp);
    percentile(&samples, 0.5)
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

/// Starts `imind serve` at normal priority (before this process lowers its own).
fn spawn_gateway() -> Gateway {
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
        // Every simulated subscriber signs in as the same counsellor.
        .env("IMIND_WS_MAX_SOCKETS_PER_USER", "1000000")
        .env("IMIND_MAX_CONNECTIONS", "1000000")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("imind serve starts");
    Gateway { child, address: format!("http://127.0.0.1:{port}"), _dir: dir }
}

async fn wait_until_ready(gateway: &Gateway) {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if client.get(format!("{}/readyz", gateway.address)).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the gateway did not become ready");
}

/// Moves the calling thread to `SCHED_IDLE`: it runs only on CPU time no other thread wants,
/// and the scheduler places the gateway's threads on its core as if it were idle.
fn only_leftover_cpu() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: changes the calling thread's (0) policy; no pointers outlive the call.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0 {
        eprintln!("could not lower the clients' priority: {}", std::io::Error::last_os_error());
    }
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

/// The gateway's `subscription_delivery_seconds` histogram: (upper bound, cumulative count).
async fn gateway_histogram(address: &str) -> Vec<(f64, u64)> {
    let text = reqwest::get(format!("{address}/metrics")).await.unwrap().text().await.unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("imind_subscription_delivery_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (bound, count) = rest.split_once("\"} ")?;
            let bound = if bound == "+Inf" { f64::INFINITY } else { bound.parse().ok()? };
            Some((bound, count.trim().parse().ok()?))
        })
        .collect()
}

/// Prints what the gateway measured itself during the run: the share of deliveries written
/// within 100 ms of being handed out, and the bucket holding the 99th percentile.
fn print_gateway_side(before: &[(f64, u64)], after: &[(f64, u64)]) {
    let counts: Vec<(f64, u64)> =
        after.iter().zip(before).map(|((bound, after), (_, before))| (*bound, after - before)).collect();
    let Some(&(_, total)) = counts.last() else { return };
    let within = counts.iter().find(|(bound, _)| *bound >= 0.1).map_or(0, |(_, count)| *count);
    let p99 = counts.iter().find(|(_, count)| *count as f64 >= total as f64 * 0.99).map_or(f64::NAN, |(b, _)| *b);
    println!(
        "gateway-side (handed out → written to the socket, its own histogram of 1 connection in 16): {:.2} % of {total} within 100 ms; p99 ≤ {:.0} ms",
        within as f64 * 100.0 / total.max(1) as f64,
        p99 * 1000.0
    );
}

/// One line of percentiles (of sorted milliseconds).
fn print_latencies(what: &str, sorted: &[f64]) {
    println!(
        "{what}: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(sorted, 0.5),
        percentile(sorted, 0.9),
        percentile(sorted, 0.99),
        sorted.last().copied().unwrap_or(f64::NAN)
    );
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let per_event = arguments.iter().any(|a| a == "--per-event");
    let same_priority = arguments.iter().any(|a| a == "--clients-same-priority");
    let subscribers: usize = arguments.iter().find_map(|n| n.parse().ok()).unwrap_or(10_000);
    let gateway = spawn_gateway();
    let lower = move || {
        if !same_priority {
            only_leftover_cpu();
        }
    };
    lower();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().on_thread_start(lower).build().unwrap();
    runtime.block_on(run(gateway, subscribers, per_event, same_priority));
}

async fn run(gateway: Gateway, subscribers: usize, per_event: bool, same_priority: bool) {
    wait_until_ready(&gateway).await;
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
    // current state before it counts as subscribed: half first, then the rest, and the memory
    // per subscriber is what the second half added. (Measured from zero, it also counted what
    // the gateway's allocator gave back meanwhile of earlier work, the uploads: less than
    // nothing per subscriber at 1,000.)
    let ready = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(256));
    let first_half = subscribers.div_ceil(2);
    let admitted = Arc::new(Semaphore::new(first_half));
    let connecting = Instant::now();
    let mut tasks = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let (address, token, job, ready, gate, admitted) =
            (address.clone(), token.clone(), measured.clone(), ready.clone(), gate.clone(), admitted.clone());
        tasks.push(tokio::spawn(async move {
            admitted.acquire().await.unwrap().forget();
            let permit = gate.acquire_owned().await.unwrap();
            let mut socket =
                GraphQLSocket::connect(&address, Protocol::TransportWs, Some(&token)).await.expect("connects");
            socket.subscribe("1", QUERY, json!({ "id": job })).await.unwrap();
            let first = socket.next().await.1;
            assert!(matches!(first, Event::Next(_)), "{first:?}");
            drop(permit);
            ready.fetch_add(1, Ordering::SeqCst);
            // From here on the frames are read straight off the socket (see `arrivals`).
            let mut deliveries: Vec<Delivery> = Vec::new();
            let mut done = false;
            let mut frames = TimestampedFrames::new(socket.tcp_stream()).expect("timestamps on");
            while let Some(frame) = frames.next().await.expect("reads") {
                let (text, arrived) = match frame {
                    Frame::Text(text, arrived) => (text, arrived),
                    Frame::Close => break,
                    Frame::Other => continue,
                };
                let read = Utc::now();
                if text.contains(r#""type":"complete""#) {
                    break;
                }
                // Only the timestamp and kind are read: a full parse of every message by ten
                // thousand clients would take CPU from the gateway being measured.
                let Some(emitted) = field(&text, EMITTED_AT).and_then(|at| at.parse::<DateTime<Utc>>().ok()) else {
                    continue;
                };
                if let Some(previous) = deliveries.last_mut()
                    && previous.arrived == arrived
                {
                    previous.merged = true;
                }
                deliveries.push(Delivery { emitted, arrived, read, merged: false });
                done = text.contains(r#""status":"DONE""#);
            }
            // Kept open, as a dashboard would, so closing ten thousand sockets doesn't overlap
            // the last event's delivery.
            (deliveries, done, socket)
        }));
    }
    let all_ready = |count| {
        let ready = ready.clone();
        async move {
            while ready.load(Ordering::SeqCst) < count {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    all_ready(first_half).await;
    let mut connect_seconds = connecting.elapsed().as_secs_f64();
    let rss_half = steady_rss_kb(pid).await;
    let connecting = Instant::now();
    admitted.add_permits(subscribers - first_half);
    all_ready(subscribers).await;
    connect_seconds += connecting.elapsed().as_secs_f64();
    let rss_all = steady_rss_kb(pid).await;
    println!(
        "{subscribers} subscribed in {connect_seconds:.1} s; gateway RSS {:.0} MB with half of them, {:.0} MB with all: {:.1} KB per subscriber",
        rss_half / 1024.0,
        rss_all / 1024.0,
        (rss_all - rss_half) / (subscribers - first_half).max(1) as f64
    );

    // Free the worker: the measured job runs now, with everyone listening.
    let gateway_port = address.rsplit(':').next().and_then(|port| port.parse().ok()).expect("the gateway's port");
    let capture = WireCapture::start(gateway_port)
        .inspect_err(|error| {
            eprintln!("no packet capture on the loopback interface ({error}; it needs root): socket timestamps only")
        })
        .ok();
    let histogram_before = gateway_histogram(&address).await;
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
    // Everyone's results are gathered first and tallied afterwards, so the tallying doesn't
    // compete with the last event's delivery.
    let results = tokio::time::timeout(Duration::from_secs(600), futures_util::future::join_all(tasks))
        .await
        .expect("every subscriber finishes");
    let run_seconds = running.elapsed().as_secs_f64();
    let gateway_cpu = cpu_seconds(pid) - cpu_before;
    let clients_cpu = cpu_seconds(std::process::id()) - clients_before;
    let histogram_after = gateway_histogram(&address).await;
    // The last segments are captured (the capture reads at the lowest priority).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let captured =
        tokio::task::spawn_blocking(move || capture.map(WireCapture::finish)).await.expect("the capture finishes");
    let (mut latencies, mut reads, mut merged) = (Vec::new(), Vec::new(), 0);
    let mut deliveries = Vec::new();
    let mut completed = 0;
    let mut sockets = Vec::with_capacity(subscribers);
    for result in results {
        let (received, done, socket) = result.expect("a subscriber panicked");
        sockets.push(socket);
        for delivery in received {
            latencies.push(delivery.latency_ms());
            reads.push(delivery.read_ms());
            merged += usize::from(delivery.merged);
            deliveries.push(delivery);
        }
        completed += usize::from(done);
    }
    latencies.sort_by(f64::total_cmp);
    reads.sort_by(f64::total_cmp);
    if per_event && let Some(captured) = &captured {
        print_per_event(&captured.deliveries, &deliveries);
    }
    let events_per_subscriber = latencies.len() as f64 / subscribers as f64;
    println!(
        "job ran and every subscriber finished in {run_seconds:.1} s; {} deliveries ({events_per_subscriber:.1} events each), {completed}/{subscribers} saw DONE",
        latencies.len()
    );
    if let Some(captured) = &captured {
        let mut wire: Vec<f64> = captured.deliveries.iter().map(WireDelivery::latency_ms).collect();
        wire.sort_by(f64::total_cmp);
        print_latencies(
            "delivery latency, target p99 < 100 ms (emitted → arrived at the subscriber, on the wire)",
            &wire,
        );
        let complete = if wire.len() == latencies.len() && captured.dropped == 0 && captured.unparsed == 0 {
            "every delivery".to_owned()
        } else {
            format!(
                "INCOMPLETE: {} segments dropped by the kernel, {} not starting with a frame",
                captured.dropped, captured.unparsed
            )
        };
        println!("  (captured {} of the {} deliveries the clients read: {complete})", wire.len(), latencies.len());
    }
    let socket = if captured.is_some() {
        "in the subscriber's socket (its receive timestamp)"
    } else {
        "delivery latency, target p99 < 100 ms (emitted → in the subscriber's socket, its receive timestamp)"
    };
    print_latencies(socket, &latencies);
    println!(
        "  ({merged} of them unread when the next message came: TCP merged the two and kept only the later time, an upper bound)"
    );
    print_gateway_side(&histogram_before, &histogram_after);
    print_latencies("until read by the client process (on the same cores)", &reads);
    let priority = if same_priority { "at the gateway's priority" } else { "at the lowest priority (SCHED_IDLE)" };
    println!(
        "the {subscribers} clients (this process) used {clients_cpu:.1} s of CPU meanwhile, on the same cores, {priority}"
    );
    println!(
        "gateway CPU during the run {gateway_cpu:.1} s (analysis included): {:.1} µs per delivery; peak RSS {:.0} MB",
        gateway_cpu * 1e6 / latencies.len().max(1) as f64,
        rss_kb(pid, "VmHWM:") / 1024.0
    );
}
