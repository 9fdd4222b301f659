//! `imind analyze FILE`: offline analysis with a progress bar, JSON and a timeline picture.

use std::path::PathBuf;

use anyhow::Context;
use imind_inference::{
    AnalysisOptions, AnalysisResult, AnalysisSink, Engine, Progress, RuntimeOptions, analyze, cancel::CancellationToken,
};
use indicatif::{ProgressBar, ProgressStyle};

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
        self.0.set_message(progress.stage);
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
        let json = serde_json::to_vec_pretty(&result).context("serialising the result")?;
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
    for object in &result.objects {
        let shares: Vec<String> = object
            .emotion_share
            .iter()
            .map(|share| format!("{:?} {:.0}%", share.emotion, share.fraction * 100.0))
            .collect();
        out.push_str(&format!(
            "  {} ({:?} {:.0}%): {:.1}–{:.1} s, {} expression and {} behaviour intervals; {}\n",
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
