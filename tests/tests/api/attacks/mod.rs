//! Attacks on the gateway, one file per area. Each test performs an attack that succeeded on the
//! gateway before the defence it checks (the closing notes of the hardening issue list them).

mod accounts;
mod at_rest;
mod cost;
mod multipart;
mod sessions;
mod slow_clients;
mod sockets;
mod surface;
mod videos;
