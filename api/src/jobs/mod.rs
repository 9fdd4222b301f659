//! Analysis jobs: the durable queue in the database, the workers that run the inference
//! engine, and the events that carry progress and partial results to subscribers.
//!
//! # Layout
//! - [`queue`] — enqueue, claim with a lease (PostgreSQL `FOR UPDATE SKIP LOCKED`; SQLite one
//!   atomic statement), heartbeat, retry with back-off, cancel, release. Every state change of
//!   a job happens here.
//! - [`results`] — writes one analysis's people and intervals in one transaction that replaces
//!   the session's earlier results.
//! - [`worker`] — the worker pool (`imind worker`, or inside `imind serve`): claims, downloads,
//!   analyses, heartbeats, publishes, stores; graceful shutdown releases the job.
//! - [`events`] — what travels on the bus; [`bus`] — the bus seam: in-process broadcast or
//!   PostgreSQL `LISTEN/NOTIFY`, so a subscriber on any gateway sees a job run anywhere.

pub mod bus;
pub mod events;
pub mod queue;
pub mod results;
pub mod worker;
