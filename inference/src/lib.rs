//! The inference engine: turns a video into tracked people with observed facial-expression and
//! behaviour intervals. It knows frames, tensors and time — nothing about databases or GraphQL.
//!
//! # Layout
//! - [`runtime`] — loads ONNX Runtime from a shared library at run time and creates sessions;
//!   a missing library or model fails at start-up with a message naming the fix.
//! - [`models`] — one file per network (CenterFace faces, MoveNet people + keypoints,
//!   mini-XCEPTION expressions): preprocessing, batched inference, decoding of outputs.
//! - [`image`] — the few OpenCV conversions every model shares.
//! - [`error`] — typed errors.

pub mod error;
pub mod image;
pub mod models;
pub mod runtime;

pub use error::{InferenceError, Result};
pub use runtime::{Runtime, RuntimeOptions};
