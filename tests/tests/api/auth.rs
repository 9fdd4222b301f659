//! Sign-in, tokens and their edge cases.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::Utc;
use imind_tests::{
    JWT_SECRET,
    fixtures::{self, ADMIN, World},
    spawn_app,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

const ME: &str = "{ me { email role } }";

fn forge(secret: &str, algorithm: Algorithm, claims: serde_json::Value) -> String {
    encode(&Header::new(algorithm), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

fn claims(world: &World, exp_offset_secs: i64, audience: &str) -> serde_json::Value {
    json!({
        "iss": "i-mind",
        "aud": audience,
        "sub": world.admin,
        "org": world.org_a,
        "role": "ADMIN",
        "iat": Utc::now().timestamp(),
        "exp": Utc::now().timestamp() + exp_offset_secs,
    })
}

#[tokio::test]
async fn login_returns_a_working_token_and_rejects_bad_credentials() {
    let app = spawn_app().await;
    World::build(&app.db).await;
    let token = app.login(ADMIN, fixtures::PASSWORD).await;
    let me = app.graphql(Some(&token), ME, json!({})).await;
    assert_eq!(me.data()["me"], json!({ "email": ADMIN, "role": "ADMIN" }));
    // E-mail is case-insensitive.
    let upper = app.login(&ADMIN.to_uppercase(), fixtures::PASSWORD).await;
    assert!(!upper.is_empty());

    let login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }";
    for (email, password) in [(ADMIN, "wrong password!"), ("nobody@a.test", fixtures::PASSWORD), ("not an email", "x")]
    {
        let response = app.graphql(None, login, json!({ "e": email, "p": password })).await;
        assert_eq!(response.error_code(), Some("UNAUTHENTICATED"), "{email}");
        assert_eq!(response.body["data"], serde_json::Value::Null);
    }
}

#[tokio::test]
async fn bad_tokens_are_unauthenticated() {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let good = forge(JWT_SECRET, Algorithm::HS256, claims(&world, 600, "i-mind-api"));
    assert!(app.graphql(Some(&good), ME, json!({})).await.error_code().is_none(), "the forging itself is right");

    let header_none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(&world, 600, "i-mind-api").to_string());
    let cases = [
        ("expired", forge(JWT_SECRET, Algorithm::HS256, claims(&world, -3600, "i-mind-api"))),
        (
            "wrong signature",
            forge("another-secret-0123456789abcdef0123456789", Algorithm::HS256, claims(&world, 600, "i-mind-api")),
        ),
        ("alg none", format!("{header_none}.{payload}.")),
        ("wrong audience", forge(JWT_SECRET, Algorithm::HS256, claims(&world, 600, "someone-else"))),
        ("other algorithm", forge(JWT_SECRET, Algorithm::HS512, claims(&world, 600, "i-mind-api"))),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (case, token) in cases {
        let response = app.graphql(Some(&token), ME, json!({})).await;
        assert_eq!(response.error_code(), Some("UNAUTHENTICATED"), "{case}: {}", response.body);
    }
    // A malformed header is no better than none.
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("authorization", "Basic abc")
        .json(&json!({ "query": ME }))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn refresh_tokens_rotate_once_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    World::build(&app.db).await;
    let (_, first) = app.login_pair(ADMIN, fixtures::PASSWORD).await;
    let refresh =
        "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken user { email } } }";

    let rotated = app.graphql(None, refresh, json!({ "t": first })).await;
    let second = rotated.data()["refreshToken"]["refreshToken"].as_str().unwrap().to_owned();
    let access = rotated.data()["refreshToken"]["accessToken"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert!(app.graphql(Some(&access), ME, json!({})).await.error_code().is_none());

    // The first token was used: presenting it again is refused and revokes the family…
    let reused = app.graphql(None, refresh, json!({ "t": first })).await;
    assert_eq!(reused.error_code(), Some("UNAUTHENTICATED"));
    // …so the legitimately rotated one no longer works either.
    let after = app.graphql(None, refresh, json!({ "t": second })).await;
    assert_eq!(after.error_code(), Some("UNAUTHENTICATED"));

    let unknown = app.graphql(None, refresh, json!({ "t": "made-up" })).await;
    assert_eq!(unknown.error_code(), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn logout_revokes_the_refresh_token() {
    let app = spawn_app().await;
    World::build(&app.db).await;
    let (_, refresh_token) = app.login_pair(ADMIN, fixtures::PASSWORD).await;
    let logout =
        app.graphql(None, "mutation($t: String!) { logout(refreshToken: $t) }", json!({ "t": refresh_token })).await;
    assert_eq!(logout.data()["logout"], true);
    let refresh = "mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken } }";
    let response = app.graphql(None, refresh, json!({ "t": refresh_token })).await;
    assert_eq!(response.error_code(), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn refresh_tokens_are_stored_hashed() {
    let app = spawn_app().await;
    World::build(&app.db).await;
    let (_, refresh_token) = app.login_pair(ADMIN, fixtures::PASSWORD).await;
    use sea_orm::EntityTrait;
    let stored = entity::refresh_token::Entity::find().all(&app.db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0].token_hash, refresh_token);
    assert_eq!(stored[0].token_hash.len(), 64, "a hex SHA-256");
}
