//! syncroll's domain and its store.
//!
//! Architecture invariant: this crate knows nothing of gRPC, the CLI or any
//! remote protocol. It owns the catalog (roots, photos), collections, the
//! naming rules, and the SQLite store they live in.

pub mod bandwidth;
pub mod brake;
pub mod calendar;
pub mod connection;
pub mod error;
pub mod events;
pub mod job;
pub mod keys;
pub mod media;
pub mod names;
pub mod paths;
pub mod planner;
pub mod quoted;
pub mod reconcile;
pub mod root_identity;
pub mod sidecars;
pub mod store;
pub mod types;
pub mod versions;

pub use error::{Error, Result, StorageFault};
pub use store::Store;
pub use types::*;
