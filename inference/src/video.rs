//! Reading videos with OpenCV's FFmpeg backend: `probe` for metadata, and a decoder thread that
//! feeds sampled frames into a bounded channel (so decoding runs ahead of inference, but never
//! by more than a few frames of memory).

use std::{
    path::{Path, PathBuf},
    sync::mpsc::{Receiver, SyncSender, sync_channel},
    thread::JoinHandle,
};

use opencv::{
    core::Mat,
    prelude::*,
    videoio::{self, VideoCapture},
};
use serde::{Deserialize, Serialize};

use tokio_util::sync::CancellationToken;

use crate::image;

/// What a video is, as far as analysis cares.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoInfo {
    pub duration_ms: i64,
    pub fps: f64,
    pub frame_count: i64,
    pub width: i32,
    pub height: i32,
    /// FourCC of the video codec, e.g. "avc1", "MJPG", "FMP4".
    pub codec: String,
}

/// Why a file can't be analysed, in words a counsellor can read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum VideoError {
    #[error("the file {0} does not exist")]
    NotFound(PathBuf),
    #[error("the file is empty (0 bytes)")]
    Empty,
    #[error("the file is not a video that can be decoded (no video stream found)")]
    NotAVideo,
    #[error("the video reports impossible properties ({0})")]
    Absurd(String),
    #[error("the video is damaged: {0}")]
    Corrupt(String),
    #[error("the video is larger than this server analyses: {0}")]
    TooLarge(String),
    #[error("the video ends early: only {decoded} of {expected} frames could be decoded")]
    Truncated { decoded: i64, expected: i64 },
}

/// Plausible frame rates; anything outside is a broken header (a frame every 10 s is already a
/// time-lapse, not a session recording).
const MIN_FPS: f64 = 0.1;
const MAX_FPS: f64 = 1000.0;
const MAX_SIDE: i32 = 16_384;

/// What a video may demand of the decoder before it is refused: checked from the container's
/// header, before any frame is decoded for analysis.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MediaLimits {
    /// Pixels per frame (real recordings are at most 4K).
    pub max_pixels: u64,
    pub max_frames: i64,
    pub max_duration_ms: i64,
}

impl Default for MediaLimits {
    fn default() -> Self {
        Self { max_pixels: 4096 * 2304, max_frames: 60 * 3 * 3600, max_duration_ms: 3 * 3600 * 1000 }
    }
}

/// Demuxers FFmpeg may use: the containers cameras and phones write. Playlists (HLS, DASH),
/// `concat` and the like would make the decoder open other files or URLs.
const FORMATS: &str = "mov,mp4,m4a,3gp,3g2,mj2,avi,matroska,webm,mpegts,mpeg,flv,asf,ogg,mjpeg,image2";
/// Protocols it may read through: the file, or the blob store's presigned HTTP(S) URL.
const PROTOCOLS: &str = "file,http,https,tcp,tls,crypto";

/// Tells OpenCV's FFmpeg backend which demuxers and protocols it may use. Done once, before the
/// first file is opened; a program calls it at start-up, before it starts threads, since it
/// writes the environment.
pub fn restrict_ffmpeg() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let ours = format!("format_whitelist;{FORMATS}|protocol_whitelist;{PROTOCOLS}");
        let options = match std::env::var("OPENCV_FFMPEG_CAPTURE_OPTIONS") {
            Ok(given) if !given.is_empty() => format!("{given}|{ours}"),
            _ => ours,
        };
        // SAFETY: written once, before this process opens its first video (`imind` calls this
        // before starting its runtime); nothing else here writes the environment.
        unsafe { std::env::set_var("OPENCV_FFMPEG_CAPTURE_OPTIONS", options) };
    });
}

fn open(path: &Path) -> Result<VideoCapture, VideoError> {
    restrict_ffmpeg();
    let metadata = std::fs::metadata(path).map_err(|_| VideoError::NotFound(path.to_owned()))?;
    if metadata.len() == 0 {
        return Err(VideoError::Empty);
    }
    let mut capture = VideoCapture::from_file(path, videoio::CAP_FFMPEG).map_err(|_| VideoError::NotAVideo)?;
    if !capture.is_opened().unwrap_or(false) {
        return Err(VideoError::NotAVideo);
    }
    upright(&mut capture);
    Ok(capture)
}

/// Frames as a player shows them: a phone's rotation metadata (display matrix) applied, and
/// the size reported turned with them. OpenCV's FFmpeg backend does this by default; it is
/// asked for so that it stays the rule.
fn upright(capture: &mut VideoCapture) {
    let _ = capture.set(videoio::CAP_PROP_ORIENTATION_AUTO, 1.0);
}

fn properties(capture: &VideoCapture, limits: &MediaLimits) -> Result<(f64, i64, i32, i32, String), VideoError> {
    let get = |prop| capture.get(prop).unwrap_or(0.0);
    let fps = get(videoio::CAP_PROP_FPS);
    let frames = get(videoio::CAP_PROP_FRAME_COUNT);
    let width = get(videoio::CAP_PROP_FRAME_WIDTH) as i32;
    let height = get(videoio::CAP_PROP_FRAME_HEIGHT) as i32;
    check(fps, frames, width, height, limits)?;
    let fourcc = get(videoio::CAP_PROP_FOURCC) as u32;
    let codec: String = fourcc.to_le_bytes().iter().map(|b| *b as char).filter(|c| c.is_ascii_graphic()).collect();
    Ok((fps, frames.max(0.0) as i64, width, height, codec))
}

/// `info` (from somewhere less trusted than this process's own probe: a media child) within
/// `limits`.
pub(crate) fn admit(info: &VideoInfo, limits: &MediaLimits) -> Result<(), VideoError> {
    check(info.fps, info.frame_count as f64, info.width, info.height, limits)
}

fn check(fps: f64, frames: f64, width: i32, height: i32, limits: &MediaLimits) -> Result<(), VideoError> {
    if width <= 0 || height <= 0 {
        return Err(VideoError::NotAVideo);
    }
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(VideoError::Absurd(format!("{width}×{height} pixels")));
    }
    if !fps.is_finite() || !(MIN_FPS..=MAX_FPS).contains(&fps) {
        return Err(VideoError::Absurd(format!("{fps} frames per second")));
    }
    if width as u64 * height as u64 > limits.max_pixels {
        return Err(VideoError::TooLarge(format!(
            "frames of {width}×{height} pixels (at most {} pixels per frame)",
            limits.max_pixels
        )));
    }
    if frames as i64 > limits.max_frames {
        return Err(VideoError::TooLarge(format!("{frames} frames (at most {})", limits.max_frames)));
    }
    if frames / fps * 1000.0 > limits.max_duration_ms as f64 {
        return Err(VideoError::TooLarge(format!(
            "{:.0} s (at most {} s)",
            frames / fps,
            limits.max_duration_ms / 1000
        )));
    }
    Ok(())
}

/// Duration, frame rate, frame count, size and codec — after checking the first frame decodes.
pub fn probe(path: &Path) -> Result<VideoInfo, VideoError> {
    probe_within(path, &MediaLimits::default())
}

/// `probe`, refusing what is over `limits` before decoding a frame.
pub fn probe_within(path: &Path, limits: &MediaLimits) -> Result<VideoInfo, VideoError> {
    probe_capture(open(path)?, limits)
}

/// `probe` for a video behind an HTTP(S) URL (e.g. a presigned GET of the blob store): FFmpeg
/// reads only what it needs (headers, index, first frame) with range requests.
pub fn probe_url(url: &str, limits: &MediaLimits) -> Result<VideoInfo, VideoError> {
    restrict_ffmpeg();
    let mut capture = VideoCapture::from_file(url, videoio::CAP_FFMPEG).map_err(|_| VideoError::NotAVideo)?;
    if !capture.is_opened().unwrap_or(false) {
        return Err(VideoError::NotAVideo);
    }
    upright(&mut capture);
    probe_capture(capture, limits)
}

fn probe_capture(mut capture: VideoCapture, limits: &MediaLimits) -> Result<VideoInfo, VideoError> {
    let (fps, frame_count, width, height, codec) = properties(&capture, limits)?;
    let mut first = Mat::default();
    if !capture.read(&mut first).unwrap_or(false) || first.empty() {
        return Err(VideoError::Corrupt("not even the first frame decodes".into()));
    }
    if frame_count == 0 {
        return Err(VideoError::Absurd("0 frames".into()));
    }
    let duration_ms = (frame_count as f64 * 1000.0 / fps).round() as i64;
    Ok(VideoInfo { duration_ms, fps, frame_count, width, height, codec })
}

/// Frames reach analysis at most this long on their long side: the networks see far less
/// (faces at 320, poses at 256 pixels), the expression classifier works on 48 × 48 face crops,
/// and a 4K frame costs four times a 1080p one in every buffer it passes through.
pub const MAX_DECODED_SIDE: i32 = 1920;

/// The size the frames of a `width` × `height` video are decoded to: shrunk, aspect kept, to
/// at most [`MAX_DECODED_SIDE`].
pub fn decoded_size(width: i32, height: i32) -> (i32, i32) {
    let long = width.max(height);
    if long <= MAX_DECODED_SIDE {
        return (width, height);
    }
    let scale = |side: i32| ((side as i64 * MAX_DECODED_SIDE as i64 + long as i64 / 2) / long as i64).max(1) as i32;
    (scale(width), scale(height))
}

/// One decoded frame chosen for analysis.
pub struct Frame {
    /// Index in the video.
    pub index: i64,
    pub timestamp_ms: i64,
    /// 8-bit RGB, [`decoded_size`].
    pub rgb: Mat,
}

/// What the decoder thread sends.
pub enum Decoded {
    Frame(Frame),
    /// Decoding ended; how many frames were read in all.
    End {
        frames_read: i64,
    },
    Failed(VideoError),
}

/// Decodes `path` on its own thread, sending the frames that fall on the analysis rate
/// (`analysis_fps`; `None` or ≥ the video's rate: every frame).
pub fn spawn_decoder(
    path: &Path,
    info: &VideoInfo,
    analysis_fps: Option<f64>,
    capacity: usize,
    cancel: CancellationToken,
) -> Result<(Receiver<Decoded>, JoinHandle<()>), VideoError> {
    let capture = open(path)?;
    let (sender, receiver) = sync_channel(capacity);
    let fps = info.fps;
    let step_ms = analysis_fps.filter(|rate| *rate > 0.0 && *rate < fps).map(|rate| 1000.0 / rate);
    let bounds = Bounds::of(info);
    let handle = std::thread::Builder::new()
        .name("imind-decode".into())
        .spawn(move || decode_loop(capture, fps, step_ms, bounds, sender, cancel))
        .map_err(|error| VideoError::Corrupt(format!("could not start the decoder: {error}")))?;
    Ok((receiver, handle))
}

/// What the probed header promised: the limits were checked against it, so a stream that
/// goes beyond it (frames larger, far more of them, or shown far past its end) is refused as
/// it is decoded.
#[derive(Clone, Copy)]
struct Bounds {
    width: i32,
    height: i32,
    frames: i64,
    shown_until_ms: f64,
}

impl Bounds {
    fn of(info: &VideoInfo) -> Self {
        // Headers round and estimate (variable frame rates especially): twice as many, and more.
        Self {
            width: info.width,
            height: info.height,
            frames: info.frame_count.saturating_mul(2) + 1000,
            shown_until_ms: info.duration_ms as f64 * 2.0 + 60_000.0,
        }
    }
}

/// When each grabbed frame is shown: its presentation time in the container (phones and
/// webcams record at variable rates, so index ÷ nominal rate drifts). A frame without one
/// (a container without times; FFmpeg's last frames, drained at the end) comes one step after
/// the frame before it, the step between the last two times seen. Never earlier than the frame
/// before.
struct PresentationClock {
    previous: Option<f64>,
    step_ms: f64,
}

impl PresentationClock {
    fn new(fps: f64) -> Self {
        Self { previous: None, step_ms: 1000.0 / fps }
    }

    fn next(&mut self, capture: &VideoCapture) -> f64 {
        let shown = capture.get(videoio::CAP_PROP_POS_MSEC).ok().filter(|ms| ms.is_finite() && *ms >= 0.0);
        // FFmpeg answers 0 for a frame without a time: only the first frame is shown at 0.
        let shown = shown.filter(|ms| *ms > 0.0 || self.previous.is_none());
        let time = match (self.previous, shown) {
            (None, shown) => shown.unwrap_or(0.0),
            (Some(previous), Some(shown)) if shown > previous => {
                self.step_ms = shown - previous;
                shown
            }
            (Some(previous), Some(shown)) if shown == previous => previous,
            (Some(previous), _) => previous + self.step_ms,
        };
        self.previous = Some(time);
        time
    }
}

fn decode_loop(
    mut capture: VideoCapture,
    fps: f64,
    step_ms: Option<f64>,
    bounds: Bounds,
    sender: SyncSender<Decoded>,
    cancel: CancellationToken,
) {
    let mut index: i64 = 0;
    let mut next_sample_ms = 0.0;
    let mut clock = PresentationClock::new(fps);
    loop {
        if cancel.is_cancelled() {
            return;
        }
        if index >= bounds.frames {
            let reason = format!("more frames than its header says ({})", bounds.frames);
            let _ = sender.send(Decoded::Failed(VideoError::TooLarge(reason)));
            return;
        }
        // `grab` decodes; only sampled frames pay for the colour conversion and the copy.
        match capture.grab() {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => {
                let _ = sender.send(Decoded::Failed(VideoError::Corrupt(error.to_string())));
                return;
            }
        }
        let timestamp = clock.next(&capture);
        if timestamp > bounds.shown_until_ms {
            let reason = format!("a frame shown at {:.0} s, far past the end its header gives", timestamp / 1000.0);
            let _ = sender.send(Decoded::Failed(VideoError::TooLarge(reason)));
            return;
        }
        let wanted = step_ms.is_none_or(|_| timestamp + 1e-6 >= next_sample_ms);
        if wanted {
            if let Some(step) = step_ms {
                // The first sample time after this frame (times are the file's: they may jump).
                next_sample_ms = (((timestamp + 1e-6) / step).floor() + 1.0) * step;
            }
            let mut bgr = Mat::default();
            let retrieved = capture.retrieve(&mut bgr, 0).ok().filter(|ok| *ok && !bgr.empty());
            if retrieved.is_some() && (bgr.cols() > bounds.width || bgr.rows() > bounds.height) {
                let reason = format!(
                    "a frame of {}×{} in a video whose header says {}×{}",
                    bgr.cols(),
                    bgr.rows(),
                    bounds.width,
                    bounds.height
                );
                let _ = sender.send(Decoded::Failed(VideoError::TooLarge(reason)));
                return;
            }
            let frame = retrieved.and_then(|_| {
                let (width, height) = decoded_size(bgr.cols(), bgr.rows());
                if (width, height) == (bgr.cols(), bgr.rows()) {
                    image::bgr_to_rgb(&bgr).ok()
                } else {
                    image::shrink(&bgr, width, height).and_then(|small| image::bgr_to_rgb(&small)).ok()
                }
            });
            match frame {
                Some(rgb) => {
                    let frame = Frame { index, timestamp_ms: timestamp.round() as i64, rgb };
                    if sender.send(Decoded::Frame(frame)).is_err() {
                        return; // The consumer stopped.
                    }
                }
                None => {
                    let _ = sender.send(Decoded::Failed(VideoError::Corrupt(format!("frame {index} does not decode"))));
                    return;
                }
            }
        }
        index += 1;
    }
    let _ = sender.send(Decoded::End { frames_read: index });
}
