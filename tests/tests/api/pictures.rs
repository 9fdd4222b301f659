//! Report pictures: a session's timeline (SVG and PNG) and a child's trend, with the rights of
//! `session`/`child`, drawn per results version, and looked at in Debian's Chromium.

use imind_tests::{
    fixtures::{self, COUNSELLOR, World, global_id},
    spawn_app,
};
use serde_json::{Value, json};

const LINK: &str = "query($s: ID!) { session(id: $s) { timelineUrl objects { nodes { id label } } } }";

fn texts(drawn: &Value) -> Vec<&str> {
    drawn["texts"].as_array().unwrap().iter().map(|text| text.as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_sessions_timeline_is_drawn_with_its_people_axis_and_legend_and_the_child_marked() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let session = global_id("Session", world.own_analysed.session);
    let answer = app.graphql(Some(&token), LINK, json!({ "s": session })).await;
    let link = answer.data()["session"]["timelineUrl"].as_str().unwrap().to_owned();

    // Opened in a browser from the link alone, as a counsellor opens it.
    let screenshot = tempfile::NamedTempFile::with_suffix(".png").unwrap();
    let drawn = app.in_browser(&link, Some(screenshot.path())).await;
    let texts = texts(&drawn);
    assert!(drawn["width"].as_u64() == Some(1600) && drawn["height"].as_u64() > Some(100), "{drawn}");
    assert!(drawn["colours"].as_u64() > Some(4) && drawn["inked"].as_f64() > Some(0.02), "bars were drawn: {drawn}");
    assert!(std::fs::metadata(screenshot.path()).unwrap().len() > 1000, "a screenshot was taken");
    // The fixture's people: the first guessed CHILD, so marked; lanes of expressions and behaviours.
    assert!(texts.contains(&"Person 1 (child) expression"), "{texts:?}");
    assert!(texts.contains(&"Person 2 expression") && texts.contains(&"Person 2 sitting"), "{texts:?}");
    assert!(texts.contains(&"00:00") && texts.iter().any(|text| text.len() == 5 && text.contains(':')), "{texts:?}");
    assert!(texts.contains(&"HAPPY") && texts.contains(&"SITTING"), "the legend: {texts:?}");

    // The same link's query string fetches the PNG.
    let png_link = link.replace("/timeline.svg?", "/timeline.png?");
    let png = app.client.get(&png_link).send().await.unwrap();
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(&png.bytes().await.unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    let png_drawn = app.in_browser(&png_link, None).await;
    assert_eq!(png_drawn["width"], 1600);
    assert!(png_drawn["inked"].as_f64() > Some(0.02), "{png_drawn}");

    // Labelling another person as the child is a new results version: drawn anew.
    let second = answer.data()["session"]["objects"]["nodes"][1]["id"].clone();
    let label = "mutation($o: ID!, $c: ID!) { labelObject(objectId: $o, role: CHILD, childId: $c) { id } }";
    app.graphql(Some(&token), label, json!({ "o": second, "c": global_id("Child", world.own) })).await.data();
    let redrawn = app.client.get(&link).send().await.unwrap().text().await.unwrap();
    assert!(redrawn.contains("Person 2 (child) expression"), "{redrawn}");
    assert!(!redrawn.contains("Person 1 (child)"), "{redrawn}");
}

#[tokio::test]
async fn pictures_keep_the_rights_of_session_and_child() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let status = |response: reqwest::Response| response.status().as_u16();
    let own = global_id("Session", world.own_analysed.session);
    let sibling = global_id("Session", world.sibling_analysed.session);
    for file in ["timeline.svg", "timeline.png"] {
        let url = format!("{}/sessions/{own}/{file}", app.address);
        assert_eq!(status(app.client.get(&url).send().await.unwrap()), 401, "{file}: no credentials");
        assert_eq!(status(app.client.get(&url).bearer_auth(&token).send().await.unwrap()), 200, "{file}");
        let admin_b = app.login(fixtures::ADMIN_B, fixtures::PASSWORD).await;
        assert_eq!(status(app.client.get(&url).bearer_auth(&admin_b).send().await.unwrap()), 404, "{file}: other org");
        let not_theirs = format!("{}/sessions/{sibling}/{file}", app.address);
        assert_eq!(status(app.client.get(&not_theirs).bearer_auth(&token).send().await.unwrap()), 404, "{file}");
    }
    // A CSV link does not open the picture, nor a picture link the CSV.
    let links = "query($s: ID!) { session(id: $s) { timelineUrl intervalsCsvUrl } }";
    let answer = app.graphql(Some(&token), links, json!({ "s": own })).await;
    let (timeline, csv) = (
        answer.data()["session"]["timelineUrl"].as_str().unwrap().to_owned(),
        answer.data()["session"]["intervalsCsvUrl"].as_str().unwrap().to_owned(),
    );
    let swapped = timeline.replace("/timeline.svg?", "/intervals.csv?");
    assert_eq!(status(app.client.get(&swapped).send().await.unwrap()), 401);
    let swapped = csv.replace("/intervals.csv?", "/timeline.svg?");
    assert_eq!(status(app.client.get(&swapped).send().await.unwrap()), 401);

    // The trend: the child's rights, by token only.
    let trend = format!("{}/children/{}/trend.svg", app.address, global_id("Child", world.own));
    assert_eq!(status(app.client.get(&trend).send().await.unwrap()), 401);
    let answer = app.client.get(&trend).bearer_auth(&token).send().await.unwrap();
    assert_eq!(answer.headers()["content-type"], "image/svg+xml");
    let svg = answer.text().await.unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("observed facial expressions per session"), "{svg}");
    let other = format!("{}/children/{}/trend.svg", app.address, global_id("Child", world.sibling));
    assert_eq!(status(app.client.get(&other).bearer_auth(&token).send().await.unwrap()), 404, "not their child");
    let with_link = format!("{trend}?{}", timeline.split_once('?').unwrap().1);
    assert_eq!(status(app.client.get(&with_link).send().await.unwrap()), 401, "session links open no trend");

    // A key reads them until it is revoked.
    let admin = app.login(fixtures::ADMIN, fixtures::PASSWORD).await;
    let (key_id, key) = app.create_api_key(&admin, "REPORTS", None).await;
    let picture = format!("{}/sessions/{own}/timeline.svg", app.address);
    assert_eq!(status(app.client.get(&picture).bearer_auth(&key).send().await.unwrap()), 200);
    assert_eq!(status(app.client.get(&trend).bearer_auth(&key).send().await.unwrap()), 200);
    let revoke = "mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }";
    app.graphql(Some(&admin), revoke, json!({ "id": key_id })).await.data();
    assert_eq!(status(app.client.get(&picture).bearer_auth(&key).send().await.unwrap()), 401, "revoked");
    assert_eq!(status(app.client.get(&trend).bearer_auth(&key).send().await.unwrap()), 401, "revoked");
}

#[tokio::test]
async fn a_childs_trend_draws_one_bar_per_analysed_session() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    for day in 2..5 {
        fixtures::analysed_session(&app.db, world.own, world.counsellor, day, 2, 3).await;
    }
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let trend = format!("{}/children/{}/trend.svg", app.address, global_id("Child", world.own));
    let svg = app.client.get(&trend).bearer_auth(&token).send().await.unwrap().text().await.unwrap();
    let dates = ["2026-10-02", "2026-10-03", "2026-10-04"];
    assert!(dates.iter().all(|date| svg.contains(date)), "{svg}");
    // Each fixture child showed HAPPY, SAD and NEUTRAL for a third of the time each.
    assert!(svg.contains("HAPPY 33 %") && svg.contains("SAD 33 %"), "{svg}");
}

#[tokio::test]
async fn withdrawn_analysis_consent_takes_the_pictures_with_the_results() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let token = app.login(COUNSELLOR, fixtures::PASSWORD).await;
    let guardian = app.login(fixtures::GUARDIAN, fixtures::PASSWORD).await;
    let url = format!("{}/sessions/{}/timeline.svg", app.address, global_id("Session", world.own_analysed.session));
    let drawn = app.client.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(drawn.status(), 200, "drawn, and kept for this results version");
    let withdraw = "mutation($c: ID!) { withdrawConsent(childId: $c, kind: AUTOMATED_ANALYSIS) { withdrawnAt } }";
    app.graphql(Some(&guardian), withdraw, json!({ "c": global_id("Child", world.own) })).await.data();
    for file in ["timeline.svg", "timeline.png"] {
        let url = url.replace("timeline.svg", file);
        let answer = app.client.get(&url).bearer_auth(&token).send().await.unwrap();
        assert_eq!(answer.status(), 404, "{file}: the results are gone, and so is what was drawn of them");
    }
}
