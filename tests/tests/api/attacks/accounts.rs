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

    // Without an organisation the address's first account is meant; naming one picks it.
    let login = |password: &'static str, organisation: Option<&'static str>| {
        let app = &app;
        async move { app.graphql(None, LOGIN, json!({ "e": COUNSELLOR, "p": password, "o": organisation })).await }
    };
    let in_a = login(fixtures::PASSWORD, None).await;
    assert_eq!(in_a.data()["login"]["user"]["id"], fixtures::global_id("User", world.counsellor));
    let in_b = login(password_b, Some("Organisation B")).await;
    assert_eq!(in_b.data()["login"]["user"]["id"], taken_elsewhere.data()["createUser"]["id"]);
    // The other account's password, or an organisation the password is not for, fail like any
    // wrong password: one check, whatever the address has elsewhere.
    for (password, organisation) in [(password_b, None), (fixtures::PASSWORD, Some("Organisation B"))] {
        let refused = login(password, organisation).await;
        assert_eq!(code(&refused), Some("UNAUTHENTICATED"), "{}", refused.body);
        assert_eq!(refused.body["errors"][0]["message"], "wrong e-mail or password");
    }
}

/// An attacker's organisation adds the victim's address with a password it knows, and signs
/// in to that decoy from its addresses: those addresses are still strangers to the victim's
/// own account, whose bucket keeps slowing them down.
#[tokio::test]
async fn a_decoy_account_does_not_lift_the_throttle_on_the_real_one() {
    let app = spawn_app_with(false, |settings| {
        // Only the per-account bucket can refuse here (its burst is 4 × login_burst).
        settings.login_per_account_per_minute = 1;
        settings.login_burst = 1;
        settings.login_per_address_per_minute = 1000;
        settings.login_per_account_and_address_per_minute = 1000;
    })
    .await;
    World::build(&app.db).await;
    let admin_b = app.login(ADMIN_B, fixtures::PASSWORD).await;
    app.graphql(Some(&admin_b), CREATE_USER, json!({ "e": COUNSELLOR, "p": "the decoy's password" })).await.data();
    let decoy =
        app.graphql(None, LOGIN, json!({ "e": COUNSELLOR, "p": "the decoy's password", "o": "Organisation B" })).await;
    assert_eq!(decoy.body["errors"], Value::Null, "{}", decoy.body);
    // Guesses at the real account (organisation A, the address's first) from the same address.
    let mut codes = Vec::new();
    for guess in 0..6 {
        let guess = format!("guess number {guess}");
        let response = app.graphql(None, LOGIN, json!({ "e": COUNSELLOR, "p": guess })).await;
        codes.push(code(&response).unwrap_or_default().to_owned());
    }
    assert!(codes.iter().any(|code| code == "TOO_MANY_REQUESTS"), "{codes:?}");
}

/// One password at two clinics: the first account without an organisation, the named one with.
#[tokio::test]
async fn one_password_for_two_organisations() {
    let app = spawn_app_with(false, |_| {}).await;
    let world = World::build(&app.db).await;
    let admin_b = app.login(ADMIN_B, fixtures::PASSWORD).await;
    let created = app.graphql(Some(&admin_b), CREATE_USER, json!({ "e": COUNSELLOR, "p": fixtures::PASSWORD })).await;
    let first = app.graphql(None, LOGIN, json!({ "e": COUNSELLOR, "p": fixtures::PASSWORD })).await;
    assert_eq!(first.data()["login"]["user"]["id"], fixtures::global_id("User", world.counsellor));
    for (organisation, expected) in [
        ("Organisation A", fixtures::global_id("User", world.counsellor)),
        ("Organisation B", created.data()["createUser"]["id"].as_str().unwrap().to_owned()),
    ] {
        let chosen =
            app.graphql(None, LOGIN, json!({ "e": COUNSELLOR, "p": fixtures::PASSWORD, "o": organisation })).await;
        assert_eq!(chosen.data()["login"]["user"]["id"], expected.as_str(), "{organisation}");
    }
}
