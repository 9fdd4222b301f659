//! Report benchmark: the front end's nested report (children → sessions → people → intervals)
//! on the demo data, beside `me` and the children list, and — on PostgreSQL — beside
//! PostGraphile 4 and 5 serving the same tables from the same cluster (started by this bench
//! from `bench/postgraphile`, pinned; `npm ci` there first). Each case runs at 1 client
//! (latency) and at CLIENTS (throughput), rounds alternating between cases so drift of the
//! machine hits all of them; SQL statements per request are our gateway's, read from
//! `/metrics` over the measured rounds (the batched audit entries included). The report is
//! measured as served from the response cache and, on a second gateway without it, as
//! computed.
//!
//! cargo run --release -p imind-tests --bin report_bench -- [SECONDS_PER_ROUND] [CLIENTS] [ROUNDS]
//! (defaults 5, 64 and 2; IMIND_TEST_POSTGRES_URL runs it on PostgreSQL, with PostGraphile)

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use imind_api::demo_logins as demo;
use imind_tests::{
    TestApp,
    bench::{Measured, Target, measure},
    spawn_app_with,
};
use serde_json::{Value, json};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ME: &str = "{ me { id } }";

const CHILDREN: &str = "{ children(first: 20) { totalCount edges { node { id name birthDate } } } }";

/// The report: children → sessions → people → observed expressions.
const REPORT_EDGES: &str = "query Report { children(first: 10) { totalCount edges { node { id name
  sessions(first: 20) { totalCount edges { node { id title recordedAt
    objects(first: 10) { edges { node { id label role
      emotionIntervals(first: 200) { edges { node { emotion startMs endMs } } } } } } } } } } } } }";

const REPORT_NODES: &str = "query Report { children(first: 10) { nodes { id name
  sessions(first: 20) { nodes { id title recordedAt
    objects(first: 10) { nodes { id label role
      emotionIntervals(first: 200) { nodes { emotion startMs endMs } } } } } } } } }";

/// With behaviours as well: twice the intervals.
const FULL_REPORT: &str = "query Report { children(first: 10) { nodes { id name
  sessions(first: 20) { nodes { id title recordedAt
    objects(first: 10) { nodes { id label role
      emotionIntervals(first: 200) { nodes { emotion startMs endMs } }
      behaviourIntervals(first: 200) { nodes { behaviour startMs endMs } } } } } } } } }";

/// The same report in PostGraphile's names (its generated relations and orderings).
const POSTGRAPHILE_REPORT: &str = "query Report { allChildren(first: 10, orderBy: NAME_ASC) { nodes { id name
  sessionsByChildId(first: 20, orderBy: RECORDED_AT_ASC) { nodes { id title recordedAt
    trackedObjectsBySessionId(first: 10, orderBy: FIRST_SEEN_MS_ASC) { nodes { id label role
      emotionIntervalsByObjectId(first: 200, orderBy: START_MS_ASC) { nodes { emotion startMs endMs } } } } } } } } }";

struct Case<'a> {
    name: &'static str,
    target: Target<'a>,
    query: &'static str,
    /// Our gateway's statement counter, when it is ours.
    ours: Option<&'a TestApp>,
}

#[derive(Default)]
struct Figures {
    single: Vec<Measured>,
    loaded: Vec<Measured>,
    statements: u64,
    bytes: usize,
    intervals: usize,
}

/// A PostGraphile server on `port`, serving the `public` schema of `database_url`.
struct PostGraphile {
    process: Child,
    url: String,
}

impl PostGraphile {
    fn start(version: u32, database_url: &str, port: u16) -> Option<Self> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/postgraphile/node_modules");
        let (script, extra): (PathBuf, &[&str]) = match version {
            4 => (dir.join("postgraphile4/cli.js"), &["--disable-graphiql", "--disable-query-log"]),
            _ => (dir.join("postgraphile5/dist/cli-run.js"), &["-P", "postgraphile/presets/amber"]),
        };
        if !script.is_file() {
            println!("PostGraphile {version}: {} is missing (npm ci in bench/postgraphile)", script.display());
            return None;
        }
        // PostGraphile 5 wants Node ≥ 22: the pinned `node22` package (the Node.js binary, from
        // the npm registry) runs it where the machine's Node is older.
        let node22 = dir.join("node22/bin/node");
        let node = if version == 5 && node22.is_file() { node22 } else { PathBuf::from("node") };
        let mut command = Command::new(node);
        command
            .arg(&script)
            .args(extra)
            .args(["-c", database_url, "-s", "public", "-n", "127.0.0.1", "-p", &port.to_string()])
            .env("NODE_ENV", "production")
            .env("GRAPHILE_ENV", "production")
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(std::env::temp_dir().join(format!("postgraphile{version}.log")))
                    .expect("a log file"),
            );
        if version == 5 {
            // Its presets resolve from the package's own directory.
            command.current_dir(dir.join("postgraphile5"));
        }
        let process = command.spawn().expect("node runs");
        Some(Self { process, url: format!("http://127.0.0.1:{port}/graphql") })
    }

    async fn ready(&self) -> bool {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            let answer = client.post(&self.url).json(&json!({ "query": "{ __typename }" })).send().await;
            if answer.is_ok_and(|response| response.status().is_success()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}

impl Drop for PostGraphile {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Size and interval count of one answer, or the answer when it has errors.
async fn answer_shape(target: &Target<'_>, query: &str) -> Result<(usize, usize), String> {
    let mut request = reqwest::Client::new().post(&target.url).json(&json!({ "query": query }));
    if let Some(token) = target.token {
        request = request.bearer_auth(token);
    }
    let body = request.send().await.unwrap().text().await.unwrap();
    let answer: Value = serde_json::from_str(&body).unwrap();
    if answer.get("errors").is_some() {
        return Err(body);
    }
    fn count(value: &Value) -> usize {
        match value {
            Value::Object(map) => usize::from(map.contains_key("startMs")) + map.values().map(count).sum::<usize>(),
            Value::Array(items) => items.iter().map(count).sum(),
            _ => 0,
        }
    }
    Ok((body.len(), count(&answer)))
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let clients: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let length = Duration::from_secs(seconds);
    let app = spawn_app_with(true, |settings| {
        settings.embedded_worker = false;
        settings.database_max_connections = 16;
    })
    .await;
    // A second gateway on the same database without the response cache: what a report costs
    // when it is computed (a first request, or one after a write).
    let uncached = app.peer(|settings| settings.response_cache_bytes = 0).await;
    let token = app.login(demo::ADMIN, demo::PASSWORD).await;
    let uncached_token = uncached.login(demo::ADMIN, demo::PASSWORD).await;
    let postgres = imind_tests::backend_name() == "postgres";
    let graphiles: Vec<(u32, PostGraphile)> = if postgres {
        [4, 5]
            .into_iter()
            .filter_map(|version| {
                PostGraphile::start(version, &app.settings.database_url, 15_400 + version as u16)
                    .map(|server| (version, server))
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut cases = vec![
        Case { name: "me", target: Target::gateway(&app.address, Some(&token)), query: ME, ours: Some(&app) },
        Case {
            name: "children list",
            target: Target::gateway(&app.address, Some(&token)),
            query: CHILDREN,
            ours: Some(&app),
        },
        Case {
            name: "report (edges)",
            target: Target::gateway(&app.address, Some(&token)),
            query: REPORT_EDGES,
            ours: Some(&app),
        },
        Case {
            name: "report (nodes)",
            target: Target::gateway(&app.address, Some(&token)),
            query: REPORT_NODES,
            ours: Some(&app),
        },
        Case {
            name: "full report (nodes)",
            target: Target::gateway(&app.address, Some(&token)),
            query: FULL_REPORT,
            ours: Some(&app),
        },
        Case {
            name: "report (nodes), computed",
            target: Target::gateway(&uncached.address, Some(&uncached_token)),
            query: REPORT_NODES,
            ours: Some(&uncached),
        },
        Case {
            name: "full report, computed",
            target: Target::gateway(&uncached.address, Some(&uncached_token)),
            query: FULL_REPORT,
            ours: Some(&uncached),
        },
    ];
    for (version, server) in &graphiles {
        if server.ready().await {
            let name = if *version == 4 { "PostGraphile 4 report" } else { "PostGraphile 5 report" };
            let target = Target { url: server.url.clone(), token: None, rate_limited: false };
            cases.push(Case { name, target, query: POSTGRAPHILE_REPORT, ours: None });
        } else {
            println!("PostGraphile {version} did not start");
        }
    }
    println!("backend {}, {clients} clients, {rounds} rounds of {seconds} s per case", imind_tests::backend_name());
    let mut answering = Vec::new();
    for case in cases {
        match answer_shape(&case.target, case.query).await {
            Ok(shape) => answering.push((case, shape)),
            // Ours must answer; another server that can't is reported and left out.
            Err(answer) if case.ours.is_none() => println!("{} left out, it answered: {answer}", case.name),
            Err(answer) => panic!("{}: {answer}", case.name),
        }
    }
    let mut figures: Vec<Figures> = Vec::new();
    let mut cases = Vec::new();
    for (case, (bytes, intervals)) in answering {
        figures.push(Figures { bytes, intervals, ..Figures::default() });
        // Warm-up: connections, caches, the JIT.
        measure(&case.target, &json!({ "query": case.query }), clients, Duration::from_secs(1)).await;
        cases.push(case);
    }
    for round in 1..=rounds {
        for (case, figures) in cases.iter().zip(&mut figures) {
            let body = json!({ "query": case.query });
            let single = measure(&case.target, &body, 1, length / 2).await;
            let before = match case.ours {
                Some(app) => app.sql_statements().await,
                None => 0,
            };
            let loaded = measure(&case.target, &body, clients, length).await;
            if let Some(app) = case.ours {
                figures.statements += app.sql_statements().await - before;
            }
            println!(
                "round {round}: {:<26} 1 client {:>7.0} req/s p50 {:>6.2} ms | {clients} clients {:>7.0} req/s p50 {:>6.2} ms p99 {:>6.2} ms",
                case.name,
                single.per_second(),
                single.percentile_ms(0.5),
                loaded.per_second(),
                loaded.percentile_ms(0.5),
                loaded.percentile_ms(0.99),
            );
            figures.single.push(single);
            figures.loaded.push(loaded);
        }
    }
    println!();
    println!(
        "| case | answer | intervals | 1 client p50 | {clients} clients req/s | p50 | p99 | SQL statements / request |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (case, figures) in cases.iter().zip(&figures) {
        let merged = |rounds: &[Measured]| {
            let mut latencies: Vec<Duration> = rounds.iter().flat_map(|m| m.latencies.iter().copied()).collect();
            latencies.sort_unstable();
            let length = rounds.iter().map(|m| m.length).sum();
            Measured { requests: latencies.len() as u64, length, latencies }
        };
        let (single, loaded) = (merged(&figures.single), merged(&figures.loaded));
        let statements = match case.ours {
            Some(_) => format!("{:.2}", figures.statements as f64 / loaded.requests as f64),
            None => "–".into(),
        };
        println!(
            "| {} | {:.1} KB | {} | {:.2} ms | {:.0} | {:.2} ms | {:.2} ms | {statements} |",
            case.name,
            figures.bytes as f64 / 1000.0,
            figures.intervals,
            single.percentile_ms(0.5),
            loaded.per_second(),
            loaded.percentile_ms(0.5),
            loaded.percentile_ms(0.99),
        );
    }
}
