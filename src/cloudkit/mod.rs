//! CloudKit Web Services: wire shapes, request signing, and the HTTP client.

pub mod auth;
pub mod body;
pub mod client;
pub mod error;
pub mod management;
pub mod query;
pub mod retry;
pub mod secret_file;
pub mod token;
pub mod wire;

pub use client::{Client, ClientOptions, Lookup, OperationResult, RecordFailure};
pub use error::CloudKitError;
pub use query::{QueryField, QueryFilter, QuerySort, QuerySpec};
pub use retry::RetryPolicy;
