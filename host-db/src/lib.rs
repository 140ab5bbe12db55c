//! Traffic limits: the minimum and maximum bytes a window may carry, as a timeline of rows
//! (the newest row per name in force at each instant), loaded from PostgreSQL or a JSON file
//! and kept current while a program runs.
//!
//! - [`model`]: rows, names, the [`model::Timeline`] and its validation.
//! - [`schema`]: the PostgreSQL schema and every query on it (the one place that knows them).
//! - [`conninfo`], [`tls`]: connection strings read as libpq reads them, and TLS as libpq
//!   does it (every `sslmode`, `sslrootcert`, client certificates).
//! - [`json`]: the seed's JSON file format.
//! - [`loader`]: a [`loader::Limits`] handle kept current by a background thread (LISTEN/NOTIFY
//!   and a periodic refresh for PostgreSQL, modification time and a periodic refresh for a
//!   file), keeping the last good timeline through outages and bad loads.

pub mod conninfo;
pub mod json;
pub mod loader;
pub mod model;
pub mod schema;
pub mod time_text;
pub mod tls;
