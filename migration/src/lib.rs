//! Database schema migrations. They run on `imind serve` start-up and with `imind migrate`;
//! they work on SQLite and PostgreSQL alike.
//!
//! # Layout
//! One migration per file, named after it (sea-orm's rule): `m20261125_000001_initial_schema`
//! (every table, index and cascade), `m20261125_000002_pending_uploads` (direct uploads),
//! `m20261201_000003_email_per_organisation` (an address is unique within an organisation),
//! `m20261201_000004_compliance` (consent records, the append-only audit log, retention
//! policies, scheduled tasks, child exports), `m20261201_000005_api_keys` (API keys, the
//! children they are restricted to, trusted documents), `m20261202_000006_results_version` (a
//! session's results version), `m20261202_000007_review` (counsellor review),
//! `m20261202_000008_coding_schemes` (an organisation's own codes), and
//! `m20261203_000009_face_quality` (how well each person's face could be read, and the samples
//! each interval rests on), and `m20261203_000010_data_generation` (the counter every write to
//! reported data moves on, for the gateway's response cache).

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_initial_schema;
mod m20261125_000002_pending_uploads;
mod m20261201_000003_email_per_organisation;
mod m20261201_000004_compliance;
mod m20261201_000005_api_keys;
mod m20261202_000006_results_version;
mod m20261202_000007_review;
mod m20261202_000008_coding_schemes;
mod m20261203_000009_face_quality;
mod m20261203_000010_data_generation;

pub use m20261203_000010_data_generation::{COUNTED_TABLES, UNCOUNTED_TABLES};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_initial_schema::Migration),
            Box::new(m20261125_000002_pending_uploads::Migration),
            Box::new(m20261201_000003_email_per_organisation::Migration),
            Box::new(m20261201_000004_compliance::Migration),
            Box::new(m20261201_000005_api_keys::Migration),
            Box::new(m20261202_000006_results_version::Migration),
            Box::new(m20261202_000007_review::Migration),
            Box::new(m20261202_000008_coding_schemes::Migration),
            Box::new(m20261203_000009_face_quality::Migration),
            Box::new(m20261203_000010_data_generation::Migration),
        ]
    }
}
