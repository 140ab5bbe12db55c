//! The traffic record and its wire formats: the one place that knows them. `host-capture`
//! encodes with it and `host-stream` decodes with it.
//!
//! A record is the traffic of one (source, destination) pair in one flush interval:
//!
//! - **Kafka, text** (the default, and the seed's format): key `"<src>,<dst>"` (IPv6 in RFC
//!   5952 form), value the decimal byte count, header `packets` the decimal packet count, and
//!   the message timestamp (CreateTime, ms) the interval start. A record with no `packets`
//!   header counts as one packet (the seed sent one record per packet).
//! - **Kafka, JSON** (`--format json`): the same key; value
//!   `{"src":"…","dst":"…","bytes":N,"packets":N,"start_ms":N,"end_ms":N}`.
//! - **Pipe lines**: `<start_ms> <src> <dst> <bytes> <packets>`.
//!
//! Encoding writes into fixed buffers; decoding is nom over the borrowed bytes. Neither
//! allocates. `docs/wire-format.md` is the reference for other producers and consumers.

use core::fmt::{self, Write};
use core::net::IpAddr;
use core::str::FromStr;

use nom::Parser;
use nom::branch::alt;
use nom::bytes::complete::{tag, take_while, take_while1};
use nom::character::complete::{char, multispace0, space1};
use nom::combinator::{all_consuming, opt};
use nom::sequence::{delimited, preceded, separated_pair};

use crate::pairs::{Counts, Pair};
use crate::units::Count;

mod heartbeat;
pub use heartbeat::{
    HEARTBEAT_HEADER, HEARTBEAT_LINE_MAX, HEARTBEAT_WORD, Heartbeat, SENSOR_MAX, SensorId,
    decode_kafka_heartbeat, sensor_char,
};

/// One pair's traffic in one interval (a traffic record; a capture file's entries are
/// [`crate::savefile::Entry`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    /// Interval start, ms since the Unix epoch.
    pub start_ms: u64,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Bytes (accounting rules of [`crate::Summary::length`]).
    pub bytes: u64,
    /// Packets.
    pub packets: u64,
}

/// The most bytes one record may carry: 10 Tbit/s for an hour (4.5 PB). A record covers one
/// flush interval of one pair (seconds, for host-capture); a count beyond this cannot be
/// traffic, so decoding refuses it ([`WireError::Implausible`]) instead of letting it swamp a
/// window. 4,096 such records still fit in a window's 64-bit sum.
pub const MAX_BYTES: u64 = 10_000_000_000_000 / 8 * 3600;
/// The most packets one record may carry: [`MAX_BYTES`] in packets of 20 bytes, the smallest
/// IP header.
pub const MAX_PACKETS: u64 = MAX_BYTES / 20;

/// The name of the Kafka header that carries the packet count.
pub const PACKETS_HEADER: &str = "packets";

/// Room for the longest key: two IPv6 addresses (at most 39 characters each as `core::net`
/// prints them; 45 allowed, the longest RFC 4291 spelling) and a comma.
pub const KEY_MAX: usize = 91;
/// Longest decimal `u64`.
pub const NUMBER_MAX: usize = 20;
/// Longest JSON value.
pub const JSON_MAX: usize = 224;
/// Longest pipe line, newline included.
pub const LINE_MAX: usize = 20 + 1 + 45 + 1 + 45 + 1 + 20 + 1 + 20 + 1;

/// A fixed-capacity text buffer. Writing past the end fails (`fmt::Error`) instead of
/// truncating silently; the capacities above make that impossible for records.
#[derive(Clone, Copy)]
pub struct Text<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    const fn new() -> Self {
        Text {
            bytes: [0; N],
            len: 0,
        }
    }

    /// The text written.
    pub fn as_str(&self) -> &str {
        // Only `str`s are ever written, whole, so the bytes are UTF-8.
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The bytes written.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

impl<const N: usize> Write for Text<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl<const N: usize> fmt::Debug for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

fn text<const N: usize>(args: fmt::Arguments<'_>) -> Text<N> {
    let mut t = Text::new();
    // Cannot fail for the sizes used here; an empty text would be rejected by any decoder.
    if t.write_fmt(args).is_err() {
        t.len = 0;
    }
    t
}

impl Record {
    /// The traffic `counts` of `pair` in the interval starting at `start_ms`.
    #[inline]
    pub const fn new(start_ms: u64, pair: Pair, counts: Counts) -> Record {
        Record {
            start_ms,
            src: pair.src,
            dst: pair.dst,
            bytes: counts.bytes,
            packets: counts.packets,
        }
    }

    /// The (source, destination) pair.
    #[inline]
    pub const fn pair(&self) -> Pair {
        Pair::new(self.src, self.dst)
    }

    /// The bytes and packets.
    #[inline]
    pub const fn counts(&self) -> Counts {
        Counts::new(self.bytes, self.packets)
    }

    /// The Kafka key: `"<src>,<dst>"`.
    pub fn key(&self) -> Text<KEY_MAX> {
        text(format_args!("{},{}", self.src, self.dst))
    }

    /// The Kafka value in the text format: the decimal byte count.
    pub fn text_value(&self) -> Text<NUMBER_MAX> {
        text(format_args!("{}", self.bytes))
    }

    /// The `packets` header value: the decimal packet count.
    pub fn packets_header(&self) -> Text<NUMBER_MAX> {
        text(format_args!("{}", self.packets))
    }

    /// The Kafka value in the JSON format; `end_ms` is the interval's end.
    pub fn json_value(&self, end_ms: u64) -> Text<JSON_MAX> {
        text(format_args!(
            r#"{{"src":"{}","dst":"{}","bytes":{},"packets":{},"start_ms":{},"end_ms":{}}}"#,
            self.src, self.dst, self.bytes, self.packets, self.start_ms, end_ms
        ))
    }

    /// The pipe line, newline included.
    pub fn line(&self) -> Text<LINE_MAX> {
        text(format_args!(
            "{} {} {} {} {}\n",
            self.start_ms, self.src, self.dst, self.bytes, self.packets
        ))
    }
}

/// Which part of a record could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireError {
    /// The key is not `"<src>,<dst>"` with two addresses.
    BadKey,
    /// The value is neither a decimal byte count nor the JSON object.
    BadValue,
    /// The `packets` header is not a decimal count.
    BadPackets,
    /// The message has no timestamp, or one before 1970.
    BadTimestamp,
    /// The JSON value's addresses differ from the key's.
    KeyMismatch,
    /// A pipe line is not `<start_ms> <src> <dst> <bytes> <packets>`.
    BadLine,
    /// A pipe line is not UTF-8 text.
    NotUtf8,
    /// A heartbeat's sensor id is not 1 to [`SENSOR_MAX`] characters of
    /// [`sensor_char`].
    BadSensor,
    /// A heartbeat's span is empty (its end is not after its start).
    BadSpan,
    /// The counts cannot be real traffic: more than [`MAX_BYTES`] or [`MAX_PACKETS`].
    Implausible {
        /// Bytes claimed.
        bytes: u64,
        /// Packets claimed.
        packets: u64,
    },
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let WireError::Implausible { bytes, packets } = *self {
            return write!(
                f,
                "{} and {} cannot be one record's traffic \
                 (at most {MAX_BYTES} bytes and {MAX_PACKETS} packets)",
                Count(bytes, "byte"),
                Count(packets, "packet")
            );
        }
        f.write_str(match self {
            WireError::BadKey => "key is not \"<src>,<dst>\"",
            WireError::BadValue => "value is neither a decimal byte count nor a record object",
            WireError::BadPackets => "packets header is not a decimal count",
            WireError::BadTimestamp => "message timestamp is missing or before 1970",
            WireError::KeyMismatch => "JSON addresses differ from the key",
            WireError::BadLine => "line is not \"<start_ms> <src> <dst> <bytes> <packets>\"",
            WireError::NotUtf8 => "line is not UTF-8 text",
            WireError::BadSensor => {
                "heartbeat's sensor id is not 1 to 64 of A-Z a-z 0-9 . _ - : / @"
            }
            WireError::BadSpan => "heartbeat's end is not after its start",
            WireError::Implausible { .. } => "implausible counts",
        })
    }
}

impl core::error::Error for WireError {}

type E<'a> = nom::error::Error<&'a str>;

fn address(text: &str) -> Option<IpAddr> {
    IpAddr::from_str(text).ok()
}

fn utf8(bytes: &[u8]) -> Option<&str> {
    core::str::from_utf8(bytes).ok()
}

/// `r`, if its counts can be real ([`MAX_BYTES`], [`MAX_PACKETS`]).
fn plausible(r: Record) -> Result<Record, WireError> {
    if r.bytes > MAX_BYTES || r.packets > MAX_PACKETS {
        return Err(WireError::Implausible {
            bytes: r.bytes,
            packets: r.packets,
        });
    }
    Ok(r)
}

/// Decodes a Kafka key into its two addresses.
pub fn decode_key(key: &[u8]) -> Result<(IpAddr, IpAddr), WireError> {
    // Byte-wise, without a parser combinator: the key is on the per-record path of every
    // consumer. Exactly one comma, with something on each side.
    let comma = key
        .iter()
        .position(|b| *b == b',')
        .ok_or(WireError::BadKey)?;
    let (src, rest) = key.split_at_checked(comma).ok_or(WireError::BadKey)?;
    let dst = rest.get(1..).ok_or(WireError::BadKey)?;
    if src.is_empty() || dst.is_empty() || dst.contains(&b',') {
        return Err(WireError::BadKey);
    }
    let addr = |b: &[u8]| address_bytes(b).ok_or(WireError::BadKey);
    Ok((addr(src)?, addr(dst)?))
}

/// An address as text bytes: dotted-quad IPv4 in its canonical form read directly (the
/// common case), anything else through `core::net`'s parser.
#[inline]
fn address_bytes(text: &[u8]) -> Option<IpAddr> {
    ipv4_canonical(text).or_else(|| address(utf8(text)?))
}

/// `a.b.c.d` with each octet 0–255 written without leading zeros; `None` for anything else
/// (which the full parser then judges). One pass over the bytes.
#[inline]
fn ipv4_canonical(text: &[u8]) -> Option<IpAddr> {
    let mut octets = [0u8; 4];
    // The octet being read, its value so far and how many digits it has.
    let (mut at, mut value, mut digits) = (0usize, 0u16, 0u8);
    for &b in text {
        if b == b'.' {
            if digits == 0 {
                return None;
            }
            *octets.get_mut(at)? = u8::try_from(value).ok()?;
            (at, value, digits) = (at + 1, 0, 0);
        } else if b.is_ascii_digit() {
            // A fourth digit, or a digit after a leading zero.
            if digits == 3 || (digits == 1 && value == 0) {
                return None;
            }
            value = value * 10 + u16::from(b - b'0');
            digits += 1;
        } else {
            return None;
        }
    }
    if at != 3 || digits == 0 {
        return None;
    }
    *octets.get_mut(3)? = u8::try_from(value).ok()?;
    Some(IpAddr::V4(core::net::Ipv4Addr::from(octets)))
}

/// A decimal `u64` as text (bytes), digits only (at least one, no sign), `None` beyond
/// `u64::MAX`.
#[inline]
fn number(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    text.iter().try_fold(0u64, |n, b| {
        if !b.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Decodes a Kafka message: key, value (text or JSON), the `packets` header if present and
/// the message timestamp in ms.
pub fn decode_kafka(
    key: &[u8],
    value: &[u8],
    packets: Option<&[u8]>,
    timestamp_ms: Option<i64>,
) -> Result<Record, WireError> {
    let (src, dst) = decode_key(key)?;
    if value.trim_ascii_start().starts_with(b"{") {
        let json = decode_json(utf8(value).ok_or(WireError::BadValue)?)?;
        if (json.src, json.dst) != (src, dst) {
            return Err(WireError::KeyMismatch);
        }
        return Ok(json);
    }
    let bytes = number(value).ok_or(WireError::BadValue)?;
    let packets = match packets {
        None => 1,
        Some(p) => number(p).ok_or(WireError::BadPackets)?,
    };
    let start_ms = timestamp_ms
        .and_then(|t| u64::try_from(t).ok())
        .ok_or(WireError::BadTimestamp)?;
    plausible(Record {
        start_ms,
        src,
        dst,
        bytes,
        packets,
    })
}

/// One JSON member's value: a string or an unsigned integer.
enum Json<'a> {
    Str(&'a str),
    Num(u64),
}

/// Decodes the JSON value. Members may come in any order and unknown members are ignored;
/// strings with escapes are not accepted (no address needs one).
pub fn decode_json(value: &str) -> Result<Record, WireError> {
    let string = || {
        delimited(
            char::<&str, E<'_>>('"'),
            take_while(|c| c != '"' && c != '\\'),
            char('"'),
        )
    };
    let mut member = separated_pair(
        preceded(multispace0, string()),
        (multispace0, char(':'), multispace0),
        alt((
            string().map(Json::Str),
            nom::character::complete::u64.map(Json::Num),
        )),
    );
    let bad = |_| WireError::BadValue;
    let (mut rest, _) = (multispace0, char::<&str, E<'_>>('{'))
        .parse(value)
        .map_err(bad)?;
    let (mut src, mut dst, mut bytes, mut packets, mut start) = (None, None, None, None, None);
    loop {
        let (after, (name, v)) = member.parse(rest).map_err(bad)?;
        match (name, v) {
            ("src", Json::Str(s)) => src = address(s),
            ("dst", Json::Str(s)) => dst = address(s),
            ("bytes", Json::Num(n)) => bytes = Some(n),
            ("packets", Json::Num(n)) => packets = Some(n),
            ("start_ms", Json::Num(n)) => start = Some(n),
            ("src" | "dst" | "bytes" | "packets" | "start_ms", _) => {
                return Err(WireError::BadValue);
            }
            _ => {}
        }
        let (after, sep) = preceded(multispace0, alt((char::<&str, E<'_>>(','), char('}'))))
            .parse(after)
            .map_err(bad)?;
        rest = after;
        if sep == '}' {
            break;
        }
    }
    all_consuming(multispace0::<&str, E<'_>>)
        .parse(rest)
        .map_err(bad)?;
    plausible(Record {
        start_ms: start.ok_or(WireError::BadValue)?,
        src: src.ok_or(WireError::BadValue)?,
        dst: dst.ok_or(WireError::BadValue)?,
        bytes: bytes.ok_or(WireError::BadValue)?,
        packets: packets.ok_or(WireError::BadValue)?,
    })
}

/// What a pipe line or a Kafka message holds: traffic, or a sensor's heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A traffic record.
    Record(Record),
    /// A heartbeat ([`Heartbeat`]).
    Heartbeat(Heartbeat),
}

/// Decodes a Kafka message of either kind: a heartbeat when it has the [`HEARTBEAT_HEADER`]
/// (`heartbeat` set), else a record ([`decode_kafka`]).
pub fn decode_kafka_message(
    key: &[u8],
    value: &[u8],
    packets: Option<&[u8]>,
    heartbeat: bool,
    timestamp_ms: Option<i64>,
) -> Result<Decoded, WireError> {
    if heartbeat {
        return decode_kafka_heartbeat(key, value, timestamp_ms).map(Decoded::Heartbeat);
    }
    decode_kafka(key, value, packets, timestamp_ms).map(Decoded::Record)
}

/// Decodes a pipe line of either kind, as it was read (bytes, with or without the newline):
/// `<start_ms> heartbeat <sensor> <end_ms>` is a heartbeat, anything else must be a record.
pub fn decode_any_line(line: &[u8]) -> Result<Decoded, WireError> {
    let text = utf8(line).ok_or(WireError::NotUtf8)?;
    let mut words = text.split_ascii_whitespace();
    if words.nth(1) != Some(HEARTBEAT_WORD) {
        return decode_line(text).map(Decoded::Record);
    }
    let mut words = text.split_ascii_whitespace();
    match (words.next(), words.nth(1), words.next(), words.next()) {
        (Some(start), Some(sensor), Some(end), None) => {
            heartbeat::decode_heartbeat_fields(start, sensor, end).map(Decoded::Heartbeat)
        }
        _ => Err(WireError::BadLine),
    }
}

/// Decodes a pipe line as it was read, bytes that may not be text (with or without its
/// newline): [`WireError::NotUtf8`] when they are not UTF-8.
pub fn decode_line_bytes(line: &[u8]) -> Result<Record, WireError> {
    decode_line(utf8(line).ok_or(WireError::NotUtf8)?)
}

/// Decodes a pipe line (with or without its newline).
pub fn decode_line(line: &str) -> Result<Record, WireError> {
    let word = || take_while1::<_, &str, E<'_>>(|c: char| !c.is_ascii_whitespace());
    let (_, (start, _, src, _, dst, _, bytes, _, packets, _)) = all_consuming((
        word(),
        space1,
        word(),
        space1,
        word(),
        space1,
        word(),
        space1,
        word(),
        opt(alt((tag("\r\n"), tag("\n")))),
    ))
    .parse(line)
    .map_err(|_| WireError::BadLine)?;
    plausible(Record {
        start_ms: number(start.as_bytes()).ok_or(WireError::BadLine)?,
        src: address(src).ok_or(WireError::BadLine)?,
        dst: address(dst).ok_or(WireError::BadLine)?,
        bytes: number(bytes.as_bytes()).ok_or(WireError::BadLine)?,
        packets: number(packets.as_bytes()).ok_or(WireError::BadLine)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record {
        Record {
            start_ms: 1_700_000_100_000,
            src: "10.0.0.1".parse().unwrap(),
            dst: "2001:db8::7".parse().unwrap(),
            bytes: 123_456,
            packets: 89,
        }
    }

    #[test]
    fn pair_and_counts_round_trip() {
        let r = record();
        assert_eq!(
            (r.pair(), r.counts()),
            (Pair::new(r.src, r.dst), Counts::new(123_456, 89))
        );
        assert_eq!(Record::new(r.start_ms, r.pair(), r.counts()), r);
    }

    #[test]
    fn text_format_round_trips() {
        let r = record();
        assert_eq!(r.key().as_str(), "10.0.0.1,2001:db8::7");
        assert_eq!(r.text_value().as_str(), "123456");
        assert_eq!(r.packets_header().as_str(), "89");
        let back = decode_kafka(
            r.key().as_bytes(),
            r.text_value().as_bytes(),
            Some(r.packets_header().as_bytes()),
            Some(1_700_000_100_000),
        );
        assert_eq!(back, Ok(r));
    }

    #[test]
    fn seed_records_without_header_count_one_packet() {
        let r = decode_kafka(b"192.0.2.1,192.0.2.2", b"60", None, Some(5)).unwrap();
        assert_eq!((r.bytes, r.packets, r.start_ms), (60, 1, 5));
    }

    #[test]
    fn json_format_round_trips_and_tolerates_order_and_extras() {
        let r = record();
        let json = r.json_value(1_700_000_101_000);
        assert_eq!(
            json.as_str(),
            r#"{"src":"10.0.0.1","dst":"2001:db8::7","bytes":123456,"packets":89,"start_ms":1700000100000,"end_ms":1700000101000}"#
        );
        assert_eq!(
            decode_kafka(r.key().as_bytes(), json.as_bytes(), None, None),
            Ok(r)
        );
        let reordered = r#" { "packets" : 89, "note": "x", "dst":"2001:db8::7", "bytes":123456,
            "start_ms":1700000100000, "src":"10.0.0.1" } "#;
        assert_eq!(decode_json(reordered), Ok(r));
        assert_eq!(
            decode_kafka(b"10.0.0.2,2001:db8::7", json.as_bytes(), None, None),
            Err(WireError::KeyMismatch)
        );
    }

    #[test]
    fn pipe_lines_round_trip() {
        let r = record();
        assert_eq!(
            r.line().as_str(),
            "1700000100000 10.0.0.1 2001:db8::7 123456 89\n"
        );
        assert_eq!(decode_line(r.line().as_str()), Ok(r));
        assert_eq!(
            decode_line("1 10.0.0.1 10.0.0.2 3 4"),
            Ok(Record {
                start_ms: 1,
                src: "10.0.0.1".parse().unwrap(),
                dst: "10.0.0.2".parse().unwrap(),
                bytes: 3,
                packets: 4
            })
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(decode_key(b"10.0.0.1"), Err(WireError::BadKey));
        assert_eq!(decode_key(b"10.0.0.1,"), Err(WireError::BadKey));
        assert_eq!(decode_key(b"10.0.0.1,x,y"), Err(WireError::BadKey));
        assert_eq!(decode_key(&[0xff, 0xfe]), Err(WireError::BadKey));
        for key in [
            &b""[..],
            b",",
            b",1.1.1.1",
            b"1.1.1.1,,2.2.2.2",
            b"1.1.1.1,2.2.2.2,",
        ] {
            assert_eq!(decode_key(key), Err(WireError::BadKey), "{key:?}");
        }
        let (a, b) = ("1.1.1.1".parse().unwrap(), "::1".parse().unwrap());
        assert_eq!(decode_key(b"1.1.1.1,::1"), Ok((a, b)));
        assert_eq!(number(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(number(b"007"), Some(7));
        for text in [
            &b""[..],
            b"+5",
            b"18446744073709551616",
            b"5 ",
            b" 5",
            b"1e3",
        ] {
            assert_eq!(number(text), None, "{text:?}");
        }
        assert_eq!(
            decode_kafka(b"1.1.1.1,2.2.2.2", b"-5", None, Some(1)),
            Err(WireError::BadValue)
        );
        assert_eq!(
            decode_kafka(
                b"1.1.1.1,2.2.2.2",
                b"99999999999999999999999",
                None,
                Some(1)
            ),
            Err(WireError::BadValue)
        );
        assert_eq!(
            decode_kafka(b"1.1.1.1,2.2.2.2", b"5", Some(b"many"), Some(1)),
            Err(WireError::BadPackets)
        );
        assert_eq!(
            decode_kafka(b"1.1.1.1,2.2.2.2", b"5", None, Some(-1)),
            Err(WireError::BadTimestamp)
        );
        assert_eq!(
            decode_kafka(b"1.1.1.1,2.2.2.2", b"5", None, None),
            Err(WireError::BadTimestamp)
        );
        assert_eq!(
            decode_json(r#"{"src":"1.1.1.1"}"#),
            Err(WireError::BadValue)
        );
        assert_eq!(decode_json(r#"{"src":1}"#), Err(WireError::BadValue));
        assert_eq!(decode_json("{"), Err(WireError::BadValue));
        assert_eq!(decode_line("1 2 3"), Err(WireError::BadLine));
        assert_eq!(
            decode_line("1 1.1.1.1 2.2.2.2 3 x"),
            Err(WireError::BadLine)
        );
        assert_eq!(
            decode_line("1 1.1.1.1 2.2.2.2 3 4 5"),
            Err(WireError::BadLine)
        );
        assert_eq!(
            decode_line_bytes(b"1 1.1.1.1 2.2.2.2 3 \xff"),
            Err(WireError::NotUtf8)
        );
        assert_eq!(
            decode_line_bytes(b"1 1.1.1.1 2.2.2.2 3 4\n").map(|r| (r.bytes, r.packets)),
            Ok((3, 4))
        );
    }

    #[test]
    fn the_fast_ipv4_reader_agrees_with_core_net() {
        for text in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.1",
            "192.168.100.200",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "01.2.3.4",
            "1..2.3",
            "1.2.3.",
            "a.b.c.d",
            "1.2.3.4 ",
            "",
            "::1",
            "1111.1.1.1",
            "00.0.0.0",
            ".1.2.3",
            "1.2.3.4.",
            "999.1.1.1",
            "0.0.0.00",
            "1.2.3.04",
            "1.2.3.256",
            "1.2.3.255",
            "1.2.3.4.5.6.7",
        ] {
            let fast = ipv4_canonical(text.as_bytes());
            let full = text.parse::<IpAddr>().ok().filter(|a| a.is_ipv4());
            if fast.is_some() {
                assert_eq!(fast, full, "{text}");
            }
            assert_eq!(
                address_bytes(text.as_bytes()),
                text.parse::<IpAddr>().ok(),
                "{text}"
            );
        }
    }

    #[test]
    fn longest_records_fit_their_buffers() {
        let widest: IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap();
        let r = Record {
            start_ms: u64::MAX,
            src: widest,
            dst: widest,
            bytes: u64::MAX,
            packets: u64::MAX,
        };
        assert_eq!(r.key().as_str().len(), 79);
        assert!(r.line().as_str().len() <= LINE_MAX);
        assert_eq!(decode_key(r.key().as_bytes()), Ok((widest, widest)));
        assert!(!r.json_value(u64::MAX).as_str().is_empty());
        let most = Record {
            bytes: MAX_BYTES,
            packets: MAX_PACKETS,
            ..r
        };
        assert_eq!(decode_line(most.line().as_str()), Ok(most));
    }

    #[test]
    fn counts_that_cannot_be_traffic_do_not_decode() {
        let r = record();
        let too_many = |bytes, packets| Record {
            bytes,
            packets,
            ..r
        };
        for (bytes, packets) in [
            (MAX_BYTES + 1, 1),
            (1, MAX_PACKETS + 1),
            (u64::MAX - 17_666_179, 3),
        ] {
            let bad = too_many(bytes, packets);
            let e = Err(WireError::Implausible { bytes, packets });
            assert_eq!(decode_line(bad.line().as_str()), e);
            assert_eq!(decode_json(bad.json_value(r.start_ms + 1).as_str()), e);
            let (value, count) = (bad.text_value(), bad.packets_header());
            let kafka = decode_kafka(
                bad.key().as_bytes(),
                value.as_bytes(),
                Some(count.as_bytes()),
                Some(1_700_000_100_000),
            );
            assert_eq!(kafka, e);
        }
        assert_eq!(MAX_BYTES, 4_500_000_000_000_000);
        assert_eq!(
            WireError::Implausible {
                bytes: 5,
                packets: 6
            }
            .to_string(),
            "5 bytes and 6 packets cannot be one record's traffic \
             (at most 4500000000000000 bytes and 225000000000000 packets)"
        );
    }
}
