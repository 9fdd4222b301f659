//! Counsellor review: verdicts on the model's intervals, the counsellors' own intervals and
//! markers, the two views, agreement, and what a re-analysis keeps. Rights per role are in
//! `access_matrix`; here, what each action does.

use entity::{
    emotion_interval,
    enums::{Emotion, IntervalSource},
    session,
};
use imind_api::{
    LocalBus,
    queue::{JobOptions, Queue, QueueSettings},
};
use imind_inference as engine;
use imind_tests::{
    TestApp,
    fixtures::{self, ADMIN, COUNSELLOR, GUARDIAN, World, global_id},
    spawn_app, spawn_app_with,
    ws::{Event, GraphQLSocket, Protocol},
};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::{Value, json};
use uuid::Uuid;

const VIEWS: &str = "query($s: ID!) { session(id: $s) { reviewState reviewedBy { name } objects { nodes {
    summary { faceVisibleSeconds }
    reviewed: emotionIntervals { nodes { id emotion startMs endMs source review modelEmotion modelStartMs modelEndMs
                                         reviewedBy { name } reviewedAt } }
    model: emotionIntervals(view: MODEL) { nodes { id emotion startMs endMs source review } }
    behaviours: behaviourIntervals { nodes { id behaviour startMs endMs source codedBy { name } } }
    modelBehaviours: behaviourIntervals(view: MODEL) { totalCount } } }
    markers { atMs code note author { name } } } }";

async fn views(app: &TestApp, token: &str, session: Uuid) -> Value {
    let response = app.graphql(Some(token), VIEWS, json!({ "s": global_id("Session", session) })).await;
    assert!(response.error_code().is_none(), "{}", response.body);
    response.data()["session"].clone()
}

fn ids(list: &Value) -> Vec<String> {
    list["nodes"].as_array().unwrap().iter().map(|node| node["id"].as_str().unwrap().to_owned()).collect()
}

const REVIEW: &str = "mutation($id: ID!, $action: ReviewAction!, $label: String, $start: Int, $end: Int) {
    reviewInterval(id: $id, action: $action, label: $label, startMs: $start, endMs: $end) {
        id ... on EmotionInterval { emotion startMs endMs review } } }";

#[tokio::test]
async fn a_review_confirms_rejects_changes_and_codes_keeping_the_models_original() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    // One person, expressions HAPPY 0–1 s, SAD 2–3 s, NEUTRAL 4–5 s; behaviours alike.
    let analysed = fixtures::analysed_session(&app.db, world.own, world.counsellor, 20, 1, 3).await;
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let before = views(&app, &counsellor, analysed.session).await;
    assert_eq!(before["reviewState"], "NOT_REVIEWED");
    let person = &before["objects"]["nodes"][0];
    let [happy, sad, neutral] = <[String; 3]>::try_from(ids(&person["reviewed"])).unwrap();

    let review = |id: &str, action: &str, extra: Value| {
        let mut variables = json!({ "id": id, "action": action });
        variables.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        variables
    };
    let confirmed = app.graphql(Some(&counsellor), REVIEW, review(&happy, "CONFIRM", json!({}))).await;
    assert_eq!(confirmed.data()["reviewInterval"]["review"], "CONFIRMED", "{}", confirmed.body);
    let rejected = app.graphql(Some(&counsellor), REVIEW, review(&sad, "REJECT", json!({}))).await;
    assert_eq!(rejected.data()["reviewInterval"]["review"], "REJECTED", "{}", rejected.body);
    let changed = app
        .graphql(Some(&counsellor), REVIEW, review(&neutral, "CHANGE", json!({ "label": "HAPPY", "end": 4500 })))
        .await;
    assert_eq!(
        changed.data()["reviewInterval"],
        json!({ "id": neutral, "emotion": "HAPPY", "startMs": 4000, "endMs": 4500, "review": "CHANGED" }),
        "{}",
        changed.body
    );
    let object = person_id(&app, &counsellor, analysed.session).await;
    let add = "mutation($o: ID!) { addInterval(objectId: $o, kind: \"BEHAVIOUR\", label: \"STILL\", startMs: 0, endMs: 6000) {
        ... on BehaviourInterval { id source behaviour } } }";
    let added = app.graphql(Some(&counsellor), add, json!({ "o": object })).await;
    assert_eq!(added.data()["addInterval"]["source"], "COUNSELLOR", "{}", added.body);
    let marker = "mutation($s: ID!) { addSessionMarker(sessionId: $s, atMs: 1500, code: \"topic: school\", note: \"asked about friends\") { id code } }";
    let marked = app.graphql(Some(&counsellor), marker, json!({ "s": global_id("Session", analysed.session) })).await;
    assert_eq!(marked.data()["addSessionMarker"]["code"], "topic: school", "{}", marked.body);

    let after = views(&app, &counsellor, analysed.session).await;
    assert_eq!(after["reviewState"], "IN_REVIEW", "the first change starts the review");
    let person = &after["objects"]["nodes"][0];
    // The reviewed view: the confirmed and the changed interval, with the model's original.
    let reviewed = person["reviewed"]["nodes"].as_array().unwrap();
    assert_eq!(reviewed.len(), 2, "{person}");
    assert_eq!((reviewed[0]["id"].as_str(), reviewed[0]["review"].as_str()), (Some(happy.as_str()), Some("CONFIRMED")));
    assert_eq!(reviewed[0]["reviewedBy"]["name"], "counsellor@a.test");
    assert!(reviewed[0]["reviewedAt"].is_string());
    assert_eq!(
        (&reviewed[1]["emotion"], &reviewed[1]["endMs"], &reviewed[1]["modelEmotion"], &reviewed[1]["modelEndMs"]),
        (&json!("HAPPY"), &json!(4500), &json!("NEUTRAL"), &json!(5000))
    );
    assert_eq!(reviewed[1]["source"], "MODEL");
    // The model view: all three as proposed, the rejected one included; no counsellor's own.
    let model: Vec<(&str, i64, i64)> = person["model"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            (node["emotion"].as_str().unwrap(), node["startMs"].as_i64().unwrap(), node["endMs"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(model, [("HAPPY", 0, 1000), ("SAD", 2000, 3000), ("NEUTRAL", 4000, 5000)]);
    assert_eq!(person["model"]["nodes"][1]["review"], "REJECTED");
    // Figures follow the reviewed view: 1 s + 0.5 s of face.
    assert_eq!(person["summary"]["faceVisibleSeconds"], 1.5);
    let behaviours = person["behaviours"]["nodes"].as_array().unwrap();
    let own: Vec<&Value> = behaviours.iter().filter(|node| node["source"] == "COUNSELLOR").collect();
    assert_eq!(own.len(), 1);
    assert_eq!((&own[0]["behaviour"], &own[0]["codedBy"]["name"]), (&json!("STILL"), &json!("counsellor@a.test")));
    assert_eq!(person["modelBehaviours"]["totalCount"], 3, "the counsellor's own is not the model's");
    assert_eq!(
        after["markers"],
        json!([{ "atMs": 1500, "code": "topic: school", "note": "asked about friends",
        "author": { "name": "counsellor@a.test" } }])
    );

    let signed_off = "mutation($s: ID!) { setReviewState(sessionId: $s, state: REVIEWED) { reviewState reviewedBy { name } reviewedAt } }";
    let done = app.graphql(Some(&counsellor), signed_off, json!({ "s": global_id("Session", analysed.session) })).await;
    assert_eq!(done.data()["setReviewState"]["reviewState"], "REVIEWED", "{}", done.body);
    assert_eq!(done.data()["setReviewState"]["reviewedBy"]["name"], "counsellor@a.test");

    // A guardian reads the reviewed report and the markers' codes, not the counsellor's note.
    // What was rejected (the model view) is the counsellors' to see.
    let guardian = app.login(GUARDIAN, fixtures::PASSWORD).await;
    let report = "query($s: ID!) { session(id: $s) { markers { code note }
        objects { nodes { emotionIntervals { nodes { emotion modelEmotion modelStartMs modelEndMs } } } } } }";
    let seen = app.graphql(Some(&guardian), report, json!({ "s": global_id("Session", analysed.session) })).await;
    let seen = &seen.data()["session"];
    assert_eq!(seen["markers"][0]["code"], "topic: school");
    assert!(seen["markers"][0]["note"].is_null());
    // The changed interval shows as changed, without what the model had said.
    assert_eq!(
        seen["objects"]["nodes"][0]["emotionIntervals"]["nodes"],
        json!([{ "emotion": "HAPPY", "modelEmotion": null, "modelStartMs": null, "modelEndMs": null },
               { "emotion": "HAPPY", "modelEmotion": null, "modelStartMs": null, "modelEndMs": null }])
    );
    let model =
        "query($s: ID!) { session(id: $s) { objects { nodes { emotionIntervals(view: MODEL) { totalCount } } } } }";
    let refused = app.graphql(Some(&guardian), model, json!({ "s": global_id("Session", analysed.session) })).await;
    assert_eq!(refused.error_code(), Some("FORBIDDEN"), "{}", refused.body);
    // Nor by its id: a rejected interval is not found for them, while the counsellor finds it.
    let node = "query($id: ID!) { node(id: $id) { id } }";
    let hidden = app.graphql(Some(&guardian), node, json!({ "id": sad })).await;
    assert_eq!(hidden.error_code(), Some("NOT_FOUND"), "{}", hidden.body);
    assert!(app.graphql(Some(&guardian), node, json!({ "id": happy })).await.error_code().is_none());
    assert!(app.graphql(Some(&counsellor), node, json!({ "id": sad })).await.error_code().is_none());

    // Every change is in the audit log, with the child and the session.
    let admin = app.login(ADMIN, fixtures::PASSWORD).await;
    let log = "query($c: ID!) { auditLog(first: 100, childId: $c) { nodes { action sessionId } } }";
    let entries = app.graphql(Some(&admin), log, json!({ "c": global_id("Child", world.own) })).await;
    let actions: Vec<&str> = entries.data()["auditLog"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| entry["sessionId"] == global_id("Session", analysed.session))
        .map(|entry| entry["action"].as_str().unwrap())
        .collect();
    for (action, times) in [("interval.review", 3), ("interval.add", 1), ("marker.add", 1), ("session.review_state", 1)]
    {
        assert_eq!(actions.iter().filter(|a| **a == action).count(), times, "{action} in {actions:?}");
    }
}

/// The first person's global id.
async fn person_id(app: &TestApp, token: &str, session: Uuid) -> String {
    let query = "query($s: ID!) { session(id: $s) { objects { nodes { id } } } }";
    let response = app.graphql(Some(token), query, json!({ "s": global_id("Session", session) })).await;
    response.data()["session"]["objects"]["nodes"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn bad_review_input_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let analysed = fixtures::analysed_session(&app.db, world.own, world.counsellor, 21, 1, 1).await;
    // A 10 s video bounds the boundaries.
    let mut row =
        session::Entity::find_by_id(analysed.session).one(&app.db).await.unwrap().unwrap().into_active_model();
    row.video_duration_ms = Set(Some(10_000));
    row.update(&app.db).await.unwrap();
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let interval = global_id("EmotionInterval", analysed.emotion_interval);
    let object = global_id("TrackedObject", analysed.object);
    let session = global_id("Session", analysed.session);
    let own = "mutation($o: ID!) { addInterval(objectId: $o, kind: \"EXPRESSION\", label: \"SAD\", startMs: 0, endMs: 10) { id } }";
    let own = app.graphql(Some(&counsellor), own, json!({ "o": object })).await.data()["addInterval"]["id"].clone();
    let before = views(&app, &counsellor, analysed.session).await;
    let cases = [
        (REVIEW, json!({ "id": interval, "action": "CHANGE" }), "nothing to change"),
        (REVIEW, json!({ "id": interval, "action": "CHANGE", "label": "JOY" }), "no such label"),
        (REVIEW, json!({ "id": interval, "action": "CHANGE", "label": "SITTING" }), "a behaviour label"),
        (REVIEW, json!({ "id": interval, "action": "CHANGE", "start": 900, "end": 900 }), "empty"),
        (REVIEW, json!({ "id": interval, "action": "CHANGE", "end": 10_001 }), "past the video"),
        (REVIEW, json!({ "id": own, "action": "CONFIRM" }), "confirming one's own"),
        (REVIEW, json!({ "id": session, "action": "REJECT" }), "not an interval"),
        (
            "mutation($o: ID!) { addInterval(objectId: $o, kind: \"FEELING\", label: \"HAPPY\", startMs: 0, endMs: 10) { id } }",
            json!({ "o": object }),
            "no such kind",
        ),
        (
            "mutation($o: ID!) { addInterval(objectId: $o, kind: \"BEHAVIOUR\", label: \"HAPPY\", startMs: 0, endMs: 10) { id } }",
            json!({ "o": object }),
            "an expression as a behaviour",
        ),
        (
            "mutation($o: ID!) { addInterval(objectId: $o, kind: \"EXPRESSION\", label: \"HAPPY\", startMs: -5, endMs: 10) { id } }",
            json!({ "o": object }),
            "before the start",
        ),
        (
            "mutation($s: ID!) { addSessionMarker(sessionId: $s, atMs: 0, code: \"  \") { id } }",
            json!({ "s": session }),
            "empty code",
        ),
        (
            "mutation($s: ID!) { addSessionMarker(sessionId: $s, atMs: 20000, code: \"x\") { id } }",
            json!({ "s": session }),
            "past the video",
        ),
    ];
    for (query, variables, why) in cases {
        let response = app.graphql(Some(&counsellor), query, variables).await;
        assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{why}: {}", response.body);
    }
    let long = "x".repeat(101);
    let response = app
        .graphql(
            Some(&counsellor),
            "mutation($s: ID!, $c: String!) { addSessionMarker(sessionId: $s, atMs: 0, code: $c) { id } }",
            json!({ "s": session, "c": long }),
        )
        .await;
    assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{}", response.body);
    assert_eq!(views(&app, &counsellor, analysed.session).await, before, "refusals change nothing");
    // While an analysis runs (it replaces the intervals), reviews wait.
    let mut row =
        session::Entity::find_by_id(analysed.session).one(&app.db).await.unwrap().unwrap().into_active_model();
    row.status = Set(entity::enums::SessionStatus::Processing);
    row.update(&app.db).await.unwrap();
    let response = app.graphql(Some(&counsellor), REVIEW, json!({ "id": interval, "action": "REJECT" })).await;
    assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{}", response.body);
}

#[tokio::test]
async fn agreement_equals_hand_computed_kappas() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    // A 10 s video, one person, one model interval: HAPPY 0–4 s.
    let analysed = super::coding_schemes::ten_second_session(&app, &world, 22).await;
    let mut happy = emotion_interval::Entity::find_by_id(analysed.emotion_interval)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .into_active_model();
    happy.emotion = Set(Emotion::Happy);
    happy.start_ms = Set(0);
    happy.end_ms = Set(4_000);
    happy.update(&app.db).await.unwrap();
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let admin = app.login(ADMIN, fixtures::PASSWORD).await;
    let session = global_id("Session", analysed.session);
    let query = "query($s: ID!, $bin: Int, $tolerance: Int, $coders: [ID!]) { session(id: $s) {
        agreement(binMs: $bin, toleranceMs: $tolerance, coders: $coders) { label kappa eventAgreement bins } } }";
    let agreement = |variables: Value| {
        let app = &app;
        let counsellor = counsellor.clone();
        async move {
            let response = app.graphql(Some(&counsellor), query, variables).await;
            assert!(response.error_code().is_none(), "{}", response.body);
            response.data()["session"]["agreement"].clone()
        }
    };
    // Unreviewed, the two views are the same coding.
    let same = agreement(json!({ "s": session })).await;
    assert_eq!(same, json!([{ "label": "HAPPY", "kappa": 1.0, "eventAgreement": 1.0, "bins": 100 }]));
    // The counsellor moves it to 2–6 s. In ten 1 s bins: both 2, model only 2, counsellor only
    // 2, neither 4: po = 0.6, pe = 0.52, kappa = 0.08 / 0.48 = 1/6.
    let change = json!({ "id": global_id("EmotionInterval", analysed.emotion_interval), "action": "CHANGE", "start": 2000, "end": 6000 });
    assert!(app.graphql(Some(&counsellor), REVIEW, change).await.error_code().is_none());
    let moved = agreement(json!({ "s": session, "bin": 1000, "tolerance": 2000 })).await;
    assert!((moved[0]["kappa"].as_f64().unwrap() - 1.0 / 6.0).abs() < 1e-9, "{moved}");
    assert_eq!((&moved[0]["eventAgreement"], &moved[0]["bins"]), (&json!(1.0), &json!(10)), "onsets 2 s apart");
    let strict = agreement(json!({ "s": session, "bin": 1000, "tolerance": 1000 })).await;
    assert_eq!(strict[0]["eventAgreement"], 0.0, "onsets more than 1 s apart");

    // Two coders: the counsellor codes SAD 0–2 s, the admin SAD 1–3 s. Bins: both 1, one
    // each only 1, neither 7: po = 0.8, pe = 0.2·0.2 + 0.8·0.8 = 0.68, kappa = 0.12/0.32 = 0.375.
    let object = global_id("TrackedObject", analysed.object);
    let add = "mutation($o: ID!, $start: Int!, $end: Int!) { addInterval(objectId: $o, kind: \"EXPRESSION\", label: \"SAD\", startMs: $start, endMs: $end) { id } }";
    let mut own = Vec::new();
    for (token, start, end) in [(&counsellor, 0, 2000), (&admin, 1000, 3000)] {
        let added = app.graphql(Some(token), add, json!({ "o": object, "start": start, "end": end })).await;
        assert!(added.error_code().is_none(), "{}", added.body);
        own.push(added.data()["addInterval"]["id"].clone());
    }
    // One coder cannot change another's coding (an admin could).
    let other = app.graphql(Some(&counsellor), REVIEW, json!({ "id": own[1], "action": "REJECT" })).await;
    assert_eq!(other.error_code(), Some("FORBIDDEN"), "{}", other.body);
    let coders = json!([global_id("User", world.counsellor), global_id("User", world.admin)]);
    let two = agreement(json!({ "s": session, "bin": 1000, "coders": coders })).await;
    assert_eq!(two.as_array().unwrap().len(), 1, "{two}");
    assert_eq!(
        (&two[0]["label"], &two[0]["eventAgreement"], &two[0]["bins"]),
        (&json!("SAD"), &json!(1.0), &json!(10))
    );
    assert!((two[0]["kappa"].as_f64().unwrap() - 0.375).abs() < 1e-9, "{two}");
    let one_coder = json!({ "s": session, "coders": [global_id("User", world.admin)] });
    let response = app.graphql(Some(&counsellor), query, one_coder).await;
    assert_eq!(response.error_code(), Some("BAD_USER_INPUT"), "{}", response.body);
}

fn interval<L>(label: L, start_ms: i64, end_ms: i64) -> engine::Interval<L> {
    engine::Interval { label, start_ms, end_ms, mean_confidence: 0.7, peak_confidence: 0.9, samples: 4 }
}

fn person(
    label: &str,
    first_seen_ms: i64,
    last_seen_ms: i64,
    emotions: Vec<engine::Interval<engine::Emotion>>,
) -> engine::TrackedObject {
    engine::TrackedObject {
        track_id: 1,
        label: label.to_owned(),
        role: engine::Role::Adult,
        role_confidence: 0.6,
        first_seen_ms,
        last_seen_ms,
        emotion_intervals: emotions,
        behaviour_intervals: Vec::new(),
        emotion_share: Vec::new(),
        faces: engine::FaceCounts::default(),
        sightings: Vec::new(),
    }
}

fn result(objects: Vec<engine::TrackedObject>) -> engine::AnalysisResult {
    engine::AnalysisResult {
        video: engine::VideoInfo {
            duration_ms: 20_000,
            fps: 25.0,
            frame_count: 500,
            width: 64,
            height: 64,
            codec: "avc1".into(),
        },
        analysed_frames: 40,
        objects,
        cuts_ms: Vec::new(),
        timings: engine::Timings::default(),
    }
}

/// Runs one analysis of `session` to DONE with `analysis` as its result.
async fn analyse(app: &TestApp, session: Uuid, analysis: engine::AnalysisResult) {
    let settings = QueueSettings {
        lease: std::time::Duration::from_secs(30),
        max_attempts: 3,
        retry_base: std::time::Duration::from_secs(60),
    };
    let queue = Queue::new(app.db.clone(), std::sync::Arc::new(LocalBus::new()), settings);
    queue.enqueue(session, &JobOptions::default(), None, None).await.unwrap();
    let job = queue.claim("worker").await.unwrap().expect("the job is claimable");
    queue.complete(&job, "worker", &analysis, Default::default()).await.unwrap().expect("still held");
}

/// A gateway without a worker (tests complete jobs by hand), and an analysed session of the
/// counsellor's own child, recorded on `day`, with video "a".
async fn app_for_reanalysis(day: u32) -> (TestApp, World, Uuid) {
    let app = spawn_app_with(false, |settings| settings.embedded_worker = false).await;
    let world = World::build(&app.db).await;
    let session = fixtures::analysed_session(&app.db, world.own, world.counsellor, day, 1, 1).await.session;
    set_video(&app, session, "a").await;
    (app, world, session)
}

#[tokio::test]
async fn a_reanalysis_keeps_the_counsellors_work_that_still_applies() {
    let (app, world, session) = app_for_reanalysis(23).await;
    use engine::Emotion::{Happy, Neutral, Sad};
    let first = result(vec![
        person(
            "Person 1",
            0,
            10_000,
            vec![interval(Happy, 0, 1000), interval(Sad, 2000, 3000), interval(Neutral, 4000, 5000)],
        ),
        person("Person 2", 12_000, 20_000, vec![interval(Happy, 12_000, 13_000)]),
    ]);
    analyse(&app, session, first).await;
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let query = "query($s: ID!) { session(id: $s) { reviewState latestJob { reviewCarryOver { peopleKept
            modelIntervalsUnchanged modelIntervalsChanged modelIntervalsGone reviewsKept reviewsDropped
            counsellorIntervalsKept labelsDropped dropped { kind person label startMs endMs review } } }
        objects { nodes { id label role roleConfidence
            model: emotionIntervals(view: MODEL) { nodes { id emotion startMs endMs review } }
            reviewed: emotionIntervals { nodes { id emotion startMs endMs source review } }
            codedIntervals { id label } } } } }";
    let read = || async {
        let response = app.graphql(Some(&counsellor), query, json!({ "s": global_id("Session", session) })).await;
        assert!(response.error_code().is_none(), "{}", response.body);
        response.data()["session"].clone()
    };
    let before = read().await;
    let people = before["objects"]["nodes"].as_array().unwrap();
    assert_eq!(people.len(), 2, "the fixture's person made way for the analysis's: {before}");
    let first_person = people[0]["id"].as_str().unwrap().to_owned();
    let [happy, sad, neutral] = <[String; 3]>::try_from(ids(&people[0]["model"])).unwrap();
    // Confirm HAPPY, reject SAD, change NEUTRAL's label; code an interval; label the person.
    for (id, action, label) in
        [(&happy, "CONFIRM", None), (&sad, "REJECT", None), (&neutral, "CHANGE", Some("SURPRISE"))]
    {
        let response =
            app.graphql(Some(&counsellor), REVIEW, json!({ "id": id, "action": action, "label": label })).await;
        assert!(response.error_code().is_none(), "{}", response.body);
    }
    let add = "mutation($o: ID!) { addInterval(objectId: $o, kind: \"EXPRESSION\", label: \"FEAR\", startMs: 6000, endMs: 7000) { id } }";
    let own = app.graphql(Some(&counsellor), add, json!({ "o": first_person })).await;
    let own = own.data()["addInterval"]["id"].as_str().unwrap().to_owned();
    // And one with the organisation's own code.
    let admin = app.login(ADMIN, fixtures::PASSWORD).await;
    let code = "mutation { defineBehaviourCode(name: \"eye contact\", kind: STATE) { id } }";
    assert!(app.graphql(Some(&admin), code, json!({})).await.error_code().is_none());
    let coded = "mutation($o: ID!) { addInterval(objectId: $o, kind: \"CODE\", label: \"eye contact\", startMs: 500, endMs: 1500) { id } }";
    let coded = app.graphql(Some(&counsellor), coded, json!({ "o": first_person })).await;
    let coded = coded.data()["addInterval"]["id"].clone();
    let label = "mutation($o: ID!, $c: ID) { labelObject(objectId: $o, role: CHILD, childId: $c) { id } }";
    let labelled =
        app.graphql(Some(&counsellor), label, json!({ "o": first_person, "c": global_id("Child", world.own) })).await;
    assert!(labelled.error_code().is_none(), "{}", labelled.body);
    // The second person labelled too: the next analysis does not find them again.
    let adult = "mutation($o: ID!) { labelObject(objectId: $o, role: ADULT) { id } }";
    let second_person = people[1]["id"].as_str().unwrap().to_owned();
    let labelled = app.graphql(Some(&counsellor), adult, json!({ "o": second_person })).await;
    assert!(labelled.error_code().is_none(), "{}", labelled.body);
    let signed_off = "mutation($s: ID!) { setReviewState(sessionId: $s, state: REVIEWED) { reviewState } }";
    let signed_off = app.graphql(Some(&counsellor), signed_off, json!({ "s": global_id("Session", session) })).await;
    assert!(signed_off.error_code().is_none(), "{}", signed_off.body);

    // The new analysis: the same first person (a little longer), HAPPY and SAD proposed again
    // exactly, NEUTRAL moved; the second person gone; a new one.
    let second = result(vec![
        person(
            "Person 1",
            0,
            10_500,
            vec![interval(Happy, 0, 1000), interval(Sad, 2000, 3000), interval(Neutral, 4000, 5500)],
        ),
        person("Person 2", 15_000, 16_000, vec![interval(Sad, 15_000, 16_000)]),
    ]);
    analyse(&app, session, second).await;
    let after = read().await;
    assert_eq!(
        after["latestJob"]["reviewCarryOver"],
        json!({ "peopleKept": 1, "modelIntervalsUnchanged": 2, "modelIntervalsChanged": 2, "modelIntervalsGone": 2,
                "reviewsKept": 2, "reviewsDropped": 1, "counsellorIntervalsKept": 2, "labelsDropped": ["Person 2"],
                "dropped": [{ "kind": "EMOTION", "person": "Person 1", "label": "NEUTRAL", "startMs": 4000, "endMs": 5000,
                              "review": "CHANGED" }] })
    );
    assert_eq!(after["reviewState"], "IN_REVIEW", "changed proposals need reviewing again");
    // What the model had proposed of the dropped reviews is the counsellors' to see.
    let guardian = app.login(GUARDIAN, fixtures::PASSWORD).await;
    let carried = "query($s: ID!) { session(id: $s) { latestJob { reviewCarryOver { reviewsDropped labelsDropped dropped { label } } } } }";
    let seen = app.graphql(Some(&guardian), carried, json!({ "s": global_id("Session", session) })).await;
    assert_eq!(
        seen.data()["session"]["latestJob"]["reviewCarryOver"],
        json!({ "reviewsDropped": 1, "labelsDropped": ["Person 2"], "dropped": [] }),
        "{}",
        seen.body
    );
    let people = after["objects"]["nodes"].as_array().unwrap();
    assert_eq!(people.len(), 2);
    assert_eq!(people[0]["id"], first_person.as_str(), "the person continues under the same id");
    assert_eq!((&people[0]["role"], &people[0]["roleConfidence"]), (&json!("CHILD"), &json!(1.0)), "the label stays");
    let model = people[0]["model"]["nodes"].as_array().unwrap();
    assert_eq!((model[0]["id"].as_str(), &model[0]["review"]), (Some(happy.as_str()), &json!("CONFIRMED")));
    assert_eq!((model[1]["id"].as_str(), &model[1]["review"]), (Some(sad.as_str()), &json!("REJECTED")));
    assert_eq!(
        (&model[2]["emotion"], &model[2]["endMs"], &model[2]["review"]),
        (&json!("NEUTRAL"), &json!(5500), &Value::Null)
    );
    let reviewed = people[0]["reviewed"]["nodes"].as_array().unwrap();
    let shown: Vec<(&str, &str)> =
        reviewed.iter().map(|node| (node["emotion"].as_str().unwrap(), node["source"].as_str().unwrap())).collect();
    assert_eq!(shown, [("HAPPY", "MODEL"), ("NEUTRAL", "MODEL"), ("FEAR", "COUNSELLOR")]);
    assert_eq!(reviewed[2]["id"], own.as_str(), "the counsellor's own interval stays");
    assert_eq!(people[0]["codedIntervals"], json!([{ "id": coded, "label": "eye contact" }]), "so does their coding");
    assert_ne!(people[1]["id"], before["objects"]["nodes"][1]["id"], "a different second person");
    let own_rows = emotion_interval::Entity::find()
        .filter(emotion_interval::Column::Source.eq(IntervalSource::Counsellor))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(own_rows.len(), 1);

    // A replaced video's analysis keeps nothing of the old one's review.
    set_video(&app, session, "b").await;
    let third = result(vec![person("Person 1", 0, 10_500, vec![interval(Happy, 0, 1000)])]);
    analyse(&app, session, third).await;
    let replaced = read().await;
    assert_eq!(replaced["reviewState"], "NOT_REVIEWED");
    let carried = &replaced["latestJob"]["reviewCarryOver"];
    assert_eq!(
        (&carried["peopleKept"], &carried["reviewsKept"], &carried["counsellorIntervalsKept"]),
        (&json!(0), &json!(0), &json!(0))
    );
    let people = replaced["objects"]["nodes"].as_array().unwrap();
    assert_eq!(people.len(), 1);
    assert_ne!(people[0]["id"], first_person.as_str());
    assert_eq!(people[0]["reviewed"]["nodes"].as_array().unwrap().len(), 1, "only the new analysis's interval");
}

#[tokio::test]
async fn face_counts_follow_each_analysis_and_samples_leave_a_changed_interval() {
    let (app, _, session) = app_for_reanalysis(24).await;
    use engine::Emotion::{Happy, Sad};
    let faces = |usable, blurred| engine::FaceCounts {
        samples: 20,
        with_face: usable + blurred,
        usable,
        blurred,
        ..engine::FaceCounts::default()
    };
    let first = result(vec![
        engine::TrackedObject {
            faces: faces(8, 2),
            ..person("Person 1", 0, 10_000, vec![interval(Happy, 0, 1000), interval(Sad, 2000, 3000)])
        },
        engine::TrackedObject { faces: faces(0, 6), ..person("Person 2", 12_000, 20_000, Vec::new()) },
    ]);
    analyse(&app, session, first).await;
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let query = "query($s: ID!) { session(id: $s) { objects { nodes { id label
        faceQuality { samples faceSamples usableFaceSamples blurred expression mainProblem }
        emotionIntervals { nodes { id samples review } } } } } }";
    let read = || async {
        let response = app.graphql(Some(&counsellor), query, json!({ "s": global_id("Session", session) })).await;
        response.data()["session"]["objects"]["nodes"].clone()
    };
    let people = read().await;
    assert_eq!(
        people[0]["faceQuality"],
        json!({ "samples": 20, "faceSamples": 10, "usableFaceSamples": 8, "blurred": 2, "expression": "READABLE",
                "mainProblem": "BLURRED" })
    );
    assert_eq!(people[1]["faceQuality"]["expression"], "FACE_UNUSABLE");
    let intervals = people[0]["emotionIntervals"]["nodes"].as_array().unwrap().clone();
    assert!(intervals.iter().all(|interval| interval["samples"] == 4), "{intervals:?}");

    // A counsellor's change makes the interval theirs: the model's samples no longer describe
    // it (and would tell guardians how long the model's interval was).
    let changed = json!({ "id": intervals[0]["id"], "action": "CHANGE", "label": "SURPRISE", "start": 0, "end": 1800 });
    assert!(app.graphql(Some(&counsellor), REVIEW, changed).await.error_code().is_none());
    let confirmed = json!({ "id": intervals[1]["id"], "action": "CONFIRM" });
    assert!(app.graphql(Some(&counsellor), REVIEW, confirmed).await.error_code().is_none());
    let add = "mutation($o: ID!) { addInterval(objectId: $o, kind: \"EXPRESSION\", label: \"FEAR\", startMs: 13000, endMs: 14000) { id } }";
    assert!(app.graphql(Some(&counsellor), add, json!({ "o": people[1]["id"] })).await.error_code().is_none());
    let people = read().await;
    let samples: Vec<&Value> =
        people[0]["emotionIntervals"]["nodes"].as_array().unwrap().iter().map(|i| &i["samples"]).collect();
    assert_eq!(samples, [&Value::Null, &json!(4)]);
    let coded = &people[1]["emotionIntervals"]["nodes"][0];
    assert_eq!(coded["samples"], Value::Null, "a counsellor's own rests on no samples");

    // The next analysis finds the first person again with other faces, and not the second,
    // who stays for the counsellor's interval: their old counts describe no results now.
    let second = result(vec![engine::TrackedObject {
        faces: faces(3, 0),
        ..person("Person 1", 0, 10_000, vec![interval(Happy, 0, 1000), interval(Sad, 2000, 3000)])
    }]);
    analyse(&app, session, second).await;
    let people = read().await;
    assert_eq!(people.as_array().unwrap().len(), 2, "{people}");
    assert_eq!(people[0]["faceQuality"]["usableFaceSamples"], 3);
    assert_eq!(people[0]["faceQuality"]["mainProblem"], Value::Null);
    assert_eq!(people[1]["faceQuality"], Value::Null, "{}", people[1]);
}

/// Makes `sha` the session's stored video (its hash is what results are tied to).
async fn set_video(app: &TestApp, session: Uuid, sha: &str) {
    let mut row = session::Entity::find_by_id(session).one(&app.db).await.unwrap().unwrap().into_active_model();
    row.video_sha256 = Set(Some(sha.repeat(64)));
    row.update(&app.db).await.unwrap();
}

/// The research export as a researcher opens it: pandas reads the table, pympi-ling makes an
/// ELAN document of it and reads that back (`scripts/setup-pyreaders.sh` installs both).
pub(crate) async fn read_coding(app: &TestApp, token: &str, path: &str) -> Value {
    let response = app.client.get(format!("{}{path}", app.address)).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(response.headers()["content-type"], "text/tab-separated-values; charset=utf-8");
    assert!(response.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let dir = tempfile::tempdir().unwrap();
    let (tsv, eaf) = (dir.path().join("coding.tsv"), dir.path().join("coding.eaf"));
    std::fs::write(&tsv, response.bytes().await.unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/read_coding.py");
    let output =
        std::process::Command::new(imind_tests::python_readers()).arg(script).arg(&tsv).arg(&eaf).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn the_coding_export_opens_in_pandas_and_elan_with_sources_and_markers() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let analysed = fixtures::analysed_session(&app.db, world.own, world.counsellor, 24, 2, 2).await;
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let reject = json!({ "id": global_id("EmotionInterval", analysed.emotion_interval), "action": "REJECT" });
    assert!(app.graphql(Some(&counsellor), REVIEW, reject).await.error_code().is_none());
    let add = "mutation($o: ID!) { addInterval(objectId: $o, kind: \"EXPRESSION\", label: \"FEAR\", startMs: 500, endMs: 900) { id } }";
    assert!(
        app.graphql(Some(&counsellor), add, json!({ "o": global_id("TrackedObject", analysed.object) }))
            .await
            .error_code()
            .is_none()
    );
    let marker = "mutation($s: ID!) { addSessionMarker(sessionId: $s, atMs: 700, code: \"topic:\\tschool\", note: \"=cmd\") { id } }";
    assert!(
        app.graphql(Some(&counsellor), marker, json!({ "s": global_id("Session", analysed.session) }))
            .await
            .error_code()
            .is_none()
    );

    // The timeline shows the markers as a lane of their own.
    let picture = format!("{}/sessions/{}/timeline.svg", app.address, global_id("Session", analysed.session));
    let svg = app.client.get(picture).bearer_auth(&counsellor).send().await.unwrap().text().await.unwrap();
    assert!(svg.contains(">markers<"), "{svg}");
    let path = format!("/sessions/{}/coding.tsv", global_id("Session", analysed.session));
    let read = read_coding(&app, &counsellor, &path).await;
    assert_eq!(
        read["columns"],
        json!([
            "Session",
            "Tier",
            "Participant",
            "Begin Time - msec",
            "End Time - msec",
            "Duration - msec",
            "Begin Time - hh:mm:ss.ms",
            "End Time - hh:mm:ss.ms",
            "Annotation",
            "Source",
            "Review"
        ])
    );
    // ELAN's tiers hold exactly the reviewed view of each person and kind, and the markers.
    let query = "query($s: ID!) { session(id: $s) { objects { nodes { label
        emotionIntervals { nodes { emotion startMs endMs } } behaviourIntervals { nodes { behaviour startMs endMs } } } } } }";
    let report = app.graphql(Some(&counsellor), query, json!({ "s": global_id("Session", analysed.session) })).await;
    let mut expected = serde_json::Map::new();
    for person in report.data()["session"]["objects"]["nodes"].as_array().unwrap() {
        let label = person["label"].as_str().unwrap();
        for (kind, list, field) in
            [("expression", "emotionIntervals", "emotion"), ("behaviour", "behaviourIntervals", "behaviour")]
        {
            let mut annotations: Vec<Value> = person[list]["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|interval| json!([interval["startMs"], interval["endMs"], interval[field]]))
                .collect();
            annotations.sort_by_key(|annotation| (annotation[0].as_i64(), annotation[1].as_i64()));
            expected.insert(format!("{label} {kind}"), Value::Array(annotations));
        }
    }
    expected.insert("markers".into(), json!([[700, 701, "topic: school: =cmd"]]));
    assert_eq!(read["tiers"], Value::Object(expected));
    let rows = read["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2 * 4 - 1 + 1 + 1, "two people's eight intervals, one rejected, one coded, one marker");
    let own: Vec<&Value> = rows.iter().filter(|row| row[8] == "FEAR").collect();
    assert_eq!((own.len(), &own[0][9], &own[0][6]), (1, &json!("COUNSELLOR"), &json!("00:00:00.500")));
    assert!(rows.iter().all(|row| row[0] == analysed.session.to_string()));

    // A guardian's copy has the markers' codes, not the counsellor's notes.
    let guardian = app.login(GUARDIAN, fixtures::PASSWORD).await;
    let theirs = read_coding(&app, &guardian, &path).await;
    assert_eq!(theirs["tiers"]["markers"], json!([[700, 701, "topic: school"]]));

    // A child's file has every session of the child, each row naming its session.
    let child =
        read_coding(&app, &counsellor, &format!("/children/{}/coding.tsv", global_id("Child", world.own))).await;
    let sessions: std::collections::BTreeSet<&str> =
        child["rows"].as_array().unwrap().iter().map(|row| row[0].as_str().unwrap()).collect();
    let mut wanted = std::collections::BTreeSet::new();
    let (own_session, this_session) = (world.own_analysed.session.to_string(), analysed.session.to_string());
    wanted.insert(own_session.as_str());
    wanted.insert(this_session.as_str());
    assert_eq!(sessions, wanted);
    // Another organisation's admin is not told the child exists.
    let admin_b = app.login(fixtures::ADMIN_B, fixtures::PASSWORD).await;
    let foreign = app.client.get(format!("{}{path}", app.address)).bearer_auth(&admin_b).send().await.unwrap();
    assert_eq!(foreign.status(), 404);
}

#[tokio::test]
async fn a_second_counsellors_screen_hears_review_changes_live() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let admin = app.login(ADMIN, fixtures::PASSWORD).await;
    let counsellor = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let mut screen = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&admin)).await.unwrap();
    let query = "subscription($c: ID!) { sessionEvents(childId: $c) { kind session { id reviewState } review { action nodeId } } }";
    screen.subscribe("r", query, json!({ "c": global_id("Child", world.own) })).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let session = global_id("Session", world.own_analysed.session);
    let interval = global_id("EmotionInterval", world.own_analysed.emotion_interval);
    let rejected = app.graphql(Some(&counsellor), REVIEW, json!({ "id": interval, "action": "REJECT" })).await;
    assert!(rejected.error_code().is_none(), "{}", rejected.body);
    let marker = "mutation($s: ID!) { addSessionMarker(sessionId: $s, atMs: 10, code: \"break\") { id } }";
    let marked = app.graphql(Some(&counsellor), marker, json!({ "s": session })).await;
    let marker_id = marked.data()["addSessionMarker"]["id"].clone();
    let state = "mutation($s: ID!) { setReviewState(sessionId: $s, state: REVIEWED) { id } }";
    assert!(app.graphql(Some(&counsellor), state, json!({ "s": session })).await.error_code().is_none());
    let mut heard = Vec::new();
    while heard.len() < 3 {
        let (id, event) = tokio::time::timeout(std::time::Duration::from_secs(10), screen.next()).await.unwrap();
        assert_eq!(id.as_deref(), Some("r"));
        let Event::Next(payload) = event else { panic!("{event:?}") };
        heard.push(payload["data"]["sessionEvents"].clone());
    }
    assert!(
        heard.iter().all(|event| event["kind"] == "REVIEW" && event["session"]["id"] == session.as_str()),
        "{heard:?}"
    );
    let changes: Vec<&Value> = heard.iter().map(|event| &event["review"]).collect();
    assert_eq!(
        changes,
        [
            &json!({ "action": "interval.review", "nodeId": interval }),
            &json!({ "action": "marker.add", "nodeId": marker_id }),
            &json!({ "action": "session.review_state", "nodeId": null }),
        ]
    );
    assert_eq!(heard[2]["session"]["reviewState"], "REVIEWED");
}

#[tokio::test]
async fn guardians_see_only_reviewed_sessions_when_the_organisation_says_so() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let (admin, counsellor, guardian) = (
        app.login(ADMIN, fixtures::PASSWORD).await,
        app.login(COUNSELLOR, fixtures::PASSWORD).await,
        app.login(GUARDIAN, fixtures::PASSWORD).await,
    );
    let analysed = world.own_analysed;
    let session = global_id("Session", analysed.session);
    let child = global_id("Child", world.own);
    let lists = "query($c: ID!) { child(id: $c) { sessions { totalCount } emotionTrend { session { id } } } }";
    let seen = |token: String| {
        let app = &app;
        let (session, child) = (session.clone(), child.clone());
        async move {
            let one =
                app.graphql(Some(&token), "query($s: ID!) { session(id: $s) { id } }", json!({ "s": session })).await;
            let node = app
                .graphql(
                    Some(&token),
                    "query($id: ID!) { node(id: $id) { id } }",
                    json!({ "id": global_id("EmotionInterval", analysed.emotion_interval) }),
                )
                .await;
            let listed = app.graphql(Some(&token), lists, json!({ "c": child })).await;
            let file = app
                .client
                .get(format!("{}/sessions/{session}/coding.tsv", app.address))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let child_file = app
                .client
                .get(format!("{}/children/{child}/coding.tsv", app.address))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let child_rows = child_file.text().await.unwrap().lines().count() - 1;
            (
                one.error_code().map(str::to_owned),
                node.body["data"]["node"].is_object(),
                listed.data()["child"]["sessions"]["totalCount"].as_i64().unwrap(),
                listed.data()["child"]["emotionTrend"].as_array().unwrap().len(),
                file.status().as_u16(),
                child_rows > 0,
            )
        }
    };
    let everything = (None, true, 1, 1, 200, true);
    assert_eq!(seen(guardian.clone()).await, everything, "by default guardians see every session");

    let set = |on: bool| {
        format!("mutation {{ setReviewPolicy(guardiansSeeReviewedOnly: {on}) {{ guardiansSeeReviewedOnly }} }}")
    };
    for token in [&counsellor, &guardian] {
        assert_eq!(app.graphql(Some(token), &set(true), json!({})).await.error_code(), Some("FORBIDDEN"));
    }
    // A guardian's export made before holds the unreviewed session: the policy takes it back.
    let export = "mutation($c: ID!) { exportChild(id: $c) { id } }";
    let export = app.graphql(Some(&guardian), export, json!({ "c": child })).await;
    let export = export.data()["exportChild"]["id"].as_str().unwrap().to_owned();
    let url = super::compliance::exports::wait_for_url(&app, &guardian, &export).await;
    let on = app.graphql(Some(&admin), &set(true), json!({})).await;
    assert_eq!(on.data()["setReviewPolicy"]["guardiansSeeReviewedOnly"], true, "{}", on.body);
    let gone =
        app.graphql(Some(&guardian), "query($id: ID!) { childExport(id: $id) { id } }", json!({ "id": export })).await;
    assert_eq!(gone.error_code(), Some("NOT_FOUND"), "{}", gone.body);
    let download = app.client.get(&url).send().await.unwrap();
    assert!(download.status().is_client_error(), "{}", download.status());
    let policy = app.graphql(Some(&guardian), "{ reviewPolicy { guardiansSeeReviewedOnly } }", json!({})).await;
    assert_eq!(policy.data()["reviewPolicy"]["guardiansSeeReviewedOnly"], true);

    // Not reviewed yet: the guardian is not told the session exists, anywhere.
    assert_eq!(seen(guardian.clone()).await, (Some("NOT_FOUND".to_owned()), false, 0, 0, 404, false));
    assert_eq!(seen(counsellor.clone()).await, everything, "counsellors see every session");
    // Who read the child stays in the guardian's access log, without the hidden session's id.
    let log = "query($c: ID!) { child(id: $c) { accessLog(last: 100) { nodes { action sessionId } } } }";
    let naming_the_session = |token: String| {
        let (app, child, session) = (&app, child.clone(), session.clone());
        async move {
            let read = app.graphql(Some(&token), log, json!({ "c": child })).await;
            let entries = read.data()["child"]["accessLog"]["nodes"].as_array().unwrap().clone();
            assert!(!entries.is_empty(), "{}", read.body);
            entries.iter().filter(|entry| entry["sessionId"] == session.as_str()).count()
        }
    };
    assert_eq!(naming_the_session(guardian.clone()).await, 0);
    assert!(naming_the_session(admin.clone()).await > 0, "the entries are there");
    let reviewed = "mutation($s: ID!) { setReviewState(sessionId: $s, state: REVIEWED) { reviewState } }";
    assert!(app.graphql(Some(&counsellor), reviewed, json!({ "s": session })).await.error_code().is_none());
    assert_eq!(seen(guardian.clone()).await, everything, "once reviewed, the guardian sees it");
    assert!(naming_the_session(guardian.clone()).await > 0);
    // A change after the sign-off reopens the review: hidden again until signed off again.
    let marker = "mutation($s: ID!) { addSessionMarker(sessionId: $s, atMs: 0, code: \"break\") { id } }";
    assert!(app.graphql(Some(&counsellor), marker, json!({ "s": session })).await.error_code().is_none());
    assert_eq!(seen(guardian.clone()).await.0.as_deref(), Some("NOT_FOUND"));
    assert!(app.graphql(Some(&counsellor), reviewed, json!({ "s": session })).await.error_code().is_none());
    assert_eq!(seen(guardian.clone()).await.0, None);
    // A re-analysis of a reviewed session is not reviewed: its live intervals are the model's.
    let mut row =
        session::Entity::find_by_id(analysed.session).one(&app.db).await.unwrap().unwrap().into_active_model();
    row.status = Set(entity::enums::SessionStatus::Processing);
    row.update(&app.db).await.unwrap();
    let job = app
        .graphql(
            Some(&guardian),
            "query($id: ID!) { job(id: $id) { id } }",
            json!({ "id": global_id("AnalysisJob", analysed.job) }),
        )
        .await;
    assert_eq!(job.error_code(), Some("NOT_FOUND"), "{}", job.body);
    assert_eq!(seen(guardian.clone()).await.0.as_deref(), Some("NOT_FOUND"));
    let mut row =
        session::Entity::find_by_id(analysed.session).one(&app.db).await.unwrap().unwrap().into_active_model();
    row.status = Set(entity::enums::SessionStatus::Done);
    row.update(&app.db).await.unwrap();
    let back = "mutation($s: ID!) { setReviewState(sessionId: $s, state: IN_REVIEW) { reviewState } }";
    assert!(app.graphql(Some(&counsellor), back, json!({ "s": session })).await.error_code().is_none());
    assert_eq!(seen(guardian.clone()).await.0.as_deref(), Some("NOT_FOUND"));
    assert!(app.graphql(Some(&admin), &set(false), json!({})).await.error_code().is_none());
    assert_eq!(seen(guardian).await, everything);
}
