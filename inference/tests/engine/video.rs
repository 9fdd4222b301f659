//! `probe` and the decoder on real footage, and a typed error (never a panic or a hang) for
//! every kind of file that is not an analysable video.

use super::common;

use std::path::{Path, PathBuf};

use imind_inference::{Decoded, MAX_DECODED_SIDE, VideoError, decoded_size, probe, spawn_decoder};
use tokio_util::sync::CancellationToken;

fn scratch(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

#[test]
fn probes_real_footage() {
    let vtest = probe(&common::footage("vtest.avi")).unwrap();
    assert_eq!((vtest.width, vtest.height, vtest.frame_count), (768, 576, 795));
    assert!((vtest.fps - 10.0).abs() < 1e-6);
    assert_eq!(vtest.duration_ms, 79_500);

    let carphone = probe(&common::footage("carphone_pristine.mp4")).unwrap();
    assert_eq!((carphone.width, carphone.height), (176, 144));
    assert!((carphone.fps - 29.97).abs() < 0.01);
    assert_eq!(carphone.codec, "avc1");

    let megamind = probe(&common::footage("Megamind.avi")).unwrap();
    assert_eq!((megamind.width, megamind.height), (720, 528));
}

#[test]
fn decoder_samples_at_the_analysis_rate() {
    let path = common::footage("vtest.avi");
    let info = probe(&path).unwrap();
    let (frames, thread) = spawn_decoder(&path, &info, Some(2.0), 4, CancellationToken::new()).unwrap();
    let mut timestamps = Vec::new();
    let mut end = None;
    for message in frames {
        match message {
            Decoded::Frame(frame) => timestamps.push(frame.timestamp_ms),
            Decoded::End { frames_read } => end = Some(frames_read),
            Decoded::Failed(error) => panic!("{error}"),
        }
    }
    thread.join().unwrap();
    assert_eq!(end, Some(795));
    // 79.5 s at 2 fps: a frame every 500 ms.
    assert_eq!(timestamps.len(), 159);
    assert!(timestamps.windows(2).all(|pair| pair[1] - pair[0] == 500), "{timestamps:?}");
}

#[test]
fn cancelling_stops_the_decoder() {
    let path = common::footage("vtest.avi");
    let info = probe(&path).unwrap();
    let cancel = CancellationToken::new();
    let (frames, thread) = spawn_decoder(&path, &info, None, 1, cancel.clone()).unwrap();
    let _first = frames.recv().unwrap();
    cancel.cancel();
    drop(frames);
    thread.join().unwrap();
}

fn truncated(source: &Path, keep: f64) -> (tempfile::TempDir, PathBuf) {
    let bytes = std::fs::read(source).unwrap();
    let name = source.file_name().unwrap().to_string_lossy().into_owned();
    scratch(&format!("truncated-{name}"), &bytes[..(bytes.len() as f64 * keep) as usize])
}

#[test]
fn bad_files_get_typed_errors() {
    let missing = probe(Path::new("/nonexistent/video.mp4"));
    assert!(matches!(missing, Err(VideoError::NotFound(_))), "{missing:?}");

    let (_d1, empty) = scratch("empty.mp4", b"");
    assert_eq!(probe(&empty), Err(VideoError::Empty));

    let (_d2, text) = scratch("notes.mp4", "these are not the frames you are looking for\n".repeat(200).as_bytes());
    assert_eq!(probe(&text), Err(VideoError::NotAVideo));

    let (_d3, image) = scratch("picture.mp4", &std::fs::read(common::footage("messi5.jpg")).unwrap());
    let result = probe(&image);
    assert!(result.is_err(), "a still image is not a video: {result:?}");

    let (_d4, audio) = scratch("tone.wav", &wav_tone());
    assert_eq!(probe(&audio), Err(VideoError::NotAVideo));

    // An mp4 cut in half loses its index: nothing decodes.
    let (_d5, cut_mp4) = truncated(&common::footage("carphone_pristine.mp4"), 0.5);
    assert!(probe(&cut_mp4).is_err(), "{:?}", probe(&cut_mp4));
}

/// A real MJPG AVI whose stream header claims `rate / scale` frames per second.
fn avi_with_rate(dir: &Path, scale: u32, rate: u32) -> PathBuf {
    use opencv::{
        core::{CV_8UC3, Mat, Scalar, Size},
        prelude::*,
        videoio::VideoWriter,
    };
    let path = dir.join(format!("rate-{scale}-{rate}.avi"));
    let fourcc = VideoWriter::fourcc('M', 'J', 'P', 'G').unwrap();
    let mut writer = VideoWriter::new(&path, fourcc, 10.0, Size::new(64, 48), true).unwrap();
    for i in 0..20 {
        writer.write(&Mat::new_rows_cols_with_default(48, 64, CV_8UC3, Scalar::all(i as f64 * 10.0)).unwrap()).unwrap();
    }
    writer.release().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let strh = bytes.windows(4).position(|w| w == b"strh").unwrap();
    bytes[strh + 28..strh + 32].copy_from_slice(&scale.to_le_bytes());
    bytes[strh + 32..strh + 36].copy_from_slice(&rate.to_le_bytes());
    let avih = bytes.windows(4).position(|w| w == b"avih").unwrap();
    bytes[avih + 8..avih + 12].copy_from_slice(&0u32.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn absurd_frame_rates_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(probe(&avi_with_rate(dir.path(), 1, 10)).is_ok(), "the unpatched rate is fine");
    for (scale, rate) in [(1, 5_000_000), (1_000_000, 1)] {
        let result = probe(&avi_with_rate(dir.path(), scale, rate));
        assert!(matches!(result, Err(VideoError::Absurd(_))), "{rate}/{scale} fps: {result:?}");
    }
}

/// One second of a 440 Hz tone, 8 kHz mono 16-bit PCM: a real file with no video in it.
fn wav_tone() -> Vec<u8> {
    let samples: Vec<i16> =
        (0..8000).map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / 8000.0).sin() * 8000.0) as i16).collect();
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&8000u32.to_le_bytes());
    out.extend_from_slice(&16000u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for sample in samples {
        out.extend_from_slice(&sample.to_le_bytes());
    }
    out
}

/// Frames over 1920 pixels on their long side reach analysis shrunk, aspect kept: a 2560×1440
/// video's frames arrive as 1920×1080 (a 4K frame would cost four times a 1080p one in every
/// buffer).
#[test]
fn large_frames_are_shrunk_at_decode() {
    use opencv::{
        core::{CV_8UC3, Mat, Scalar, Size},
        prelude::*,
        videoio::VideoWriter,
    };
    assert_eq!(decoded_size(3840, 2160), (1920, 1080));
    assert_eq!(decoded_size(1080, 1920), (1080, 1920));
    assert_eq!(decoded_size(4096, 2304), (1920, 1080));
    assert_eq!(decoded_size(768, 576), (768, 576));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("qhd.avi");
    let fourcc = VideoWriter::fourcc('M', 'J', 'P', 'G').unwrap();
    let mut writer = VideoWriter::new(path.to_str().unwrap(), fourcc, 10.0, Size::new(2560, 1440), true).unwrap();
    let frame = Mat::new_rows_cols_with_default(1440, 2560, CV_8UC3, Scalar::all(90.0)).unwrap();
    for _ in 0..3 {
        writer.write(&frame).unwrap();
    }
    writer.release().unwrap();
    let info = probe(&path).unwrap();
    assert_eq!((info.width, info.height), (2560, 1440), "the video's own size is reported");
    let (frames, thread) = spawn_decoder(&path, &info, None, 4, CancellationToken::new()).unwrap();
    let sizes: Vec<(i32, i32)> = frames
        .into_iter()
        .filter_map(|message| match message {
            Decoded::Frame(frame) => Some((frame.rgb.cols(), frame.rgb.rows())),
            _ => None,
        })
        .collect();
    thread.join().unwrap();
    assert_eq!(sizes, vec![(MAX_DECODED_SIDE, 1080); 3]);
}
