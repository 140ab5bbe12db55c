//! `host-stream` as operators run it: with the broker and PostgreSQL of the test command.

mod alertmanager;
mod bad_values;
mod clock_skew;
mod closed_stdout;
mod coverage;
mod end_to_end;
mod filters;
mod limits_db;
mod limits_tls;
mod logs;
mod metrics;
mod outage;
mod partial;
mod plot;
mod progress;
mod restart;
mod revised;
mod scopes;
mod settings;
mod status;
mod support;
