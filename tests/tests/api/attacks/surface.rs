//! What the gateway exposes besides the API: metrics, and the demo logins.

use imind_api::{Application, Secret, Settings};
use imind_tests::{
    JWT_SECRET,
    fixtures::{self, World},
    spawn_app_with,
};
use serde_json::json;

fn settings(data_dir: &tempfile::TempDir) -> Settings {
    Settings {
        data_dir: data_dir.path().to_owned(),
        bind: "127.0.0.1:0".parse().unwrap(),
        jwt_secret: Secret(JWT_SECRET.into()),
        ..Settings::default()
    }
}

#[tokio::test]
async fn the_playground_cannot_be_framed_or_sniffed() {
    let app = spawn_app_with(false, |_| {}).await;
    for path in ["/", "/graphql"] {
        let page = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();
        let header = |name: &str| page.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert!(header("content-security-policy").contains("frame-ancestors 'none'"), "{path}");
        assert!(header("content-security-policy").contains("connect-src 'self'"), "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
    }
}

/// Before, the page loaded GraphiQL and React from unpkg.com: on a network without internet it
/// stayed at "Loading…", and where it had internet a CDN's script ran beside pasted tokens.
/// Now the gateway serves every file itself, and the page works with only loopback reachable.
#[tokio::test]
async fn the_playground_works_without_internet() {
    let app = spawn_app_with(false, |_| {}).await;
    World::build(&app.db).await;
    // A third party's way in: an API key in the headers tab.
    let admin = app.login(fixtures::ADMIN, fixtures::PASSWORD).await;
    let (_, key) = app.create_api_key(&admin, "REPORTS", None).await;
    let run = app
        .in_playground("{ me { email } children { totalCount } }", json!({ "Authorization": format!("Bearer {key}") }))
        .await;
    assert_eq!(run["result"]["data"]["me"]["email"], fixtures::ADMIN, "{run}");
    assert_eq!(run["result"]["data"]["children"]["totalCount"], 2, "{run}");
    let docs = run["docs"].as_str().unwrap_or_default();
    assert!(docs.contains("Root Types") && docs.contains("ApiKeyScope"), "the schema's docs: {run}");
    // The editors' workers came from the gateway too.
    assert!(run["requests"].to_string().contains("graphql.worker-"), "{run}");
    let requests = run["requests"].as_array().unwrap();
    assert!(requests.len() >= 6, "the page and its files: {run}");
    assert!(requests.iter().all(|url| url.as_str().unwrap().starts_with(&app.address)), "{run}");
    assert_eq!(run["errors"], json!([]), "no script error, no refused resource");
    // Vendored files are cached for good; they carry their version in their name.
    let (status, _) = app.get("/playground/graphiql-5.4.0.js").await;
    assert_eq!(status, 200);
    let (status, _) = app.get("/playground/..%2Fserve.rs").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn metrics_can_require_a_token() {
    let app = spawn_app_with(false, |settings| settings.metrics_token = Secret("scrape-me-0123456789".into())).await;
    let url = format!("{}/metrics", app.address);
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(app.client.get(&url).bearer_auth("guess").send().await.unwrap().status(), 401);
    let scraped = app.client.get(&url).bearer_auth("scrape-me-0123456789").send().await.unwrap();
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.unwrap().contains("imind_sql_statements_total"));
}

#[tokio::test]
async fn metrics_can_live_on_an_address_of_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(&dir);
    settings.metrics_bind = Some("127.0.0.1:0".parse().unwrap());
    let app = Application::build(settings, false).await.unwrap();
    let (public, internal) = (app.local_addr(), app.metrics_addr().expect("a metrics address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    assert_eq!(client.get(format!("http://{public}/metrics")).send().await.unwrap().status(), 404);
    assert_eq!(client.get(format!("http://{public}/healthz")).send().await.unwrap().status(), 200);
    assert_eq!(client.get(format!("http://{internal}/metrics")).send().await.unwrap().status(), 200);
    let _ = stop.send(());
    served.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_demo_is_not_served_to_the_network_by_accident() {
    let dir = tempfile::tempdir().unwrap();
    let mut public = settings(&dir);
    public.bind = "0.0.0.0:0".parse().unwrap();
    let refused = Application::build(public.clone(), true).await.err().expect("refused");
    assert!(refused.to_string().contains("IMIND_DEMO_ALLOW_PUBLIC"), "{refused}");
    // Told explicitly, or without the demo, it serves.
    public.demo_allow_public = true;
    assert!(Application::build(public.clone(), true).await.is_ok());
    public.demo_allow_public = false;
    assert!(Application::build(public, false).await.is_ok());
}
