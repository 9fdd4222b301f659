//! Clients that hold connections without finishing their requests (slowloris), and too many
//! connections at once.

use std::time::Duration;

use imind_tests::spawn_app_with;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

async fn connect(address: &str) -> TcpStream {
    TcpStream::connect(address.trim_start_matches("http://")).await.unwrap()
}

/// Whether the server closes `stream` (or answers and closes) within `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut answer = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await.is_ok()
}

#[tokio::test]
async fn request_heads_and_bodies_that_trickle_in_are_cut_off() {
    let app = spawn_app_with(false, |settings| {
        settings.header_read_timeout_secs = 1;
        settings.body_timeout_secs = 1;
    })
    .await;
    // Half a request head, then silence.
    let mut head = connect(&app.address).await;
    head.write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    assert!(closed_within(&mut head, Duration::from_secs(5)).await, "a trickled head holds the connection");

    // A complete head announcing a body that never comes.
    let mut body = connect(&app.address).await;
    body.write_all(
        b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), body.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "a stalled body holds the connection");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_one() {
    let app = spawn_app_with(false, |settings| settings.max_connections = 3).await;
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(connect(&app.address).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::builder().timeout(Duration::from_millis(1500)).build().unwrap();
    let url = format!("{}/healthz", app.address);
    assert!(client.get(&url).send().await.is_err(), "a fourth connection is served while three are open");
    drop(idle.pop());
    let served = client.get(&url).send().await.expect("served once a slot is free");
    assert_eq!(served.status(), 200);
}
