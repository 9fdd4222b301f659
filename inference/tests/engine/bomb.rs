//! A decoder bomb: a few megabytes of MJPEG AVI with 16000×16000-pixel frames. Probing it whole
//! has the decoder allocate and convert frames of 256 megapixels; the limits refuse it from the
//! header first. Each probe runs in a child process (this test binary again), whose peak memory
//! is printed side by side.

use std::{path::Path, process::Command};

use imind_inference::{MediaLimits, VideoError, probe_within};
use opencv::{
    core::{CV_8UC3, Mat, Scalar, Size},
    prelude::*,
    videoio::VideoWriter,
};

const SIDE: i32 = 16_000;
const BOMB: &str = "IMIND_TEST_BOMB";
const UNLIMITED: &str = "IMIND_TEST_BOMB_UNLIMITED";

fn write_bomb(path: &Path) {
    let fourcc = VideoWriter::fourcc('M', 'J', 'P', 'G').unwrap();
    let mut writer = VideoWriter::new(path.to_str().unwrap(), fourcc, 25.0, Size::new(SIDE, SIDE), true).unwrap();
    let frame = Mat::new_rows_cols_with_default(SIDE, SIDE, CV_8UC3, Scalar::all(128.0)).unwrap();
    for _ in 0..2 {
        writer.write(&frame).unwrap();
    }
    writer.release().unwrap();
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb = status.lines().find_map(|line| line.strip_prefix("VmHWM:")).unwrap();
    kb.trim().trim_end_matches(" kB").parse::<f64>().unwrap() / 1024.0
}

/// The child's half: probe the bomb named in the environment, print the outcome and the peak.
#[test]
#[ignore = "run by a_decoder_bomb_is_refused_from_its_header in a process of its own"]
fn probe_the_bomb_in_a_child() {
    let path = std::env::var_os(BOMB).expect("the bomb's path");
    let limits = match std::env::var_os(UNLIMITED) {
        Some(_) => MediaLimits { max_pixels: u64::MAX, ..MediaLimits::default() },
        None => MediaLimits::default(),
    };
    let outcome = match probe_within(Path::new(&path), &limits) {
        Ok(info) => format!("probed {}×{}", info.width, info.height),
        Err(VideoError::TooLarge(reason)) => format!("refused: {reason}"),
        Err(error) => format!("failed: {error}"),
    };
    println!("BOMB {:.0} MB {outcome}", peak_rss_mb());
}

/// Runs the child half; returns its peak memory and what it said.
fn probe_in_child(path: &Path, unlimited: bool) -> (f64, String) {
    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args(["--exact", "bomb::probe_the_bomb_in_a_child", "--ignored", "--nocapture", "--test-threads", "1"])
        .env(BOMB, path);
    if unlimited {
        child.env(UNLIMITED, "1");
    }
    let output = child.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let Some(line) = stdout.lines().find_map(|line| line.split_once("BOMB ").map(|(_, said)| said)) else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        return (f64::NAN, format!("the child ended with {} ({last})", output.status));
    };
    let (peak, said) = line.split_once(" MB ").unwrap();
    (peak.parse().unwrap(), said.to_owned())
}

#[test]
fn a_decoder_bomb_is_refused_from_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.avi");
    write_bomb(&path);
    let size = std::fs::metadata(&path).unwrap().len();
    let (limited, refused) = probe_in_child(&path, false);
    let (unlimited, probed) = probe_in_child(&path, true);
    println!(
        "decoder bomb ({:.1} MB file, {SIDE}×{SIDE} frames): peak RSS {limited:.0} MB with the limits ({refused}), \
         {unlimited:.0} MB without them ({probed})",
        size as f64 / 1e6
    );
    assert!(refused.starts_with("refused") && refused.contains("16000×16000"), "{refused}");
    assert!(limited < 300.0, "refusing the bomb took {limited:.0} MB");
}
