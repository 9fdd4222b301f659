//! Audit benchmark: report-query throughput with reads logged in the audit log and without,
//! side by side in one run (rounds alternate between two gateways, one of each, so drift of
//! the machine hits both). Each request is the guardian's nested report of one child
//! (sessions → people → intervals), which logs one `child.read` entry.
//!
//! cargo run --release -p imind-tests --bin audit_bench -- [SECONDS_PER_ROUND] [CLIENTS]
//! (defaults 5 and 8; IMIND_TEST_POSTGRES_URL runs it on PostgreSQL)

use std::time::Duration;

use imind_tests::{
    TestApp,
    fixtures::{self, GUARDIAN, World, global_id},
    spawn_app_with,
};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const REPORT: &str = "query Report($c: ID!) { child(id: $c) { name sessions(first: 20) { nodes { title
    objects(first: 10) { nodes { label emotionShare { emotion fraction }
      emotionIntervals(first: 50) { nodes { emotion startMs endMs } } } } } } } }";

/// A gateway with `audit_reads` as given, a world, and a child with 10 analysed sessions.
async fn gateway(audit_reads: bool) -> (TestApp, String, serde_json::Value) {
    let app = spawn_app_with(false, |settings| {
        settings.audit_reads = audit_reads;
        settings.database_max_connections = 10;
        settings.embedded_worker = false;
    })
    .await;
    let world = World::build(&app.db).await;
    for day in 2..12 {
        fixtures::analysed_session(&app.db, world.own, world.counsellor, day, 3, 20).await;
    }
    let token = app.login(GUARDIAN, fixtures::PASSWORD).await;
    let variables = json!({ "c": global_id("Child", world.own) });
    (app, token, variables)
}

/// Requests answered by `clients` concurrent clients in `length`.
async fn round(app: &TestApp, token: &str, variables: &serde_json::Value, clients: usize, length: Duration) -> u64 {
    let body = json!({ "query": REPORT, "variables": variables });
    imind_tests::bench::throughput(&app.address, Some(token), &body, clients, length).await
}

async fn audit_rows(app: &TestApp) -> i64 {
    let backend = app.db.get_database_backend();
    let row = app
        .db
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) AS n FROM audit_log WHERE action = 'child.read'",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "n").unwrap()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let clients: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let length = Duration::from_secs(seconds);
    let (on, on_token, on_vars) = gateway(true).await;
    let (off, off_token, off_vars) = gateway(false).await;
    println!("backend {}, {clients} clients, {seconds} s rounds", imind_tests::backend_name());
    // Warm both (connections, caches) before measuring.
    round(&on, &on_token, &on_vars, clients, Duration::from_secs(1)).await;
    round(&off, &off_token, &off_vars, clients, Duration::from_secs(1)).await;
    let (mut with_log, mut without) = (0u64, 0u64);
    for index in 0..3 {
        let logged = round(&on, &on_token, &on_vars, clients, length).await;
        let unlogged = round(&off, &off_token, &off_vars, clients, length).await;
        println!(
            "round {}: audited {:.0} req/s, not audited {:.0} req/s",
            index + 1,
            logged as f64 / seconds as f64,
            unlogged as f64 / seconds as f64
        );
        with_log += logged;
        without += unlogged;
    }
    // Everything sent is written (the writer flushes within its gather window).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rows = audit_rows(&on).await;
    println!(
        "audited {:.0} req/s vs {:.0} req/s not audited: ratio {:.3}; {rows} child.read entries written for {} measured requests and the warm-up's",
        with_log as f64 / (3 * seconds) as f64,
        without as f64 / (3 * seconds) as f64,
        with_log as f64 / without as f64,
        with_log
    );
    assert_eq!(audit_rows(&off).await, 0, "the gateway without read auditing logged reads");
}
