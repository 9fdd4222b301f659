//! Coding schemes: an organisation's own codes (STATE / POINT, exclusive groups), coding with
//! them, their review, agreement and exports; markers changed and removed.

use entity::{behaviour_code, behaviour_interval, coded_interval, enums::CodeKind, session};
use imind_tests::{
    TestApp,
    fixtures::{self, ADMIN, ADMIN_B, COUNSELLOR, GUARDIAN, World, global_id},
    spawn_app,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::{Value, json};

const DEFINE: &str = "mutation($name: String!, $kind: CodeKind!, $group: String, $description: String) {
    defineBehaviourCode(name: $name, kind: $kind, group: $group, description: $description) { id name kind group description retiredAt } }";

const ADD: &str = "mutation($o: ID!, $kind: String!, $label: String!, $start: Int!, $end: Int!) {
    addInterval(objectId: $o, kind: $kind, label: $label, startMs: $start, endMs: $end) {
        id ... on CodedInterval { label kind startMs endMs source code { name group } codedBy { name } } } }";

const REVIEW: &str = "mutation($id: ID!, $action: ReviewAction!, $label: String, $start: Int, $end: Int) {
    reviewInterval(id: $id, action: $action, label: $label, startMs: $start, endMs: $end) {
        id ... on CodedInterval { label startMs endMs } } }";

async fn define(app: &TestApp, token: &str, name: &str, kind: &str, group: Option<&str>) -> Value {
    let variables =
        json!({ "name": name, "kind": kind, "group": group, "description": format!("{name}, as the manual says") });
    app.graphql(Some(token), DEFINE, variables).await.body
}

async fn add(app: &TestApp, token: &str, object: &str, kind: &str, label: &str, start: i64, end: i64) -> Value {
    let variables = json!({ "o": object, "kind": kind, "label": label, "start": start, "end": end });
    app.graphql(Some(token), ADD, variables).await.body
}

fn code_of(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// A 10 s video with one person and no behaviour intervals of the model's.
pub(crate) async fn ten_second_session(app: &TestApp, world: &World, day: u32) -> fixtures::Analysed {
    let analysed = fixtures::analysed_session(&app.db, world.own, world.counsellor, day, 1, 1).await;
    let mut row =
        session::Entity::find_by_id(analysed.session).one(&app.db).await.unwrap().unwrap().into_active_model();
    row.video_duration_ms = Set(Some(10_000));
    row.update(&app.db).await.unwrap();
    behaviour_interval::Entity::delete_many()
        .filter(behaviour_interval::Column::ObjectId.eq(analysed.object))
        .exec(&app.db)
        .await
        .unwrap();
    analysed
}

#[tokio::test]
async fn an_organisation_defines_its_codes_and_counsellors_code_with_them() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let analysed = ten_second_session(&app, &world, 25).await;
    let admin = app.login(ADMIN, fixtures::PASSWORD).await;
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let guardian = app.login(GUARDIAN, fixtures::PASSWORD).await;
    let admin_b = app.login(ADMIN_B, fixtures::PASSWORD).await;

    // The scheme: two exclusive states and an event.
    let alone = define(&app, &admin, "playing alone", "STATE", Some("play")).await;
    assert_eq!(
        (&alone["data"]["defineBehaviourCode"]["kind"], &alone["data"]["defineBehaviourCode"]["group"]),
        (&json!("STATE"), &json!("play")),
        "{alone}"
    );
    let alone_id = alone["data"]["defineBehaviourCode"]["id"].as_str().unwrap().to_owned();
    assert!(code_of(&define(&app, &admin, "playing together", "STATE", Some("play")).await).is_none());
    assert!(code_of(&define(&app, &admin, "looks at counsellor", "POINT", None).await).is_none());
    // Refused: a taken name (in any case), a built-in label, a formula, an invisible
    // character, one too long, and anyone but an admin.
    let (_, key) = app.create_api_key(&admin, "COUNSELLOR", None).await;
    let too_long = "x".repeat(61);
    for (name, token, expected) in [
        ("playing alone", &admin, "BAD_USER_INPUT"),
        ("Playing Alone", &admin, "BAD_USER_INPUT"),
        ("playing\u{202E}alone", &admin, "BAD_USER_INPUT"),
        (too_long.as_str(), &admin, "BAD_USER_INPUT"),
        ("key's code", &key, "FORBIDDEN"),
        ("happy", &admin, "BAD_USER_INPUT"),
        ("Hand_Raised", &admin, "BAD_USER_INPUT"),
        ("=HYPERLINK(\"x\")", &admin, "BAD_USER_INPUT"),
        ("counsellor's code", &counsellor, "FORBIDDEN"),
        ("guardian's code", &guardian, "FORBIDDEN"),
    ] {
        let refused = define(&app, token, name, "STATE", None).await;
        assert_eq!(code_of(&refused), Some(expected), "{name}: {refused}");
    }
    for (group, description) in [("g".repeat(61), "fine".to_owned()), ("fine".to_owned(), "d".repeat(1001))] {
        let variables = json!({ "name": "bounded", "kind": "STATE", "group": group, "description": description });
        let refused = app.graphql(Some(&admin), DEFINE, variables).await;
        assert_eq!(refused.error_code(), Some("BAD_USER_INPUT"), "{}", refused.body);
    }
    // Everyone of the organisation reads the scheme; another organisation sees none of it.
    let scheme = "{ codingScheme { expressionLabels behaviourLabels codes { name kind group } } }";
    let read = app.graphql(Some(&guardian), scheme, json!({})).await;
    let names: Vec<&str> = read.data()["codingScheme"]["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["looks at counsellor", "playing alone", "playing together"]);
    assert!(read.data()["codingScheme"]["expressionLabels"].as_array().unwrap().contains(&json!("HAPPY")));
    let foreign = app.graphql(Some(&admin_b), scheme, json!({})).await;
    assert_eq!(foreign.data()["codingScheme"]["codes"], json!([]));
    let node = "query($id: ID!) { node(id: $id) { id ... on BehaviourCode { name } } }";
    let foreign_node = app.graphql(Some(&admin_b), node, json!({ "id": alone_id })).await;
    assert_eq!(foreign_node.error_code(), Some("NOT_FOUND"), "{}", foreign_node.body);
    assert_eq!(
        app.graphql(Some(&counsellor), node, json!({ "id": alone_id })).await.data()["node"]["name"],
        "playing alone"
    );
    // Another organisation's admin cannot code with A's codes, nor retire them.
    let retire =
        "mutation($id: ID!, $retired: Boolean) { retireBehaviourCode(id: $id, retired: $retired) { name retiredAt } }";
    let foreign_retire = app.graphql(Some(&admin_b), retire, json!({ "id": alone_id })).await;
    assert_eq!(foreign_retire.error_code(), Some("NOT_FOUND"), "{}", foreign_retire.body);
    for token in [&counsellor, &key] {
        let refused = app.graphql(Some(token), retire, json!({ "id": alone_id })).await;
        assert_eq!(refused.error_code(), Some("FORBIDDEN"), "{}", refused.body);
    }
    // Another organisation's code is no code here, even for a child one may code.
    assert!(code_of(&define(&app, &admin_b, "b's own code", "STATE", None).await).is_none());

    // Coding: states, an exclusive group, events.
    let object = global_id("TrackedObject", analysed.object);
    let first = add(&app, &counsellor, &object, "CODE", "playing alone", 0, 4_000).await;
    let first_interval = &first["data"]["addInterval"];
    assert_eq!(
        (
            &first_interval["label"],
            &first_interval["kind"],
            &first_interval["source"],
            &first_interval["codedBy"]["name"]
        ),
        (&json!("playing alone"), &json!("STATE"), &json!("COUNSELLOR"), &json!(COUNSELLOR)),
        "{first}"
    );
    let first_id = first_interval["id"].as_str().unwrap().to_owned();
    let overlapping = add(&app, &counsellor, &object, "CODE", "playing together", 3_000, 6_000).await;
    assert_eq!(code_of(&overlapping), Some("BAD_USER_INPUT"), "{overlapping}");
    let message = overlapping["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("playing alone") && message.contains("0 to 4000"), "{message}");
    let together = add(&app, &counsellor, &object, "CODE", "playing together", 4_000, 6_000).await;
    assert!(code_of(&together).is_none(), "touching is not overlapping: {together}");
    let together_id = together["data"]["addInterval"]["id"].as_str().unwrap().to_owned();
    let event = add(&app, &counsellor, &object, "CODE", "looks at counsellor", 5_000, 5_000).await;
    assert!(code_of(&event).is_none(), "{event}");
    // BEHAVIOUR takes a code's name as well, in any case.
    let by_behaviour = add(&app, &counsellor, &object, "BEHAVIOUR", "Looks At Counsellor", 1_000, 1_000).await;
    assert_eq!(by_behaviour["data"]["addInterval"]["kind"], "POINT", "{by_behaviour}");
    for (kind, label, start, end, why) in [
        ("CODE", "looks at counsellor", 5_000, 5_100, "a point has no duration"),
        ("CODE", "playing alone", 6_000, 6_000, "a state has one"),
        ("CODE", "playing alone", 9_000, 11_000, "past the video"),
        ("CODE", "jumping", 0, 100, "no such code"),
        ("CODE", "b's own code", 0, 100, "another organisation's code"),
        ("GESTURE", "playing alone", 0, 100, "no such kind"),
    ] {
        let refused = add(&app, &counsellor, &object, kind, label, start, end).await;
        assert_eq!(code_of(&refused), Some("BAD_USER_INPUT"), "{why}: {refused}");
    }
    let by_guardian = add(&app, &guardian, &object, "CODE", "playing alone", 7_000, 8_000).await;
    assert_eq!(code_of(&by_guardian), Some("FORBIDDEN"), "{by_guardian}");
    let by_foreign = add(&app, &admin_b, &object, "CODE", "playing alone", 7_000, 8_000).await;
    assert_eq!(code_of(&by_foreign), Some("NOT_FOUND"), "{by_foreign}");

    // Review of a coded interval: its boundaries follow the group's rule too.
    let review = |id: &str, action: &str, extra: Value| {
        let mut variables = json!({ "id": id, "action": action });
        variables.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        variables
    };
    let into_alone =
        app.graphql(Some(&counsellor), REVIEW, review(&together_id, "CHANGE", json!({ "start": 3_500 }))).await;
    assert_eq!(into_alone.error_code(), Some("BAD_USER_INPUT"), "{}", into_alone.body);
    let longer = app.graphql(Some(&counsellor), REVIEW, review(&together_id, "CHANGE", json!({ "end": 7_000 }))).await;
    assert_eq!(
        (&longer.data()["reviewInterval"]["startMs"], &longer.data()["reviewInterval"]["endMs"]),
        (&json!(4_000), &json!(7_000)),
        "{}",
        longer.body
    );
    let confirm = app.graphql(Some(&counsellor), REVIEW, review(&first_id, "CONFIRM", json!({}))).await;
    assert_eq!(confirm.error_code(), Some("BAD_USER_INPUT"), "a counsellor's own coding is no proposal");
    let admins = add(&app, &admin, &object, "CODE", "looks at counsellor", 5_200, 5_200).await;
    let admins_id = admins["data"]["addInterval"]["id"].as_str().unwrap().to_owned();
    let not_theirs = app.graphql(Some(&counsellor), REVIEW, review(&admins_id, "REJECT", json!({}))).await;
    assert_eq!(not_theirs.error_code(), Some("FORBIDDEN"), "{}", not_theirs.body);

    // Agreement between the two coders on the event: bins of 1 s over 10 s; the counsellor
    // says yes in bins 1 and 5, the admin in bin 5: po = 0.9, pe = 0.2·0.1 + 0.8·0.9 = 0.74,
    // kappa = 0.16 / 0.26 = 8/13. Onsets 1 s, 5 s against 5.2 s: one matched of three events,
    // agreement 1 / (1 + 1) = 0.5.
    let agreement = "query($s: ID!, $coders: [ID!]) { session(id: $s) {
        agreement(binMs: 1000, toleranceMs: 2000, coders: $coders) { label kappa eventAgreement bins } } }";
    let coders = json!([global_id("User", world.counsellor), global_id("User", world.admin)]);
    let found = app
        .graphql(Some(&counsellor), agreement, json!({ "s": global_id("Session", analysed.session), "coders": coders }))
        .await;
    let labels = found.data()["session"]["agreement"].as_array().unwrap().clone();
    let event_agreement =
        labels.iter().find(|label| label["label"] == "looks at counsellor").expect("the code is scored");
    assert!((event_agreement["kappa"].as_f64().unwrap() - 8.0 / 13.0).abs() < 1e-9, "{event_agreement}");
    assert_eq!((&event_agreement["eventAgreement"], &event_agreement["bins"]), (&json!(0.5), &json!(10)));

    // Rejected: the coder takes it back; it is gone for everyone.
    let rejected = app.graphql(Some(&counsellor), REVIEW, review(&first_id, "REJECT", json!({}))).await;
    assert_eq!(rejected.data()["reviewInterval"]["id"], first_id.as_str(), "{}", rejected.body);
    let listed = "query($o: ID!) { node(id: $o) { ... on TrackedObject { codedIntervals { label startMs endMs }
        together: codedIntervals(code: \"playing together\") { startMs } } } }";
    let seen = app.graphql(Some(&guardian), listed, json!({ "o": object })).await;
    assert_eq!(
        seen.data()["node"]["codedIntervals"],
        json!([{ "label": "looks at counsellor", "startMs": 1000, "endMs": 1000 },
               { "label": "playing together", "startMs": 4000, "endMs": 7000 },
               { "label": "looks at counsellor", "startMs": 5000, "endMs": 5000 },
               { "label": "looks at counsellor", "startMs": 5200, "endMs": 5200 }]),
        "{}",
        seen.body
    );
    assert_eq!(seen.data()["node"]["together"], json!([{ "startMs": 4000 }]));
    let first_two = "query($o: ID!) { node(id: $o) { ... on TrackedObject { codedIntervals(first: 2) { startMs } } } }";
    let two = app.graphql(Some(&guardian), first_two, json!({ "o": object })).await;
    assert_eq!(two.data()["node"]["codedIntervals"], json!([{ "startMs": 1000 }, { "startMs": 4000 }]));
    let too_many = first_two.replace("first: 2", "first: 20001");
    let refused = app.graphql(Some(&guardian), &too_many, json!({ "o": object })).await;
    assert_eq!(refused.error_code(), Some("BAD_USER_INPUT"), "{}", refused.body);
    let interval_node = "query($id: ID!) { node(id: $id) { id } }";
    for token in [&guardian, &counsellor] {
        let gone = app.graphql(Some(token), interval_node, json!({ "id": first_id })).await;
        assert_eq!(gone.error_code(), Some("NOT_FOUND"), "{}", gone.body);
    }
    // With the state taken back, the group's slot is free again.
    assert!(code_of(&add(&app, &counsellor, &object, "CODE", "playing together", 0, 3_000).await).is_none());

    // Retired: kept on its intervals, refused for new ones, listed only when asked for.
    let retired = app.graphql(Some(&admin), retire, json!({ "id": alone_id })).await;
    assert!(retired.data()["retireBehaviourCode"]["retiredAt"].is_string(), "{}", retired.body);
    let after = add(&app, &counsellor, &object, "CODE", "playing alone", 8_000, 9_000).await;
    assert_eq!(code_of(&after), Some("BAD_USER_INPUT"), "{after}");
    let with_retired = "{ codingScheme(includeRetired: true) { codes { name } } }";
    assert_eq!(
        app.graphql(Some(&counsellor), with_retired, json!({})).await.data()["codingScheme"]["codes"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let current = app.graphql(Some(&counsellor), "{ codingScheme { codes { name } } }", json!({})).await;
    assert_eq!(current.data()["codingScheme"]["codes"].as_array().unwrap().len(), 2);
    let back = app.graphql(Some(&admin), retire, json!({ "id": alone_id, "retired": false })).await;
    assert!(back.data()["retireBehaviourCode"]["retiredAt"].is_null(), "{}", back.body);

    // The session's CSV has the codes as rows of kind CODE.
    let csv_path = format!("{}/sessions/{}/intervals.csv", app.address, global_id("Session", analysed.session));
    let csv = app.client.get(csv_path).bearer_auth(&counsellor).send().await.unwrap().text().await.unwrap();
    let code_rows: Vec<&str> = csv.lines().filter(|line| line.contains(",CODE,")).collect();
    assert_eq!(code_rows.len(), 5, "{csv}");
    assert!(code_rows.iter().any(|line| line.contains(",CODE,playing together,4000,7000,")), "{csv}");

    // Audited.
    let log = "query($a: String) { auditLog(action: $a) { totalCount } }";
    for (action, times) in [("code.define", 3), ("code.retire", 2), ("interval.add", 6), ("interval.review", 2)] {
        let logged = app.graphql(Some(&admin), log, json!({ "a": action })).await;
        assert_eq!(logged.data()["auditLog"]["totalCount"], times, "{action}: {}", logged.body);
    }
}

#[tokio::test]
async fn codes_export_to_elan_tiers_per_exclusive_group() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let analysed = ten_second_session(&app, &world, 26).await;
    let admin = app.login(ADMIN, fixtures::PASSWORD).await;
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    for (name, kind, group) in [
        ("playing alone", "STATE", Some("play")),
        ("playing together", "STATE", Some("play")),
        ("looks away", "POINT", None),
    ] {
        assert!(code_of(&define(&app, &admin, name, kind, group).await).is_none());
    }
    let object = global_id("TrackedObject", analysed.object);
    for (label, start, end) in
        [("playing alone", 0, 2_000), ("playing together", 2_000, 5_000), ("looks away", 3_000, 3_000)]
    {
        let added = add(&app, &counsellor, &object, "CODE", label, start, end).await;
        assert!(code_of(&added).is_none(), "{added}");
    }
    let path = format!("/sessions/{}/coding.tsv", global_id("Session", analysed.session));
    let read = super::review::read_coding(&app, &counsellor, &path).await;
    let person = app
        .graphql(
            Some(&counsellor),
            "query($o: ID!) { node(id: $o) { ... on TrackedObject { label } } }",
            json!({ "o": object }),
        )
        .await
        .data()["node"]["label"]
        .as_str()
        .unwrap()
        .to_owned();
    // The group's states share a tier (ELAN's annotations on one tier never overlap); the
    // event has a tier of its own (a point gets ELAN's one millisecond).
    assert_eq!(
        read["tiers"][format!("{person} group play")],
        json!([[0, 2000, "playing alone"], [2000, 5000, "playing together"]]),
        "{read}"
    );
    assert_eq!(read["tiers"][format!("{person} code looks away")], json!([[3000, 3001, "looks away"]]));
    let rows = read["rows"].as_array().unwrap();
    let coded: Vec<&Value> = rows.iter().filter(|row| row[1].as_str().unwrap().contains(" group ")).collect();
    assert!(coded.len() == 2 && coded.iter().all(|row| row[9] == "COUNSELLOR"), "{rows:?}");
}

#[tokio::test]
async fn markers_are_changed_and_removed_by_their_author() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let analysed = ten_second_session(&app, &world, 27).await;
    let admin = app.login(ADMIN, fixtures::PASSWORD).await;
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let guardian = app.login(GUARDIAN, fixtures::PASSWORD).await;
    let session = global_id("Session", analysed.session);
    let add = "mutation($s: ID!, $code: String!) { addSessionMarker(sessionId: $s, atMs: 1000, code: $code, note: \"first\") { id } }";
    let mine = app.graphql(Some(&counsellor), add, json!({ "s": session, "code": "break" })).await;
    let mine = mine.data()["addSessionMarker"]["id"].as_str().unwrap().to_owned();
    let theirs = app.graphql(Some(&admin), add, json!({ "s": session, "code": "topic: school" })).await;
    let theirs = theirs.data()["addSessionMarker"]["id"].as_str().unwrap().to_owned();

    let change = "mutation($id: ID!, $at: Int, $code: String, $note: String) {
        changeSessionMarker(id: $id, atMs: $at, code: $code, note: $note) { id atMs code note } }";
    let changed =
        app.graphql(Some(&counsellor), change, json!({ "id": mine, "at": 2500, "code": "snack break" })).await;
    assert_eq!(
        changed.data()["changeSessionMarker"],
        json!({ "id": mine, "atMs": 2500, "code": "snack break", "note": "first" }),
        "{}",
        changed.body
    );
    let no_note = app.graphql(Some(&counsellor), change, json!({ "id": mine, "note": "" })).await;
    assert_eq!(no_note.data()["changeSessionMarker"]["note"], Value::Null, "an empty note removes it");
    for (token, id, variables, expected) in [
        (&counsellor, &theirs, json!({ "code": "mine now" }), "FORBIDDEN"),
        (&guardian, &mine, json!({ "code": "x" }), "FORBIDDEN"),
        (&counsellor, &mine, json!({ "at": 10_001 }), "BAD_USER_INPUT"),
        (&counsellor, &mine, json!({ "code": " " }), "BAD_USER_INPUT"),
    ] {
        let mut variables = variables;
        variables["id"] = json!(id);
        let refused = app.graphql(Some(token), change, variables).await;
        assert_eq!(refused.error_code(), Some(expected), "{}", refused.body);
    }
    let (_, key) = app.create_api_key(&admin, "COUNSELLOR", None).await;
    let by_key = app.graphql(Some(&key), change, json!({ "id": mine, "code": "x" })).await;
    assert_eq!(by_key.error_code(), Some("FORBIDDEN"), "{}", by_key.body);
    let remove = "mutation($id: ID!) { removeSessionMarker(id: $id) }";
    let by_key = app.graphql(Some(&key), remove, json!({ "id": mine })).await;
    assert_eq!(by_key.error_code(), Some("FORBIDDEN"), "{}", by_key.body);
    let refused = app.graphql(Some(&counsellor), remove, json!({ "id": theirs })).await;
    assert_eq!(refused.error_code(), Some("FORBIDDEN"), "{}", refused.body);
    let refused = app.graphql(Some(&guardian), remove, json!({ "id": mine })).await;
    assert_eq!(refused.error_code(), Some("FORBIDDEN"), "{}", refused.body);
    let removed = app.graphql(Some(&counsellor), remove, json!({ "id": mine })).await;
    assert_eq!(removed.data()["removeSessionMarker"], mine.as_str(), "{}", removed.body);
    // An admin removes anyone's.
    assert!(app.graphql(Some(&admin), remove, json!({ "id": theirs })).await.error_code().is_none());
    let markers = "query($s: ID!) { session(id: $s) { markers { code } } }";
    assert_eq!(
        app.graphql(Some(&counsellor), markers, json!({ "s": session })).await.data()["session"]["markers"],
        json!([])
    );
    let again = app.graphql(Some(&counsellor), remove, json!({ "id": mine })).await;
    assert_eq!(again.error_code(), Some("NOT_FOUND"));
    let log = "query($a: String) { auditLog(action: $a) { totalCount } }";
    for (action, times) in [("marker.change", 2), ("marker.remove", 2)] {
        let logged = app.graphql(Some(&admin), log, json!({ "a": action })).await;
        assert_eq!(logged.data()["auditLog"]["totalCount"], times, "{action}");
    }
}

#[tokio::test]
async fn an_organisations_codes_and_a_sessions_codings_are_bounded() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let analysed = ten_second_session(&app, &world, 28).await;
    let admin = app.login(ADMIN, fixtures::PASSWORD).await;
    // 499 codes already; the 500th is defined, the 501st is not.
    let now = chrono::Utc::now();
    let codes: Vec<behaviour_code::ActiveModel> = (0..499)
        .map(|index| {
            let name = format!("code {index}");
            behaviour_code::Model {
                id: uuid::Uuid::now_v7(),
                organisation_id: world.org_a,
                name_key: name.clone(),
                name,
                kind: CodeKind::Point,
                exclusive_group: None,
                description: None,
                created_by: world.admin,
                created_at: now,
                retired_at: None,
            }
            .into_active_model()
        })
        .collect();
    let first_code = codes[0].id.clone().unwrap();
    behaviour_code::Entity::insert_many(codes).exec(&app.db).await.unwrap();
    assert!(code_of(&define(&app, &admin, "the 500th", "POINT", None).await).is_none());
    let refused = define(&app, &admin, "the 501st", "POINT", None).await;
    assert_eq!(code_of(&refused), Some("BAD_USER_INPUT"), "{refused}");

    // 19,999 codings already; the 20,000th is added, the next is not.
    let rows: Vec<coded_interval::ActiveModel> = (0..19_999)
        .map(|index| {
            coded_interval::Model {
                id: uuid::Uuid::now_v7(),
                object_id: analysed.object,
                code_id: first_code,
                start_ms: index % 10_000,
                end_ms: index % 10_000,
                coded_by: world.admin,
                reviewed_by: world.admin,
                reviewed_at: now,
            }
            .into_active_model()
        })
        .collect();
    for chunk in rows.chunks(2_000) {
        coded_interval::Entity::insert_many(chunk.to_vec()).exec(&app.db).await.unwrap();
    }
    let object = global_id("TrackedObject", analysed.object);
    let last = add(&app, &admin, &object, "CODE", "the 500th", 10, 10).await;
    assert!(code_of(&last).is_none(), "{last}");
    let refused = add(&app, &admin, &object, "CODE", "the 500th", 20, 20).await;
    assert_eq!(code_of(&refused), Some("BAD_USER_INPUT"), "{refused}");
}
