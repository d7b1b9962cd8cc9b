//! CloudKit Web Services: wire shapes, request signing, and the HTTP client.

pub mod auth;
pub mod target;
pub mod wire;

pub use target::{Database, Environment, Target};
