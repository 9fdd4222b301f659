//! Exports: a worker builds one ZIP that opens, whose CSV is the GraphQL report, with the
//! timeline pictures and (asked for) the videos; guardians get neither notes nor videos; the
//! ZIP is gone a day later, and with the child.

use std::{
    collections::BTreeSet,
    io::Read,
    time::{Duration, Instant},
};

use imind_tests::{
    Store, TestApp,
    fixtures::{ADMIN, ADMIN_B, COUNSELLOR, GUARDIAN, OTHER_COUNSELLOR, PASSWORD, World, global_id, uuid_of},
    footage,
};
use serde_json::{Value, json};
use sha2::Digest;

use super::{app_on, session_with_video};

const EXPORT: &str = "mutation($c: ID!, $v: Boolean) { exportChild(id: $c, includeVideos: $v) { id status } }";

/// Polls the export until it is DONE; returns its download URL.
pub async fn wait_for_url(app: &TestApp, token: &str, export: &str) -> String {
    let query = "query($id: ID!) { childExport(id: $id) { status url error } }";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let response = app.graphql(Some(token), query, json!({ "id": export })).await;
        let export_now = &response.data()["childExport"];
        if export_now["status"] == "DONE" {
            return export_now["url"].as_str().expect("a DONE export has a URL").to_owned();
        }
        assert_ne!(export_now["status"], "FAILED", "{export_now}");
        assert!(Instant::now() < deadline, "the export never finished: {export_now}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Exports `child` as `token`'s user and downloads the ZIP.
pub async fn export(
    app: &TestApp,
    token: &str,
    child: uuid::Uuid,
    videos: bool,
) -> (String, zip::ZipArchive<std::io::Cursor<Vec<u8>>>) {
    let queued = app.graphql(Some(token), EXPORT, json!({ "c": global_id("Child", child), "v": videos })).await;
    assert_eq!(queued.data()["exportChild"]["status"], "QUEUED");
    let id = queued.data()["exportChild"]["id"].as_str().unwrap().to_owned();
    let url = wait_for_url(app, token, &id).await;
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let bytes = response.bytes().await.unwrap().to_vec();
    (id, zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("the export is a ZIP"))
}

fn read(archive: &mut zip::ZipArchive<std::io::Cursor<Vec<u8>>>, name: &str) -> Vec<u8> {
    let mut file = archive.by_name(name).unwrap_or_else(|_| panic!("{name} is in the export"));
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    bytes
}

/// (interval id, expression, start, end, mean confidence) of every expression interval of the
/// child, as the GraphQL report gives them.
async fn reported_expressions(
    app: &TestApp,
    token: &str,
    world: &World,
) -> BTreeSet<(String, String, i64, i64, String)> {
    let query = "query($c: ID!) { child(id: $c) { sessions(first: 10) { nodes { objects(first: 10) { nodes {
        emotionIntervals(first: 1000) { nodes { id emotion startMs endMs meanConfidence } } } } } } } }";
    let response = app.graphql(Some(token), query, json!({ "c": global_id("Child", world.own) })).await;
    let mut intervals = BTreeSet::new();
    for session in response.data()["child"]["sessions"]["nodes"].as_array().unwrap() {
        for object in session["objects"]["nodes"].as_array().unwrap() {
            for interval in object["emotionIntervals"]["nodes"].as_array().unwrap() {
                intervals.insert((
                    uuid_of(interval["id"].as_str().unwrap()).to_string(),
                    interval["emotion"].as_str().unwrap().to_owned(),
                    interval["startMs"].as_i64().unwrap(),
                    interval["endMs"].as_i64().unwrap(),
                    format!("{:.4}", interval["meanConfidence"].as_f64().unwrap()),
                ));
            }
        }
    }
    intervals
}

async fn export_matches_the_report(store: Store) {
    let (app, world) = app_on(store).await;
    let admin = app.login(ADMIN, PASSWORD).await;
    let session = session_with_video(&app, &admin, world.own).await;
    let (_, mut archive) = export(&app, &admin, world.own, true).await;

    let names: BTreeSet<String> = archive.file_names().map(|name| name.unwrap().into_owned()).collect();
    for name in [
        "README.txt",
        "child.json",
        "sessions.json",
        "sessions.csv",
        "people.csv",
        "expressions.csv",
        "behaviours.csv",
        "coding.tsv",
    ] {
        assert!(names.contains(name), "{name} missing from {names:?}");
    }
    // The analysed session has its picture; the video is the uploaded file, byte for byte.
    let picture = read(&mut archive, &format!("timelines/{}.png", world.own_analysed.session));
    assert_eq!(&picture[..8], b"\x89PNG\r\n\x1a\n");
    let video = read(&mut archive, &format!("videos/{session}.mp4"));
    let uploaded = std::fs::read(footage("carphone_pristine.mp4")).unwrap();
    assert_eq!(sha2::Sha256::digest(&video), sha2::Sha256::digest(&uploaded));

    let mut csv = csv::Reader::from_reader(std::io::Cursor::new(read(&mut archive, "expressions.csv")));
    let exported: BTreeSet<_> = csv
        .records()
        .map(|record| {
            let record = record.unwrap();
            let mean: f64 = record[6].parse().unwrap();
            (
                record[2].to_owned(),
                record[3].to_owned(),
                record[4].parse().unwrap(),
                record[5].parse().unwrap(),
                format!("{mean:.4}"),
            )
        })
        .collect();
    let reported = reported_expressions(&app, &admin, &world).await;
    assert!(!reported.is_empty());
    assert_eq!(exported, reported);

    let child: Value = serde_json::from_slice(&read(&mut archive, "child.json")).unwrap();
    assert_eq!(child["name"], "Own Child");
    assert_eq!(child["notes"], "notes about Own Child");
    assert_eq!(child["consents"].as_array().unwrap().len(), 2);
    let sessions: Value = serde_json::from_slice(&read(&mut archive, "sessions.json")).unwrap();
    assert_eq!(sessions.as_array().unwrap().len(), 2);
    let coding = String::from_utf8(read(&mut archive, "coding.tsv")).unwrap();
    assert!(coding.starts_with("Session\tTier\tParticipant\t"), "{coding}");
    // Every expression of the report is a row of the coding too.
    assert_eq!(coding.lines().filter(|line| line.contains(" expression\t")).count(), reported.len());
}

#[tokio::test]
async fn the_export_opens_and_its_csv_is_the_report() {
    export_matches_the_report(Store::Local).await;
}

#[tokio::test]
async fn the_export_opens_and_its_csv_is_the_report_on_s3() {
    export_matches_the_report(Store::S3).await;
}

#[tokio::test]
async fn who_may_export_what() {
    let (app, world) = app_on(Store::Local).await;
    let guardian = app.login(GUARDIAN, PASSWORD).await;
    // A guardian may export their child, without the counsellors' notes and not the videos.
    let videos = app.graphql(Some(&guardian), EXPORT, json!({ "c": global_id("Child", world.own), "v": true })).await;
    assert_eq!(videos.error_code(), Some("FORBIDDEN"), "{}", videos.body);
    let (id, mut archive) = export(&app, &guardian, world.own, false).await;
    let child: Value = serde_json::from_slice(&read(&mut archive, "child.json")).unwrap();
    assert_eq!(child["notes"], Value::Null);
    assert!(archive.file_names().all(|name| !name.unwrap().starts_with("videos/")));
    let sessions: Value = serde_json::from_slice(&read(&mut archive, "sessions.json")).unwrap();
    assert!(!sessions.as_array().unwrap().is_empty());
    // Where the organisation shows guardians reviewed sessions only, their export holds those.
    let admin = app.login(ADMIN, PASSWORD).await;
    let policy = "mutation { setReviewPolicy(guardiansSeeReviewedOnly: true) { guardiansSeeReviewedOnly } }";
    assert!(app.graphql(Some(&admin), policy, json!({})).await.error_code().is_none());
    // Their export from before holds every session: it went with the change.
    let gone =
        app.graphql(Some(&guardian), "query($id: ID!) { childExport(id: $id) { status } }", json!({ "id": id })).await;
    assert_eq!(gone.error_code(), Some("NOT_FOUND"), "{}", gone.body);
    let (id, mut reviewed_only) = export(&app, &guardian, world.own, false).await;
    let sessions: Value = serde_json::from_slice(&read(&mut reviewed_only, "sessions.json")).unwrap();
    assert_eq!(sessions, json!([]), "no session of the child is reviewed yet");
    let coding = String::from_utf8(read(&mut reviewed_only, "coding.tsv")).unwrap();
    assert_eq!(coding.lines().count(), 1, "the header only: {coding}");
    let policy = "mutation { setReviewPolicy(guardiansSeeReviewedOnly: false) { guardiansSeeReviewedOnly } }";
    assert!(app.graphql(Some(&admin), policy, json!({})).await.error_code().is_none());
    // An export is its requester's and the admins': the child's counsellor does not see the
    // guardian's, the guardian does not see the admin's (with videos and notes).
    let query = "query($id: ID!) { childExport(id: $id) { status } }";
    let counsellor = app.login(COUNSELLOR, PASSWORD).await;
    let peek = app.graphql(Some(&counsellor), query, json!({ "id": id })).await;
    assert_eq!(peek.error_code(), Some("NOT_FOUND"), "{}", peek.body);
    let admin = app.login(ADMIN, PASSWORD).await;
    let overseen = app.graphql(Some(&admin), query, json!({ "id": id })).await;
    assert_eq!(overseen.data()["childExport"]["status"], "DONE");
    let (admins, _) = export(&app, &admin, world.own, true).await;
    let peek = app.graphql(Some(&guardian), query, json!({ "id": admins })).await;
    assert_eq!(peek.error_code(), Some("NOT_FOUND"), "{}", peek.body);
    // Others can neither export the child nor see this export.
    for email in [OTHER_COUNSELLOR, ADMIN_B] {
        let token = app.login(email, PASSWORD).await;
        let refused = app.graphql(Some(&token), EXPORT, json!({ "c": global_id("Child", world.own) })).await;
        assert_eq!(refused.error_code(), Some("NOT_FOUND"), "{email}: {}", refused.body);
        let query = "query($id: ID!) { childExport(id: $id) { url } }";
        let peek = app.graphql(Some(&token), query, json!({ "id": id })).await;
        assert_eq!(peek.error_code(), Some("NOT_FOUND"), "{email}: {}", peek.body);
        let node = "query($id: ID!) { node(id: $id) { id } }";
        let peek = app.graphql(Some(&token), node, json!({ "id": id })).await;
        assert_eq!(peek.error_code(), Some("NOT_FOUND"), "{email}: {}", peek.body);
    }
}

#[tokio::test]
async fn exports_are_deleted_after_a_day() {
    let (app, world) = app_on(Store::Local).await;
    let admin = app.login(ADMIN, PASSWORD).await;
    let stored_before = app.stored_keys().len();
    let (id, _) = export(&app, &admin, world.own, false).await;
    assert_eq!(app.stored_keys().len(), stored_before + 1);

    let maintenance = imind_api::connect_maintenance(app.settings.clone()).await.unwrap();
    let in_a_day = chrono::Utc::now() + chrono::Duration::hours(25);
    // Retention may have run at the worker's start; then it is due an hour later.
    maintenance.run_retention("test-worker", in_a_day).await.unwrap().expect("retention is due a day later");
    assert_eq!(app.stored_keys().len(), stored_before, "{:?}", app.stored_keys());
    let query = "query($id: ID!) { childExport(id: $id) { url } }";
    let gone = app.graphql(Some(&admin), query, json!({ "id": id })).await;
    assert_eq!(gone.error_code(), Some("NOT_FOUND"), "{}", gone.body);
    let log = "query { auditLog(action: \"export.expire\") { nodes { actor childId } } }";
    let logged = app.graphql(Some(&admin), log, json!({})).await;
    assert_eq!(
        logged.data()["auditLog"]["nodes"],
        json!([{ "actor": "system", "childId": global_id("Child", world.own) }])
    );
}

#[tokio::test]
async fn asking_again_while_an_export_is_queued_returns_it() {
    // No worker: the export stays queued.
    let app = imind_tests::spawn_app_with(false, |settings| settings.embedded_worker = false).await;
    let world = World::build(&app.db).await;
    let admin = app.login(ADMIN, PASSWORD).await;
    let mut ids = BTreeSet::new();
    for _ in 0..5 {
        let queued = app.graphql(Some(&admin), EXPORT, json!({ "c": global_id("Child", world.own), "v": true })).await;
        ids.insert(queued.data()["exportChild"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(entity::child_export::Entity::find().count(&app.db).await.unwrap(), 1);
}
