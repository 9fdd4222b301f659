//! `bench FILE`: how fast the engine analyses a video on this machine, and how that compares
//! with decoding alone (ours, and ffmpeg's own: the floor) and with the Python `fer` package.
//!
//! cargo run --release -p imind-inference-bench -- FILE [--fps 2] [--batch-size 8]
//!     [--threads 2] [--cuda] [--no-int8] [--no-flip] [--no-align] [--no-quality-bar]
//!     [--fer-python "$(scripts/setup-fer.sh)"]
//!     [--media-child target/release/imind] [--recording-minutes 10]
//!
//! `--recording-minutes M` first makes FILE into what counsellors upload — an M-minute
//! 1080p30 H.264 clip (FILE looped, scaled; kept under `target/bench-clips`) — and measures that.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use clap::Parser;
use imind_inference::{
    Alignment, AnalysisOptions, Decoded, Decoding, Engine, ExpressionInput, NoSink, QualityBar, RuntimeOptions,
    VideoInfo, analyze, probe,
};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    file: PathBuf,
    /// Analysis rate (frames per second of video; 0 = every frame).
    #[arg(long, default_value_t = 2.0)]
    fps: f64,
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Intra-op threads per model (the face and pose models run in parallel).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Use the CUDA execution provider.
    #[arg(long)]
    cuda: bool,
    /// Find faces with the float CenterFace instead of its int8 build (the CPU default).
    #[arg(long)]
    no_int8: bool,
    /// Classify faces without mirror-image averaging (the pipeline averages).
    #[arg(long)]
    no_flip: bool,
    /// Classify face crops as they are, without turning them so that the eyes are level (the
    /// pipeline turns them).
    #[arg(long)]
    no_align: bool,
    /// Let every face vote, without the quality bar (size, score, sharpness, yaw).
    #[arg(long)]
    no_quality_bar: bool,
    /// A Python with `fer` installed, for the side-by-side run.
    #[arg(long)]
    fer_python: Option<PathBuf>,
    /// The `imind` binary: decode once more through its media child, side by side.
    #[arg(long)]
    media_child: Option<PathBuf>,
    /// Measure an M-minute 1080p30 H.264 clip made from FILE instead of FILE itself.
    #[arg(long, value_name = "M")]
    recording_minutes: Option<u32>,
}

/// FILE looped to `minutes` of 1080p30 H.264, as a phone records (made once, then kept).
fn make_recording(source: &Path, minutes: u32) -> anyhow::Result<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-clips");
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let stem = source.file_stem().and_then(|s| s.to_str()).unwrap_or("clip");
    let clip = dir.join(format!("{stem}-1080p30-{minutes}min.mp4"));
    if clip.exists() {
        return Ok(clip);
    }
    println!("making {} (once)", clip.display());
    let partial = clip.with_extension("partial.mp4");
    let seconds = (u64::from(minutes) * 60).to_string();
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-stream_loop", "-1", "-i"])
        .arg(source)
        .args(["-t", &seconds, "-vf", "scale=1920:1080,fps=30", "-an", "-c:v", "libx264", "-preset", "veryfast"])
        .arg(&partial)
        .status()?;
    anyhow::ensure!(status.success(), "ffmpeg could not make the clip: {status}");
    std::fs::rename(&partial, &clip)?;
    Ok(clip)
}

/// Seconds ffmpeg itself takes to decode every frame of `file` (with `options` before `-i`),
/// on all cores, writing nothing: the floor a decode-bound pipeline can reach.
fn ffmpeg_decode_seconds(file: &Path, options: &[&str]) -> anyhow::Result<f64> {
    let started = Instant::now();
    let status = Command::new("ffmpeg")
        .args(["-v", "error"])
        .args(options)
        .arg("-i")
        .arg(file)
        .args(["-f", "null", "-"])
        .status()?;
    anyhow::ensure!(status.success(), "ffmpeg could not decode {}: {status}", file.display());
    Ok(started.elapsed().as_secs_f64())
}

/// Decodes every frame; returns frames per second and how many.
fn decode_every_frame(decoding: &Decoding, file: &Path, info: &VideoInfo) -> anyhow::Result<(f64, u64)> {
    let started = Instant::now();
    let (frames, thread) = decoding.spawn_decoder(file, info, None, 16, CancellationToken::new())?;
    let mut decoded = 0u64;
    for message in frames {
        match message {
            Decoded::Frame(_) => decoded += 1,
            Decoded::End { .. } => break,
            Decoded::Failed(error) => anyhow::bail!(error),
        }
    }
    let _ = thread.join();
    Ok((decoded as f64 / started.elapsed().as_secs_f64(), decoded))
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmHWM:").map(|v| v.trim().trim_end_matches(" kB").to_owned()))
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if let Some(minutes) = args.recording_minutes {
        args.file = make_recording(&args.file, minutes)?;
    }
    let info = probe(&args.file)?;
    let video_seconds = info.duration_ms as f64 / 1000.0;
    println!(
        "file: {} ({}×{}, {:.2} fps, {} frames, {:.1} s, {})",
        args.file.display(),
        info.width,
        info.height,
        info.fps,
        info.frame_count,
        video_seconds,
        info.codec
    );

    // Decoding alone: every frame, through the same decoder thread and colour conversion.
    let (decode_fps, decoded) = decode_every_frame(&Decoding::InProcess, &args.file, &info)?;
    println!("decode only:      {decode_fps:8.1} frames/s ({decoded} frames)");
    // ffmpeg's own decoding is optional: without it on PATH the bench says so and goes on.
    let ffmpeg_seconds = match ffmpeg_decode_seconds(&args.file, &[]) {
        Ok(all_frames) => {
            let reference_only = ffmpeg_decode_seconds(&args.file, &["-skip_frame", "noref"]).unwrap_or(f64::NAN);
            println!(
                "ffmpeg decode:    {all_frames:8.2} s every frame ({:.1} frames/s), {reference_only:.2} s reference frames only",
                info.frame_count as f64 / all_frames
            );
            Some(all_frames)
        }
        Err(error) => {
            println!("ffmpeg decode:    not measured ({error})");
            None
        }
    };
    if let Some(program) = &args.media_child {
        let isolated = Decoding::Isolated { program: program.clone(), max_memory_bytes: 3 << 30 };
        let (child_fps, _) = decode_every_frame(&isolated, &args.file, &info)?;
        println!("  in a child:     {child_fps:8.1} frames/s ({:.2}× in-process)", child_fps / decode_fps);
    }

    let options = AnalysisOptions {
        analysis_fps: Some(args.fps).filter(|fps| *fps > 0.0),
        batch_size: args.batch_size,
        expression: ExpressionInput {
            flip: !args.no_flip,
            align: if args.no_align { Alignment::None } else { Alignment::default() },
        },
        quality_bar: if args.no_quality_bar { QualityBar::none() } else { QualityBar::default() },
        ..AnalysisOptions::default()
    };
    let defaults = RuntimeOptions::default();
    let runtime = RuntimeOptions {
        intra_threads: args.threads,
        cuda: args.cuda,
        int8: defaults.int8 && !args.no_int8,
        ..defaults
    };
    let face_model = imind_inference::Runtime::load(runtime.clone())?.model_file(&options.models_dir, "centerface");
    println!("face model:         {}", face_model.display());
    let load = Instant::now();
    let mut engine = Engine::load(runtime, &options.models_dir)?;
    let load_seconds = load.elapsed().as_secs_f64();
    let started = Instant::now();
    let result = analyze(&mut engine, &args.file, &options, &mut NoSink, &CancellationToken::new())?;
    let seconds = started.elapsed().as_secs_f64();
    let pipeline_fps = info.frame_count as f64 / seconds;
    println!(
        "full pipeline:    {pipeline_fps:8.1} video frames/s ({} analysed at {} fps, batch {}, {} threads{}) = {:.0}% of decode-only",
        result.analysed_frames,
        args.fps,
        args.batch_size,
        args.threads,
        if args.cuda { ", CUDA" } else { "" },
        100.0 * pipeline_fps / decode_fps
    );
    println!("real-time factor: {:8.1}× (video seconds per wall second)", video_seconds / seconds);
    if let Some(ffmpeg_seconds) = ffmpeg_seconds {
        println!(
            "against ffmpeg:   {:8.0}% of ffmpeg's every-frame decode throughput ({seconds:.2} s against {ffmpeg_seconds:.2} s)",
            100.0 * ffmpeg_seconds / seconds
        );
    }
    let t = &result.timings;
    println!(
        "stages (s):       waiting for decoder {:.2}, pose {:.2}, faces {:.2}, expressions {:.2}, tracking+rules {:.2}, total {:.2} (model load {:.2})",
        t.decode_wait.as_secs_f64(),
        t.pose.as_secs_f64(),
        t.faces.as_secs_f64(),
        t.emotions.as_secs_f64(),
        t.tracking.as_secs_f64(),
        t.total.as_secs_f64(),
        load_seconds
    );
    println!("people: {}, peak RSS: {:.0} MB", result.objects.len(), peak_rss_mb());

    if let Some(python) = args.fer_python {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/fer_video.py");
        let output = Command::new(python).arg(script).arg(&args.file).arg(args.fps.to_string()).output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        match stdout.lines().last().and_then(|line| line.trim().parse::<f64>().ok()) {
            Some(fer_seconds) if output.status.success() => println!(
                "python fer:       {fer_seconds:.2} s for the same video and rate → i-mind is {:.1}× faster",
                fer_seconds / seconds
            ),
            _ => {
                println!("python fer failed: {}", String::from_utf8_lossy(&output.stderr).lines().last().unwrap_or(""))
            }
        }
    }
    Ok(())
}
