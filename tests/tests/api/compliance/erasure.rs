//! Erasure is complete and provable: after `deleteChild`, no table and no blob holds anything
//! of the child (videos, upload tickets, exports, consents, results), and the audit log keeps
//! its ids and nothing else.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use imind_tests::{
    Store, TestApp,
    fixtures::{ADMIN, PASSWORD, global_id},
};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;
use uuid::Uuid;

use super::{app_on, session_with_video};

/// Every row of every table, as text: (table, row).
async fn every_row(app: &TestApp) -> Vec<(String, String)> {
    let backend = app.db.get_database_backend();
    let tables_query = match backend {
        DbBackend::Postgres => {
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() \
             AND table_type = 'BASE TABLE'"
        }
        _ => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    };
    let tables: Vec<String> = app
        .db
        .query_all_raw(Statement::from_string(backend, tables_query))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get("", "name").unwrap())
        .collect();
    assert!(tables.len() >= 15, "{tables:?}");
    let mut rows = Vec::new();
    for table in tables {
        let text = match backend {
            DbBackend::Postgres => format!("SELECT CAST(t AS TEXT) AS row FROM \"{table}\" t"),
            _ => {
                let columns = app
                    .db
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!("SELECT name FROM pragma_table_info('{table}')"),
                    ))
                    .await
                    .unwrap();
                let quoted: Vec<String> = columns
                    .iter()
                    .map(|row| format!("quote(\"{}\")", row.try_get::<String>("", "name").unwrap()))
                    .collect();
                format!("SELECT {} AS row FROM \"{table}\"", quoted.join(" || '|' || "))
            }
        };
        for row in app.db.query_all_raw(Statement::from_string(backend, text)).await.unwrap() {
            rows.push((table.clone(), row.try_get::<String>("", "row").unwrap()));
        }
    }
    rows
}

/// The spellings of an id a row may hold: text, or bytes as SQLite quotes them.
fn spellings(id: Uuid) -> [String; 3] {
    [id.to_string(), id.simple().to_string(), id.simple().to_string().to_uppercase()]
}

fn holds(row: &str, id: Uuid) -> bool {
    spellings(id).iter().any(|spelling| row.contains(spelling.as_str()))
}

async fn erasure_leaves_nothing(store: Store) {
    let (app, world) = app_on(store).await;
    let admin = app.login(ADMIN, PASSWORD).await;
    // Everything a child can have: a stored video, a direct upload in progress, an export,
    // consents, results, a guardian's reads in the audit log.
    let with_video = session_with_video(&app, &admin, world.own).await;
    let with_ticket = app.create_session(&admin, world.own, "Uploading").await;
    let ticket = "mutation($s: ID!) { createVideoUpload(sessionId: $s, filename: \"a.mp4\", contentType: \"video/mp4\", sizeBytes: 5) {
        url headers { name value } } }";
    let ticket = app.graphql(Some(&admin), ticket, json!({ "s": global_id("Session", with_ticket) })).await;
    let ticket = &ticket.data()["createVideoUpload"];
    let mut put = reqwest::Client::new().put(ticket["url"].as_str().unwrap()).body("12345");
    for header in ticket["headers"].as_array().unwrap() {
        put = put.header(header["name"].as_str().unwrap(), header["value"].as_str().unwrap());
    }
    assert!(put.send().await.unwrap().status().is_success());
    let export = "mutation($c: ID!) { exportChild(id: $c, includeVideos: true) { id } }";
    let export = app.graphql(Some(&admin), export, json!({ "c": global_id("Child", world.own) })).await;
    let export = export.data()["exportChild"]["id"].as_str().unwrap().to_owned();
    super::exports::wait_for_url(&app, &admin, &export).await;

    // A counsellor's coding with one of the organisation's codes.
    let code = "mutation { defineBehaviourCode(name: \"turn taking\", kind: POINT) { id } }";
    assert!(app.graphql(Some(&admin), code, json!({})).await.error_code().is_none());
    let coded = "mutation($o: ID!) { addInterval(objectId: $o, kind: \"CODE\", label: \"turn taking\", startMs: 10, endMs: 10) { id } }";
    let coded =
        app.graphql(Some(&admin), coded, json!({ "o": global_id("TrackedObject", world.own_analysed.object) })).await;
    assert!(coded.error_code().is_none(), "{}", coded.body);
    assert!(
        every_row(&app)
            .await
            .iter()
            .any(|(table, row)| table == "coded_intervals" && holds(row, world.own_analysed.object))
    );

    let ids = [world.own, world.own_analysed.session, with_video, with_ticket, world.own_analysed.object];
    let child_key = URL_SAFE_NO_PAD.encode(world.own.as_bytes());
    assert!(app.stored_keys().iter().filter(|key| key.contains(&child_key)).count() >= 3, "{:?}", app.stored_keys());
    assert!(every_row(&app).await.iter().any(|(table, row)| table == "consents" && holds(row, world.own)));

    let erase = "mutation($c: ID!) { deleteChild(id: $c) }";
    let erased = app.graphql(Some(&admin), erase, json!({ "c": global_id("Child", world.own) })).await;
    assert_eq!(erased.data()["deleteChild"], true);

    for (table, row) in every_row(&app).await {
        assert!(!row.contains("Own Child") && !row.contains("notes about Own Child"), "{table}: {row}");
        if table != "audit_log" {
            for id in ids {
                assert!(!holds(&row, id), "{table} still holds {id}: {row}");
            }
        }
    }
    let remaining = app.stored_keys();
    assert!(remaining.iter().all(|key| !key.contains(&child_key)), "{remaining:?}");
    // The log keeps ids only: the erasure itself is in it.
    let log = "query($c: ID!) { auditLog(childId: $c, action: \"child.delete\") { totalCount } }";
    let logged = app.graphql(Some(&admin), log, json!({ "c": global_id("Child", world.own) })).await;
    assert_eq!(logged.data()["auditLog"]["totalCount"], 1);
    // Other children keep theirs.
    assert!(every_row(&app).await.iter().any(|(table, row)| table == "sessions" && holds(row, world.sibling)));
}

#[tokio::test]
async fn erasure_leaves_nothing_of_the_child() {
    erasure_leaves_nothing(Store::Local).await;
}

#[tokio::test]
async fn erasure_leaves_nothing_of_the_child_on_s3() {
    erasure_leaves_nothing(Store::S3).await;
}
