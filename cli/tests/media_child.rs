//! Videos probed and decoded by `imind media-child`: the same answers as in-process, and a
//! file that makes the decoder run away ends the child, not its parent.

use std::path::{Path, PathBuf};

use imind_inference::{Decoded, Decoding, MediaLimits, MediaSource, VideoError, probe_within};
use opencv::{
    core::{CV_8UC3, Mat, Scalar},
    prelude::*,
};
use tokio_util::sync::CancellationToken;

fn isolated(max_memory_mb: u64) -> Decoding {
    Decoding::Isolated { program: env!("CARGO_BIN_EXE_imind").into(), max_memory_bytes: max_memory_mb << 20 }
}

/// A file fetched by scripts/fetch-footage.sh (`IMIND_FOOTAGE_DIR`, else the cache).
fn footage(name: &str) -> PathBuf {
    let dir = std::env::var_os("IMIND_FOOTAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/imind/footage"));
    let path = dir.join(name);
    assert!(path.is_file(), "{} is missing: run scripts/fetch-footage.sh", path.display());
    path
}

/// A decoded frame as compared: index, timestamp, rows, cols, sum of the pixels.
type Seen = (i64, i64, i32, i32, f64);

/// Every frame a decoder sends, then how many it says it read.
fn decode_all(decoding: &Decoding, path: &Path) -> (Vec<Seen>, Option<i64>) {
    let info = decoding.probe(MediaSource::File(path), &MediaLimits::default()).unwrap();
    let (frames, thread) = decoding.spawn_decoder(path, &info, Some(3.0), 4, CancellationToken::new()).unwrap();
    let mut seen = Vec::new();
    let mut end = None;
    for message in frames {
        match message {
            Decoded::Frame(frame) => {
                let sum = opencv::core::sum_elems(&frame.rgb).unwrap();
                seen.push((
                    frame.index,
                    frame.timestamp_ms,
                    frame.rgb.rows(),
                    frame.rgb.cols(),
                    sum[0] + sum[1] + sum[2],
                ));
            }
            Decoded::End { frames_read } => end = Some(frames_read),
            Decoded::Failed(error) => panic!("{error}"),
        }
    }
    thread.join().unwrap();
    (seen, end)
}

#[test]
fn a_child_decodes_what_this_process_decodes() {
    for name in ["carphone_pristine.mp4", "vtest.avi"] {
        let path = footage(name);
        let here = Decoding::InProcess.probe(MediaSource::File(&path), &MediaLimits::default()).unwrap();
        let there = isolated(3072).probe(MediaSource::File(&path), &MediaLimits::default()).unwrap();
        assert_eq!(here, there, "{name}");
        let (here, here_end) = decode_all(&Decoding::InProcess, &path);
        let (there, there_end) = decode_all(&isolated(3072), &path);
        assert!(!here.is_empty());
        assert_eq!(here, there, "{name}: the same frames, times and pixel sums");
        assert_eq!(here_end, there_end);
    }
    let missing = isolated(3072).probe(MediaSource::File(Path::new("/nonexistent.mp4")), &MediaLimits::default());
    assert!(matches!(missing, Err(VideoError::NotFound(_))), "{missing:?}");
}

const SIDE: i32 = 16_000;
const BOMB: &str = "IMIND_TEST_BOMB";

fn jpeg(width: i32, height: i32) -> Vec<u8> {
    let frame = Mat::new_rows_cols_with_default(height, width, CV_8UC3, Scalar::all(128.0)).unwrap();
    let mut jpeg = opencv::core::Vector::<u8>::new();
    opencv::imgcodecs::imencode(".jpg", &frame, &mut jpeg, &opencv::core::Vector::new()).unwrap();
    jpeg.to_vec()
}

/// An MJPEG AVI (written by hand, the format is simple) whose header and first frame are
/// 640×480 and whose next frames are `SIDE`×`SIDE`: every limit checked against the header,
/// and the probe's first frame, let it through.
fn growing_bomb() -> Vec<u8> {
    let big = jpeg(SIDE, SIDE);
    let frames: Vec<Vec<u8>> = std::iter::once(jpeg(640, 480)).chain(std::iter::repeat_n(big, 8)).collect();
    let chunk = |id: &[u8], body: &[u8]| {
        let mut out = id.to_vec();
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(body);
        if body.len() % 2 == 1 {
            out.push(0);
        }
        out
    };
    let list = |kind: &[u8], body: &[u8]| chunk(b"LIST", &[kind, body].concat());
    let words = |values: &[u32]| values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    let (width, height, count) = (640, 480, frames.len() as u32);
    // MainAVIHeader: µs per frame, max bytes/s, padding, flags (has index), frames, initial
    // frames, streams, buffer size, width, height, reserved.
    let avih = chunk(b"avih", &words(&[40_000, 0, 0, 0x10, count, 0, 1, 1 << 20, width, height, 0, 0, 0, 0]));
    let mut strh = b"vidsMJPG".to_vec();
    // flags, priority+language, initial frames, scale, rate, start, length, buffer, quality,
    // sample size, then the frame rectangle (four shorts).
    strh.extend(words(&[0, 0, 0, 1, 25, 0, count, 1 << 20, u32::MAX, 0]));
    strh.extend([0u16, 0, width as u16, height as u16].iter().flat_map(|v| v.to_le_bytes()));
    let mut strf = words(&[40, width, height]);
    strf.extend(1u16.to_le_bytes());
    strf.extend(24u16.to_le_bytes());
    strf.extend(b"MJPG");
    strf.extend(words(&[width * height * 3, 0, 0, 0, 0]));
    let hdrl = list(b"hdrl", &[avih, list(b"strl", &[chunk(b"strh", &strh), chunk(b"strf", &strf)].concat())].concat());
    let mut movi = Vec::new();
    let mut index = Vec::new();
    for frame in &frames {
        // Offsets in the index count from the `movi` fourcc.
        index.extend(b"00dc");
        index.extend(words(&[0x10, movi.len() as u32 + 4, frame.len() as u32]));
        movi.extend(chunk(b"00dc", frame));
    }
    let body = [b"AVI ".to_vec(), hdrl, list(b"movi", &movi), chunk(b"idx1", &index)].concat();
    chunk(b"RIFF", &body)
}

/// The writing half, run in a child so that encoding the big frames does not count in this
/// process's peak memory.
#[test]
#[ignore = "run by a_decoder_bomb_fails_in_the_child in a process of its own"]
fn write_the_bomb() {
    let path = std::env::var_os(BOMB).expect("where to write the bomb");
    std::fs::write(path, growing_bomb()).unwrap();
}

fn rss_mb(field: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb = status.lines().find_map(|line| line.strip_prefix(field)).unwrap();
    kb.trim().trim_end_matches(" kB").parse::<f64>().unwrap() / 1024.0
}

/// Decodes `path` to its end: how many frames came, and how it ended.
fn decode_outcome(decoding: &Decoding, path: &Path) -> (usize, String) {
    let info = probe_within(path, &MediaLimits::default()).expect("the bomb passes the probe");
    let (frames, thread) = decoding.spawn_decoder(path, &info, None, 4, CancellationToken::new()).unwrap();
    let (mut count, mut ending) = (0, String::from("no end"));
    for message in frames {
        match message {
            Decoded::Frame(_) => count += 1,
            Decoded::End { frames_read } => ending = format!("ended after {frames_read} frames"),
            Decoded::Failed(error) => ending = format!("failed: {error}"),
        }
    }
    thread.join().unwrap();
    (count, ending)
}

#[test]
fn a_decoder_bomb_fails_in_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.avi");
    let written = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "write_the_bomb", "--ignored", "--test-threads", "1"])
        .env(BOMB, &path)
        .output()
        .unwrap();
    assert!(written.status.success(), "{}", String::from_utf8_lossy(&written.stdout));
    let size_mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;

    let start = rss_mb("VmHWM:");
    let (in_child, child_ending) = decode_outcome(&isolated(1024), &path);
    let after_child = rss_mb("VmHWM:");
    let (in_process, ending) = decode_outcome(&Decoding::InProcess, &path);
    let after_in_process = rss_mb("VmHWM:");
    println!(
        "growing decoder bomb ({size_mb:.1} MB, 640×480 then 8 of {SIDE}×{SIDE}): this process's peak {start:.0} → \
         {after_child:.0} MB decoding it in a child ({in_child} frames, {child_ending}), → {after_in_process:.0} MB \
         decoding it here ({in_process} frames, {ending})"
    );
    assert!(after_child - start < 150.0, "the child's memory is its own: {start:.0} → {after_child:.0} MB");
    assert!(after_in_process - after_child > 300.0, "here, the decoder takes what it wants: {after_in_process:.0} MB");
    assert_eq!(in_child, in_process, "the child hands over what this process would have decoded");
    // Held to less memory than one big frame needs, the child cannot decode them at all.
    let (limited, limited_ending) = decode_outcome(&isolated(200), &path);
    println!("with 200 MB: {limited} frames, {limited_ending}");
    assert!(limited < in_process, "{limited} frames, {limited_ending}");
}
