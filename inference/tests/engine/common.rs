//! Shared by the inference tests: the runtime, the models and the fetched footage.

use std::path::PathBuf;

use imind_inference::{Runtime, RuntimeOptions, default_models_dir};
use opencv::{
    core::{CV_8UC3, Mat, Rect, Scalar, Size},
    prelude::*,
};

pub fn runtime() -> Runtime {
    Runtime::load(RuntimeOptions { intra_threads: 1, int8: false, ..RuntimeOptions::default() })
        .expect("ONNX Runtime loads (scripts/setup-ort.sh)")
}

pub fn models_dir() -> PathBuf {
    default_models_dir()
}

/// A file fetched by `scripts/fetch-footage.sh`.
pub fn footage(name: &str) -> PathBuf {
    let dir = std::env::var_os("IMIND_FOOTAGE_DIR").map(PathBuf::from).unwrap_or_else(|| {
        let cache = std::env::var_os("IMIND_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/imind"));
        cache.join("footage")
    });
    let path = dir.join(name);
    assert!(path.is_file(), "{} is missing: run scripts/fetch-footage.sh", path.display());
    path
}

/// `picture` pasted onto a grey canvas at `x`, centred vertically.
pub fn on_canvas(picture: &Mat, canvas: Size, x: i32) -> Mat {
    let mut frame = Mat::new_size_with_default(canvas, CV_8UC3, Scalar::all(90.0)).unwrap();
    let rect = Rect::new(x, (canvas.height - picture.rows()) / 2, picture.cols(), picture.rows());
    let mut roi = Mat::roi_mut(&mut frame, rect).unwrap();
    picture.copy_to(&mut roi).unwrap();
    frame
}
