//! `imind analyze FILE`: offline analysis with a progress bar, JSON in the shape the API stores
//! and serves (camelCase; intervals name their label `emotion` / `behaviour`), and a timeline
//! picture.

use std::path::PathBuf;

use anyhow::Context;
use imind_inference::{
    AnalysisOptions, AnalysisResult, AnalysisSink, Behaviour, Emotion, EmotionShare, Engine, FaceCounts, Interval,
    Progress, Role, RuntimeOptions, Timings, TrackedObject, VideoInfo, analyze,
};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub struct AnalyzeArgs {
    pub file: PathBuf,
    pub fps: Option<f64>,
    pub batch_size: usize,
    pub threads: usize,
    pub json: Option<PathBuf>,
    pub timeline: Option<PathBuf>,
}

struct BarSink(ProgressBar);

impl AnalysisSink for BarSink {
    fn progress(&mut self, progress: &Progress) {
        self.0.set_length(progress.frames_total.max(0) as u64);
        self.0.set_position(progress.frames_done.max(0) as u64);
        self.0.set_message(progress.stage.as_str());
    }
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<AnalysisResult> {
    let options = AnalysisOptions {
        analysis_fps: args.fps.filter(|fps| *fps > 0.0),
        batch_size: args.batch_size.max(1),
        ..AnalysisOptions::default()
    };
    let runtime = RuntimeOptions { intra_threads: args.threads.max(1), ..RuntimeOptions::default() };
    let mut engine = Engine::load(runtime, &options.models_dir)?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} frames, {elapsed} elapsed, ETA {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let mut sink = BarSink(bar.clone());
    let result = analyze(&mut engine, &args.file, &options, &mut sink, &CancellationToken::new())
        .with_context(|| format!("analysing {}", args.file.display()))?;
    bar.finish_and_clear();
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&Stored::from(&result)).context("serialising the result")?;
        std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.timeline {
        crate::timeline_png::draw(&result, path)?;
    }
    Ok(result)
}

/// A short human-readable summary for the terminal.
pub fn summary(result: &AnalysisResult) -> String {
    let mut out = format!(
        "{}×{} {:.2} fps, {:.1} s, {} frames analysed in {:.1} s, {} people\n",
        result.video.width,
        result.video.height,
        result.video.fps,
        result.video.duration_ms as f64 / 1000.0,
        result.analysed_frames,
        result.timings.total.as_secs_f64(),
        result.objects.len()
    );
    if !result.cuts_ms.is_empty() {
        let cuts: Vec<String> = result.cuts_ms.iter().map(|t| format!("{:.2} s", *t as f64 / 1000.0)).collect();
        out.push_str(&format!("  cuts at {}\n", cuts.join(", ")));
    }
    for object in &result.objects {
        let shares: Vec<String> = object
            .emotion_share
            .iter()
            .map(|share| format!("{:?} {:.0}%", share.emotion, share.fraction * 100.0))
            .collect();
        let faces = &object.faces;
        let readable = match faces.main_reason() {
            _ if faces.usable > 0 => format!("readable face in {} of {} samples", faces.usable, faces.samples),
            _ if faces.with_face == 0 => "face never seen".to_owned(),
            Some(reason) => format!("face never readable (mostly {})", reason.as_str()),
            None => unreachable!("a face seen but neither usable nor refused. This is a bug."),
        };
        out.push_str(&format!(
            "  {} ({:?} {:.0}%): {:.1}–{:.1} s, {} expression and {} behaviour intervals, {readable}; {}\n",
            object.label,
            object.role,
            object.role_confidence * 100.0,
            object.first_seen_ms as f64 / 1000.0,
            object.last_seen_ms as f64 / 1000.0,
            object.emotion_intervals.len(),
            object.behaviour_intervals.len(),
            shares.join(", ")
        ));
    }
    out
}

/// An analysis as the API stores it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Stored<'a> {
    video: &'a VideoInfo,
    analysed_frames: i64,
    objects: Vec<StoredObject<'a>>,
    timings: &'a Timings,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StoredObject<'a> {
    track_id: u32,
    label: &'a str,
    role: Role,
    role_confidence: f32,
    first_seen_ms: i64,
    last_seen_ms: i64,
    emotion_intervals: Vec<StoredEmotion>,
    behaviour_intervals: Vec<StoredBehaviour>,
    emotion_share: Vec<StoredShare>,
    face_quality: FaceCounts,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StoredEmotion {
    emotion: Emotion,
    start_ms: i64,
    end_ms: i64,
    mean_confidence: f32,
    peak_confidence: f32,
    samples: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StoredBehaviour {
    behaviour: Behaviour,
    start_ms: i64,
    end_ms: i64,
    mean_confidence: f32,
    peak_confidence: f32,
    samples: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StoredShare {
    emotion: Emotion,
    fraction: f64,
    duration_ms: i64,
}

impl<'a> From<&'a AnalysisResult> for Stored<'a> {
    fn from(result: &'a AnalysisResult) -> Self {
        Self {
            video: &result.video,
            analysed_frames: result.analysed_frames,
            objects: result.objects.iter().map(StoredObject::from).collect(),
            timings: &result.timings,
        }
    }
}

impl<'a> From<&'a TrackedObject> for StoredObject<'a> {
    fn from(object: &'a TrackedObject) -> Self {
        Self {
            track_id: object.track_id,
            label: &object.label,
            role: object.role,
            role_confidence: object.role_confidence,
            first_seen_ms: object.first_seen_ms,
            last_seen_ms: object.last_seen_ms,
            emotion_intervals: object.emotion_intervals.iter().map(StoredEmotion::from).collect(),
            behaviour_intervals: object.behaviour_intervals.iter().map(StoredBehaviour::from).collect(),
            emotion_share: object.emotion_share.iter().map(StoredShare::from).collect(),
            face_quality: object.faces,
        }
    }
}

impl From<&Interval<Emotion>> for StoredEmotion {
    fn from(interval: &Interval<Emotion>) -> Self {
        Self {
            emotion: interval.label,
            start_ms: interval.start_ms,
            end_ms: interval.end_ms,
            mean_confidence: interval.mean_confidence,
            peak_confidence: interval.peak_confidence,
            samples: interval.samples,
        }
    }
}

impl From<&Interval<Behaviour>> for StoredBehaviour {
    fn from(interval: &Interval<Behaviour>) -> Self {
        Self {
            behaviour: interval.label,
            start_ms: interval.start_ms,
            end_ms: interval.end_ms,
            mean_confidence: interval.mean_confidence,
            peak_confidence: interval.peak_confidence,
            samples: interval.samples,
        }
    }
}

impl From<&EmotionShare> for StoredShare {
    fn from(share: &EmotionShare) -> Self {
        Self { emotion: share.emotion, fraction: share.fraction, duration_ms: share.duration_ms }
    }
}
