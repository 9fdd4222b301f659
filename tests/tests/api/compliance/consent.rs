//! Consent: nothing is recorded or analysed without it; guardians give and withdraw it for
//! their own children; withdrawing removes what it allowed.

use entity::{
    analysis_job, consent,
    enums::{ConsentKind, JobStatus},
    tracked_object,
};
use imind_tests::{
    Response, Store, TestApp,
    fixtures::{self, ADMIN_B, COUNSELLOR, GUARDIAN, OTHER_COUNSELLOR, PASSWORD, World, global_id, uuid_of},
    footage, spawn_app_with,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, sea_query::Expr};
use serde_json::json;
use uuid::Uuid;

use super::{app_on, wait_until_ended};

const GIVE: &str = "mutation($c: ID!, $k: ConsentKind!) {
    giveConsent(childId: $c, kind: $k, textVersion: \"2026-11\") { kind givenBy { email } givenByRole textVersion withdrawnAt } }";
const WITHDRAW: &str =
    "mutation($c: ID!, $k: ConsentKind!) { withdrawConsent(childId: $c, kind: $k) { kind withdrawnAt } }";
const START: &str = "mutation($s: ID!) { startAnalysis(sessionId: $s) { id status } }";

async fn decide(app: &TestApp, token: &str, mutation: &str, child: Uuid, kind: &str) -> Response {
    app.graphql(Some(token), mutation, json!({ "c": global_id("Child", child), "k": kind })).await
}

async fn objects_of(app: &TestApp, session: Uuid) -> u64 {
    tracked_object::Entity::find().filter(tracked_object::Column::SessionId.eq(session)).count(&app.db).await.unwrap()
}

/// A child of the counsellor and the guardian, with nobody's consent yet.
async fn unconsented_child(app: &TestApp, world: &World) -> Uuid {
    let child = fixtures::child_without_consent(&app.db, world.org_a, "New Child").await;
    fixtures::assign_counsellor(&app.db, child, world.counsellor).await;
    fixtures::link_guardian(&app.db, child, world.guardian).await;
    child
}

#[tokio::test]
async fn nothing_is_recorded_or_analysed_without_consent() {
    let (app, world) = app_on(Store::Local).await;
    let child = unconsented_child(&app, &world).await;
    let counsellor = app.login(COUNSELLOR, PASSWORD).await;
    let session = app.create_session(&counsellor, child, "First meeting").await;

    // Both ways of uploading are refused, and nothing is stored.
    let stored = app.stored_videos();
    let refused = app.upload_video(&counsellor, session, &footage("carphone_pristine.mp4")).await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "CONSENT_REQUIRED", "{refused}");
    let ticket = "mutation($s: ID!) { createVideoUpload(sessionId: $s, filename: \"a.mp4\", contentType: \"video/mp4\", sizeBytes: 100) { url } }";
    let direct = app.graphql(Some(&counsellor), ticket, json!({ "s": global_id("Session", session) })).await;
    assert_eq!(direct.error_code(), Some("CONSENT_REQUIRED"), "{}", direct.body);
    assert!(direct.error_message().unwrap().contains("RECORDING"), "{}", direct.body);
    assert_eq!(app.stored_videos(), stored);

    // The guardian consents to recording: uploads work, analysis still needs its own consent.
    let guardian = app.login(GUARDIAN, PASSWORD).await;
    let given = decide(&app, &guardian, GIVE, child, "RECORDING").await;
    assert_eq!(
        given.data()["giveConsent"],
        json!({ "kind": "RECORDING", "givenBy": { "email": GUARDIAN }, "givenByRole": "GUARDIAN", "textVersion": "2026-11", "withdrawnAt": null })
    );
    let uploaded = app.upload_video(&counsellor, session, &footage("carphone_pristine.mp4")).await;
    assert_eq!(uploaded["data"]["uploadSessionVideo"]["status"], "READY", "{uploaded}");
    let unconsented = app.graphql(Some(&counsellor), START, json!({ "s": global_id("Session", session) })).await;
    assert_eq!(unconsented.error_code(), Some("CONSENT_REQUIRED"), "{}", unconsented.body);

    // The counsellor records the guardian's paper form for analysis: the analysis runs.
    let paper = decide(&app, &counsellor, GIVE, child, "AUTOMATED_ANALYSIS").await;
    assert_eq!(paper.data()["giveConsent"]["givenByRole"], "COUNSELLOR");
    let started = app.graphql(Some(&counsellor), START, json!({ "s": global_id("Session", session) })).await;
    let job = uuid_of(started.data()["startAnalysis"]["id"].as_str().unwrap());
    assert_eq!(wait_until_ended(&app, job).await.status, JobStatus::Done);
    assert!(objects_of(&app, session).await > 0);

    let history = "query($c: ID!) { child(id: $c) { consents { kind givenByRole withdrawnAt } } }";
    let listed = app.graphql(Some(&guardian), history, json!({ "c": global_id("Child", child) })).await;
    assert_eq!(listed.data()["child"]["consents"].as_array().unwrap().len(), 2, "{}", listed.body);
}

#[tokio::test]
async fn only_the_childs_own_people_decide() {
    let (app, world) = app_on(Store::Local).await;
    let child = unconsented_child(&app, &world).await;
    for email in [OTHER_COUNSELLOR, ADMIN_B] {
        let token = app.login(email, PASSWORD).await;
        for mutation in [GIVE, WITHDRAW] {
            let refused = decide(&app, &token, mutation, child, "RECORDING").await;
            assert_eq!(refused.error_code(), Some("NOT_FOUND"), "{email}: {}", refused.body);
        }
    }
    // A guardian of another child neither.
    let other_guardian = fixtures::user(&app.db, world.org_a, "guardian2@a.test", entity::enums::Role::Guardian).await;
    fixtures::link_guardian(&app.db, world.sibling, other_guardian).await;
    let token = app.login("guardian2@a.test", PASSWORD).await;
    let refused = decide(&app, &token, GIVE, child, "RECORDING").await;
    assert_eq!(refused.error_code(), Some("NOT_FOUND"), "{}", refused.body);
    assert_eq!(consent::Entity::find().filter(consent::Column::ChildId.eq(child)).count(&app.db).await.unwrap(), 0);
    // Nothing to withdraw is a clear error.
    let guardian = app.login(GUARDIAN, PASSWORD).await;
    let nothing = decide(&app, &guardian, WITHDRAW, child, "RECORDING").await;
    assert_eq!(nothing.error_code(), Some("BAD_USER_INPUT"), "{}", nothing.body);
}

#[tokio::test]
async fn withdrawing_removes_what_it_allowed() {
    let (app, world) = app_on(Store::Local).await;
    let counsellor = app.login(COUNSELLOR, PASSWORD).await;
    let guardian = app.login(GUARDIAN, PASSWORD).await;
    let session = super::session_with_video(&app, &counsellor, world.own).await;
    let started = app.graphql(Some(&counsellor), START, json!({ "s": global_id("Session", session) })).await;
    let job = uuid_of(started.data()["startAnalysis"]["id"].as_str().unwrap());
    wait_until_ended(&app, job).await;
    let (analysed, fixture) = (objects_of(&app, session).await, world.own_analysed.session);
    assert!(analysed > 0 && objects_of(&app, fixture).await > 0);

    // RECORDING: the videos go (and exports holding copies), the results stay.
    let admin = app.login(fixtures::ADMIN, PASSWORD).await;
    let (with_videos, _) = super::exports::export(&app, &admin, world.own, true).await;
    let stored = app.stored_videos();
    let withdrawn = decide(&app, &guardian, WITHDRAW, world.own, "RECORDING").await;
    assert!(withdrawn.data()["withdrawConsent"]["withdrawnAt"].is_string());
    assert_eq!(app.stored_videos(), stored - 2, "the video and the export's ZIP");
    let gone = app
        .graphql(Some(&admin), "query($id: ID!) { childExport(id: $id) { status } }", json!({ "id": with_videos }))
        .await;
    assert_eq!(gone.error_code(), Some("NOT_FOUND"), "{}", gone.body);
    let report = "query($s: ID!) { session(id: $s) { status video { sizeBytes } objects { totalCount } } }";
    let after = app.graphql(Some(&counsellor), report, json!({ "s": global_id("Session", session) })).await;
    assert_eq!(
        after.data()["session"],
        json!({ "status": "DONE", "video": null, "objects": { "totalCount": analysed } })
    );
    let upload = app.upload_video(&counsellor, session, &footage("carphone_pristine.mp4")).await;
    assert_eq!(upload["errors"][0]["extensions"]["code"], "CONSENT_REQUIRED", "{upload}");

    // AUTOMATED_ANALYSIS: every result of the child goes.
    decide(&app, &guardian, WITHDRAW, world.own, "AUTOMATED_ANALYSIS").await.data();
    assert_eq!(objects_of(&app, session).await, 0);
    assert_eq!(objects_of(&app, fixture).await, 0);
    let after = app.graphql(Some(&counsellor), report, json!({ "s": global_id("Session", session) })).await;
    assert_eq!(
        after.data()["session"],
        json!({ "status": "UPLOADING", "video": null, "objects": { "totalCount": 0 } })
    );
    // The sibling's results are untouched.
    assert!(objects_of(&app, world.sibling_analysed.session).await > 0);
}

#[tokio::test]
async fn withdrawal_cancels_queued_analyses_and_a_racing_one_does_not_run() {
    // No worker in the gateway: jobs stay queued until one starts.
    let app = spawn_app_with(false, |settings| {
        settings.embedded_worker = false;
        settings.worker_poll_ms = 100;
    })
    .await;
    let world = World::build(&app.db).await;
    let counsellor = app.login(COUNSELLOR, PASSWORD).await;
    let guardian = app.login(GUARDIAN, PASSWORD).await;
    let session = super::session_with_video(&app, &counsellor, world.own).await;
    let start = |session: Uuid| {
        let app = &app;
        let counsellor = &counsellor;
        async move {
            let started = app.graphql(Some(counsellor), START, json!({ "s": global_id("Session", session) })).await;
            uuid_of(started.data()["startAnalysis"]["id"].as_str().unwrap())
        }
    };
    let queued = start(session).await;
    decide(&app, &guardian, WITHDRAW, world.own, "AUTOMATED_ANALYSIS").await.data();
    let job = analysis_job::Entity::find_by_id(queued).one(&app.db).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);

    // A job queued as consent is withdrawn (the withdrawal committed between the check and the
    // insert): the worker refuses to analyse it.
    decide(&app, &guardian, GIVE, world.own, "AUTOMATED_ANALYSIS").await.data();
    let racing = start(session).await;
    consent::Entity::update_many()
        .col_expr(consent::Column::WithdrawnAt, Expr::value(chrono::Utc::now()))
        .filter(consent::Column::ChildId.eq(world.own))
        .filter(consent::Column::Kind.eq(ConsentKind::AutomatedAnalysis))
        .exec(&app.db)
        .await
        .unwrap();
    let worker = app.peer(|settings| settings.embedded_worker = true).await;
    let ended = wait_until_ended(&app, racing).await;
    assert_eq!(ended.status, JobStatus::Failed);
    assert_eq!(ended.error.as_deref(), Some("automated analysis of this child is not consented to"));
    assert_eq!(objects_of(&app, session).await, 0);
    drop(worker);
}
