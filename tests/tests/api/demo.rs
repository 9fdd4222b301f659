//! `serve --demo`: the playground has a report to show, for each demo login.

use imind_api::demo_logins as demo;
use imind_tests::spawn_app_with;
use serde_json::json;

/// The report query a newcomer types into the playground.
const REPORT: &str = "{ children { edges { node { name sessions { edges { node { objects { edges { node {
    emotionIntervals { edges { node { emotion startMs endMs } } } } } } } } } } } } }";

fn interval_count(data: &serde_json::Value) -> usize {
    let mut count = 0;
    for child in data["children"]["edges"].as_array().unwrap() {
        for session in child["node"]["sessions"]["edges"].as_array().unwrap() {
            for object in session["node"]["objects"]["edges"].as_array().unwrap() {
                for interval in object["node"]["emotionIntervals"]["edges"].as_array().unwrap() {
                    let node = &interval["node"];
                    assert!(node["startMs"].as_i64().unwrap() < node["endMs"].as_i64().unwrap());
                    count += 1;
                }
            }
        }
    }
    count
}

#[tokio::test]
async fn demo_logins_see_reports() {
    let app = spawn_app_with(true, |_| {}).await;
    let mut names_by_login = Vec::new();
    for email in [demo::ADMIN, demo::COUNSELLOR, demo::GUARDIAN] {
        let token = app.login(email, demo::PASSWORD).await;
        let response = app.graphql(Some(&token), REPORT, json!({})).await;
        let data = response.data();
        assert!(interval_count(data) > 50, "{email} sees a real report");
        let names: Vec<String> = data["children"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|edge| edge["node"]["name"].as_str().unwrap().to_owned())
            .collect();
        names_by_login.push(names);
    }
    assert_eq!(names_by_login[0], ["Leo Example", "Mia Example", "Noah Example"]);
    assert_eq!(names_by_login[1], ["Mia Example", "Noah Example"]);
    assert_eq!(names_by_login[2], ["Mia Example"]);
}

#[tokio::test]
async fn demo_seed_is_idempotent_and_has_trends() {
    let app = spawn_app_with(true, |_| {}).await;
    // Seeding again (a restart with --demo) changes nothing.
    imind_api::seed_demo(&app.db).await.unwrap();
    let token = app.login(demo::ADMIN, demo::PASSWORD).await;
    let response = app
        .graphql(
            Some(&token),
            "{ children(search: \"mia\") { totalCount edges { node { emotionTrend { recordedAt shares { emotion fraction } } } } } }",
            json!({}),
        )
        .await;
    let data = response.data();
    assert_eq!(data["children"]["totalCount"], 1);
    let trend = data["children"]["edges"][0]["node"]["emotionTrend"].as_array().unwrap();
    assert_eq!(trend.len(), 4, "one entry per analysed session");
    for entry in trend {
        let total: f64 = entry["shares"].as_array().unwrap().iter().map(|s| s["fraction"].as_f64().unwrap()).sum();
        assert!((total - 1.0).abs() < 1e-9, "shares add up to 1: {total}");
    }
}
