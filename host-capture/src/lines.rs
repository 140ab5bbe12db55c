//! Pipe mode: records as lines on stdout (`docs/wire-format.md`), for `host-stream --input -`.
//!
//! A record counts as written once its whole line has been handed to the pipe; a line still
//! in our buffer (or half written) when the pipe breaks counts as unwritten, like every record
//! after it.

use std::fmt;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use core_nostd::wire::{HEARTBEAT_LINE_MAX, Heartbeat, LINE_MAX, Record};
use host_common::summary::Summary;

/// Lines gathered before they are handed to the pipe (at the latest at each flush interval).
const BUFFER: usize = 64 * 1024;

/// Room for one line past [`BUFFER`], whichever kind: a line is written in place, never
/// split across a flush.
const SLACK: usize = max(LINE_MAX + 4, HEARTBEAT_LINE_MAX);

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// Records written to stdout.
pub struct Lines {
    /// `BUFFER + SLACK` bytes, of which `len` hold lines not yet handed to the pipe. Lines are
    /// built in place here (no second copy, no growth).
    buf: Box<[u8]>,
    len: usize,
    /// The start of the interval whose records come now, and its text with the space after
    /// it: every record of an interval shares it, and it is the longest number of the line.
    start: Option<(u64, Start)>,
    /// Per record in `buf`: where its line ends there, and its bytes.
    pending: Vec<(usize, u64)>,
    counts: Written,
    failed: Option<io::Error>,
}

/// What became of the records at the end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Records written (handed to the pipe).
    pub records: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Records that could not be written after the pipe broke.
    pub unwritten: u64,
    /// Their bytes.
    pub unwritten_bytes: u64,
    /// The pipe broke.
    pub failed: bool,
}

impl Written {
    /// Some records did not reach the reader.
    pub fn undelivered(&self) -> bool {
        self.unwritten > 0 || self.failed
    }

    /// `written_records=… written_bytes=… unwritten_records=… unwritten_bytes=…`
    pub fn summary(&self) -> Summary {
        Summary::new()
            .field("written_records", self.records)
            .field("written_bytes", self.bytes)
            .field("unwritten_records", self.unwritten)
            .field("unwritten_bytes", self.unwritten_bytes)
    }
}

impl fmt::Display for Written {
    /// The summary line's suffix: ` written_records=… … unwritten_bytes=…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " {}", self.summary())
    }
}

impl Lines {
    /// Lines to stdout.
    pub fn new() -> Lines {
        Lines {
            buf: vec![0; BUFFER + SLACK].into_boxed_slice(),
            len: 0,
            start: None,
            pending: Vec::new(),
            counts: Written::default(),
            failed: None,
        }
    }

    /// Writes one record; after a write error (the reader went away) it only counts.
    pub fn send(&mut self, r: &Record) {
        if self.failed.is_some() {
            self.counts.unwritten += 1;
            self.counts.unwritten_bytes += r.bytes;
            return;
        }
        let start = match self.start {
            Some((ms, text)) if ms == r.start_ms => text,
            _ => {
                let text = Start::of(r.start_ms);
                self.start = Some((r.start_ms, text));
                text
            }
        };
        match self
            .buf
            .get_mut(self.len..)
            .and_then(|b| b.first_chunk_mut())
        {
            Some(room) => self.len += push_line(room, &start, r),
            // Heartbeats took the slack after the last record: hand over what is there.
            None => {
                self.flush();
                return self.send(r);
            }
        }
        self.pending.push((self.len, r.bytes));
        if self.len >= BUFFER {
            self.flush();
        }
    }

    /// Writes one heartbeat line (not a record: not counted).
    pub fn heartbeat(&mut self, h: &Heartbeat) {
        if self.failed.is_some() {
            return;
        }
        let line = h.line();
        let line = line.as_bytes();
        if self.len + line.len() > self.buf.len() {
            self.flush();
        }
        if let Some(room) = self.buf.get_mut(self.len..self.len + line.len()) {
            room.copy_from_slice(line);
            self.len += line.len();
        }
    }

    /// Hands the buffered lines to the reader (at each flush interval).
    pub fn flush(&mut self) {
        if self.failed.is_some() {
            return;
        }
        let lines = self.buf.get(..self.len).unwrap_or_default();
        let (done, result) = write_out(&mut io::stdout().lock(), lines);
        for &(end, bytes) in &self.pending {
            if end <= done {
                self.counts.records += 1;
                self.counts.bytes += bytes;
            } else {
                self.counts.unwritten += 1;
                self.counts.unwritten_bytes += bytes;
            }
        }
        self.failed = result.err();
        self.len = 0;
        self.pending.clear();
    }

    /// Records written and not written so far (for the metrics).
    pub fn counts(&self) -> (u64, u64) {
        (self.counts.records, self.counts.unwritten)
    }

    /// The pipe broke (the reader went away).
    pub fn is_closed(&self) -> bool {
        self.failed.is_some()
    }

    /// Flushes and accounts for every record.
    pub fn finish(mut self) -> Written {
        self.flush();
        Written {
            failed: self.failed.is_some(),
            ..self.counts
        }
    }
}

/// Writes `r`'s pipe line at the start of `room` and returns its length: the same bytes as
/// [`Record::line`] but without `core::fmt` (on sparse traffic a record comes every few
/// packets, and `fmt` took twice the time of the rest of the capture there), in place.
/// `start` is `r.start_ms`'s text ([`Start::of`]).
#[inline]
fn push_line(room: &mut [u8; LINE_MAX + 4], start: &Start, r: &Record) -> usize {
    let mut line = Line {
        bytes: room,
        len: 0,
    };
    line.bytes[..Start::WIDTH].copy_from_slice(&start.bytes);
    line.len = usize::from(start.len);
    line.ip(r.src);
    line.push(b' ');
    line.ip(r.dst);
    line.push(b' ');
    line.u64(r.bytes);
    line.push(b' ');
    line.u64(r.packets);
    line.push(b'\n');
    line.len
}

/// An interval's start as the line's first field: its digits and a space, in a fixed-width
/// array that is copied whole (a fixed copy beats a variable one) and advanced by `len`.
#[derive(Clone, Copy)]
struct Start {
    bytes: [u8; Start::WIDTH],
    len: u8,
}

impl Start {
    /// 20 digits (`u64::MAX`) and the space, rounded up.
    const WIDTH: usize = 24;

    fn of(ms: u64) -> Start {
        let mut bytes = [0; LINE_MAX + 4];
        let mut line = Line {
            bytes: &mut bytes,
            len: 0,
        };
        line.u64(ms);
        line.push(b' ');
        let len = line.len;
        let mut start = Start {
            bytes: [0; Start::WIDTH],
            len: len as u8,
        };
        start.bytes.copy_from_slice(&bytes[..Start::WIDTH]);
        start
    }
}

/// A line being built: `LINE_MAX` is the longest a record's line can be (4 bytes more, so that
/// an octet is always copied as 4 bytes).
struct Line<'a> {
    bytes: &'a mut [u8; LINE_MAX + 4],
    len: usize,
}

/// "00" to "99": two digits per division.
const PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Each octet's decimal text in 3 bytes, then its length: copied whole, advanced by the length.
const OCTETS: [[u8; 4]; 256] = {
    let mut t = [[0u8; 4]; 256];
    let mut i = 0;
    while i < 256 {
        let (h, d, u) = ((i / 100) as u8, (i / 10 % 10) as u8, (i % 10) as u8);
        t[i] = if i >= 100 {
            [b'0' + h, b'0' + d, b'0' + u, 3]
        } else if i >= 10 {
            [b'0' + d, b'0' + u, 0, 2]
        } else {
            [b'0' + u, 0, 0, 1]
        };
        i += 1;
    }
    t
};

impl Line<'_> {
    #[inline]
    fn push(&mut self, b: u8) {
        self.bytes[self.len] = b;
        self.len += 1;
    }

    #[inline]
    fn extend(&mut self, s: &[u8]) {
        self.bytes[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
    }

    #[inline]
    fn u64(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        while v >= 100 {
            let two = (v % 100) as usize * 2;
            v /= 100;
            at -= 2;
            digits[at..at + 2].copy_from_slice(&PAIRS[two..two + 2]);
        }
        if v >= 10 {
            let two = v as usize * 2;
            at -= 2;
            digits[at..at + 2].copy_from_slice(&PAIRS[two..two + 2]);
        } else {
            at -= 1;
            digits[at] = b'0' + v as u8;
        }
        self.extend(&digits[at..]);
    }

    #[inline]
    fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(a) => self.ipv4(a),
            IpAddr::V6(a) => self.ipv6(a),
        }
    }

    #[inline]
    fn ipv4(&mut self, a: Ipv4Addr) {
        for (i, o) in a.octets().into_iter().enumerate() {
            if i > 0 {
                self.push(b'.');
            }
            let t = &OCTETS[usize::from(o)];
            self.bytes[self.len..self.len + 4].copy_from_slice(t);
            self.len += usize::from(t[3]);
        }
    }

    /// `a` as `Ipv6Addr`'s `Display` writes it (RFC 5952: lowercase hex without leading
    /// zeros, the first longest run of two or more zero groups as `::`, an IPv4-mapped
    /// address as `::ffff:a.b.c.d`), without `core::fmt`.
    fn ipv6(&mut self, a: Ipv6Addr) {
        if let Some(v4) = a.to_ipv4_mapped() {
            self.extend(b"::ffff:");
            return self.ipv4(v4);
        }
        let groups = a.segments();
        let (mut zeros_at, mut zeros_len, mut run_at, mut run_len) = (0, 0, 0, 0);
        for (i, &g) in groups.iter().enumerate() {
            if g == 0 {
                if run_len == 0 {
                    run_at = i;
                }
                run_len += 1;
                if run_len > zeros_len {
                    (zeros_at, zeros_len) = (run_at, run_len);
                }
            } else {
                run_len = 0;
            }
        }
        if zeros_len > 1 {
            self.groups(&groups[..zeros_at]);
            self.push(b':');
            self.push(b':');
            self.groups(&groups[zeros_at + zeros_len..]);
        } else {
            self.groups(&groups);
        }
    }

    fn groups(&mut self, groups: &[u16]) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for (i, &g) in groups.iter().enumerate() {
            if i > 0 {
                self.push(b':');
            }
            // Hex digits without leading zeros, at least one.
            let digits = (19 - g.leading_zeros() as usize) / 4;
            for k in (0..digits.max(1)).rev() {
                self.push(HEX[usize::from((g >> (4 * k)) & 0xf)]);
            }
        }
    }
}

/// Writes `buf` to `out` and flushes it; returns how much of `buf` was written, and the error
/// that stopped it, if any.
fn write_out(out: &mut impl Write, buf: &[u8]) -> (usize, io::Result<()>) {
    let mut done = 0;
    while done < buf.len() {
        match out.write(&buf[done..]) {
            Ok(0) => return (done, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Err(e)),
        }
    }
    (done, out.flush())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes `room` bytes, then reports a broken pipe.
    struct Pipe {
        room: usize,
        got: Vec<u8>,
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(self.room).min(7);
            if n == 0 {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            self.room -= n;
            self.got.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_the_records_own_lines() {
        use core_nostd::{Counts, Pair};
        let v4 = |a: [u8; 4]| IpAddr::from(a);
        let v6 = |s: &str| IpAddr::V6(s.parse().unwrap());
        let cases = [
            (0, v4([0, 0, 0, 0]), v4([255, 255, 255, 255]), 0, 0),
            (
                1_700_000_001_000,
                v4([10, 0, 9, 1]),
                v4([192, 0, 2, 99]),
                1500,
                1,
            ),
            (
                u64::MAX,
                v4([1, 20, 100, 7]),
                v6("2001:db8::1"),
                u64::MAX,
                u64::MAX,
            ),
            (9, v6("::ffff:10.0.0.1"), v6("fe80::1:0:0:2"), 10, 99),
            (
                10_000,
                v6("::"),
                v4([100, 10, 1, 0]),
                1_000_000,
                123_456_789,
            ),
        ];
        for (start, src, dst, bytes, packets) in cases {
            let r = Record::new(start, Pair::new(src, dst), Counts::new(bytes, packets));
            let mut room = [0; LINE_MAX + 4];
            let len = push_line(&mut room, &Start::of(start), &r);
            assert_eq!(
                std::str::from_utf8(&room[..len]).unwrap(),
                r.line().as_str()
            );
        }
    }

    #[test]
    fn numbers_are_written_as_display_writes_them() {
        let mut values = vec![0, u64::MAX, u64::MAX - 1];
        for p in 0..20 {
            let ten = 10u64.pow(p);
            values.extend([ten - 1, ten, ten + 1, ten.saturating_mul(7) / 3]);
        }
        for v in values {
            let mut bytes = [0; LINE_MAX + 4];
            let mut line = Line {
                bytes: &mut bytes,
                len: 3,
            };
            line.u64(v);
            let len = line.len;
            assert_eq!(std::str::from_utf8(&bytes[3..len]).unwrap(), v.to_string());
        }
    }

    #[test]
    fn ipv6_is_written_as_display_writes_it() {
        // Every pattern of zero and non-zero groups (the zero runs decide the `::`), with
        // non-zero groups of 1 to 4 hex digits, plus the mapped and the special addresses.
        let mut checked = 0;
        for zeros in 0..256u32 {
            for width in 0..4u32 {
                let groups: [u16; 8] = std::array::from_fn(|i| {
                    if zeros >> i & 1 == 1 {
                        0
                    } else {
                        [0x1, 0xab, 0xf0d, 0xdb80][((i as u32 + width) % 4) as usize]
                    }
                });
                let a = Ipv6Addr::from(groups);
                assert_eq!(written(IpAddr::V6(a)), a.to_string());
                checked += 1;
            }
        }
        for s in [
            "::",
            "::1",
            "::ffff:10.0.0.1",
            "::ffff:0.0.0.0",
            "::10.0.0.1",
            "64:ff9b::1",
        ] {
            let a: Ipv6Addr = s.parse().unwrap();
            assert_eq!(written(IpAddr::V6(a)), a.to_string());
        }
        assert_eq!(checked, 1024);
    }

    /// `ip` as [`Line`] writes it.
    fn written(ip: IpAddr) -> String {
        let mut bytes = [0; LINE_MAX + 4];
        let mut line = Line {
            bytes: &mut bytes,
            len: 0,
        };
        line.ip(ip);
        String::from_utf8(line.bytes[..line.len].to_vec()).unwrap()
    }

    #[test]
    fn every_ipv4_octet_is_written_as_display_writes_it() {
        for o in 0..=255u8 {
            for a in [
                [o, 0, 9, 255],
                [1, o, 100, 10],
                [255, 99, o, 0],
                [10, 0, 0, o],
            ] {
                let a = Ipv4Addr::from(a);
                assert_eq!(written(IpAddr::V4(a)), a.to_string());
            }
        }
    }

    #[test]
    fn write_out_says_how_far_it_got() {
        let mut pipe = Pipe {
            room: 30,
            got: Vec::new(),
        };
        let (done, result) = write_out(&mut pipe, &[b'x'; 50]);
        assert_eq!((done, pipe.got.len()), (30, 30));
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        let mut pipe = Pipe {
            room: 100,
            got: Vec::new(),
        };
        let (done, result) = write_out(&mut pipe, &[b'x'; 50]);
        assert_eq!(done, 50);
        assert!(result.is_ok());
    }
}
