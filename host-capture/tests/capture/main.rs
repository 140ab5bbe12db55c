//! `host-capture` as a user runs it: the binary over real files.

mod bad_input;
mod conformance;
mod kafka;
mod live;
mod support;
mod totals;
