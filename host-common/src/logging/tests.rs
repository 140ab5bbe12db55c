//! The lines as they are written, through an in-memory writer in place of [`LogWriter`].

use std::io::Write;
use std::sync::{Arc, Mutex};

use super::*;

/// A writer that keeps what it is given.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'w> MakeWriter<'w> for Captured {
    type Writer = Captured;

    fn make_writer(&'w self) -> Captured {
        self.clone()
    }
}

const TEXT: Style = Style {
    format: Format::Text,
    journald: false,
    ansi: false,
};

/// What `events` log with this filter and style.
fn logged(level: Level, rust_log: Option<&str>, style: Style, events: impl FnOnce()) -> String {
    let out = Captured::default();
    let filter = filter(level, rust_log.map(OsStr::new)).unwrap();
    tracing::subscriber::with_default(subscriber(filter, style, out.clone()), events);
    String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
}

/// One event of each level, of two targets.
fn some_events() {
    tracing::error!(target: "host_stream::kafka_in", "an error");
    tracing::warn!(target: "host_stream::kafka_in", partition = 3, error = %"boom", "kafka: offset commit failed (will retry)");
    tracing::info!(target: "host_stream", "summary records=2 windows=1");
    tracing::debug!(target: "host_stream::kafka_in", partition = 3, "a detail");
    tracing::debug!(target: "host_stream", "another detail");
    tracing::trace!(target: "host_stream", "a trace");
}

/// The line without its timestamp, after checking that it starts with one in UTC
/// (`2026-12-01T21:11:31.123456Z `).
fn untimed(line: &str) -> &str {
    let (stamp, rest) = line.split_at(28);
    let shape: String = stamp
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(shape, "9999-99-99T99:99:99.999999Z ", "{line}");
    rest
}

#[test]
fn text_lines_have_a_timestamp_the_level_the_target_the_message_and_the_fields() {
    let text = logged(Level::Info, None, TEXT, some_events);
    let lines: Vec<&str> = text.lines().map(untimed).collect();
    assert_eq!(
        lines,
        [
            "ERROR host_stream::kafka_in: an error",
            " WARN host_stream::kafka_in: kafka: offset commit failed (will retry) partition=3 error=boom",
            " INFO host_stream: summary records=2 windows=1",
        ]
    );
}

#[test]
fn the_level_hides_the_less_severe_events() {
    let text = logged(Level::Warn, None, TEXT, some_events);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(!text.contains("summary"), "{text}");
    let text = logged(Level::Trace, None, TEXT, some_events);
    assert_eq!(text.lines().count(), 6, "{text}");
    let text = logged(Level::Error, None, TEXT, some_events);
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn rust_log_is_the_whole_filter_when_set() {
    // Its directives only: a target it names at its level, the others not at all.
    let text = logged(
        Level::Error,
        Some("host_stream::kafka_in=debug"),
        TEXT,
        some_events,
    );
    let lines: Vec<&str> = text.lines().map(untimed).collect();
    assert_eq!(
        lines,
        [
            "ERROR host_stream::kafka_in: an error",
            " WARN host_stream::kafka_in: kafka: offset commit failed (will retry) partition=3 error=boom",
            "DEBUG host_stream::kafka_in: a detail partition=3",
        ]
    );
    // A level for the rest first.
    let text = logged(
        Level::Error,
        Some("info,host_stream::kafka_in=debug"),
        TEXT,
        some_events,
    );
    assert_eq!(text.lines().count(), 4, "{text}");
    // Empty: as if unset.
    let text = logged(Level::Warn, Some(""), TEXT, some_events);
    assert_eq!(text.lines().count(), 2, "{text}");
}

#[test]
fn an_invalid_rust_log_is_a_configuration_error_naming_it() {
    let e = filter(Level::Info, Some(OsStr::new("host_stream=verbose"))).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("RUST_LOG=\"host_stream=verbose\": "),
        "{e}"
    );
    assert!(
        e.to_string()
            .ends_with("(a filter is comma-separated LEVEL or TARGET=LEVEL, e.g. info,host_stream::kafka_in=debug; the levels are error, warn, info, debug, trace)"),
        "{e}"
    );
}

#[test]
fn json_lines_are_one_object_each_with_level_target_and_fields() {
    let style = Style {
        format: Format::Json,
        ..TEXT
    };
    let text = logged(Level::Info, None, style, some_events);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    let warn = &lines[1];
    assert_eq!(warn["level"], "WARN");
    assert_eq!(warn["target"], "host_stream::kafka_in");
    assert_eq!(
        warn["fields"],
        serde_json::json!({
            "message": "kafka: offset commit failed (will retry)",
            "partition": 3,
            "error": "boom",
        })
    );
    let stamp = warn["timestamp"].as_str().unwrap();
    untimed(&format!("{stamp} "));
    // The journal changes nothing in JSON.
    let journald = Style {
        journald: true,
        ..style
    };
    let text = logged(Level::Info, None, journald, some_events);
    assert!(
        text.lines().all(|l| l.starts_with("{\"timestamp\":")),
        "{text}"
    );
}

#[test]
fn journald_lines_start_with_the_syslog_priority_and_have_no_timestamp() {
    let style = Style {
        journald: true,
        ..TEXT
    };
    let text = logged(Level::Trace, None, style, some_events);
    assert_eq!(
        text,
        "<3>ERROR host_stream::kafka_in: an error\n\
         <4>WARN host_stream::kafka_in: kafka: offset commit failed (will retry) partition=3 error=boom\n\
         <6>INFO host_stream: summary records=2 windows=1\n\
         <7>DEBUG host_stream::kafka_in: a detail partition=3\n\
         <7>DEBUG host_stream: another detail\n\
         <7>TRACE host_stream: a trace\n"
    );
}

#[test]
fn the_journal_is_recognised_by_device_and_inode() {
    let is = |v: &str| is_journal_stream(Some(OsStr::new(v)), (8, 48322));
    assert!(is("8:48322"));
    assert!(!is("8:48323"));
    assert!(!is("9:48322"));
    assert!(!is("8:48322:1"));
    assert!(!is("8"));
    assert!(!is(""));
    assert!(!is_journal_stream(None, (8, 48322)));
    // stderr is something, whatever the test runner made it.
    assert!(stderr_identity().is_some());
}
