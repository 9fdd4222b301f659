//! Retention: with two workers running it at the same instant, exactly the expired videos are
//! deleted, once, their results kept; children past their organisation's policy are erased.
//! The clock is the test's: the maintenance step takes the time it runs at.

use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::{child, session, tracked_object};
use imind_tests::{
    TestApp,
    fixtures::{ADMIN, COUNSELLOR, PASSWORD, World, global_id},
    spawn_app_with,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use super::session_with_video;

/// A gateway whose workers don't run retention themselves: the test does, with its clock.
async fn app() -> (TestApp, World) {
    let app = spawn_app_with(false, |settings| settings.embedded_worker = false).await;
    let world = World::build(&app.db).await;
    (app, world)
}

async fn video_of(app: &TestApp, session: Uuid) -> Option<String> {
    session::Entity::find_by_id(session).one(&app.db).await.unwrap().unwrap().video_blob_key
}

async fn analysed_at(app: &TestApp, session: Uuid, finished: DateTime<Utc>) {
    imind_api::queue::insert_done(&app.db, session, 10, finished - Duration::minutes(5), finished).await.unwrap();
}

#[tokio::test]
async fn expired_videos_are_deleted_once_by_one_of_two_workers() {
    let (app, world) = app().await;
    let counsellor = app.login(COUNSELLOR, PASSWORD).await;
    let now = Utc::now();
    // Analysed on 2026-10-01 (the fixture) and uploaded since: past the default 30 days.
    let expired = world.own_analysed.session;
    let uploaded = app.upload_video(&counsellor, expired, &imind_tests::footage("carphone_pristine.mp4")).await;
    assert_eq!(uploaded["data"]["uploadSessionVideo"]["status"], "READY", "{uploaded}");
    let recent = session_with_video(&app, &counsellor, world.own).await;
    analysed_at(&app, recent, now - Duration::days(10)).await;
    let never_analysed = session_with_video(&app, &counsellor, world.own).await;
    let being_analysed = session_with_video(&app, &counsellor, world.own).await;
    analysed_at(&app, being_analysed, now - Duration::days(40)).await;
    let start = "mutation($s: ID!) { startAnalysis(sessionId: $s) { status } }";
    let queued = app.graphql(Some(&counsellor), start, json!({ "s": global_id("Session", being_analysed) })).await;
    assert_eq!(queued.data()["startAnalysis"]["status"], "QUEUED");
    let results =
        || tracked_object::Entity::find().filter(tracked_object::Column::SessionId.eq(expired)).count(&app.db);
    let results_before = results().await.unwrap();
    let stored_before = app.stored_videos();

    let one = imind_api::connect_maintenance(app.settings.clone()).await.unwrap();
    let other = imind_api::connect_maintenance(app.settings.clone()).await.unwrap();
    let (a, b) = tokio::join!(one.run_retention("worker-a", now), other.run_retention("worker-b", now));
    let reports: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(reports, vec![imind_api::RetentionReport { videos_deleted: 1, children_erased: 0 }]);

    assert_eq!(video_of(&app, expired).await, None);
    assert_eq!(app.stored_videos(), stored_before - 1);
    assert_eq!(results().await.unwrap(), results_before, "the results stay");
    for kept in [recent, never_analysed, being_analysed] {
        assert!(video_of(&app, kept).await.is_some());
    }

    // Not due again within the hour; due later, and then it finds nothing more to delete.
    let (a, b) = tokio::join!(one.run_retention("worker-a", now), other.run_retention("worker-b", now));
    assert_eq!((a.unwrap(), b.unwrap()), (None, None));
    let later = one.run_retention("worker-a", now + Duration::hours(2)).await.unwrap();
    assert_eq!(later, Some(imind_api::RetentionReport::default()));
    assert_eq!(app.stored_videos(), stored_before - 1);

    let admin = app.login(ADMIN, PASSWORD).await;
    let log = "query { auditLog(action: \"video.retention_delete\") { nodes { actor role sessionId childId } } }";
    let logged = app.graphql(Some(&admin), log, json!({})).await;
    assert_eq!(
        logged.data()["auditLog"]["nodes"],
        json!([{ "actor": "system", "role": null, "sessionId": global_id("Session", expired), "childId": global_id("Child", world.own) }])
    );

    // The report says until when each video is kept.
    let until = "query($s: ID!) { session(id: $s) { videoRetainedUntil } }";
    let shown = app.graphql(Some(&admin), until, json!({ "s": global_id("Session", recent) })).await;
    let shown: DateTime<Utc> = shown.data()["session"]["videoRetainedUntil"].as_str().unwrap().parse().unwrap();
    assert!((shown - (now + Duration::days(20))).num_seconds().abs() <= 1, "{shown}");
    let none = app.graphql(Some(&admin), until, json!({ "s": global_id("Session", never_analysed) })).await;
    assert_eq!(none.data()["session"]["videoRetainedUntil"], json!(null));
}

#[tokio::test]
async fn children_past_their_organisations_policy_are_erased() {
    let (app, world) = app().await;
    let counsellor = app.login(COUNSELLOR, PASSWORD).await;
    let admin = app.login(ADMIN, PASSWORD).await;
    const SET: &str = "mutation($d: Int) { setRetentionPolicy(input: { childDaysAfterLastSession: $d }) {
        videoDaysAfterAnalysis childDaysAfterLastSession } }";
    let refused = app.graphql(Some(&counsellor), SET, json!({ "d": 365 })).await;
    assert_eq!(refused.error_code(), Some("FORBIDDEN"), "{}", refused.body);
    for days in [0, 10] {
        let invalid = app.graphql(Some(&admin), SET, json!({ "d": days })).await;
        assert_eq!(invalid.error_code(), Some("BAD_USER_INPUT"), "{days}: {}", invalid.body);
    }
    let set = app.graphql(Some(&admin), SET, json!({ "d": 365 })).await;
    assert_eq!(
        set.data()["setRetentionPolicy"],
        json!({ "videoDaysAfterAnalysis": 30, "childDaysAfterLastSession": 365 })
    );
    let read =
        app.graphql(Some(&counsellor), "query { retentionPolicy { childDaysAfterLastSession } }", json!({})).await;
    assert_eq!(read.data()["retentionPolicy"]["childDaysAfterLastSession"], 365);
    // The sibling's record dates from 2025 and their last session from 2026-10-02; the own
    // child's record is new. A session dated long ago by its client doesn't make a child old.
    let long_ago = Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap();
    child::Entity::update_many()
        .col_expr(child::Column::CreatedAt, sea_orm::sea_query::Expr::value(long_ago))
        .filter(child::Column::Id.eq(world.sibling))
        .exec(&app.db)
        .await
        .unwrap();
    let backdated = "mutation($c: ID!) { createSession(input: { childId: $c, title: \"Old\", recordedAt: \"2020-01-01T10:00:00Z\" }) { id } }";
    app.graphql(Some(&counsellor), backdated, json!({ "c": global_id("Child", world.own) })).await.data();

    let maintenance = imind_api::connect_maintenance(app.settings.clone()).await.unwrap();
    let now = Utc.with_ymd_and_hms(2027, 11, 1, 0, 0, 0).unwrap();
    let report = maintenance.run_retention("worker", now).await.unwrap().unwrap();
    assert_eq!(report.children_erased, 1);
    let exists = |id: Uuid| {
        let db = app.db.clone();
        async move { child::Entity::find_by_id(id).one(&db).await.unwrap().is_some() }
    };
    assert!(!exists(world.sibling).await);
    assert!(exists(world.own).await);
    assert!(exists(world.foreign).await, "organisation B keeps its children");
    let log = "query { auditLog(action: \"child.retention_erase\") { nodes { actor childId } } }";
    let logged = app.graphql(Some(&admin), log, json!({})).await;
    assert_eq!(
        logged.data()["auditLog"]["nodes"],
        json!([{ "actor": "system", "childId": global_id("Child", world.sibling) }])
    );
}
