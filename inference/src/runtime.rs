//! ONNX Runtime, loaded from a shared library at run time (`ort` load-dynamic): the library is
//! the one in the pinned `onnxruntime` PyPI wheel, which `scripts/setup-ort.sh` unpacks into a
//! cache directory. Sessions are created once per model and reused.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use ort::{
    environment::Environment,
    session::{Session, builder::GraphOptimizationLevel},
};

use crate::error::{InferenceError, Result};

/// The ONNX Runtime release the project is built and tested against.
pub const ORT_VERSION: &str = "1.31.1";

#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// Path of `libonnxruntime.so.*`; default: `IMIND_ORT_DYLIB`, else the setup script's cache.
    pub dylib: Option<PathBuf>,
    /// Threads one model may use for one inference. The pipeline runs its two detectors in
    /// parallel, so 1 uses two cores.
    pub intra_threads: usize,
    /// Use the CUDA execution provider when the library has it; CPU otherwise.
    pub cuda: bool,
    /// On a CPU with int8 dot products (AVX-VNNI or AVX512-VNNI), load a model's int8 build
    /// where the models folder has one (`centerface-int8.onnx`): its convolutions run about
    /// 1.8× as fast, for the same faces (models/README.md). Elsewhere, and with CUDA, the float
    /// build: without those instructions int8 sums can saturate, and it is not measured there.
    /// Default: on, unless `IMIND_INT8` is `0` or `false`.
    pub int8: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        let int8 = !matches!(std::env::var("IMIND_INT8").as_deref(), Ok("0" | "false"));
        Self { dylib: None, intra_threads: 1, cuda: false, int8 }
    }
}

/// Whether this CPU has the int8 dot products the int8 models were measured with.
pub fn int8_dot_products() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avxvnni") || std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Where the setup script puts the library.
pub fn default_dylib() -> PathBuf {
    if let Some(path) = std::env::var_os("IMIND_ORT_DYLIB") {
        return PathBuf::from(path);
    }
    let cache = std::env::var_os("IMIND_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/imind")
    });
    cache.join(format!("ort-{ORT_VERSION}/libonnxruntime.so.{ORT_VERSION}"))
}

/// ONNX Runtime allows one environment per process; every [`Runtime`] shares it.
static ENVIRONMENT: Mutex<Option<Arc<Environment>>> = Mutex::new(None);

/// A loaded ONNX Runtime.
pub struct Runtime {
    environment: Arc<Environment>,
    options: RuntimeOptions,
}

impl Runtime {
    pub fn load(options: RuntimeOptions) -> Result<Self> {
        let path = options.dylib.clone().unwrap_or_else(default_dylib);
        if !path.is_file() {
            return Err(InferenceError::RuntimeMissing { path, reason: "no such file".into() });
        }
        let mut shared = ENVIRONMENT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let environment = match shared.as_ref() {
            Some(environment) => environment.clone(),
            None => {
                let builder = ort::init_from(&path).map_err(|error| InferenceError::RuntimeMissing {
                    path: path.clone(),
                    reason: error.to_string(),
                })?;
                let environment = Arc::new(builder.with_name("imind").build()?);
                *shared = Some(environment.clone());
                environment
            }
        };
        Ok(Self { environment, options })
    }

    /// The file of `name`, a model that ships an int8 build, in `models_dir`:
    /// `{name}-int8.onnx` where the options ask for int8 and the CPU runs it (see
    /// [`RuntimeOptions::int8`]), `{name}.onnx` otherwise. A models folder from before the int8
    /// build (no such file) gets the float one, with a warning.
    pub fn model_file(&self, models_dir: &Path, name: &str) -> PathBuf {
        let float = models_dir.join(format!("{name}.onnx"));
        if !(self.options.int8 && !self.options.cuda && int8_dot_products()) {
            return float;
        }
        let int8 = models_dir.join(format!("{name}-int8.onnx"));
        if !int8.is_file() && float.is_file() {
            tracing::warn!(missing = %int8.display(), "no int8 build of {name} in the models folder: using the float one");
            return float;
        }
        int8
    }

    /// A session for the model at `path`, created once by the caller and reused.
    pub fn session(&self, path: &Path) -> Result<Session> {
        if !path.is_file() {
            return Err(InferenceError::ModelMissing { path: path.to_owned() });
        }
        let mut builder = Session::builder(&self.environment)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(ort::Error::from)?
            .with_intra_threads(self.options.intra_threads)
            .map_err(ort::Error::from)?;
        if self.options.cuda {
            builder = builder.with_execution_providers([ort::ep::CUDA::default().build()]).map_err(ort::Error::from)?;
        }
        Ok(builder.commit_from_file(path)?)
    }
}
