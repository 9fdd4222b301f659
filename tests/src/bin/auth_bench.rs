//! Authentication benchmark: throughput of `{ me { id } }` with an API key and with an access
//! token (JWT), and of `{ __typename }` without credentials, side by side on one gateway
//! (rounds alternate, so drift of the machine hits all three). Every request passes the rate
//! limits (set high enough never to refuse: the buckets are checked all the same); the key's
//! look-up is cached for `api_key_check_ms`, the token's sign-in for `sign_in_check_secs`.
//!
//! cargo run --release -p imind-tests --bin auth_bench -- [SECONDS_PER_ROUND] [CLIENTS]
//! (defaults 5 and 8; IMIND_TEST_POSTGRES_URL runs it on PostgreSQL)

use std::time::Duration;

use imind_tests::{
    TestApp,
    fixtures::{self, ADMIN, World},
    spawn_app_with,
};
use serde_json::json;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Requests answered by `clients` concurrent clients in `length`.
async fn round(app: &TestApp, token: Option<&str>, query: &str, clients: usize, length: Duration) -> u64 {
    imind_tests::bench::throughput(&app.address, token, &json!({ "query": query }), clients, length).await
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let clients: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(8);
    let length = Duration::from_secs(seconds);
    let app = spawn_app_with(false, |settings| {
        settings.database_max_connections = 10;
        settings.embedded_worker = false;
    })
    .await;
    World::build(&app.db).await;
    let jwt = app.login(ADMIN, fixtures::PASSWORD).await;
    let (_, key) = app.create_api_key(&jwt, "REPORTS", None).await;
    let me = "{ me { id } }";
    let cases: [(&str, Option<&str>, &str); 3] =
        [("API key", Some(&key), me), ("JWT", Some(&jwt), me), ("no credentials", None, "{ __typename }")];
    println!("backend {}, {clients} clients, {seconds} s rounds", imind_tests::backend_name());
    for (_, token, query) in cases {
        round(&app, token, query, clients, Duration::from_secs(1)).await;
    }
    let mut totals = [0u64; 3];
    for index in 0..3 {
        let mut line = format!("round {}:", index + 1);
        for (case, (name, token, query)) in cases.iter().enumerate() {
            let done = round(&app, *token, query, clients, length).await;
            totals[case] += done;
            line += &format!(" {name} {:.0} req/s;", done as f64 / seconds as f64);
        }
        println!("{line}");
    }
    let rate = |case: usize| totals[case] as f64 / (3 * seconds) as f64;
    println!(
        "API key {:.0} req/s, JWT {:.0} req/s (key/JWT {:.3}), no credentials {:.0} req/s",
        rate(0),
        rate(1),
        rate(0) / rate(1),
        rate(2)
    );
}
