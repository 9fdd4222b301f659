//! Analysis jobs: the durable queue in the database, the workers that run the inference
//! engine, and the events that carry progress and partial results to subscribers.
//!
//! # Layout
//! - [`queue`] — THE writer of job state: enqueue, claim with a lease (PostgreSQL `FOR UPDATE
//!   SKIP LOCKED`; SQLite one atomic statement), heartbeat, complete, retry with back-off,
//!   cancel, release; each change sets the session's status and is announced on the bus from
//!   the same place.
//! - `results` — the people and intervals of one analysis, written in the transaction in which
//!   the queue marks the job DONE; `labels` — the engine's labels in the API's terms.
//! - [`worker`] — the worker pool (`imind worker`, or inside `imind serve`): claiming loop, one
//!   attempt, progress reports, the low-priority analysis thread.
//! - [`maintenance`] — the workers' other work: retention (a scheduled task one worker runs at
//!   a time) and child exports (claimed with leases).
//! - [`events`] — what travels on the bus (its own types, not database rows); [`bus`] — the
//!   bus seam: in-process broadcast or PostgreSQL `LISTEN/NOTIFY`, so a subscriber on any
//!   gateway sees a job run anywhere.

pub mod bus;
pub mod events;
mod labels;
pub mod maintenance;
pub mod queue;
mod results;
pub mod worker;
