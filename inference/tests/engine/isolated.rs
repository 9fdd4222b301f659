//! The parent's side of a media child that misbehaves: a typed error, never a hang, a zombie
//! or a huge allocation. The children are shell scripts standing in for a broken decoder.

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use imind_inference::{Decoded, Decoding, MediaLimits, MediaSource, VideoError, VideoInfo};
use tokio_util::sync::CancellationToken;

fn script(dir: &Path, name: &str, body: &str) -> Decoding {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    Decoding::Isolated { program: path, max_memory_bytes: 1 << 30 }
}

fn info() -> VideoInfo {
    VideoInfo { duration_ms: 1000, fps: 10.0, frame_count: 10, width: 64, height: 48, codec: "MJPG".into() }
}

fn probe(decoding: &Decoding) -> Result<VideoInfo, VideoError> {
    decoding.probe(MediaSource::File(Path::new("/nonexistent.avi")), &MediaLimits::default())
}

/// Every message until the channel closes, and how long that took.
fn drain(decoding: &Decoding, cancel: CancellationToken) -> (Vec<String>, Duration) {
    let started = Instant::now();
    let (frames, thread) =
        decoding.spawn_decoder(&PathBuf::from("/nonexistent.avi"), &info(), None, 2, cancel).unwrap();
    let said = frames
        .into_iter()
        .map(|message| match message {
            Decoded::Frame(frame) => format!("frame {}", frame.index),
            Decoded::End { frames_read } => format!("end {frames_read}"),
            Decoded::Failed(error) => format!("failed: {error}"),
        })
        .collect();
    thread.join().unwrap();
    (said, started.elapsed())
}

#[test]
fn garbage_then_silence_is_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let chatty = script(dir.path(), "garbage", "printf 'Zjunk'; exec sleep 600");
    let started = Instant::now();
    assert!(matches!(probe(&chatty), Err(VideoError::Corrupt(_))));
    let (said, took) = drain(&chatty, CancellationToken::new());
    assert!(started.elapsed() < Duration::from_secs(10), "the child was killed, not waited for");
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("failed"), "{said:?} after {took:?}");
}

#[test]
fn a_frame_larger_than_the_video_is_refused_before_its_buffer() {
    let dir = tempfile::tempdir().unwrap();
    // "F", index 0, timestamp 0, then 16000 × 16000 (little-endian u32s) and no pixels.
    let body = r"printf 'F\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\200>\0\0\200>\0\0'; exec sleep 600";
    let liar = script(dir.path(), "liar", body);
    let (said, _) = drain(&liar, CancellationToken::new());
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].starts_with("failed"), "{said:?}");
}

#[test]
fn a_child_killed_by_a_signal_is_reported_as_the_decoder_giving_up() {
    let dir = tempfile::tempdir().unwrap();
    let crashing = script(dir.path(), "crash", "kill -SEGV $$");
    let probed = probe(&crashing);
    assert!(matches!(&probed, Err(VideoError::TooLarge(reason)) if reason.contains("gave up")), "{probed:?}");
    let silent_exit = script(dir.path(), "quiet", "exit 0");
    assert!(matches!(probe(&silent_exit), Err(VideoError::Corrupt(_))));
}

#[test]
fn cancelling_stops_a_hung_child() {
    let dir = tempfile::tempdir().unwrap();
    let hung = script(dir.path(), "hung", "exec sleep 600");
    let cancel = CancellationToken::new();
    std::thread::spawn({
        let cancel = cancel.clone();
        move || {
            std::thread::sleep(Duration::from_millis(300));
            cancel.cancel();
        }
    });
    let (said, took) = drain(&hung, cancel);
    assert!(said.is_empty(), "a cancelled decode says nothing more: {said:?}");
    assert!(took < Duration::from_secs(5), "stopped {took:?} after the start");
}

#[test]
fn a_probe_answer_over_the_limits_is_refused_by_the_parent_too() {
    let dir = tempfile::tempdir().unwrap();
    let info = serde_json::to_string(&VideoInfo { width: 16_000, height: 16_000, ..info() }).unwrap();
    let length = info.len() as u32;
    let octal: String = length.to_le_bytes().iter().map(|byte| format!("\\{byte:03o}")).collect();
    let boastful = script(dir.path(), "boast", &format!("printf 'P{octal}'; printf '%s' '{info}'"));
    let probed = probe(&boastful);
    assert!(matches!(&probed, Err(VideoError::TooLarge(reason)) if reason.contains("16000")), "{probed:?}");
}
