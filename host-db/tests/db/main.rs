//! Integration tests of host-db against a real PostgreSQL. One test binary; each file is a module.
//!
//! The server is the one named by `STREAMCHECKER_TEST_DATABASE_URL` (`scripts/test` starts a
//! throw-away PostgreSQL and sets it). Without the variable the tests are skipped, unless
//! `STREAMCHECKER_REQUIRE_SERVICES=1`, which makes them fail. Each limits test works in a
//! database of its own. The TLS tests (`tls.rs`) also need `STREAMCHECKER_TEST_DATABASE_CA` and
//! `STREAMCHECKER_TEST_DATABASE_TLS_ROLE` (see `scripts/test`).

mod files;
mod limits;
mod scopes;
mod smoke;
mod support;
mod tls;
