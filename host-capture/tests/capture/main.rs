//! `host-capture` as a user runs it: the binary over real files.

mod kafka;
mod support;
mod totals;
