//! What phones and webcams record: variable frame rates and rotation metadata, in clips made
//! by the `ffmpeg` command line from a real photograph, checked against what `ffprobe` (a
//! player's view of the file) says.

use super::common;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use imind_inference::{
    AnalysisOptions, AnalysisResult, Decoded, Emotion, Engine, RuntimeOptions, probe, spawn_decoder,
};
use opencv::prelude::MatTraitConst;
use tokio_util::sync::CancellationToken;

/// Runs `ffmpeg` with `line`'s words as arguments (no word holds a space: paths are the
/// test's own temporary ones and the footage cache's).
fn ffmpeg(line: &str) {
    let args: Vec<&str> = line.split_whitespace().collect();
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(&args)
        .status()
        .expect("ffmpeg runs (scripts/test.sh installs it)");
    assert!(status.success(), "ffmpeg {line}");
}

fn astronaut() -> String {
    common::footage("astronaut.png").display().to_string()
}

/// The astronaut for 4 s at 5 fps, then a grey picture for 4 s at 30 fps: one file whose
/// frames are 200 ms apart, then 33 ms.
fn variable_rate_clip(dir: &Path) -> PathBuf {
    let path = dir.join("vfr.mp4");
    let streams =
        "[0:v]scale=512:512,format=yuv420p,setsar=1[a];[1:v]format=yuv420p,setsar=1[b];[a][b]concat=n=2:v=1[v]";
    ffmpeg(&format!(
        "-loop 1 -framerate 5 -t 4 -i {} -f lavfi -t 4 -i color=c=gray:s=512x512:r=30 -filter_complex {streams} \
         -map [v] -fps_mode vfr -c:v libx264 -preset veryfast {}",
        astronaut(),
        path.display()
    ));
    path
}

/// Each frame's presentation time in ms, as ffprobe reads the file.
fn presentation_times(path: &Path) -> Vec<i64> {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v", "-show_entries", "frame=pts_time", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        // A frame with side data gets a trailing field and a line of its own.
        .filter_map(|line| line.split(',').next().filter(|time| !time.trim().is_empty()))
        .map(|time| (time.trim().parse::<f64>().unwrap() * 1000.0).round() as i64)
        .collect()
}

/// What the decoder sends for `path` sampled at 2 fps: per frame its time and size, how many
/// frames it read, and the error it ended with, if any.
struct Drained {
    frames: Vec<(i64, (i32, i32))>,
    frames_read: Option<i64>,
    failure: Option<String>,
}

fn drain(path: &Path, info: &imind_inference::VideoInfo) -> Drained {
    let (messages, thread) = spawn_decoder(path, info, Some(2.0), 4, CancellationToken::new()).unwrap();
    let mut drained = Drained { frames: Vec::new(), frames_read: None, failure: None };
    for message in messages {
        match message {
            Decoded::Frame(frame) => drained.frames.push((frame.timestamp_ms, (frame.rgb.cols(), frame.rgb.rows()))),
            Decoded::End { frames_read } => drained.frames_read = Some(frames_read),
            Decoded::Failed(error) => drained.failure = Some(error.to_string()),
        }
    }
    thread.join().unwrap();
    drained
}

fn analyse(path: &Path) -> AnalysisResult {
    let mut engine =
        Engine::load(RuntimeOptions { intra_threads: 2, ..RuntimeOptions::default() }, &common::models_dir()).unwrap();
    imind_inference::analyze(
        &mut engine,
        path,
        &AnalysisOptions::default(),
        &mut imind_inference::NoSink,
        &CancellationToken::new(),
    )
    .unwrap()
}

#[test]
fn a_variable_rate_clip_is_timed_by_its_presentation_times() {
    let dir = tempfile::tempdir().unwrap();
    let path = variable_rate_clip(dir.path());
    let shown = presentation_times(&path);
    assert_eq!(shown.len(), 140);
    let info = probe(&path).unwrap();
    // The header's mean rate gives the length a player plays to within a sample (500 ms).
    assert!((info.duration_ms - 7967).abs() < 500, "{info:?}");

    let drained = drain(&path, &info);
    assert_eq!((drained.frames_read, drained.failure), (Some(140), None));
    let sampled: Vec<i64> = drained.frames.iter().map(|(time, _)| *time).collect();
    // Every sampled frame carries the time it is shown at, and samples stay 500 ms apart
    // (give or take the frame they fall on: 200 ms in the slow part).
    assert!(sampled.iter().all(|t| shown.contains(t)), "{sampled:?} not among {shown:?}");
    assert!(sampled.windows(2).all(|pair| (pair[1] - pair[0] - 500).abs() <= 200), "{sampled:?}");
    assert!(*sampled.last().unwrap() >= 7400, "{sampled:?}");

    // The astronaut is on screen for the first 4 s of what a player shows, and so in the result.
    let result = analyse(&path);
    let person = result.objects.iter().max_by_key(|o| o.last_seen_ms - o.first_seen_ms).expect("the astronaut");
    assert!((3500..=4000).contains(&person.last_seen_ms), "last seen at {} ms", person.last_seen_ms);
    let happy = person.emotion_intervals.iter().find(|i| i.label == Emotion::Happy).expect("a smile");
    assert!(happy.end_ms >= 3500 && happy.end_ms <= 4500, "{happy:?}");
}

/// The astronaut on a 512×384 canvas for 4 s at 5 fps: upright, and stored sideways with
/// rotation metadata that tells a player to turn it upright.
fn upright_and_rotated(dir: &Path) -> (PathBuf, PathBuf) {
    let upright = dir.join("upright.mp4");
    let sideways = dir.join("sideways.mp4");
    let rotated = dir.join("rotated.mp4");
    ffmpeg(&format!(
        "-loop 1 -framerate 5 -t 4 -i {} -vf scale=384:384,pad=512:384:64:0,format=yuv420p \
         -c:v libx264 -preset veryfast {}",
        astronaut(),
        upright.display()
    ));
    // Pixels turned 90° counter-clockwise; the display matrix turns them back.
    ffmpeg(&format!("-i {} -vf transpose=2 -c:v libx264 -preset veryfast {}", upright.display(), sideways.display()));
    ffmpeg(&format!("-i {} -c copy -metadata:s:v:0 rotate=90 {}", sideways.display(), rotated.display()));
    (upright, rotated)
}

#[test]
fn a_rotated_phone_clip_is_analysed_upright() {
    let dir = tempfile::tempdir().unwrap();
    let (upright, rotated) = upright_and_rotated(dir.path());
    let info = probe(&rotated).unwrap();
    assert_eq!((info.width, info.height), (512, 384), "the size a player shows: {info:?}");
    let drained = drain(&rotated, &info);
    assert_eq!(drained.failure, None);
    assert!(drained.frames.iter().all(|(_, size)| *size == (512, 384)), "{:?}", drained.frames);
    let (upright, rotated) = (analyse(&upright), analyse(&rotated));
    let smiles = |result: &AnalysisResult| -> Vec<(i64, i64)> {
        result
            .objects
            .iter()
            .flat_map(|o| &o.emotion_intervals)
            .filter(|i| i.label == Emotion::Happy)
            .map(|i| (i.start_ms, i.end_ms))
            .collect()
    };
    assert!(!smiles(&upright).is_empty(), "the upright astronaut smiles: {:?}", upright.objects);
    assert_eq!(smiles(&rotated), smiles(&upright));
    assert_eq!(rotated.objects.len(), upright.objects.len());
}

/// Frames at 0–1.8 s and then at 100,002 s, in a Matroska file whose header says it lasts 4 s.
fn lying_about_its_end(dir: &Path) -> PathBuf {
    let honest = dir.join("jump.mkv");
    ffmpeg(&format!(
        "-loop 1 -framerate 5 -t 4 -i {} -vf scale=256:256,format=yuv420p,setpts='if(lt(N,10),N/5/TB,(N/5+100000)/TB)' \
         -fps_mode passthrough -c:v libx264 -preset veryfast {}",
        astronaut(),
        honest.display()
    ));
    // The segment's Duration element (ID 0x4489, an 8-byte float) rewritten to 4 s.
    let mut bytes = std::fs::read(&honest).unwrap();
    let at = bytes.windows(3).position(|window| window == [0x44, 0x89, 0x88]).expect("a Duration element") + 3;
    let scale = f64::from_be_bytes(bytes[at..at + 8].try_into().unwrap()) / 100_004.0;
    bytes[at..at + 8].copy_from_slice(&(4.0 * scale).to_be_bytes());
    let lying = dir.join("lying.mkv");
    std::fs::write(&lying, bytes).unwrap();
    lying
}

#[test]
fn frames_shown_far_past_the_end_the_header_gives_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = lying_about_its_end(dir.path());
    let info = probe(&path).unwrap();
    assert!(info.duration_ms <= 4200, "{info:?}");
    let drained = drain(&path, &info);
    let refusal = drained.failure.expect("the late frames are refused");
    assert!(refusal.contains("far past the end"), "{refusal}");
    assert!(drained.frames.iter().all(|(time, _)| *time < 2000), "{:?}", drained.frames);
}
