//! Test harness: the real gateway on a random port with a fresh database, spoken to over HTTP.
//!
//! The database is SQLite (a temporary file) unless `IMIND_TEST_POSTGRES_URL` names a
//! PostgreSQL server, in which case every test gets a database of its own on it. The test
//! script runs the whole suite once each way.

use std::time::Duration;

use imind_api::{Application, Settings};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub mod bench;
pub mod fixtures;
pub mod worker;
pub mod ws;

/// The signing secret tests configure, so they can also forge tokens.
pub const JWT_SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";

pub struct TestApp {
    pub address: String,
    /// The S3-compatible server behind this app, when it uses one.
    pub s3: Option<S3Server>,
    pub client: reqwest::Client,
    /// A separate connection for arranging and inspecting data (not counted in the server's
    /// SQL metrics).
    pub db: DatabaseConnection,
    pub settings: Settings,
    shutdown: Option<oneshot::Sender<()>>,
    _data_dir: TempDir,
}

/// The Python with the readers tests open exports with (pandas, pympi-ling):
/// `scripts/setup-pyreaders.sh` installs it and prints it (`IMIND_PYTHON`, else the cache).
pub fn python_readers() -> std::path::PathBuf {
    let python = std::env::var_os("IMIND_PYTHON").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/imind/pyreaders/bin/python")
    });
    assert!(python.is_file(), "{} is missing: run scripts/setup-pyreaders.sh", python.display());
    python
}

/// A file fetched by `scripts/fetch-footage.sh` (`IMIND_FOOTAGE_DIR`, else the cache).
pub fn footage(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("IMIND_FOOTAGE_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/imind/footage")
    });
    let path = dir.join(name);
    assert!(path.is_file(), "{} is missing: run scripts/fetch-footage.sh", path.display());
    path
}

/// Which database this run of the suite uses.
pub fn backend_name() -> &'static str {
    if postgres_admin_url().is_some() { "postgres" } else { "sqlite" }
}

fn postgres_admin_url() -> Option<String> {
    std::env::var("IMIND_TEST_POSTGRES_URL").ok().filter(|url| !url.is_empty())
}

async fn fresh_database_url(data_dir: &TempDir) -> String {
    match postgres_admin_url() {
        None => format!("sqlite://{}?mode=rwc", data_dir.path().join("test.db").display()),
        Some(admin_url) => {
            let name = format!("imind_test_{}", uuid::Uuid::new_v4().simple());
            let admin =
                imind_api::connect_database(&admin_url, 1, None).await.expect("connecting to the test PostgreSQL");
            admin
                .execute_raw(Statement::from_string(admin.get_database_backend(), format!("CREATE DATABASE {name}")))
                .await
                .expect("creating a test database");
            admin.close().await.ok();
            let (base, _) = admin_url.rsplit_once('/').expect("a PostgreSQL URL ends in /database");
            format!("{base}/{name}")
        }
    }
}

/// A database with no tables yet (for migration tests), and the directory it lives in.
pub async fn empty_database() -> (TempDir, DatabaseConnection) {
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let url = fresh_database_url(&data_dir).await;
    let db = imind_api::connect_database(&url, 2, None).await.expect("connecting to the test database");
    (data_dir, db)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(false, |_| {}).await
}

/// Which blob store a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Local,
    S3,
}

/// A real S3-compatible server (s3s-fs, which checks SigV4 signatures and presigned-URL
/// expiry) on a random port, with its own data directory; stopped when dropped.
pub struct S3Server {
    pub endpoint: String,
    pub data_dir: TempDir,
    process: std::process::Child,
}

pub const S3_ACCESS_KEY: &str = "imind-test-access";
pub const S3_SECRET_KEY: &str = "imind-test-secret-key-0123456789";

impl S3Server {
    pub async fn start() -> S3Server {
        let binary = std::env::var_os("IMIND_S3S_FS").map(std::path::PathBuf::from).unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/imind/s3s-0.14.1/bin/s3s-fs")
        });
        assert!(binary.is_file(), "{} is missing: run scripts/setup-s3s.sh", binary.display());
        let data_dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let process = std::process::Command::new(binary)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--access-key",
                S3_ACCESS_KEY,
                "--secret-key",
                S3_SECRET_KEY,
            ])
            .arg(data_dir.path())
            // IMIND_S3S_LOG=debug IMIND_S3S_LOG_FILE=path keeps the server's own log (it logs to
            // stdout).
            .env("RUST_LOG", std::env::var("IMIND_S3S_LOG").unwrap_or_else(|_| "off".into()))
            .stdout(match std::env::var_os("IMIND_S3S_LOG_FILE") {
                Some(path) => {
                    std::fs::File::create(path).map(std::process::Stdio::from).unwrap_or(std::process::Stdio::null())
                }
                None => std::process::Stdio::null(),
            })
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        let endpoint = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        S3Server { endpoint, data_dir, process }
    }

    /// The server's process id (benchmarks read its CPU time).
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Objects stored (files under the data directory, without s3s-fs's own bookkeeping).
    pub fn object_count(&self) -> usize {
        count_files(self.data_dir.path())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn list_files(root: &std::path::Path, dir: &std::path::Path, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            list_files(root, &path, found);
        } else {
            found.push(path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned());
        }
    }
}

fn count_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| {
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if path.is_dir() { if hidden { 0 } else { count_files(&path) } } else { usize::from(!hidden) }
        })
        .sum()
}

/// A server whose videos go to `store`; `configure` may change settings further.
pub async fn spawn_app_with_store(store: Store, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let s3 = match store {
        Store::Local => None,
        Store::S3 => Some(S3Server::start().await),
    };
    let endpoint = s3.as_ref().map(|server| server.endpoint.clone());
    let mut app = spawn_app_with(false, |settings| {
        if let Some(endpoint) = endpoint {
            settings.blob_store = imind_api::BlobStoreKind::S3;
            settings.s3_endpoint = endpoint;
            settings.s3_bucket = "videos".into();
            settings.s3_access_key = S3_ACCESS_KEY.into();
            settings.s3_secret_key = imind_api::Secret(S3_SECRET_KEY.into());
        }
        configure(settings);
    })
    .await;
    app.s3 = s3;
    app
}

/// Starts a server; `seed_demo` is `serve --demo`; `configure` may change settings.
pub async fn spawn_app_with(seed_demo: bool, configure: impl FnOnce(&mut Settings)) -> TestApp {
    imind_api::init_test_logging();
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let mut settings = Settings {
        data_dir: data_dir.path().to_owned(),
        database_url: fresh_database_url(&data_dir).await,
        database_max_connections: 5,
        bind: "127.0.0.1:0".parse().unwrap(),
        jwt_secret: imind_api::Secret(JWT_SECRET.into()),
        // As `imind serve` does: videos are probed and decoded by `imind media-child`.
        media_child_program: Some(worker::imind_binary()),
        // Tests send far more than a person would, all from 127.0.0.1; the tests of the limits
        // set them back (`with_default_rate_limits`).
        rate_limit_requests_per_minute: 1_000_000,
        rate_limit_burst: 100_000,
        rate_limit_address_requests_per_minute: 10_000_000,
        rate_limit_cost_per_minute: u64::MAX,
        ..Settings::default()
    };
    configure(&mut settings);
    start_app(settings, seed_demo, data_dir).await
}

/// The rate limits `imind serve` starts with.
pub fn with_default_rate_limits(settings: &mut Settings) {
    let defaults = Settings::default();
    settings.rate_limit_requests_per_minute = defaults.rate_limit_requests_per_minute;
    settings.rate_limit_burst = defaults.rate_limit_burst;
    settings.rate_limit_address_requests_per_minute = defaults.rate_limit_address_requests_per_minute;
    settings.rate_limit_cost_per_minute = defaults.rate_limit_cost_per_minute;
}

impl TestApp {
    /// Another gateway on the same database, blob store and secret (a scaled-out deployment);
    /// `configure` may change its settings further.
    pub async fn peer(&self, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let data_dir = tempfile::tempdir().expect("a temporary directory");
        let mut settings = Settings {
            data_dir: data_dir.path().to_owned(),
            bind: "127.0.0.1:0".parse().unwrap(),
            ..self.settings.clone()
        };
        configure(&mut settings);
        start_app(settings, false, data_dir).await
    }
}

async fn start_app(settings: Settings, seed_demo: bool, data_dir: TempDir) -> TestApp {
    let app = Application::build(settings.clone(), seed_demo).await.expect("the server builds");
    let address = format!("http://{}", app.local_addr());
    let db =
        imind_api::connect_database(&settings.effective_database_url(), 2, None).await.expect("a second connection");
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    TestApp { address, s3: None, client, db, settings, shutdown: Some(shutdown), _data_dir: data_dir }
}

impl TestApp {
    /// What SIGTERM does to `imind serve`: stop accepting, stop the workers, close
    /// subscriptions, finish in-flight requests.
    pub fn shut_down(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A GraphQL response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub request_id: Option<String>,
    pub body: Value,
}

impl Response {
    /// `data`, asserting there were no errors.
    pub fn data(&self) -> &Value {
        assert!(self.body.get("errors").is_none(), "unexpected errors: {}", self.body);
        &self.body["data"]
    }

    /// The first error's `extensions.code`, if any.
    pub fn error_code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    pub fn error_message(&self) -> Option<&str> {
        self.body["errors"][0]["message"].as_str()
    }
}

impl TestApp {
    pub async fn graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Response {
        let mut request = self.client.post(format!("{}/graphql", self.address)).json(&json!({
            "query": query,
            "variables": variables,
        }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let request_id = response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = response.json().await.expect("a JSON body");
        Response { status, request_id, body }
    }

    /// Logs in and returns the access token.
    /// Creates an API key as the admin whose token this is; returns its global id and secret.
    pub async fn create_api_key(
        &self,
        admin_token: &str,
        scope: &str,
        children: Option<&[uuid::Uuid]>,
    ) -> (String, String) {
        let query = "mutation($scope: ApiKeyScope!, $children: [ID!]) { \
            createApiKey(name: \"test key\", scope: $scope, childIds: $children) { key { id } secret } }";
        let children = children.map(|ids| ids.iter().map(|id| fixtures::global_id("Child", *id)).collect::<Vec<_>>());
        let response = self.graphql(Some(admin_token), query, json!({ "scope": scope, "children": children })).await;
        let created = &response.data()["createApiKey"];
        (created["key"]["id"].as_str().unwrap().to_owned(), created["secret"].as_str().unwrap().to_owned())
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        self.login_pair(email, password).await.0
    }

    /// Logs in and returns (access token, refresh token).
    pub async fn login_pair(&self, email: &str, password: &str) -> (String, String) {
        let response = self
            .graphql(
                None,
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken refreshToken } }",
                json!({ "e": email, "p": password }),
            )
            .await;
        let login = &response.data()["login"];
        (login["accessToken"].as_str().unwrap().to_owned(), login["refreshToken"].as_str().unwrap().to_owned())
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = self.client.get(format!("{}{path}", self.address)).send().await.expect("the server answers");
        (response.status().as_u16(), response.text().await.unwrap())
    }

    /// `uploadSessionVideo` through curl, speaking the GraphQL multipart request spec.
    pub async fn upload_video(&self, token: &str, session: uuid::Uuid, file: &std::path::Path) -> Value {
        // Sent only once the server asks for it: a request refused from its headers (too
        // large) is answered before the body is on its way.
        self.upload_video_with(token, session, file, "expect: 100-continue").await
    }

    /// `upload_video`, sending the body at once (no `Expect`), as browsers do.
    pub async fn upload_video_at_once(&self, token: &str, session: uuid::Uuid, file: &std::path::Path) -> Value {
        self.upload_video_with(token, session, file, "expect:").await
    }

    async fn upload_video_with(&self, token: &str, session: uuid::Uuid, file: &std::path::Path, expect: &str) -> Value {
        const UPLOAD: &str = "mutation ($s: ID!, $file: Upload!) { uploadSessionVideo(sessionId: $s, file: $file) {
            status video { sizeBytes sha256 durationMs fps width height } videoUrl } }";
        let operations =
            json!({ "query": UPLOAD, "variables": { "s": fixtures::global_id("Session", session), "file": null } });
        let output = tokio::process::Command::new("curl")
            .args(["-sS", "-X", "POST", &format!("{}/graphql", self.address)])
            .args(["-H", &format!("authorization: Bearer {token}"), "-H", "apollo-require-preflight: true"])
            .args(["-H", expect])
            .arg("-F")
            .arg(format!("operations={operations}"))
            .args(["-F", r#"map={"0":["variables.file"]}"#])
            .arg("-F")
            .arg(format!("0=@{};type=video/mp4", file.display()))
            .output()
            .await
            .expect("curl runs");
        serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
            let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
            panic!("JSON from the server: {stdout} (curl said: {stderr})")
        })
    }

    /// A new session of `child` (through the API); returns its id.
    pub async fn create_session(&self, token: &str, child: uuid::Uuid, title: &str) -> uuid::Uuid {
        let response = self
            .graphql(
                Some(token),
                "mutation($c: ID!, $t: String!) { createSession(input: {childId: $c, title: $t, recordedAt: \"2026-11-20T10:00:00Z\"}) { id } }",
                json!({ "c": fixtures::global_id("Child", child), "t": title }),
            )
            .await;
        fixtures::uuid_of(response.data()["createSession"]["id"].as_str().unwrap())
    }

    /// Subscribes with the reference npm `graphql-ws` client and returns every message it got
    /// (`{"next": …}` lines, then `{"complete": true}` or `{"error": …}`).
    pub async fn node_subscribe(&self, token: Option<&str>, query: &str, variables: Value) -> Vec<Value> {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/ws-client/subscribe.mjs");
        let modules = concat!(env!("CARGO_MANIFEST_DIR"), "/ws-client/node_modules/graphql-ws");
        assert!(std::path::Path::new(modules).is_dir(), "run `npm ci --prefix tests/ws-client` (scripts/test.sh does)");
        let url = format!("{}/graphql", self.address.replacen("http", "ws", 1));
        let output = tokio::process::Command::new("node")
            .arg(script)
            .args([url, token.unwrap_or_default().to_owned(), query.to_owned(), variables.to_string()])
            .output()
            .await
            .expect("node runs");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("a JSON line from the client: {line}")))
            .collect()
    }

    /// Runs `query` in the playground page in Debian's Chromium (driven by playwright-core, every
    /// host but loopback unresolvable), typed in and run as a person would; returns
    /// `{"result", "requests", "errors"}` (see `tests/browser/playground.mjs`).
    pub async fn in_playground(&self, query: &str, headers: Value) -> Value {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/browser/playground.mjs");
        let modules = concat!(env!("CARGO_MANIFEST_DIR"), "/browser/node_modules/playwright-core");
        assert!(std::path::Path::new(modules).is_dir(), "run `npm ci --prefix tests/browser` (scripts/test.sh does)");
        let output = tokio::process::Command::new("node")
            .arg(script)
            .args([self.address.clone(), query.to_owned(), headers.to_string()])
            .output()
            .await
            .expect("node runs");
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("the playground did not answer: {}", String::from_utf8_lossy(&output.stderr)))
    }

    /// Opens the picture at `url` (served by this gateway) in Debian's Chromium and returns what
    /// it drew: `{"width", "height", "texts", "colours", "inked"}` (see
    /// `tests/browser/picture.mjs`); with `screenshot`, saves one there.
    pub async fn in_browser(&self, url: &str, screenshot: Option<&std::path::Path>) -> Value {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/browser/picture.mjs");
        let modules = concat!(env!("CARGO_MANIFEST_DIR"), "/browser/node_modules/playwright-core");
        assert!(std::path::Path::new(modules).is_dir(), "run `npm ci --prefix tests/browser` (scripts/test.sh does)");
        let mut command = tokio::process::Command::new("node");
        command.arg(script).args([self.address.as_str(), url]);
        if let Some(path) = screenshot {
            command.arg(path);
        }
        let output = command.output().await.expect("node runs");
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("the browser did not answer: {}", String::from_utf8_lossy(&output.stderr)))
    }

    /// Videos in the blob store (either kind).
    pub fn stored_videos(&self) -> usize {
        match &self.s3 {
            Some(server) => server.object_count(),
            None => count_files(&self.settings.data_dir.join("blobs")),
        }
    }

    /// Every object in the blob store (either kind), as paths below the store's directory
    /// (S3: the bucket's name first).
    pub fn stored_keys(&self) -> Vec<String> {
        let root = match &self.s3 {
            Some(server) => server.data_dir.path().to_owned(),
            None => self.settings.data_dir.join("blobs"),
        };
        let mut keys = Vec::new();
        list_files(&root, &root, &mut keys);
        keys
    }

    /// `imind_sql_statements_total` from `/metrics`.
    pub async fn sql_statements(&self) -> u64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .find_map(|line| line.strip_prefix("imind_sql_statements_total "))
            .and_then(|value| value.trim().parse().ok())
            .expect("the statement counter is exported")
    }
}
