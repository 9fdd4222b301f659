//! Test harness: the real gateway on a random port with a fresh database, spoken to over HTTP.
//!
//! The database is SQLite (a temporary file) unless `IMIND_TEST_POSTGRES_URL` names a
//! PostgreSQL server, in which case every test gets a database of its own on it. The test
//! script runs the whole suite once each way.

use std::time::Duration;

use imind_api::{app::Application, config::Settings};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub mod fixtures;

/// The signing secret tests configure, so they can also forge tokens.
pub const JWT_SECRET: &str = "test-secret-0123456789abcdef0123456789abcdef";

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    /// A separate connection for arranging and inspecting data (not counted in the server's
    /// SQL metrics).
    pub db: DatabaseConnection,
    pub settings: Settings,
    shutdown: Option<oneshot::Sender<()>>,
    _data_dir: TempDir,
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
            let admin = imind_api::db::connect(&admin_url, 1, None).await.expect("connecting to the test PostgreSQL");
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

pub async fn spawn_app() -> TestApp {
    spawn_app_with(false, |_| {}).await
}

/// Starts a server; `seed_demo` is `serve --demo`; `configure` may change settings.
pub async fn spawn_app_with(seed_demo: bool, configure: impl FnOnce(&mut Settings)) -> TestApp {
    imind_api::telemetry::init_for_tests();
    let data_dir = tempfile::tempdir().expect("a temporary directory");
    let mut settings = Settings {
        data_dir: data_dir.path().to_owned(),
        database_url: fresh_database_url(&data_dir).await,
        database_max_connections: 5,
        bind: "127.0.0.1:0".parse().unwrap(),
        jwt_secret: imind_api::config::Secret(JWT_SECRET.into()),
        ..Settings::default()
    };
    configure(&mut settings);
    let app = Application::build(settings.clone(), seed_demo).await.expect("the server builds");
    let address = format!("http://{}", app.local_addr());
    let db = imind_api::db::connect(&settings.effective_database_url(), 2, None).await.expect("a second connection");
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    TestApp { address, client, db, settings, shutdown: Some(shutdown), _data_dir: data_dir }
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

    /// `imind_sql_statements_total` from `/metrics`.
    pub async fn sql_statements(&self) -> u64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .find_map(|line| line.strip_prefix("imind_sql_statements_total "))
            .and_then(|value| value.trim().parse().ok())
            .expect("the statement counter is exported")
    }
}
