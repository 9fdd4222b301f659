//! What adding users and signing in tell about other organisations.

use imind_tests::{
    fixtures::{self, ADMIN_B, COUNSELLOR, World},
    spawn_app_with,
};
use serde_json::{Value, json};

const CREATE_USER: &str = "mutation($e: String!, $p: String!) {
    createUser(input: { email: $e, name: \"New\", role: COUNSELLOR, password: $p }) { id email } }";
const LOGIN: &str = "mutation($e: String!, $p: String!, $o: String) {
    login(email: $e, password: $p, organisation: $o) { user { id } } }";

fn code(response: &imind_tests::Response) -> Option<&str> {
    response.body["errors"][0]["extensions"]["code"].as_str()
}

/// Before, an admin of organisation B adding `counsellor@a.test` was told that the address
/// already exists: that a person has an account at another clinic (a guardian's would say a
/// child is in counselling there). Now an address is unique within an organisation only, and
/// the answer for it is the answer for an address nobody has.
#[tokio::test]
async fn adding_a_user_does_not_tell_of_other_organisations() {
    let app = spawn_app_with(false, |_| {}).await;
    let world = World::build(&app.db).await;
    let admin_b = app.login(ADMIN_B, fixtures::PASSWORD).await;
    let password_b = "another long password";
    let taken_elsewhere = app.graphql(Some(&admin_b), CREATE_USER, json!({ "e": COUNSELLOR, "p": password_b })).await;
    let fresh = app.graphql(Some(&admin_b), CREATE_USER, json!({ "e": "nobody@b.test", "p": password_b })).await;
    assert_eq!(taken_elsewhere.body["errors"], Value::Null, "{}", taken_elsewhere.body);
    assert_eq!(fresh.body["errors"], Value::Null, "{}", fresh.body);
    assert_eq!(taken_elsewhere.data()["createUser"]["email"], COUNSELLOR);
    // Within the organisation the address is still taken (the admin sees its users anyway).
    let again = app.graphql(Some(&admin_b), CREATE_USER, json!({ "e": COUNSELLOR, "p": password_b })).await;
    assert_eq!(code(&again), Some("BAD_USER_INPUT"), "{}", again.body);

    // Each password signs in to its own account.
    let login = |password: &'static str, organisation: Option<&'static str>| {
        let app = &app;
        async move { app.graphql(None, LOGIN, json!({ "e": COUNSELLOR, "p": password, "o": organisation })).await }
    };
    let in_a = login(fixtures::PASSWORD, None).await;
    assert_eq!(in_a.data()["login"]["user"]["id"], fixtures::global_id("User", world.counsellor));
    let in_b = login("another long password", None).await;
    assert_eq!(in_b.data()["login"]["user"]["id"], taken_elsewhere.data()["createUser"]["id"]);
    // Naming an organisation the account is not in fails like a wrong password.
    let elsewhere = login(fixtures::PASSWORD, Some("Organisation B")).await;
    assert_eq!(code(&elsewhere), Some("UNAUTHENTICATED"), "{}", elsewhere.body);
    assert_eq!(elsewhere.body["errors"][0]["message"], "wrong e-mail or password");
}

/// A person with the same password at two clinics is asked which one; naming it signs in.
#[tokio::test]
async fn one_password_for_two_organisations_asks_which() {
    let app = spawn_app_with(false, |_| {}).await;
    let world = World::build(&app.db).await;
    let admin_b = app.login(ADMIN_B, fixtures::PASSWORD).await;
    let created = app.graphql(Some(&admin_b), CREATE_USER, json!({ "e": COUNSELLOR, "p": fixtures::PASSWORD })).await;
    let ambiguous = app.graphql(None, LOGIN, json!({ "e": COUNSELLOR, "p": fixtures::PASSWORD })).await;
    assert_eq!(code(&ambiguous), Some("BAD_USER_INPUT"), "{}", ambiguous.body);
    for (organisation, expected) in [
        ("Organisation A", fixtures::global_id("User", world.counsellor)),
        ("Organisation B", created.data()["createUser"]["id"].as_str().unwrap().to_owned()),
    ] {
        let chosen =
            app.graphql(None, LOGIN, json!({ "e": COUNSELLOR, "p": fixtures::PASSWORD, "o": organisation })).await;
        assert_eq!(chosen.data()["login"]["user"]["id"], expected.as_str(), "{organisation}");
    }
}
