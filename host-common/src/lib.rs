//! What the host binaries share, written once: the stop flag and its signals ([`stop`]), the
//! clock in the core's [`Millis`] ([`clock`]), value parsers for clap ([`args`]), the settings from flags, environment and file ([`config`]), exit statuses ([`exit`]), man pages and completions for packaging ([`generate`]), the Kafka
//! clients' baseline settings per role ([`kafka`]), rate-limited logging ([`ratelimit`]), the Prometheus endpoint ([`metrics`]), readiness and sd_notify ([`notify`]), a replay's progress bar ([`progress`]), secrets kept out of every output ([`secrets`]) and the
//! `key=value` summary line ([`summary`]).
//!
//! A std crate over `core-nostd`: the dependencies point one way (hosts → host-common → core).
//! Configuration, logging and metrics shared by the binaries belong here too.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod args;
pub mod clock;
pub mod config;
pub mod exit;
pub mod generate;
pub mod kafka;
pub mod logging;
pub mod machine;
pub mod metrics;
pub mod notify;
pub mod progress;
pub mod ratelimit;
pub mod secrets;
pub mod stop;
pub mod summary;

pub use core_nostd::windows::Millis;
