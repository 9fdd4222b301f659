//! Upgrading a database that holds data: what a migration rebuilds keeps every row and every
//! reference to it.

use entity::{enums::Role, user};
use imind_api::NewUser;
use imind_tests::fixtures::{self, COUNSELLOR, World};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, EntityTrait, Statement};

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

#[tokio::test]
async fn addresses_become_unique_per_organisation_and_nothing_is_lost() {
    let (_dir, db) = imind_tests::empty_database().await;
    Migrator::up(&db, Some(2)).await.unwrap();
    let world = World::build(&db).await;
    let before = counts(&db).await;
    assert_eq!(before[1], 5, "the world's users");

    Migrator::up(&db, None).await.unwrap();
    assert_eq!(counts(&db).await, before, "{TABLES:?}");
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

    // Going back needs the addresses to be unique again, and changes nothing until they are.
    assert!(Migrator::down(&db, Some(1)).await.is_err());
    assert_eq!(count(&db, "users").await, before[1]);
    user::Entity::delete_by_id(twin).exec(&db).await.unwrap();
    Migrator::down(&db, Some(1)).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(count(&db, "users").await, before[1] - 1);
}
