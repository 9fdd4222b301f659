//! The inference engine: turns a video into tracked people with observed facial-expression and
//! behaviour intervals. It knows frames, tensors and time — nothing about databases or GraphQL.
//!
//! # Layout
//! - [`analysis`] — `analyze(path, options, sink, cancel)`: the batched pipeline end to end.
//! - [`runtime`] — loads ONNX Runtime from a shared library at run time and creates sessions;
//!   a missing library or model fails at start-up with a message naming the fix.
//! - [`models`] — one file per network (CenterFace faces, MoveNet people + keypoints,
//!   mini-XCEPTION expressions): preprocessing, batched inference, decoding of outputs.
//! - [`image`] — the few OpenCV conversions every model shares.
//! - [`behaviour`] — posture, motion, hands and proximity rules on keypoints (documented there).
//! - [`labels`] — the expression, behaviour and role label sets.
//! - [`timeline`] — per-sample labels → smoothed intervals (documented there).
//! - [`role`] — child/adult guess from relative body and face size.
//! - [`tracker`] — stable person ids: Hungarian assignment, re-identification of returners.
//! - [`video`] — `probe` and the decoder thread (OpenCV/FFmpeg), with typed errors for files
//!   that are not analysable videos.
//! - [`cancel`] — the cancellation token; [`error`] — typed errors.

pub mod analysis;
pub mod behaviour;
pub mod cancel;
pub mod error;
pub mod image;
pub mod labels;
pub mod models;
pub mod role;
pub mod runtime;
pub mod timeline;
pub mod tracker;
pub mod video;

pub use analysis::{AnalysisError, AnalysisOptions, AnalysisResult, AnalysisSink, Engine, Progress, analyze};
pub use error::{InferenceError, Result};
pub use runtime::{Runtime, RuntimeOptions};
