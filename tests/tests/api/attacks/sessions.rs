//! Credentials and subscriptions that outlive their rights: expired tokens on open sockets,
//! ended sign-ins, demoted and deleted users, and subscribers taken off a child.

use std::time::{Duration, Instant};

use entity::enums::Role;
use imind_tests::{
    TestApp,
    fixtures::{self, ADMIN, COUNSELLOR, GUARDIAN, World, global_id},
    spawn_app_with,
    ws::{Event, GraphQLSocket, Protocol},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};

/// Works for every signed-in user (`me` would fail by itself once the user is deleted).
const SEE_CHILDREN: &str = "{ children { totalCount } }";

/// How the server ends the socket (after whatever else it sends), within `limit`.
async fn closed_within(socket: &mut GraphQLSocket, limit: Duration) -> Option<(u16, String)> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok((_, Event::Closed(frame))) => return frame,
            Ok((_, event)) => seen.push(event),
            Err(_) => panic!("the socket was still open after {limit:?}, having sent {seen:?}"),
        }
    }
}

/// Starts operations on `socket` until the server closes it with 4403 (within `limit`).
async fn socket_refused_within(socket: &mut GraphQLSocket, limit: Duration) {
    let started = Instant::now();
    for n in 0.. {
        socket.subscribe(&n.to_string(), SEE_CHILDREN, json!({})).await.unwrap();
        match tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("an answer").1 {
            Event::Closed(frame) => {
                assert_eq!(frame.map(|(code, _)| code), Some(4403));
                return;
            }
            Event::Next(payload) => assert!(payload.get("errors").is_none(), "{payload}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(socket.next().await.1, Event::Complete));
        assert!(started.elapsed() < limit, "the socket still ran operations after {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `query` until it is refused as UNAUTHENTICATED; returns how long that took.
async fn refused_within(app: &TestApp, token: &str, query: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let response = app.graphql(Some(token), query, json!({})).await;
        if response.error_code() == Some("UNAUTHENTICATED") {
            return started.elapsed();
        }
        assert!(response.body.get("errors").is_none(), "{}", response.body);
        assert!(started.elapsed() < limit, "the token still worked after {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_socket_is_closed_when_its_token_expires() {
    let app = spawn_app_with(false, |settings| settings.access_token_ttl_secs = 2).await;
    World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    for protocol in [Protocol::TransportWs, Protocol::Legacy] {
        let mut socket = GraphQLSocket::connect(&app.address, protocol, Some(&token)).await.unwrap();
        let started = Instant::now();
        let frame = closed_within(&mut socket, Duration::from_secs(10)).await;
        assert_eq!(frame.map(|(code, _)| code), Some(4403), "{protocol:?}");
        assert!(started.elapsed() < Duration::from_secs(4), "closed at expiry, not later: {:?}", started.elapsed());
    }
    // A new socket with the expired token is refused outright.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&token)).await.is_err());
}

#[tokio::test]
async fn ended_sign_ins_and_changed_users_lose_their_tokens_within_the_check_interval() {
    let app = spawn_app_with(false, |settings| settings.sign_in_check_secs = 1).await;
    let world = World::build(&app.db).await;
    let bound = Duration::from_secs(3);

    // Logged out: the access token of that sign-in stops working, over HTTP and on sockets.
    let (token, refresh) = app.login_pair(COUNSELLOR, fixtures::PASSWORD).await;
    let mut socket = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&token)).await.unwrap();
    let logout = app.graphql(None, "mutation($t: String!) { logout(refreshToken: $t) }", json!({ "t": refresh })).await;
    assert_eq!(logout.data()["logout"], true);
    refused_within(&app, &token, SEE_CHILDREN, bound).await;
    socket_refused_within(&mut socket, bound).await;
    // Another sign-in of the same user is not affected.
    let other = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    assert!(app.graphql(Some(&other), SEE_CHILDREN, json!({})).await.error_code().is_none());

    // Demoted: a counsellor's token no longer speaks for a guardian.
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    entity::user::Entity::update_many()
        .col_expr(entity::user::Column::Role, Expr::value(Role::Guardian.as_str()))
        .filter(entity::user::Column::Id.eq(world.counsellor))
        .exec(&app.db)
        .await
        .unwrap();
    refused_within(&app, &token, SEE_CHILDREN, bound).await;

    // Deleted.
    let token = app.login(GUARDIAN, fixtures::PASSWORD).await;
    let mut socket = GraphQLSocket::connect(&app.address, Protocol::Legacy, Some(&token)).await.unwrap();
    entity::user::Entity::delete_by_id(world.guardian).exec(&app.db).await.unwrap();
    refused_within(&app, &token, SEE_CHILDREN, bound).await;
    socket_refused_within(&mut socket, bound).await;
}

/// The first message of subscription `id` on `socket` (within 10 s).
async fn next_of(socket: &mut GraphQLSocket) -> Event {
    tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("a message in time").1
}

fn errors_of(event: &Event) -> Value {
    match event {
        Event::Next(payload) => payload["errors"].clone(),
        Event::Error(payload) if payload.is_array() => payload.clone(),
        Event::Error(payload) => payload["errors"].clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test]
async fn subscribers_taken_off_a_child_hear_nothing_more() {
    // No worker: the job stays QUEUED until it is cancelled, so every event is one we cause.
    let app = spawn_app_with(false, |settings| settings.embedded_worker = false).await;
    let world = World::build(&app.db).await;
    let admin = app.login(ADMIN, fixtures::PASSWORD).await;
    let session = world.own_analysed.session;
    // A video key is all `startAnalysis` needs when no worker will fetch the video.
    entity::session::Entity::update_many()
        .col_expr(entity::session::Column::VideoBlobKey, Expr::value("k"))
        .filter(entity::session::Column::Id.eq(session))
        .exec(&app.db)
        .await
        .unwrap();
    let start = "mutation($s: ID!) { startAnalysis(sessionId: $s) { id } }";
    let cancel = "mutation($j: ID!) { cancelAnalysis(jobId: $j) { status } }";
    let unlink = "mutation($c: ID!) { updateChild(id: $c, input: { counsellorIds: [], guardianIds: [] }) { id } }";
    let relink = "mutation($c: ID!, $u: [ID!], $g: [ID!]) { updateChild(id: $c, input: { counsellorIds: $u, guardianIds: $g }) { id } }";
    let child = json!({ "c": global_id("Child", world.own) });
    let dashboard = "subscription($c: ID!) { sessionEvents(childId: $c) { kind session { title notes } } }";
    let progress = "subscription($j: ID!) { analysisProgress(jobId: $j) { kind job { status } } }";

    for email in [COUNSELLOR, GUARDIAN] {
        let token = app.login(email, fixtures::PASSWORD).await;
        let relinked = json!({
            "c": global_id("Child", world.own),
            "u": [global_id("User", world.counsellor)],
            "g": [global_id("User", world.guardian)],
        });
        assert!(app.graphql(Some(&admin), relink, relinked).await.error_code().is_none());
        let mut events = GraphQLSocket::connect(&app.address, Protocol::TransportWs, Some(&token)).await.unwrap();
        events.subscribe("d", dashboard, child.clone()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let job = app.graphql(Some(&admin), start, json!({ "s": global_id("Session", session) })).await;
        let job = job.data()["startAnalysis"]["id"].as_str().unwrap().to_owned();
        let Event::Next(queued) = next_of(&mut events).await else { panic!("the subscription works") };
        assert_eq!(queued["data"]["sessionEvents"]["kind"], "QUEUED", "{email}: {queued}");
        let mut follow = GraphQLSocket::connect(&app.address, Protocol::Legacy, Some(&token)).await.unwrap();
        follow.subscribe("p", progress, json!({ "j": job })).await.unwrap();
        let Event::Next(current) = next_of(&mut follow).await else { panic!("the subscription works") };
        assert_eq!(current["data"]["analysisProgress"]["job"]["status"], "QUEUED", "{email}: {current}");

        // Taken off the child; the next event must not reach them.
        assert!(app.graphql(Some(&admin), unlink, child.clone()).await.error_code().is_none());
        assert_eq!(
            app.graphql(Some(&token), "query($c: ID!) { child(id: $c) { id } }", child.clone()).await.error_code(),
            Some("NOT_FOUND")
        );
        assert_eq!(
            app.graphql(Some(&admin), cancel, json!({ "j": job })).await.data()["cancelAnalysis"]["status"],
            "CANCELLED"
        );
        for (socket, name) in [(&mut events, "sessionEvents"), (&mut follow, "analysisProgress")] {
            let event = next_of(socket).await;
            let errors = errors_of(&event);
            assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{email} {name}: {event:?}");
            assert!(!format!("{event:?}").contains("CANCELLED"), "{email} {name}: {event:?}");
            assert!(matches!(next_of(socket).await, Event::Complete), "{email} {name}: the stream ends");
        }
    }
}
