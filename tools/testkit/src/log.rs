//! The binaries' log lines on stderr (`host_common::logging`), for assertions on what they say
//! rather than when or in which format: a text line `2026-12-01T21:11:31.123456Z  WARN
//! host_stream::kafka_in: kafka: … partition=3` and a JSON line `{"timestamp":…,"level":"WARN",
//! "fields":{"message":"kafka: …","partition":3},"target":"host_stream::kafka_in"}` are both
//! read as `WARN host_stream::kafka_in: kafka: … partition=3` (a JSON line's other fields in
//! the alphabetical order of their names). Tests that choose `--log-format json` for
//! host-stream's window lines get JSON log lines too, and read them the same way.

/// A log line without its timestamp (`LEVEL TARGET: MESSAGE FIELDS`), or `None` when it is not
/// a log line (what a program prints before its log exists: usage and configuration errors).
pub fn untimed_line(line: &str) -> Option<String> {
    if line.starts_with("{\"timestamp\":") {
        return from_json(line);
    }
    let stamp = line.get(..27)?;
    let shape: String = stamp
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    (shape == "9999-99-99T99:99:99.999999Z").then(|| line[27..].trim_start().to_string())
}

/// A JSON log line as [`untimed_line`] gives a text one.
fn from_json(line: &str) -> Option<String> {
    let event: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = event["fields"].as_object()?;
    let mut out = format!(
        "{} {}: {}",
        event["level"].as_str()?,
        event["target"].as_str()?,
        fields.get("message")?.as_str()?
    );
    for (k, v) in fields.iter().filter(|(k, _)| *k != "message") {
        match v.as_str() {
            Some(text) => out.push_str(&format!(" {k}={text}")),
            None => out.push_str(&format!(" {k}={v}")),
        }
    }
    Some(out)
}

/// Every line of `stderr`, log lines as [`untimed_line`] gives them (others as they are), each
/// ending in `\n`.
pub fn untimed(stderr: &str) -> String {
    stderr
        .lines()
        .map(|l| format!("{}\n", untimed_line(l).unwrap_or_else(|| l.to_string())))
        .collect()
}

/// [`untimed`] of a child's stderr as bytes.
pub fn text(stderr: &[u8]) -> String {
    untimed(&String::from_utf8_lossy(stderr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_loses_its_timestamp_and_keeps_the_rest() {
        let line = "2026-12-01T21:11:31.123456Z  WARN host_stream::kafka_in: kafka: x partition=3";
        let want = "WARN host_stream::kafka_in: kafka: x partition=3";
        assert_eq!(untimed_line(line).as_deref(), Some(want));
        let json = r#"{"timestamp":"2026-12-01T21:11:31.123456Z","level":"WARN","fields":{"message":"kafka: x","partition":3},"target":"host_stream::kafka_in"}"#;
        assert_eq!(untimed_line(json).as_deref(), Some(want));
        assert_eq!(untimed_line("host-stream: --window: bad"), None);
        assert_eq!(
            untimed(&format!("{line}\nplain\n")),
            format!("{want}\nplain\n")
        );
    }
}
