//! Upgrading a database that holds data: what a migration rebuilds keeps every row and every
//! reference to it.

use entity::{enums::Role, organisation, user};
use imind_api::NewUser;
use imind_tests::fixtures::{self, COUNSELLOR};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, EntityTrait, Statement};
use uuid::Uuid;

async fn count(db: &impl ConnectionTrait, table: &str) -> i64 {
    let statement = Statement::from_string(db.get_database_backend(), format!("SELECT COUNT(*) AS n FROM {table}"));
    let row = db.query_one_raw(statement).await.unwrap().expect("a count");
    row.try_get::<i64>("", "n").unwrap()
}

const TABLES: [&str; 8] = [
    "organisations",
    "users",
    "children",
    "child_counsellors",
    "child_guardians",
    "sessions",
    "tracked_objects",
    "refresh_tokens",
];

async fn counts(db: &impl ConnectionTrait) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in TABLES {
        counts.push(count(db, table).await);
    }
    counts
}

/// An organisation as the schema before migration 4 (no retention columns) holds it.
async fn organisation_v2(db: &impl ConnectionTrait, name: &str) -> Uuid {
    let id = Uuid::now_v7();
    let insert = Statement::from_sql_and_values(
        db.get_database_backend(),
        match db.get_database_backend() {
            sea_orm::DbBackend::Postgres => "INSERT INTO organisations (id, name, created_at) VALUES ($1, $2, $3)",
            _ => "INSERT INTO organisations (id, name, created_at) VALUES (?, ?, ?)",
        },
        [id.into(), name.into(), chrono::Utc::now().into()],
    );
    db.execute_raw(insert).await.unwrap();
    id
}

/// Ids of the data written before the upgrade.
struct Before {
    org_a: Uuid,
    admin_b: Uuid,
    guardian: Uuid,
    own: Uuid,
}

/// The test world's people, children, links and an analysed session, written with what the
/// schema of migration 2 has.
async fn world_v2(db: &sea_orm::DatabaseConnection) -> Before {
    let (org_a, org_b) = (organisation_v2(db, "Organisation A").await, organisation_v2(db, "Organisation B").await);
    let admin = fixtures::user(db, org_a, fixtures::ADMIN, Role::Admin).await;
    let counsellor = fixtures::user(db, org_a, COUNSELLOR, Role::Counsellor).await;
    fixtures::user(db, org_a, fixtures::OTHER_COUNSELLOR, Role::Counsellor).await;
    let guardian = fixtures::user(db, org_a, fixtures::GUARDIAN, Role::Guardian).await;
    let admin_b = fixtures::user(db, org_b, fixtures::ADMIN_B, Role::Admin).await;
    let own = fixtures::child_without_consent(db, org_a, "Own Child").await;
    let foreign = fixtures::child_without_consent(db, org_b, "Foreign Child").await;
    fixtures::assign_counsellor(db, own, counsellor).await;
    fixtures::link_guardian(db, own, guardian).await;
    fixtures::analysed_session(db, own, counsellor, 1, 2, 2).await;
    fixtures::analysed_session(db, foreign, admin, 2, 1, 1).await;
    Before { org_a, admin_b, guardian, own }
}

#[tokio::test]
async fn addresses_become_unique_per_organisation_and_nothing_is_lost() {
    let (_dir, db) = imind_tests::empty_database().await;
    Migrator::up(&db, Some(2)).await.unwrap();
    let world = world_v2(&db).await;
    let before = counts(&db).await;
    assert_eq!(before[1], 5, "the world's users");

    Migrator::up(&db, None).await.unwrap();
    assert_eq!(counts(&db).await, before, "{TABLES:?}");
    // Organisations from before retention existed keep their videos until an admin says
    // otherwise: an upgrade deletes nothing.
    let organisations = organisation::Entity::find().all(&db).await.unwrap();
    assert!(organisations.iter().all(|o| o.video_retention_days.is_none() && o.child_retention_days.is_none()));
    let org_b = user::Entity::find_by_id(world.admin_b).one(&db).await.unwrap().unwrap().organisation_id;
    let twin = fixtures::user(&db, org_b, COUNSELLOR, Role::Counsellor).await;
    let again = NewUser::parse(COUNSELLOR, "Twin", Role::Counsellor, fixtures::PASSWORD.into()).unwrap();
    assert!(imind_api::create_user(&db, world.org_a, again).await.is_err(), "twice in one organisation");

    // The rebuilt table is the one the others reference: deleting a user still cascades.
    let links = count(&db, "child_guardians").await;
    user::Entity::delete_by_id(world.guardian).exec(&db).await.unwrap();
    assert_eq!(count(&db, "child_guardians").await, links - 1);
    let dangling = Statement::from_string(
        db.get_database_backend(),
        format!("INSERT INTO child_counsellors (child_id, user_id) VALUES ('{}', '{}')", world.own, uuid::Uuid::nil()),
    );
    assert!(db.execute_raw(dangling).await.is_err(), "foreign keys are enforced after the rebuild");

    // Going back below migration 3 needs the addresses to be unique again, and changes nothing
    // until they are (migrations 10, 9, 8, 7, 6, 5 and 4 go back first, whatever the data).
    assert!(Migrator::down(&db, Some(8)).await.is_err());
    assert_eq!(count(&db, "users").await, before[1]);
    user::Entity::delete_by_id(twin).exec(&db).await.unwrap();
    Migrator::down(&db, Some(1)).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(count(&db, "users").await, before[1] - 1);
}
