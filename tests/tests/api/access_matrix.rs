//! Every role (and API key scope) × every operation × own child / another child of the
//! organisation / a child of another organisation, with the exact outcome each must get.

use imind_tests::{
    Response, TestApp,
    fixtures::{self, ADMIN, COUNSELLOR, GUARDIAN, World, global_id},
    spawn_app,
};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    Forbidden,
    NotFound,
    Unauthenticated,
}
use Outcome::*;

#[derive(Clone, Copy, Debug)]
enum Caller {
    Admin,
    Counsellor,
    Guardian,
    /// An API key of organisation A with the COUNSELLOR scope, for every child.
    CounsellorKey,
    /// An API key of organisation A with the REPORTS scope, restricted to the own child.
    ReportsKey,
    Anonymous,
}

const CALLERS: [Caller; 6] =
    [Caller::Admin, Caller::Counsellor, Caller::Guardian, Caller::CounsellorKey, Caller::ReportsKey, Caller::Anonymous];

/// Columns: own child (the counsellor's assigned, the guardian's linked), another child of
/// the same organisation, a child of another organisation.
type Row = [Outcome; 3];

/// Reading anything about a child.
const READ: [Row; 6] = [
    [Ok, Ok, NotFound],
    [Ok, NotFound, NotFound],
    [Ok, NotFound, NotFound],
    [Ok, Ok, NotFound],
    [Ok, NotFound, NotFound],
    [Unauthenticated, Unauthenticated, Unauthenticated],
];

/// What counsellors read beyond the report: the model view of intervals, agreement.
const READ_NOTES: [Row; 6] = [
    [Ok, Ok, NotFound],
    [Ok, NotFound, NotFound],
    [Forbidden, NotFound, NotFound],
    [Ok, Ok, NotFound],
    [Forbidden, NotFound, NotFound],
    [Unauthenticated, Unauthenticated, Unauthenticated],
];

/// Editing a child, recording sessions, labelling tracked people.
const WRITE: [Row; 6] = [
    [Ok, Ok, NotFound],
    [Ok, NotFound, NotFound],
    [Forbidden, NotFound, NotFound],
    [Forbidden, Forbidden, NotFound],
    [Forbidden, NotFound, NotFound],
    [Unauthenticated, Unauthenticated, Unauthenticated],
];

/// Changing who is assigned, erasing a child.
const ADMINISTER: [Row; 6] = [
    [Ok, Ok, NotFound],
    [Forbidden, NotFound, NotFound],
    [Forbidden, NotFound, NotFound],
    [Forbidden, Forbidden, NotFound],
    [Forbidden, NotFound, NotFound],
    [Unauthenticated, Unauthenticated, Unauthenticated],
];

/// Giving consent, exporting: the child's own people.
const OWN_PEOPLE: [Row; 6] = [
    [Ok, Ok, NotFound],
    [Ok, NotFound, NotFound],
    [Ok, NotFound, NotFound],
    [Forbidden, Forbidden, NotFound],
    [Forbidden, NotFound, NotFound],
    [Unauthenticated, Unauthenticated, Unauthenticated],
];

/// Who accessed a child's records: admins and the child's guardians.
const ACCESS_LOG: [Row; 6] = [
    [Ok, Ok, NotFound],
    [Forbidden, NotFound, NotFound],
    [Ok, NotFound, NotFound],
    [Forbidden, Forbidden, NotFound],
    [Forbidden, NotFound, NotFound],
    [Unauthenticated, Unauthenticated, Unauthenticated],
];

struct Tokens {
    admin: String,
    counsellor: String,
    guardian: String,
    counsellor_key: String,
    reports_key: String,
}

impl Tokens {
    async fn new(app: &TestApp, world: &World) -> Self {
        let admin = app.login(ADMIN, fixtures::PASSWORD).await;
        let (_, counsellor_key) = app.create_api_key(&admin, "COUNSELLOR", None).await;
        let (_, reports_key) = app.create_api_key(&admin, "REPORTS", Some(&[world.own])).await;
        Tokens {
            counsellor: app.login(COUNSELLOR, fixtures::PASSWORD).await,
            guardian: app.login(GUARDIAN, fixtures::PASSWORD).await,
            admin,
            counsellor_key,
            reports_key,
        }
    }

    fn of(&self, caller: Caller) -> Option<&str> {
        match caller {
            Caller::Admin => Some(&self.admin),
            Caller::Counsellor => Some(&self.counsellor),
            Caller::Guardian => Some(&self.guardian),
            Caller::CounsellorKey => Some(&self.counsellor_key),
            Caller::ReportsKey => Some(&self.reports_key),
            Caller::Anonymous => None,
        }
    }
}

fn outcome(response: &Response) -> Outcome {
    match response.error_code() {
        None => Ok,
        Some("FORBIDDEN") => Forbidden,
        Some("NOT_FOUND") => NotFound,
        Some("UNAUTHENTICATED") => Unauthenticated,
        Some(other) => panic!("unexpected error code {other}: {}", response.body),
    }
}

/// The three targets, as what an operation needs to know about each.
fn targets(world: &World) -> [(&'static str, fixtures::Analysed, uuid::Uuid); 3] {
    [
        ("own", world.own_analysed, world.own),
        ("sibling", world.sibling_analysed, world.sibling),
        ("foreign", world.foreign_analysed, world.foreign),
    ]
}

struct Operation {
    name: &'static str,
    query: &'static str,
    variables: fn(&fixtures::Analysed, uuid::Uuid) -> Value,
    table: [Row; 6],
    /// Where the answer's id sits, to check that a success returned the right thing.
    returned_id: Option<(&'static str, &'static str)>,
    /// What a refusal must not show (default: any data at all).
    secret: Option<&'static str>,
}

fn operations() -> Vec<Operation> {
    vec![
        Operation {
            name: "child(id)",
            query: "query($id: ID!) { child(id: $id) { id name } }",
            variables: |_, child| json!({ "id": global_id("Child", child) }),
            table: READ,
            returned_id: Some(("/child/id", "Child")),
            secret: None,
        },
        Operation {
            name: "session(id)",
            query: "query($id: ID!) { session(id: $id) { id title } }",
            variables: |a, _| json!({ "id": global_id("Session", a.session) }),
            table: READ,
            returned_id: Some(("/session/id", "Session")),
            secret: None,
        },
        Operation {
            name: "job(id)",
            query: "query($id: ID!) { job(id: $id) { id status } }",
            variables: |a, _| json!({ "id": global_id("AnalysisJob", a.job) }),
            table: READ,
            returned_id: Some(("/job/id", "AnalysisJob")),
            secret: None,
        },
        Operation {
            name: "node(Child)",
            query: "query($id: ID!) { node(id: $id) { id } }",
            variables: |_, child| json!({ "id": global_id("Child", child) }),
            table: READ,
            returned_id: Some(("/node/id", "Child")),
            secret: None,
        },
        Operation {
            name: "node(Session)",
            query: "query($id: ID!) { node(id: $id) { id } }",
            variables: |a, _| json!({ "id": global_id("Session", a.session) }),
            table: READ,
            returned_id: Some(("/node/id", "Session")),
            secret: None,
        },
        Operation {
            name: "node(TrackedObject)",
            query: "query($id: ID!) { node(id: $id) { id ... on TrackedObject { label } } }",
            variables: |a, _| json!({ "id": global_id("TrackedObject", a.object) }),
            table: READ,
            returned_id: Some(("/node/id", "TrackedObject")),
            secret: None,
        },
        Operation {
            name: "node(TrackedObject).faceQuality",
            query: "query($id: ID!) { node(id: $id) { id ... on TrackedObject { faceQuality { usableFaceSamples expression } } } }",
            variables: |a, _| json!({ "id": global_id("TrackedObject", a.object) }),
            table: READ,
            returned_id: Some(("/node/id", "TrackedObject")),
            secret: None,
        },
        Operation {
            name: "node(EmotionInterval).samples",
            query: "query($id: ID!) { node(id: $id) { id ... on EmotionInterval { emotion samples } } }",
            variables: |a, _| json!({ "id": global_id("EmotionInterval", a.emotion_interval) }),
            table: READ,
            returned_id: Some(("/node/id", "EmotionInterval")),
            secret: None,
        },
        Operation {
            name: "node(EmotionInterval)",
            query: "query($id: ID!) { node(id: $id) { id ... on EmotionInterval { emotion } } }",
            variables: |a, _| json!({ "id": global_id("EmotionInterval", a.emotion_interval) }),
            table: READ,
            returned_id: Some(("/node/id", "EmotionInterval")),
            secret: None,
        },
        Operation {
            name: "node(BehaviourInterval)",
            query: "query($id: ID!) { node(id: $id) { id ... on BehaviourInterval { behaviour } } }",
            variables: |a, _| json!({ "id": global_id("BehaviourInterval", a.behaviour_interval) }),
            table: READ,
            returned_id: Some(("/node/id", "BehaviourInterval")),
            secret: None,
        },
        Operation {
            name: "node(AnalysisJob)",
            query: "query($id: ID!) { node(id: $id) { id } }",
            variables: |a, _| json!({ "id": global_id("AnalysisJob", a.job) }),
            table: READ,
            returned_id: Some(("/node/id", "AnalysisJob")),
            secret: None,
        },
        Operation {
            name: "updateChild(name)",
            query: "mutation($id: ID!) { updateChild(id: $id, input: { name: \"Renamed\" }) { id name } }",
            variables: |_, child| json!({ "id": global_id("Child", child) }),
            table: WRITE,
            returned_id: Some(("/updateChild/id", "Child")),
            secret: None,
        },
        Operation {
            name: "createSession",
            query: "mutation($id: ID!) { createSession(input: { childId: $id, title: \"New\", recordedAt: \"2026-11-01T10:00:00Z\" }) { id status child { id } } }",
            variables: |_, child| json!({ "id": global_id("Child", child) }),
            table: WRITE,
            returned_id: Some(("/createSession/child/id", "Child")),
            secret: None,
        },
        Operation {
            name: "labelObject",
            query: "mutation($id: ID!) { labelObject(objectId: $id, role: ADULT) { id role roleConfidence } }",
            variables: |a, _| json!({ "id": global_id("TrackedObject", a.object) }),
            table: WRITE,
            returned_id: Some(("/labelObject/id", "TrackedObject")),
            secret: None,
        },
        Operation {
            name: "reviewInterval(CONFIRM)",
            query: "mutation($id: ID!) { reviewInterval(id: $id, action: CONFIRM) { id ... on EmotionInterval { review } } }",
            variables: |a, _| json!({ "id": global_id("EmotionInterval", a.emotion_interval) }),
            table: WRITE,
            returned_id: Some(("/reviewInterval/id", "EmotionInterval")),
            secret: None,
        },
        Operation {
            name: "reviewInterval(REJECT)",
            query: "mutation($id: ID!) { reviewInterval(id: $id, action: REJECT) { id } }",
            variables: |a, _| json!({ "id": global_id("BehaviourInterval", a.behaviour_interval) }),
            table: WRITE,
            returned_id: Some(("/reviewInterval/id", "BehaviourInterval")),
            secret: None,
        },
        Operation {
            name: "addInterval",
            query: "mutation($id: ID!) { addInterval(objectId: $id, kind: \"EXPRESSION\", label: \"HAPPY\", startMs: 0, endMs: 500) { id } }",
            variables: |a, _| json!({ "id": global_id("TrackedObject", a.object) }),
            table: WRITE,
            returned_id: None,
            secret: None,
        },
        Operation {
            name: "addInterval(CODE)",
            // The organisation's code (defined before the matrix runs): an event, any number.
            query: "mutation($id: ID!) { addInterval(objectId: $id, kind: \"CODE\", label: \"matrix event\", startMs: 100, endMs: 100) { id } }",
            variables: |a, _| json!({ "id": global_id("TrackedObject", a.object) }),
            table: WRITE,
            returned_id: None,
            secret: None,
        },
        Operation {
            name: "codedIntervals",
            query: "query($id: ID!) { node(id: $id) { id ... on TrackedObject { codedIntervals { label } } } }",
            variables: |a, _| json!({ "id": global_id("TrackedObject", a.object) }),
            table: READ,
            returned_id: Some(("/node/id", "TrackedObject")),
            secret: None,
        },
        Operation {
            name: "addSessionMarker",
            query: "mutation($id: ID!) { addSessionMarker(sessionId: $id, atMs: 0, code: \"break\") { id code } }",
            variables: |a, _| json!({ "id": global_id("Session", a.session) }),
            table: WRITE,
            returned_id: None,
            secret: None,
        },
        Operation {
            name: "setReviewState",
            query: "mutation($id: ID!) { setReviewState(sessionId: $id, state: IN_REVIEW) { id reviewState } }",
            variables: |a, _| json!({ "id": global_id("Session", a.session) }),
            table: WRITE,
            returned_id: Some(("/setReviewState/id", "Session")),
            secret: None,
        },
        Operation {
            name: "session agreement",
            query: "query($id: ID!) { session(id: $id) { id agreement { label kappa } } }",
            variables: |a, _| json!({ "id": global_id("Session", a.session) }),
            table: READ_NOTES,
            returned_id: Some(("/session/id", "Session")),
            secret: Some("/session/agreement"),
        },
        Operation {
            name: "model view",
            query: "query($id: ID!) { node(id: $id) { id ... on TrackedObject { emotionIntervals(view: MODEL) { totalCount } } } }",
            variables: |a, _| json!({ "id": global_id("TrackedObject", a.object) }),
            table: READ_NOTES,
            returned_id: Some(("/node/id", "TrackedObject")),
            secret: Some("/node/emotionIntervals"),
        },
        Operation {
            name: "session review fields",
            query: "query($id: ID!) { session(id: $id) { id reviewState markers { code } } }",
            variables: |a, _| json!({ "id": global_id("Session", a.session) }),
            table: READ,
            returned_id: Some(("/session/id", "Session")),
            secret: None,
        },
        Operation {
            name: "child.consents",
            query: "query($id: ID!) { child(id: $id) { id consents { kind } } }",
            variables: |_, child| json!({ "id": global_id("Child", child) }),
            table: READ,
            returned_id: Some(("/child/id", "Child")),
            secret: None,
        },
        Operation {
            name: "child.accessLog",
            query: "query($id: ID!) { child(id: $id) { id accessLog { totalCount } } }",
            variables: |_, child| json!({ "id": global_id("Child", child) }),
            table: ACCESS_LOG,
            returned_id: Some(("/child/id", "Child")),
            // A counsellor reads the child, but not who accessed it.
            secret: Some("/child/accessLog"),
        },
        Operation {
            name: "giveConsent",
            query: "mutation($id: ID!) { giveConsent(childId: $id, kind: RESEARCH_EXPORT, textVersion: \"v1\") { kind } }",
            variables: |_, child| json!({ "id": global_id("Child", child) }),
            table: OWN_PEOPLE,
            returned_id: None,
            secret: None,
        },
        Operation {
            name: "exportChild",
            query: "mutation($id: ID!) { exportChild(id: $id) { status } }",
            variables: |_, child| json!({ "id": global_id("Child", child) }),
            table: OWN_PEOPLE,
            returned_id: None,
            secret: None,
        },
        Operation {
            name: "updateChild(guardianIds)",
            query: "mutation($id: ID!) { updateChild(id: $id, input: { guardianIds: [] }) { id } }",
            variables: |_, child| json!({ "id": global_id("Child", child) }),
            table: ADMINISTER,
            returned_id: Some(("/updateChild/id", "Child")),
            secret: None,
        },
    ]
}

fn expected_id(analysed: &fixtures::Analysed, child: uuid::Uuid, kind: &str) -> String {
    let id = match kind {
        "Child" => child,
        "Session" => analysed.session,
        "AnalysisJob" => analysed.job,
        "TrackedObject" => analysed.object,
        "EmotionInterval" => analysed.emotion_interval,
        "BehaviourInterval" => analysed.behaviour_interval,
        other => panic!("unknown kind {other}"),
    };
    global_id(kind, id)
}

#[tokio::test]
async fn every_role_gets_exactly_its_rights_on_every_operation() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let tokens = Tokens::new(&app, &world).await;
    let code = "mutation { defineBehaviourCode(name: \"matrix event\", kind: POINT) { id } }";
    assert!(app.graphql(Some(&tokens.admin), code, json!({})).await.error_code().is_none());
    let mut failures = Vec::new();
    let mut checked = 0;
    for op in operations() {
        // Successes last: a permitted change (e.g. unlinking the guardian) must not alter the
        // rights the refusals are checked against.
        let mut cases = Vec::new();
        for (row, caller) in CALLERS.iter().enumerate() {
            for (column, target) in targets(&world).into_iter().enumerate() {
                cases.push((op.table[row][column], *caller, target));
            }
        }
        cases.sort_by_key(|(expected, ..)| *expected == Ok);
        {
            for (expected, caller, (target, analysed, child)) in &cases {
                let (expected, caller) = (*expected, caller);
                let response = app.graphql(tokens.of(*caller), op.query, (op.variables)(analysed, *child)).await;
                let got = outcome(&response);
                checked += 1;
                if got != expected {
                    failures.push(format!(
                        "{} as {caller:?} on {target}: expected {expected:?}, got {got:?}: {}",
                        op.name, response.body
                    ));
                    continue;
                }
                if got == Ok {
                    if let Some((pointer, kind)) = op.returned_id {
                        let returned = response.body["data"].pointer(pointer).and_then(Value::as_str);
                        if returned != Some(expected_id(analysed, *child, kind).as_str()) {
                            failures.push(format!(
                                "{} as {caller:?} on {target} returned the wrong thing: {}",
                                op.name, response.body
                            ));
                        }
                    }
                } else if let Some(secret) = op.secret {
                    if response.body["data"].pointer(secret).is_some_and(|value| !value.is_null()) {
                        failures
                            .push(format!("{} as {caller:?} on {target} leaked {secret}: {}", op.name, response.body));
                    }
                } else if response.body["data"].as_object().is_some_and(|data| data.values().any(|v| !v.is_null())) {
                    failures.push(format!("{} as {caller:?} on {target} leaked data: {}", op.name, response.body));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} cases wrong:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn deleting_follows_the_matrix_and_refusals_lose_nothing() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let tokens = Tokens::new(&app, &world).await;
    let query = "mutation($id: ID!) { deleteChild(id: $id) }";
    let read_back = "query($id: ID!) { child(id: $id) { id } }";
    let admin_b = app.login(fixtures::ADMIN_B, fixtures::PASSWORD).await;
    // Refusals first (they must leave the child in place), then the deletions that succeed.
    let mut cases = Vec::new();
    for (row, caller) in CALLERS.iter().enumerate() {
        for (column, (target, _, child)) in targets(&world).iter().enumerate() {
            cases.push((ADMINISTER[row][column], *caller, *target, *child));
        }
    }
    cases.sort_by_key(|(expected, ..)| *expected == Ok);
    for (expected, caller, target, child) in cases {
        let response = app.graphql(tokens.of(caller), query, json!({ "id": global_id("Child", child) })).await;
        assert_eq!(outcome(&response), expected, "deleteChild as {caller:?} on {target}: {}", response.body);
        let owner_token = if target == "foreign" { admin_b.clone() } else { tokens.admin.clone() };
        let still_there = app.graphql(Some(&owner_token), read_back, json!({ "id": global_id("Child", child) })).await;
        let exists = still_there.error_code().is_none();
        assert_eq!(exists, expected != Ok, "after deleteChild as {caller:?} on {target}: {}", still_there.body);
    }
}

#[tokio::test]
async fn deleting_sessions_follows_the_matrix() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let tokens = Tokens::new(&app, &world).await;
    let query = "mutation($id: ID!) { deleteSession(id: $id) }";
    for (row, caller) in CALLERS.iter().enumerate() {
        for (column, (target, _, child)) in targets(&world).iter().enumerate() {
            // A fresh session for every case: a permitted deletion must not starve the next.
            let session = fixtures::analysed_session(&app.db, *child, world.admin, 20, 1, 1).await.session;
            let expected = WRITE[row][column];
            let response = app.graphql(tokens.of(*caller), query, json!({ "id": global_id("Session", session) })).await;
            assert_eq!(outcome(&response), expected, "deleteSession as {caller:?} on {target}: {}", response.body);
            use sea_orm::EntityTrait;
            let exists = entity::session::Entity::find_by_id(session).one(&app.db).await.unwrap().is_some();
            assert_eq!(exists, expected != Ok, "after deleteSession as {caller:?} on {target}");
        }
    }
}

#[tokio::test]
async fn lists_show_each_caller_exactly_their_children() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let tokens = Tokens::new(&app, &world).await;
    let admin_b = app.login(fixtures::ADMIN_B, fixtures::PASSWORD).await;
    let query = "{ children { totalCount edges { node { id } } } }";
    let expectations = [
        ("admin", Some(tokens.admin.as_str()), vec![world.own, world.sibling]),
        ("counsellor", Some(tokens.counsellor.as_str()), vec![world.own]),
        ("guardian", Some(tokens.guardian.as_str()), vec![world.own]),
        ("COUNSELLOR key", Some(tokens.counsellor_key.as_str()), vec![world.own, world.sibling]),
        ("REPORTS key for the own child", Some(tokens.reports_key.as_str()), vec![world.own]),
        ("admin of B", Some(admin_b.as_str()), vec![world.foreign]),
    ];
    for (who, token, children) in expectations {
        let response = app.graphql(token, query, json!({})).await;
        let data = response.data();
        let mut got: Vec<&str> =
            data["children"]["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap()).collect();
        let mut want: Vec<String> = children.iter().map(|id| global_id("Child", *id)).collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "{who}");
        assert_eq!(data["children"]["totalCount"], children.len(), "{who}");
    }
    let anonymous = app.graphql(None, query, json!({})).await;
    assert_eq!(anonymous.error_code(), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn organisation_level_actions_follow_roles() {
    let app = spawn_app().await;
    let _world = World::build(&app.db).await;
    let tokens = Tokens::new(&app, &_world).await;
    let create_child = "mutation { createChild(input: { name: \"Newcomer\" }) { id name } }";
    // The coding scheme: everyone of the organisation reads it, admins define it.
    let scheme = "{ codingScheme { codes { name } } }";
    let define = "mutation($n: String!) { defineBehaviourCode(name: $n, kind: STATE) { name } }";
    for (caller, read_outcome, define_outcome) in [
        (Caller::Admin, Ok, Ok),
        (Caller::Counsellor, Ok, Forbidden),
        (Caller::Guardian, Ok, Forbidden),
        (Caller::CounsellorKey, Ok, Forbidden),
        (Caller::ReportsKey, Ok, Forbidden),
        (Caller::Anonymous, Unauthenticated, Unauthenticated),
    ] {
        let token = tokens.of(caller);
        let response = app.graphql(token, scheme, json!({})).await;
        assert_eq!(outcome(&response), read_outcome, "codingScheme as {caller:?}: {}", response.body);
        let response = app.graphql(token, define, json!({ "n": format!("{caller:?} code") })).await;
        assert_eq!(outcome(&response), define_outcome, "defineBehaviourCode as {caller:?}: {}", response.body);
    }
    let create_user = "mutation($e: String!) { createUser(input: { email: $e, name: \"New\", role: COUNSELLOR, password: \"long enough password\" }) { id role } }";
    for (caller, child_outcome, user_outcome) in [
        (Caller::Admin, Ok, Ok),
        (Caller::Counsellor, Ok, Forbidden),
        (Caller::Guardian, Forbidden, Forbidden),
        (Caller::CounsellorKey, Forbidden, Forbidden),
        (Caller::ReportsKey, Forbidden, Forbidden),
        (Caller::Anonymous, Unauthenticated, Unauthenticated),
    ] {
        let token = tokens.of(caller);
        let response = app.graphql(token, create_child, json!({})).await;
        assert_eq!(outcome(&response), child_outcome, "createChild as {caller:?}: {}", response.body);
        let email = format!("{caller:?}-made@a.test").to_lowercase();
        let response = app.graphql(token, create_user, json!({ "e": email })).await;
        assert_eq!(outcome(&response), user_outcome, "createUser as {caller:?}: {}", response.body);
    }
    // A counsellor's new child is assigned to them, so they can see it.
    let children =
        app.graphql(Some(&tokens.counsellor), "{ children(search: \"newcomer\") { totalCount } }", json!({})).await;
    assert_eq!(children.data()["children"]["totalCount"], 1);
    // Counsellors may not hand out assignments.
    let response = app
        .graphql(
            Some(&tokens.counsellor),
            "mutation($g: ID!) { createChild(input: { name: \"X\", guardianIds: [$g] }) { id } }",
            json!({ "g": global_id("User", _world.guardian) }),
        )
        .await;
    assert_eq!(outcome(&response), Forbidden);
}

#[tokio::test]
async fn guardians_do_not_see_counsellors_notes() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let tokens = Tokens::new(&app, &world).await;
    let query = "query($id: ID!) { child(id: $id) { notes } }";
    let variables = json!({ "id": global_id("Child", world.own) });
    let counsellor = app.graphql(Some(&tokens.counsellor), query, variables.clone()).await;
    assert_eq!(counsellor.data()["child"]["notes"], "notes about Own Child");
    let guardian = app.graphql(Some(&tokens.guardian), query, variables.clone()).await;
    assert_eq!(guardian.data()["child"]["notes"], Value::Null);
    // Keys read what their scope says: a COUNSELLOR key the notes, a REPORTS key not.
    let counsellor_key = app.graphql(Some(&tokens.counsellor_key), query, variables.clone()).await;
    assert_eq!(counsellor_key.data()["child"]["notes"], "notes about Own Child");
    let reports_key = app.graphql(Some(&tokens.reports_key), query, variables).await;
    assert_eq!(reports_key.data()["child"]["notes"], Value::Null);
}
