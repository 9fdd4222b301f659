//! Creating and changing children and sessions; erasing cascades.

use entity::{analysis_job, behaviour_interval, emotion_interval, session, tracked_object};
use imind_tests::{
    fixtures::{self, ADMIN, COUNSELLOR, World, global_id},
    spawn_app,
};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

#[tokio::test]
async fn admins_create_and_assign_children() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let admin = app.login(ADMIN, fixtures::PASSWORD).await;
    let response = app
        .graphql(
            Some(&admin),
            "mutation($c: ID!, $g: ID!) { createChild(input: { name: \" Ava Example \", birthDate: \"2018-05-01\", notes: \"shy\", counsellorIds: [$c], guardianIds: [$g] }) { id name birthDate notes } }",
            json!({ "c": global_id("User", world.counsellor), "g": global_id("User", world.guardian) }),
        )
        .await;
    let child = &response.data()["createChild"];
    assert_eq!(child["name"], "Ava Example", "names are trimmed");
    assert_eq!(child["birthDate"], "2018-05-01");
    let id = child["id"].as_str().unwrap().to_owned();

    // The assigned counsellor now sees her; the other counsellor doesn't.
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let other = app.login(fixtures::OTHER_COUNSELLOR, fixtures::PASSWORD).await;
    let read = "query($id: ID!) { child(id: $id) { name } }";
    assert!(app.graphql(Some(&counsellor), read, json!({ "id": id })).await.error_code().is_none());
    assert_eq!(app.graphql(Some(&other), read, json!({ "id": id })).await.error_code(), Some("NOT_FOUND"));

    // Reassign to the other counsellor: access moves with the assignment.
    let response = app
        .graphql(
            Some(&admin),
            "mutation($id: ID!, $c: ID!) { updateChild(id: $id, input: { counsellorIds: [$c] }) { id } }",
            json!({ "id": id, "c": global_id("User", world.other_counsellor) }),
        )
        .await;
    response.data();
    assert_eq!(app.graphql(Some(&counsellor), read, json!({ "id": id })).await.error_code(), Some("NOT_FOUND"));
    assert!(app.graphql(Some(&other), read, json!({ "id": id })).await.error_code().is_none());
}

#[tokio::test]
async fn assignments_must_name_people_of_the_right_role_in_the_organisation() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let admin = app.login(ADMIN, fixtures::PASSWORD).await;
    let create = "mutation($c: ID!) { createChild(input: { name: \"Kim\", counsellorIds: [$c] }) { id } }";
    for (case, user) in
        [("a guardian as counsellor", world.guardian), ("a user of another organisation", world.admin_b)]
    {
        let response = app.graphql(Some(&admin), create, json!({ "c": global_id("User", user) })).await;
        assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{case}");
    }
    let children = app.graphql(Some(&admin), "{ children(search: \"kim\") { totalCount } }", json!({})).await;
    assert_eq!(children.data()["children"]["totalCount"], 0, "nothing half-written remains");
}

#[tokio::test]
async fn sessions_are_created_uploading_by_their_counsellor() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let response = app
        .graphql(
            Some(&counsellor),
            "mutation($c: ID!) { createSession(input: { childId: $c, title: \"First meeting\", recordedAt: \"2026-11-20T09:30:00Z\" }) {
                title status recordedAt video { sizeBytes } latestJob { id } counsellor { email } child { name } objects { totalCount } } }",
            json!({ "c": global_id("Child", world.own) }),
        )
        .await;
    let session = &response.data()["createSession"];
    assert_eq!(session["status"], "UPLOADING");
    assert_eq!(session["counsellor"]["email"], COUNSELLOR);
    assert_eq!(session["child"]["name"], "Own Child");
    assert_eq!(session["video"], serde_json::Value::Null);
    assert_eq!(session["latestJob"], serde_json::Value::Null);
    assert_eq!(session["objects"]["totalCount"], 0);
    assert_eq!(session["recordedAt"], "2026-11-20T09:30:00+00:00");
}

#[tokio::test]
async fn labelling_a_person_as_the_child() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let label = "mutation($o: ID!, $c: ID) { labelObject(objectId: $o, role: CHILD, childId: $c) { role roleConfidence child { name } } }";
    let object = global_id("TrackedObject", world.own_analysed.object);
    let response =
        app.graphql(Some(&counsellor), label, json!({ "o": object, "c": global_id("Child", world.own) })).await;
    assert_eq!(
        response.data()["labelObject"],
        json!({ "role": "CHILD", "roleConfidence": 1.0, "child": { "name": "Own Child" } })
    );
    // Only the session's own child can be linked.
    let response =
        app.graphql(Some(&counsellor), label, json!({ "o": object, "c": global_id("Child", world.sibling) })).await;
    assert_eq!(response.error_code(), Some("BAD_USER_INPUT"));
}

#[tokio::test]
async fn deleting_a_child_erases_everything_under_it() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let admin = app.login(ADMIN, fixtures::PASSWORD).await;
    let counts = |db: sea_orm::DatabaseConnection| async move {
        (
            session::Entity::find().count(&db).await.unwrap(),
            analysis_job::Entity::find().count(&db).await.unwrap(),
            tracked_object::Entity::find().count(&db).await.unwrap(),
            emotion_interval::Entity::find().count(&db).await.unwrap(),
            behaviour_interval::Entity::find().count(&db).await.unwrap(),
        )
    };
    // Each fixture session: 1 job, 2 objects, 2 + 2 intervals per object.
    assert_eq!(counts(app.db.clone()).await, (3, 3, 6, 12, 12));
    let response = app
        .graphql(
            Some(&admin),
            "mutation($id: ID!) { deleteChild(id: $id) }",
            json!({ "id": global_id("Child", world.own) }),
        )
        .await;
    assert_eq!(response.data()["deleteChild"], true);
    assert_eq!(counts(app.db.clone()).await, (2, 2, 4, 8, 8));
}

#[tokio::test]
async fn deleting_a_session_erases_its_results_only() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let delete = "mutation($id: ID!) { deleteSession(id: $id) }";
    let response =
        app.graphql(Some(&counsellor), delete, json!({ "id": global_id("Session", world.own_analysed.session) })).await;
    assert_eq!(response.data()["deleteSession"], true);
    assert_eq!(session::Entity::find().count(&app.db).await.unwrap(), 2);
    assert_eq!(tracked_object::Entity::find().count(&app.db).await.unwrap(), 4);
    assert_eq!(emotion_interval::Entity::find().count(&app.db).await.unwrap(), 8);
    assert_eq!(analysis_job::Entity::find().count(&app.db).await.unwrap(), 2);
    let read = "query($id: ID!) { child(id: $id) { sessions { totalCount } } }";
    let child = app.graphql(Some(&counsellor), read, json!({ "id": global_id("Child", world.own) })).await;
    assert_eq!(child.data()["child"]["sessions"]["totalCount"], 0);
}
