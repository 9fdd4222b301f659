//! Uploads shaped to slip past the streaming reader and its limits.

use imind_tests::{
    TestApp,
    fixtures::{self, COUNSELLOR, World, global_id},
    spawn_app_with,
};
use serde_json::{Value, json};

const UPLOAD: &str = "mutation ($s: ID!, $file: Upload!) { uploadSessionVideo(sessionId: $s, file: $file) { status } }";

/// A GraphQL multipart request: `map` as given, one file part of `size` bytes.
fn body(session: uuid::Uuid, map: &Value, size: usize) -> Vec<u8> {
    let operations = json!({ "query": UPLOAD, "variables": { "s": global_id("Session", session), "file": null } });
    let mut body = Vec::new();
    body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n");
    body.extend_from_slice(operations.to_string().as_bytes());
    body.extend_from_slice(b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n");
    body.extend_from_slice(map.to_string().as_bytes());
    body.extend_from_slice(
        b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"0\"; filename=\"clip.mp4\"\r\nContent-Type: video/mp4\r\n\r\n",
    );
    body.extend(std::iter::repeat_n(b'v', size));
    body.extend_from_slice(b"\r\n--XyZ--\r\n");
    body
}

async fn post(app: &TestApp, token: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn any_spelling_of_multipart_gets_the_same_limits() {
    let app = spawn_app_with(false, |settings| settings.max_upload_bytes = 1 << 20).await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let map = json!({ "0": ["variables.file"] });
    for content_type in
        ["multipart/form-data; boundary=XyZ", "Multipart/Form-Data; boundary=XyZ", "MULTIPART/FORM-DATA; boundary=XyZ"]
    {
        let (status, response) =
            post(&app, &token, content_type, body(world.own_analysed.session, &map, 2 << 20)).await;
        assert_eq!(status, 413, "{content_type}: {response}");
        assert_eq!(response["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE", "{content_type}");
    }
    assert_eq!(app.stored_videos(), 0);
}

#[tokio::test]
async fn a_file_maps_to_exactly_one_variable() {
    let app = spawn_app_with(false, |_| {}).await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let paths: Vec<String> = (0..300_000).map(|n| format!("variables.x{n}")).collect();
    let cases = [
        (json!({ "0": paths }), "too long"),
        (json!({ "0": ["variables.file", "variables.file"] }), "one variable"),
        (json!({ "0": [] }), "one variable"),
        (json!({ "0": ["variables.file"], "1": ["variables.other"] }), "one file"),
    ];
    for (map, refusal) in cases {
        let (status, response) =
            post(&app, &token, "multipart/form-data; boundary=XyZ", body(world.own_analysed.session, &map, 1000)).await;
        assert_eq!(status, 400, "{response}");
        assert_eq!(response["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
        assert!(response["errors"][0]["message"].as_str().unwrap().contains(refusal), "{refusal}: {response}");
    }
}

/// A client that sends its whole body at once (no `Expect: 100-continue`, as browsers do) still
/// reads the refusal: the server keeps reading for a moment after answering instead of
/// resetting a connection whose unread body would otherwise destroy the answer in flight.
#[tokio::test]
async fn a_refused_upload_is_answered_not_reset() {
    let app = spawn_app_with(false, |settings| settings.max_upload_bytes = 400_000).await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("large.mp4");
    std::fs::write(&file, vec![b'v'; 32 << 20]).unwrap();
    for attempt in 0..5 {
        let response = app.upload_video_at_once(&token, world.own_analysed.session, &file).await;
        assert_eq!(response["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE", "attempt {attempt}: {response}");
    }
    assert_eq!(app.stored_videos(), 0);
}
