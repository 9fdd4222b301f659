//! Upload benchmark: streams a large valid video (carphone_pristine.mp4 followed by a 1 GiB MP4
//! `free` box, which decoders skip) through `uploadSessionVideo` to each store, and prints the
//! throughput and the gateway's peak RSS growth; then PUTs the same file with plain `curl -T`
//! straight to the same S3 server, for comparison.
//!
//! cargo run --release -p imind-tests --bin upload_bench -- [MIB]   (default 1024)

use std::{io::Write, path::Path, time::Instant};

use imind_tests::{
    Store,
    fixtures::{self, COUNSELLOR, World, global_id},
    spawn_app_with_store,
};

/// The gateway runs in this process: with the allocator `imind` ships with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// utime + stime of a process (`self` or a pid), in seconds.
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|t| t.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|t| t.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches(" kB").to_owned()))
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Samples the resident set every 5 ms until stopped; returns the highest value seen (MB).
/// (VmHWM would carry one store's peak into the next one's measurement.)
fn sample_rss() -> (std::sync::Arc<std::sync::atomic::AtomicBool>, std::thread::JoinHandle<f64>) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let sampler = std::thread::spawn(move || {
        let mut peak: f64 = 0.0;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            peak = peak.max(rss_mb());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        peak
    });
    (stop, sampler)
}

fn make_video(path: &Path, padding_mib: u64) {
    let mut file = std::fs::File::create(path).unwrap();
    file.write_all(&std::fs::read(imind_tests::footage("carphone_pristine.mp4")).unwrap()).unwrap();
    // A 64-bit-size `free` box: size 1, type, then the real size.
    let size = padding_mib << 20;
    file.write_all(&1u32.to_be_bytes()).unwrap();
    file.write_all(b"free").unwrap();
    file.write_all(&size.to_be_bytes()).unwrap();
    let chunk = vec![0u8; 1 << 20];
    let mut left = size - 16;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        file.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
}

/// Flushes dirty pages from earlier runs, so one measurement doesn't pay for the last one's
/// writeback.
async fn settle() {
    let _ = tokio::process::Command::new("sync").status().await;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
}

async fn curl(args: &[String]) -> String {
    let output = tokio::process::Command::new("curl").args(args).output().await.unwrap();
    assert!(output.status.success(), "curl failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `curl -T` straight to a presigned S3 URL; returns the seconds it took and the S3 server's
/// CPU seconds meanwhile.
async fn plain_put(app: &imind_tests::TestApp, world: &World, token: &str, video: &Path, bytes: u64) -> (f64, f64) {
    let create = "mutation($s: ID!, $size: Int!) { createVideoUpload(sessionId: $s, filename: \"big.mp4\", contentType: \"video/mp4\", sizeBytes: $size) { url headers { name value } } }";
    let variables = serde_json::json!({ "s": global_id("Session", world.own_analysed.session), "size": bytes });
    let ticket = app.graphql(Some(token), create, variables).await.data()["createVideoUpload"].clone();
    let mut args = vec!["-sS".to_owned(), "-X".into(), "PUT".into(), "-T".into(), video.display().to_string()];
    for header in ticket["headers"].as_array().unwrap() {
        args.push("-H".into());
        args.push(format!("{}: {}", header["name"].as_str().unwrap(), header["value"].as_str().unwrap()));
    }
    args.push(ticket["url"].as_str().unwrap().to_owned());
    let s3_pid = app.s3.as_ref().unwrap().pid().to_string();
    settle().await;
    let cpu = cpu_seconds(&s3_pid);
    let started = Instant::now();
    curl(&args).await;
    (started.elapsed().as_secs_f64(), cpu_seconds(&s3_pid) - cpu)
}

#[tokio::main]
async fn main() {
    let mib: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("big.mp4");
    make_video(&video, mib);
    let bytes = std::fs::metadata(&video).unwrap().len();
    let mb = bytes as f64 / 1e6;
    println!("file: {:.0} MB (valid MP4 + free box)", mb);
    for store in [Store::Local, Store::S3] {
        let app = spawn_app_with_store(store, |settings| settings.max_upload_bytes = 8 << 30).await;
        let world = World::build(&app.db).await;
        let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
        let operations = serde_json::json!({
            "query": "mutation ($s: ID!, $file: Upload!) { uploadSessionVideo(sessionId: $s, file: $file) { status video { sizeBytes } } }",
            "variables": { "s": global_id("Session", world.own_analysed.session), "file": null }
        });
        settle().await;
        let before = rss_mb();
        let (stop, sampler) = sample_rss();
        let s3_pid = app.s3.as_ref().map(|server| server.pid().to_string());
        let cpu_before = (cpu_seconds("self"), s3_pid.as_deref().map_or(0.0, cpu_seconds));
        let started = Instant::now();
        let body = curl(&[
            "-sS".into(),
            format!("{}/graphql", app.address),
            "-H".into(),
            format!("authorization: Bearer {token}"),
            "-F".into(),
            format!("operations={operations}"),
            "-F".into(),
            r#"map={"0":["variables.file"]}"#.into(),
            "-F".into(),
            format!("0=@{};type=video/mp4", video.display()),
        ])
        .await;
        let seconds = started.elapsed().as_secs_f64();
        assert!(body.contains("READY"), "upload failed: {body}");
        let cpu = (cpu_seconds("self") - cpu_before.0, s3_pid.as_deref().map_or(0.0, cpu_seconds) - cpu_before.1);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let growth = sampler.join().unwrap() - before;
        println!(
            "uploadSessionVideo → {:?}: {:.1} s, {:.0} MB/s, gateway peak RSS growth {:.1} MB; CPU: gateway {:.1} s, S3 server {:.1} s",
            store,
            seconds,
            mb / seconds,
            growth,
            cpu.0,
            cpu.1
        );
        if store == Store::S3 {
            let through_gateway = mb / seconds;
            // The plain PUT twice, after a pause each: the better of the two is the baseline.
            let mut best: f64 = 0.0;
            for _ in 0..2 {
                let (put_seconds, server_cpu) = plain_put(&app, &world, &token, &video, bytes).await;
                println!(
                    "plain curl -T to the same S3 server: {put_seconds:.1} s, {:.0} MB/s; S3 server CPU {server_cpu:.1} s",
                    mb / put_seconds
                );
                best = best.max(mb / put_seconds);
            }
            println!("through the gateway: {:.0}% of the better plain PUT", 100.0 * through_gateway / best);
        }
    }
}
