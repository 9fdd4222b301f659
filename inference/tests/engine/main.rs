//! The inference engine against real models and real footage. One binary for all of it.

mod accuracy;
mod bomb;
mod common;
mod footage;
mod identity;
mod isolated;
mod parity;
mod recordings;
mod video;
