use std::path::PathBuf;

/// Everything that can go wrong, in words a counsellor (or an operator) can act on.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error(
        "ONNX Runtime library not found at {path}: run `scripts/setup-ort.sh` or point IMIND_ORT_DYLIB at \
         libonnxruntime.so.1.31.1 ({reason})"
    )]
    RuntimeMissing { path: PathBuf, reason: String },
    #[error("model file {path} is missing: the models ship in the repository's models/ folder (IMIND_MODELS_DIR)")]
    ModelMissing { path: PathBuf },
    #[error("ONNX Runtime failed: {0}")]
    Runtime(String),
    #[error("image processing failed: {0}")]
    Image(String),
    #[error("unexpected model output: {0}")]
    Output(String),
}

pub type Result<T, E = InferenceError> = std::result::Result<T, E>;

impl From<ort::Error> for InferenceError {
    fn from(error: ort::Error) -> Self {
        InferenceError::Runtime(error.to_string())
    }
}

impl From<opencv::Error> for InferenceError {
    fn from(error: opencv::Error) -> Self {
        InferenceError::Image(error.to_string())
    }
}
