//! `imind worker` as a real separate process (so tests can SIGKILL or SIGTERM it), configured
//! like a given gateway: same database, blob store and secret.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use imind_api::{BlobStoreKind, Settings};
use tempfile::TempDir;

/// The `imind` binary of this checkout (debug build), built once per test process if needed;
/// `IMIND_BIN` overrides it.
pub fn imind_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| std::env::var_os("IMIND_BIN").map(PathBuf::from).unwrap_or_else(|| build_imind(false))).clone()
}

/// Builds `imind` (release or debug) and returns its path.
pub fn build_imind(release: bool) -> PathBuf {
    let workspace = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--quiet", "-p", "imind", "--bin", "imind"]).current_dir(&workspace);
    if release {
        build.arg("--release");
    }
    // The variables cargo sets for this process would reach build scripts that watch them and
    // rebuild half the dependency tree, twice per run.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if (name.starts_with("CARGO_") && name != "CARGO_HOME" && name != "CARGO_TARGET_DIR") || name == "OUT_DIR" {
            build.env_remove(name.as_ref());
        }
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building imind failed");
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or(workspace.join("target"));
    target.join(if release { "release/imind" } else { "debug/imind" })
}

pub struct WorkerProcess {
    child: Child,
    log: PathBuf,
    _dir: TempDir,
}

impl WorkerProcess {
    /// Starts `imind worker` against `settings`' database and blob store.
    pub fn start(settings: &Settings) -> WorkerProcess {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = dir.path().join("worker.log");
        let mut command = Command::new(imind_binary());
        command
            .arg("worker")
            .env("IMIND_CONFIG", dir.path().join("none.toml"))
            .env("IMIND_DATA_DIR", dir.path())
            .env("IMIND_DATABASE_URL", &settings.database_url)
            .env("IMIND_JWT_SECRET", &settings.jwt_secret.0)
            .env("IMIND_JOB_LEASE_SECS", settings.job_lease_secs.to_string())
            .env("IMIND_JOB_RETRY_BASE_SECS", settings.job_retry_base_secs.to_string())
            .env("IMIND_WORKER_POLL_MS", settings.worker_poll_ms.to_string())
            .env("RUST_LOG", "info,sqlx=warn")
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .stderr(Stdio::from(std::fs::File::options().append(true).open(&log).unwrap()));
        if settings.blob_store == BlobStoreKind::S3 {
            command
                .env("IMIND_BLOB_STORE", "s3")
                .env("IMIND_S3_ENDPOINT", &settings.s3_endpoint)
                .env("IMIND_S3_BUCKET", &settings.s3_bucket)
                .env("IMIND_S3_ACCESS_KEY", &settings.s3_access_key)
                .env("IMIND_S3_SECRET_KEY", &settings.s3_secret_key.0);
        }
        let child = command.spawn().expect("imind worker starts");
        WorkerProcess { child, log, _dir: dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: the worker dies mid-job without a word.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit; returns whether it exited successfully, and how long
    /// it took.
    pub fn terminate(&mut self) -> (bool, Duration) {
        let started = Instant::now();
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return (status.success(), started.elapsed());
            }
            if started.elapsed() > Duration::from_secs(30) {
                self.kill();
                return (false, started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the worker logged (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
