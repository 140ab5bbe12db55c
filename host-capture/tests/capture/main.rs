//! `host-capture` as a user runs it: the binary over real files.

mod bad_input;
mod conformance;
mod filter;
mod kafka;
mod live;
mod logs;
mod metrics;
mod overflow;
mod privileges;
mod progress;
mod settings;
mod stdout;
mod support;
mod totals;
mod watch;
