//! Third-party access: API keys, rate limits and quotas, trusted documents and documents by
//! hash. (The scope matrix of keys is part of `access_matrix`; the playground's browser test
//! is in `attacks::surface`; revocation across gateways in `distributed`.)

mod documents;
mod guide;
mod keys;
mod rate_limits;

use imind_tests::{
    TestApp,
    fixtures::{self, ADMIN, World},
    spawn_app, spawn_app_with,
};

/// A gateway, the two-organisation world and organisation A's admin's token.
async fn app() -> (TestApp, World, String) {
    let app = spawn_app().await;
    let world = World::build(&app.db).await;
    let admin = app.login(ADMIN, fixtures::PASSWORD).await;
    (app, world, admin)
}

/// The same with settings of the test's own.
async fn app_with(configure: impl FnOnce(&mut imind_api::Settings)) -> (TestApp, World, String) {
    let app = spawn_app_with(false, configure).await;
    let world = World::build(&app.db).await;
    let admin = app.login(ADMIN, fixtures::PASSWORD).await;
    (app, world, admin)
}
