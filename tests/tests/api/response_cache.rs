//! The response cache: a repeated report is answered from memory, yet every write — through
//! the API or straight into the database, as another gateway or a worker would — shows in the
//! very next response; one caller's kept response never answers another; a served response
//! logs its reads like a computed one; what reads the audit log or jobs is never kept.

use entity::child;
use imind_tests::{
    TestApp,
    fixtures::{ADMIN, COUNSELLOR, GUARDIAN, PASSWORD, World, global_id},
    spawn_app_with,
};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Statement, sea_query::Expr};
use serde_json::{Value, json};

const REPORT: &str = "query Report { children { nodes { id name sessions { nodes { title objects { nodes { label
    emotionIntervals { nodes { emotion startMs endMs } } } } } } } } }";

async fn hits(app: &TestApp) -> u64 {
    let (_, text) = app.get("/metrics").await;
    text.lines()
        .find_map(|line| line.strip_prefix("imind_response_cache_hits_total "))
        .and_then(|value| value.trim().parse().ok())
        .expect("the hit counter is exported")
}

async fn report(app: &TestApp, token: &str) -> Value {
    app.graphql(Some(token), REPORT, json!({})).await.data().clone()
}

fn names(report: &Value) -> Vec<String> {
    let mut names: Vec<String> = report["children"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|child| child["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// The two organisations' world, with the admin's and the counsellor's tokens; no worker, whose
/// polls would write now and then.
async fn signed_in_world() -> (TestApp, World, String, String) {
    let app = spawn_app_with(false, |settings| settings.embedded_worker = false).await;
    let world = World::build(&app.db).await;
    let admin = app.login(ADMIN, PASSWORD).await;
    let counsellor = app.login(COUNSELLOR, PASSWORD).await;
    (app, world, admin, counsellor)
}

#[tokio::test]
async fn a_repeated_report_is_served_from_memory_and_every_write_shows_at_once() {
    let (app, world, admin, counsellor) = signed_in_world().await;

    let first = report(&app, &admin).await;
    let before = hits(&app).await;
    assert_eq!(report(&app, &admin).await, first);
    assert_eq!(hits(&app).await, before, "a first request is not kept: one asked again is");
    assert_eq!(report(&app, &admin).await, first, "the same answer");
    assert_eq!(hits(&app).await, before + 1, "served from the cache");
    assert_eq!(names(&first), ["Own Child", "Sibling Child"]);

    // The same document from other callers: each gets what they may see, never the admin's.
    assert_eq!(names(&report(&app, &counsellor).await), ["Own Child"]);
    let guardian = app.login(GUARDIAN, PASSWORD).await;
    assert_eq!(names(&report(&app, &guardian).await), ["Own Child"]);
    let (_, key) = app.create_api_key(&admin, "REPORTS", Some(&[world.sibling])).await;
    assert_eq!(names(&report(&app, &key).await), ["Sibling Child"]);

    // A write through the API, each caller's report kept before it.
    report(&app, &counsellor).await;
    let rename = "mutation($id: ID!, $name: String!) { updateChild(id: $id, input: { name: $name }) { name } }";
    let own = global_id("Child", world.own);
    app.graphql(Some(&admin), rename, json!({ "id": own, "name": "Renamed" })).await.data();
    assert_eq!(names(&report(&app, &admin).await), ["Renamed", "Sibling Child"]);
    assert_eq!(names(&report(&app, &counsellor).await), ["Renamed"]);

    // A write straight into the database, as another gateway would make it.
    report(&app, &admin).await;
    child::Entity::update_many()
        .col_expr(child::Column::Name, Expr::value("Written elsewhere"))
        .filter(child::Column::Id.eq(world.own))
        .exec(&app.db)
        .await
        .unwrap();
    assert_eq!(names(&report(&app, &admin).await), ["Sibling Child", "Written elsewhere"]);

    // A change of rights: the counsellor, unassigned, no longer sees the child.
    report(&app, &counsellor).await;
    let unassign = "mutation($id: ID!) { updateChild(id: $id, input: { counsellorIds: [] }) { id } }";
    app.graphql(Some(&admin), unassign, json!({ "id": own })).await.data();
    assert_eq!(names(&report(&app, &counsellor).await), Vec::<String>::new());

    // Erasure: nothing of the child is served again.
    report(&app, &admin).await;
    report(&app, &admin).await;
    let erase = "mutation($id: ID!) { deleteChild(id: $id) }";
    app.graphql(Some(&admin), erase, json!({ "id": own })).await.data();
    let after_erasure = report(&app, &admin).await;
    assert_eq!(names(&after_erasure), ["Sibling Child"]);
    assert!(!after_erasure.to_string().contains(&own), "{after_erasure}");

    // A revoked key is refused, although its response is kept.
    let (key_id, key) = app.create_api_key(&admin, "REPORTS", None).await;
    report(&app, &key).await;
    report(&app, &key).await;
    let revoke = "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }";
    app.graphql(Some(&admin), revoke, json!({ "id": key_id })).await.data();
    let refused = app.graphql(Some(&key), REPORT, json!({})).await;
    assert_eq!(refused.error_code(), Some("UNAUTHENTICATED"), "{}", refused.body);
}

#[tokio::test]
async fn a_served_response_logs_its_reads_and_audit_or_job_fields_are_never_kept() {
    let (app, world, admin, counsellor) = signed_in_world().await;
    let log = "query($c: ID!) { child(id: $c) { accessLog(first: 100) { totalCount } } }";
    let logged = || async {
        let response = app.graphql(Some(&admin), log, json!({ "c": global_id("Child", world.own) })).await;
        response.data()["child"]["accessLog"]["totalCount"].as_i64().unwrap()
    };

    let start = logged().await;
    report(&app, &counsellor).await;
    let computed = logged().await - start;
    // Asked again: computed and kept.
    report(&app, &counsellor).await;
    let kept = logged().await;
    let before = hits(&app).await;
    report(&app, &counsellor).await;
    assert_eq!(hits(&app).await, before + 1);
    let served = logged().await - kept;
    assert!(computed > 0, "the report logs its reads");
    assert_eq!(served, computed, "a served report logs what a computed one does");

    // Fields that read the audit log or jobs, or mint links, are computed every time.
    let session = global_id("Session", world.own_analysed.session);
    for query in [
        "query($s: ID!) { session(id: $s) { latestJob { status } } }",
        "query($s: ID!) { session(id: $s) { timelineUrl } }",
        "query($s: ID!) { session(id: $s) { child { accessLog { totalCount } } } }",
    ] {
        // Asked twice: a response that could be kept would be by now.
        for _ in 0..2 {
            app.graphql(Some(&admin), query, json!({ "s": session })).await.data();
        }
        let before = hits(&app).await;
        app.graphql(Some(&admin), query, json!({ "s": session })).await.data();
        assert_eq!(hits(&app).await, before, "{query}");
    }
}

/// Every table is counted by the data generation or left out on purpose, and each counted one
/// has its triggers.
#[tokio::test]
async fn every_table_moves_the_generation_or_is_left_out_on_purpose() {
    let app = spawn_app_with(false, |settings| settings.embedded_worker = false).await;
    let backend = app.db.get_database_backend();
    let (tables, triggers) = match backend {
        sea_orm::DbBackend::Postgres => (
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()",
            "SELECT event_object_table AS name FROM information_schema.triggers WHERE trigger_name LIKE '%_data_generation'",
        ),
        _ => (
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            "SELECT tbl_name AS name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%_data_generation_%'",
        ),
    };
    let db = &app.db;
    let names = |sql: &'static str| async move {
        let rows = db.query_all_raw(Statement::from_string(backend, sql)).await.unwrap();
        let mut names: Vec<String> = rows.iter().map(|row| row.try_get("", "name").unwrap()).collect();
        names.sort();
        names.dedup();
        names
    };
    for table in names(tables).await {
        assert!(
            table == "seaql_migrations"
                || migration::COUNTED_TABLES.contains(&table.as_str())
                || migration::UNCOUNTED_TABLES.contains(&table.as_str()),
            "{table}: count it in the data generation, or say why not"
        );
    }
    let mut counted = migration::COUNTED_TABLES.map(str::to_owned).to_vec();
    counted.sort();
    assert_eq!(names(triggers).await, counted);

    // A write moves it on; a statement that changes nothing counted (a read's audit entry)
    // does not.
    let generation = || async {
        let query = Statement::from_string(backend, "SELECT value FROM data_generation WHERE id = 1");
        let row = app.db.query_one_raw(query).await.unwrap().unwrap();
        row.try_get::<i64>("", "value").unwrap()
    };
    let before = generation().await;
    World::build(&app.db).await;
    assert!(generation().await > before);
    let admin = app.login(ADMIN, PASSWORD).await;
    let built = generation().await;
    report(&app, &admin).await;
    app.graphql(Some(&admin), "{ auditLog(first: 1) { totalCount } }", json!({})).await.data();
    assert_eq!(generation().await, built, "reads and their audit entries count nothing");
    // Rows changed count, not statements: a worker's poll that claims nothing moves nothing.
    let nothing = Statement::from_string(backend, "UPDATE children SET name = name WHERE 1 = 0");
    app.db.execute_raw(nothing).await.unwrap();
    assert_eq!(generation().await, built);
    // A transaction moves it once, however many rows it writes.
    let all = Statement::from_string(backend, "UPDATE children SET name = name");
    app.db.execute_raw(all).await.unwrap();
    let moved = generation().await - built;
    match backend {
        sea_orm::DbBackend::Postgres => assert_eq!(moved, 1),
        _ => assert!(moved >= 2, "one per row on SQLite: {moved}"),
    }
}
