//! The inference engine: turns a video into tracked people with observed facial-expression and
//! behaviour intervals. It knows frames, tensors and time — nothing about databases, GraphQL or
//! how the API serialises results. Modules are private; what callers use is re-exported here.
//!
//! # Layout
//! - `analysis` — `analyze(path, options, sink, cancel)`: the batched pipeline end to end.
//! - `runtime` — loads ONNX Runtime from a shared library at run time and creates sessions;
//!   a missing library or model fails at start-up with a message naming the fix.
//! - `models` — one file per network (CenterFace faces, MoveNet people + keypoints,
//!   mini-XCEPTION expressions): preprocessing, batched inference, decoding of outputs.
//! - [`image`] — the few OpenCV conversions every model shares; [`chart`] — lane charts as PNG
//!   (the timeline pictures of exports).
//! - `behaviour` — posture, motion, hands and proximity rules on keypoints (documented there).
//! - `labels` — the expression, behaviour and role label sets.
//! - `quality` — whether a face sample may vote: size, detector score, sharpness, yaw.
//! - `timeline` — per-sample labels → smoothed intervals (documented there).
//! - `role` — child/adult guess from relative body and face size.
//! - `tracker` — stable person ids: Hungarian assignment, re-identification of returners,
//!   shot cuts; `appearance` — the colour histograms it compares.
//! - `video` — `probe` and the decoder thread (OpenCV/FFmpeg), with typed errors for files
//!   that are not analysable videos.
//! - `isolated` — the same in a child process with a memory limit (`Decoding::Isolated`), so
//!   that a file which makes the decoder run away fails alone.
//! - `eval` — `evaluate_expressions`: accuracy, macro-F1 and confusion of the expression stage
//!   on labelled face images (`imind eval expressions`).
//! - `identity` — `evaluate_identities`: switches, merges and misses of the tracker against a
//!   hand-labelled clip (`imind eval identities`).
//! - `error` — typed errors. Cancellation is tokio-util's `CancellationToken`, the one the
//!   gateway uses too: the pipeline and the decoder check it between frames.

mod analysis;
mod appearance;
mod behaviour;
pub mod chart;
mod error;
mod eval;
mod identity;
pub mod image;
mod isolated;
mod labels;
mod models;
mod quality;
mod role;
mod runtime;
mod timeline;
mod tracker;
mod video;

pub use analysis::{
    AnalysisError, AnalysisOptions, AnalysisResult, AnalysisSink, EmotionShare, Engine, NoSink, Progress, Sighting,
    Stage, Timings, TrackedObject, analyze,
};
pub use error::{InferenceError, Result};
pub use eval::{
    ExpressionEvalOptions, ExpressionReport, UnusableFigures, UsableFigures, evaluate_expressions, format_report,
};
pub use identity::{IdentityLabels, IdentityReport, PersonFigures, evaluate_identities, format_identity_report};
pub use isolated::{CHILD_ARGUMENT, Decoding, MediaSource, child_main};
pub use labels::{Behaviour, Emotion, Role};
pub use models::{
    Alignment, BoundingBox, EmotionClassifier, ExpressionInput, FaceDetector, PoseEstimator, default_models_dir,
};
pub use quality::{FaceCounts, FaceQuality, QualityBar, Readability, Unusable};
pub use runtime::{Runtime, RuntimeOptions, int8_dot_products};
pub use timeline::Interval;
pub use video::{
    Decoded, MAX_DECODED_SIDE, MediaLimits, VideoError, VideoInfo, decoded_size, probe, probe_url, probe_within,
    restrict_ffmpeg, spawn_decoder,
};
