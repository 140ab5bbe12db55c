//! The sensor heartbeat: what a producer observed, besides what it counted.
//!
//! A heartbeat says "sensor S was capturing during `[start_ms, end_ms)`, and every record it
//! made for that span, on this partition, comes before this message". host-capture sends one
//! per flush interval, also when the interval had no traffic, to *every* partition of the
//! topic, after the interval's records. A consumer thus knows, per partition, which
//! milliseconds each sensor covered: a window some sensor did not cover is a gap in the input
//! (`no_data`), never a quiet network.
//!
//! - **Kafka**: key the sensor id, header `heartbeat` (value `1`), value the decimal `end_ms`,
//!   message timestamp `start_ms`. A consumer that does not know heartbeats sees a key that is
//!   not `<src>,<dst>` and skips the message as undecodable.
//! - **Pipe lines**: `<start_ms> heartbeat <sensor> <end_ms>`.
//!
//! A sensor id is 1 to [`SENSOR_MAX`] characters of `A–Z a–z 0–9 . _ - : / @` (no comma, no
//! space: it can be neither an address pair nor split a line).

use core::fmt;

use super::{Text, WireError, number, text};

/// The longest sensor id.
pub const SENSOR_MAX: usize = 64;
/// The Kafka header that marks a heartbeat.
pub const HEARTBEAT_HEADER: &str = "heartbeat";
/// The word in a pipe line's second field that marks a heartbeat.
pub const HEARTBEAT_WORD: &str = "heartbeat";
/// Longest heartbeat line, newline included.
pub const HEARTBEAT_LINE_MAX: usize = 20 + 1 + HEARTBEAT_WORD.len() + 1 + SENSOR_MAX + 1 + 20 + 1;

/// A sensor's name: 1 to [`SENSOR_MAX`] characters of `A–Z a–z 0–9 . _ - : / @`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SensorId {
    bytes: [u8; SENSOR_MAX],
    len: u8,
}

/// Whether `b` may be part of a sensor id.
pub const fn sensor_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':' | b'/' | b'@')
}

impl SensorId {
    /// `name` as a sensor id, if it is one.
    pub fn new(name: &[u8]) -> Result<SensorId, WireError> {
        let len = u8::try_from(name.len()).map_err(|_| WireError::BadSensor)?;
        if name.is_empty() || name.len() > SENSOR_MAX || !name.iter().all(|b| sensor_char(*b)) {
            return Err(WireError::BadSensor);
        }
        let mut bytes = [0; SENSOR_MAX];
        bytes
            .get_mut(..name.len())
            .ok_or(WireError::BadSensor)?
            .copy_from_slice(name);
        Ok(SensorId { bytes, len })
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored.
        core::str::from_utf8(self.bytes.get(..usize::from(self.len)).unwrap_or(&[])).unwrap_or("")
    }
}

impl fmt::Debug for SensorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for SensorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A sensor was capturing during `[start_ms, end_ms)` (`start_ms < end_ms`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// Who.
    pub sensor: SensorId,
    /// First millisecond covered, since the Unix epoch.
    pub start_ms: u64,
    /// First millisecond after the span.
    pub end_ms: u64,
}

impl Heartbeat {
    /// The heartbeat, if the span is not empty.
    pub fn new(sensor: SensorId, start_ms: u64, end_ms: u64) -> Result<Heartbeat, WireError> {
        if start_ms >= end_ms {
            return Err(WireError::BadSpan);
        }
        Ok(Heartbeat {
            sensor,
            start_ms,
            end_ms,
        })
    }

    /// The Kafka value: the decimal `end_ms`.
    pub fn kafka_value(&self) -> Text<{ super::NUMBER_MAX }> {
        text(format_args!("{}", self.end_ms))
    }

    /// The pipe line, newline included.
    pub fn line(&self) -> Text<HEARTBEAT_LINE_MAX> {
        text(format_args!(
            "{} {HEARTBEAT_WORD} {} {}\n",
            self.start_ms, self.sensor, self.end_ms
        ))
    }
}

/// Decodes a Kafka heartbeat (a message with the [`HEARTBEAT_HEADER`]): key the sensor id,
/// value the end, timestamp the start.
pub fn decode_kafka_heartbeat(
    key: &[u8],
    value: &[u8],
    timestamp_ms: Option<i64>,
) -> Result<Heartbeat, WireError> {
    let sensor = SensorId::new(key)?;
    let end_ms = number(value).ok_or(WireError::BadValue)?;
    let start_ms = timestamp_ms
        .and_then(|t| u64::try_from(t).ok())
        .ok_or(WireError::BadTimestamp)?;
    Heartbeat::new(sensor, start_ms, end_ms)
}

/// The fields of a heartbeat line after the word: `<sensor> <end_ms>`.
pub(super) fn decode_heartbeat_fields(
    start: &str,
    sensor: &str,
    end: &str,
) -> Result<Heartbeat, WireError> {
    let start_ms = number(start.as_bytes()).ok_or(WireError::BadLine)?;
    let end_ms = number(end.as_bytes()).ok_or(WireError::BadLine)?;
    Heartbeat::new(SensorId::new(sensor.as_bytes())?, start_ms, end_ms)
}

#[cfg(test)]
mod tests {
    use super::super::{Decoded, decode_any_line};
    use super::*;

    fn beat() -> Heartbeat {
        Heartbeat::new(
            SensorId::new(b"gw1/eth0").unwrap(),
            1_700_000_001_000,
            1_700_000_002_000,
        )
        .unwrap()
    }

    #[test]
    fn heartbeats_round_trip() {
        let h = beat();
        assert_eq!(
            h.line().as_str(),
            "1700000001000 heartbeat gw1/eth0 1700000002000\n"
        );
        assert_eq!(
            decode_any_line(h.line().as_bytes()),
            Ok(Decoded::Heartbeat(h))
        );
        assert_eq!(h.kafka_value().as_str(), "1700000002000");
        assert_eq!(
            decode_kafka_heartbeat(
                b"gw1/eth0",
                h.kafka_value().as_bytes(),
                Some(1_700_000_001_000)
            ),
            Ok(h)
        );
        let widest = [b'x'; SENSOR_MAX];
        let w = Heartbeat::new(SensorId::new(&widest).unwrap(), u64::MAX - 1, u64::MAX).unwrap();
        assert_eq!(
            decode_any_line(w.line().as_bytes()),
            Ok(Decoded::Heartbeat(w))
        );
    }

    #[test]
    fn bad_heartbeats_are_errors() {
        for bad in [&b""[..], b"a b", b"a,b", b"\xff", &[b'x'; SENSOR_MAX + 1]] {
            assert_eq!(SensorId::new(bad), Err(WireError::BadSensor), "{bad:?}");
        }
        assert_eq!(
            decode_kafka_heartbeat(b"s", b"5", Some(5)),
            Err(WireError::BadSpan)
        );
        assert_eq!(
            decode_kafka_heartbeat(b"s", b"x", Some(5)),
            Err(WireError::BadValue)
        );
        assert_eq!(
            decode_kafka_heartbeat(b"s", b"9", None),
            Err(WireError::BadTimestamp)
        );
        assert_eq!(
            decode_kafka_heartbeat(b"s,t", b"9", Some(1)),
            Err(WireError::BadSensor)
        );
        assert_eq!(
            decode_any_line(b"5 heartbeat s 5\n"),
            Err(WireError::BadSpan)
        );
        assert_eq!(decode_any_line(b"5 heartbeat s\n"), Err(WireError::BadLine));
        assert_eq!(
            decode_any_line(b"5 heartbeat s 9 1\n"),
            Err(WireError::BadLine)
        );
        assert_eq!(
            decode_any_line(b"5 heartbeat s! 9\n"),
            Err(WireError::BadSensor)
        );
    }
}
