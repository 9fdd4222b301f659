//! At rest on S3: with `IMIND_S3_SSE`, every object the gateway writes asks for server-side
//! encryption, and a direct upload must send the header too (it is signed into the URL).

use imind_tests::{
    Store,
    fixtures::{COUNSELLOR, PASSWORD, World, global_id},
    footage, spawn_app_with_store,
};
use serde_json::json;

#[tokio::test]
async fn s3_uploads_ask_for_server_side_encryption() {
    let app = spawn_app_with_store(Store::S3, |settings| settings.s3_sse = Some(imind_api::S3Encryption::Aes256)).await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, PASSWORD).await;

    // Through GraphQL: stored (the server accepted the header on the PUT).
    let session = app.create_session(&token, world.own, "Encrypted").await;
    let uploaded = app.upload_video(&token, session, &footage("carphone_pristine.mp4")).await;
    assert_eq!(uploaded["data"]["uploadSessionVideo"]["status"], "READY", "{uploaded}");

    // Directly: the ticket names the header, a PUT without it is refused, with it accepted.
    let direct = app.create_session(&token, world.own, "Encrypted direct").await;
    let bytes = std::fs::read(footage("carphone_pristine.mp4")).unwrap();
    let ticket = "mutation($s: ID!, $n: Int!) { createVideoUpload(sessionId: $s, filename: \"a.mp4\", contentType: \"video/mp4\", sizeBytes: $n) {
        url headers { name value } } }";
    let ticket =
        app.graphql(Some(&token), ticket, json!({ "s": global_id("Session", direct), "n": bytes.len() })).await;
    let ticket = &ticket.data()["createVideoUpload"];
    let headers: Vec<(String, String)> = ticket["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["name"].as_str().unwrap().to_lowercase(), h["value"].as_str().unwrap().to_owned()))
        .collect();
    assert!(headers.contains(&("x-amz-server-side-encryption".into(), "AES256".into())), "{headers:?}");
    let url = ticket["url"].as_str().unwrap();
    // No connection reused: the server may hang up on the refused request.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let mut without = client.put(url).body(bytes.clone());
    for (name, value) in headers.iter().filter(|(name, _)| name != "x-amz-server-side-encryption") {
        without = without.header(name, value);
    }
    // The server may refuse before it has read the body and hang up while it is still being
    // sent: the client then sees the connection close instead of the 403.
    match without.send().await {
        Ok(refused) => assert_eq!(refused.status(), 403, "the signature covers the header"),
        Err(error) => assert!(error.is_request() && error.status().is_none(), "{error}"),
    }
    let mut with = client.put(url).body(bytes);
    for (name, value) in &headers {
        with = with.header(name, value);
    }
    assert!(with.send().await.unwrap().status().is_success());
    let complete = "mutation($s: ID!) { completeVideoUpload(sessionId: $s) { status } }";
    let completed = app.graphql(Some(&token), complete, json!({ "s": global_id("Session", direct) })).await;
    assert_eq!(completed.data()["completeVideoUpload"]["status"], "READY");
}
