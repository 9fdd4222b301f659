//! The access audit log: a scripted day gives exactly the expected entries; the log is
//! append-only on both backends; only admins read the whole log, guardians their child's.

use imind_tests::{
    Store,
    fixtures::{ADMIN, ADMIN_B, COUNSELLOR, GUARDIAN, OTHER_COUNSELLOR, PASSWORD, global_id, uuid_of},
};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use super::{app_on, session_with_video, wait_until_ended};

const LOG: &str = "query($child: ID, $user: ID, $action: String) {
    auditLog(first: 100, childId: $child, userId: $user, action: $action) {
      totalCount nodes { id actor role action childId sessionId operationName requestId clientAddress } } }";

/// (action, actor, session) of each entry, in order.
fn summary(log: &Value) -> Vec<(String, String, Option<String>)> {
    log["auditLog"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            (
                entry["action"].as_str().unwrap().to_owned(),
                entry["actor"].as_str().unwrap().to_owned(),
                entry["sessionId"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_scripted_day_leaves_exactly_the_expected_trail() {
    let (app, world) = app_on(Store::Local).await;
    let (counsellor, guardian, admin) =
        (global_id("User", world.counsellor), global_id("User", world.guardian), global_id("User", world.admin));

    // The counsellor records, uploads and analyses a session.
    let token = app.login(COUNSELLOR, PASSWORD).await;
    let session = session_with_video(&app, &token, world.own).await;
    let start = "mutation Start($s: ID!) { startAnalysis(sessionId: $s) { id } }";
    let started = app.graphql(Some(&token), start, json!({ "s": global_id("Session", session) })).await;
    let job = uuid_of(started.data()["startAnalysis"]["id"].as_str().unwrap());
    assert_eq!(format!("{:?}", wait_until_ended(&app, job).await.status), "Done");

    // The guardian reads the report: the child's overview, then the session (two requests).
    let guardian_token = app.login(GUARDIAN, PASSWORD).await;
    let overview = "query Overview($c: ID!) { child(id: $c) { name emotionTrend { shares { emotion fraction } }
        sessions { nodes { objects { nodes { emotionIntervals { nodes { emotion } } } } } } } }";
    let read = app.graphql(Some(&guardian_token), overview, json!({ "c": global_id("Child", world.own) })).await;
    read.data();
    let report = "query Report($s: ID!) { session(id: $s) { objects { nodes { label } } } }";
    let read_session = app.graphql(Some(&guardian_token), report, json!({ "s": global_id("Session", session) })).await;
    read_session.data();

    // The admin exports the child and takes the download link.
    let admin_token = app.login(ADMIN, PASSWORD).await;
    let export = "mutation Export($c: ID!) { exportChild(id: $c) { id } }";
    let exported = app.graphql(Some(&admin_token), export, json!({ "c": global_id("Child", world.own) })).await;
    let export_id = exported.data()["exportChild"]["id"].as_str().unwrap().to_owned();
    let url = super::exports::wait_for_url(&app, &admin_token, &export_id).await;
    assert!(url.starts_with("http"), "{url}");

    let log = app.graphql(Some(&admin_token), LOG, json!({})).await;
    let own_session = Some(global_id("Session", session));
    assert_eq!(
        summary(log.data()),
        vec![
            ("auth.sign_in".into(), counsellor.clone(), None),
            ("session.create".into(), counsellor.clone(), own_session.clone()),
            ("video.upload".into(), counsellor.clone(), own_session.clone()),
            // The upload's answer asked for `videoUrl`.
            ("video.watch".into(), counsellor.clone(), own_session.clone()),
            ("analysis.start".into(), counsellor.clone(), own_session.clone()),
            ("auth.sign_in".into(), guardian.clone(), None),
            ("child.read".into(), guardian.clone(), None),
            ("child.read".into(), guardian.clone(), own_session.clone()),
            ("auth.sign_in".into(), admin.clone(), None),
            ("child.export".into(), admin.clone(), None),
            ("export.download".into(), admin.clone(), None),
        ],
        "{}",
        log.body
    );
    let entries = log.data()["auditLog"]["nodes"].as_array().unwrap();
    let guardian_read = &entries[6];
    assert_eq!(guardian_read["role"], "GUARDIAN");
    assert_eq!(guardian_read["childId"], global_id("Child", world.own));
    assert_eq!(guardian_read["operationName"], "Overview");
    assert_eq!(guardian_read["requestId"].as_str(), read.request_id.as_deref());
    assert_eq!(guardian_read["clientAddress"], "127.0.0.1");
    assert_eq!(entries[7]["operationName"], "Report");
    assert_eq!(entries[7]["requestId"].as_str(), read_session.request_id.as_deref());

    // Filters: by child, by actor, by action.
    let by_guardian = app.graphql(Some(&admin_token), LOG, json!({ "user": guardian })).await;
    assert_eq!(by_guardian.data()["auditLog"]["totalCount"], 3);
    let reads = app.graphql(Some(&admin_token), LOG, json!({ "action": "child.read" })).await;
    assert_eq!(reads.data()["auditLog"]["totalCount"], 2);
    let sibling = app.graphql(Some(&admin_token), LOG, json!({ "child": global_id("Child", world.sibling) })).await;
    assert_eq!(sibling.data()["auditLog"]["totalCount"], 0);

    // The guardian sees who accessed their child; the counsellor may not.
    let access = "query($c: ID!) { child(id: $c) { accessLog(first: 100) { nodes { action actor } } } }";
    let seen = app.graphql(Some(&guardian_token), access, json!({ "c": global_id("Child", world.own) })).await;
    let actions: Vec<_> =
        seen.data()["child"]["accessLog"]["nodes"].as_array().unwrap().iter().map(|e| e["action"].clone()).collect();
    assert!(actions.contains(&json!("child.export")) && actions.contains(&json!("analysis.start")), "{actions:?}");
    // Where the staff were is for admins only.
    let origin = "query($c: ID!) { child(id: $c) { accessLog(first: 100) { nodes { clientAddress requestId operationName } } } }";
    let hidden = app.graphql(Some(&guardian_token), origin, json!({ "c": global_id("Child", world.own) })).await;
    for entry in hidden.data()["child"]["accessLog"]["nodes"].as_array().unwrap() {
        assert_eq!(entry, &json!({ "clientAddress": null, "requestId": null, "operationName": null }));
    }
    let refused = app.graphql(Some(&token), access, json!({ "c": global_id("Child", world.own) })).await;
    assert_eq!(refused.error_code(), Some("FORBIDDEN"), "{}", refused.body);
}

#[tokio::test]
async fn only_admins_read_the_log_and_only_their_organisations() {
    let (app, world) = app_on(Store::Local).await;
    let admin = app.login(ADMIN, PASSWORD).await;
    app.graphql(Some(&admin), "query { child(id: \"x\") { id } }", json!({})).await;
    let read = "query($c: ID!) { child(id: $c) { name } }";
    app.graphql(Some(&admin), read, json!({ "c": global_id("Child", world.own) })).await.data();

    for email in [COUNSELLOR, OTHER_COUNSELLOR, GUARDIAN] {
        let token = app.login(email, PASSWORD).await;
        // Aliases do not get around the rule.
        let aliased = "query { a: auditLog { totalCount } b: auditLog(first: 1) { totalCount } }";
        let response = app.graphql(Some(&token), aliased, json!({})).await;
        assert_eq!(response.error_code(), Some("FORBIDDEN"), "{email}: {}", response.body);
        assert!(response.body["data"].is_null(), "{email}: {}", response.body);
    }
    // Another organisation's admin sees none of A's entries, even naming A's child.
    let admin_b = app.login(ADMIN_B, PASSWORD).await;
    let foreign = app.graphql(Some(&admin_b), LOG, json!({ "child": global_id("Child", world.own) })).await;
    assert_eq!(foreign.data()["auditLog"]["totalCount"], 0);
    let all_b = app.graphql(Some(&admin_b), LOG, json!({})).await;
    let actors: Vec<_> = summary(all_b.data()).into_iter().map(|(_, actor, _)| actor).collect();
    assert_eq!(actors, vec![global_id("User", world.admin_b)], "{}", all_b.body);
    // Nor through `node`.
    let own_log = app.graphql(Some(&admin), LOG, json!({ "action": "child.read" })).await;
    let entry = own_log.data()["auditLog"]["nodes"][0]["id"].as_str().unwrap().to_owned();
    let node = "query($id: ID!) { node(id: $id) { ... on AuditEntry { action } } }";
    let mine = app.graphql(Some(&admin), node, json!({ "id": entry })).await;
    assert_eq!(mine.data()["node"]["action"], "child.read");
    let theirs = app.graphql(Some(&admin_b), node, json!({ "id": entry })).await;
    assert_eq!(theirs.error_code(), Some("NOT_FOUND"), "{}", theirs.body);
}

#[tokio::test]
async fn failed_sign_ins_are_logged_against_the_account_tried() {
    let (app, world) = app_on(Store::Local).await;
    let login = "mutation($e: String!) { login(email: $e, password: \"not the password\") { accessToken } }";
    let failed = app.graphql(None, login, json!({ "e": COUNSELLOR })).await;
    assert_eq!(failed.error_code(), Some("UNAUTHENTICATED"));
    let admin = app.login(ADMIN, PASSWORD).await;
    let log = app.graphql(Some(&admin), LOG, json!({ "action": "auth.sign_in_failed" })).await;
    assert_eq!(
        summary(log.data()),
        vec![("auth.sign_in_failed".into(), global_id("User", world.counsellor), None)],
        "{}",
        log.body
    );
}

#[tokio::test]
async fn the_log_refuses_updates_and_deletes() {
    let (app, _world) = app_on(Store::Local).await;
    app.login(ADMIN, PASSWORD).await;
    let backend = app.db.get_database_backend();
    let count = || async {
        let row = app
            .db
            .query_one_raw(Statement::from_string(backend, "SELECT COUNT(*) AS n FROM audit_log"))
            .await
            .unwrap()
            .unwrap();
        row.try_get::<i64>("", "n").unwrap()
    };
    assert_eq!(count().await, 1, "the sign-in is logged");
    for statement in ["UPDATE audit_log SET action = 'nothing'", "DELETE FROM audit_log"] {
        let refused = app.db.execute_raw(Statement::from_string(backend, statement)).await;
        let error = refused.expect_err(statement).to_string();
        assert!(error.contains("append-only"), "{statement}: {error}");
    }
    if backend == sea_orm::DbBackend::Postgres {
        let refused = app.db.execute_raw(Statement::from_string(backend, "TRUNCATE audit_log")).await;
        assert!(refused.expect_err("TRUNCATE").to_string().contains("append-only"));
    }
    assert_eq!(count().await, 1);
}

#[tokio::test]
async fn a_client_cannot_write_its_own_words_into_the_log() {
    let (app, world) = app_on(Store::Local).await;
    let admin = app.login(ADMIN, PASSWORD).await;
    // A request id of the client's choosing, and an operation name no GraphQL name can be.
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&admin)
        .header("x-request-id", "Own-Child-is-Ada")
        .json(&json!({ "query": "query Peek { child(id: \"%s\") { name } }".replace("%s", &global_id("Child", world.own)) }))
        .send()
        .await
        .unwrap();
    let answered_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_ne!(answered_id, "Own-Child-is-Ada");
    let log = app.graphql(Some(&admin), LOG, json!({ "action": "child.read" })).await;
    let entry = &log.data()["auditLog"]["nodes"][0];
    assert_eq!(entry["requestId"], answered_id);
    assert_eq!(entry["operationName"], "Peek");
}

#[tokio::test]
async fn a_subscription_is_a_read_too() {
    let (app, world) = app_on(Store::Local).await;
    let guardian = app.login(GUARDIAN, PASSWORD).await;
    let progress = "subscription Follow($id: ID!) { analysisProgress(jobId: $id) { job { status } } }";
    let messages = app
        .node_subscribe(Some(&guardian), progress, json!({ "id": global_id("AnalysisJob", world.own_analysed.job) }))
        .await;
    assert_eq!(messages.last(), Some(&json!({ "complete": true })), "{messages:?}");
    let admin = app.login(ADMIN, PASSWORD).await;
    let log = app.graphql(Some(&admin), LOG, json!({ "action": "child.read" })).await;
    assert_eq!(
        summary(log.data()),
        vec![("child.read".into(), global_id("User", world.guardian), None)],
        "{}",
        log.body
    );
    assert_eq!(log.data()["auditLog"]["nodes"][0]["childId"], global_id("Child", world.own));
}
