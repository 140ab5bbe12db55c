//! Pipe mode: records as lines on stdout (`docs/wire-format.md`), for `host-stream --input -`.
//!
//! A record counts as written once its whole line has been handed to the pipe; a line still
//! in our buffer (or half written) when the pipe breaks counts as unwritten, like every record
//! after it.

use std::fmt;
use std::io::{self, Write};
use std::net::IpAddr;

use core_nostd::wire::{Heartbeat, Record};
use host_common::summary::Summary;

/// Lines gathered before they are handed to the pipe (at the latest at each flush interval).
const BUFFER: usize = 64 * 1024;

/// Records written to stdout.
pub struct Lines {
    buf: Vec<u8>,
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
            buf: Vec::with_capacity(BUFFER),
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
        push_line(&mut self.buf, r);
        self.pending.push((self.buf.len(), r.bytes));
        if self.buf.len() >= BUFFER {
            self.flush();
        }
    }

    /// Writes one heartbeat line (not a record: not counted).
    pub fn heartbeat(&mut self, h: &Heartbeat) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(h.line().as_bytes());
        }
    }

    /// Hands the buffered lines to the reader (at each flush interval).
    pub fn flush(&mut self) {
        if self.failed.is_some() {
            return;
        }
        let (done, result) = write_out(&mut io::stdout().lock(), &self.buf);
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
        self.buf.clear();
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

/// Appends `r`'s pipe line to `buf`, the same bytes as [`Record::line`] but without
/// `core::fmt` (on sparse traffic a record comes every few packets, and `fmt` took twice the
/// time of the rest of the capture there); an IPv6 address, rare, still goes through
/// `Display` (RFC 5952 form).
#[inline]
fn push_line(buf: &mut Vec<u8>, r: &Record) {
    push_u64(buf, r.start_ms);
    buf.push(b' ');
    push_ip(buf, r.src);
    buf.push(b' ');
    push_ip(buf, r.dst);
    buf.push(b' ');
    push_u64(buf, r.bytes);
    buf.push(b' ');
    push_u64(buf, r.packets);
    buf.push(b'\n');
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

#[inline]
fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
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
    buf.extend_from_slice(&digits[at..]);
}

#[inline]
fn push_ip(buf: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => {
            for (i, o) in a.octets().into_iter().enumerate() {
                if i > 0 {
                    buf.push(b'.');
                }
                if o >= 100 {
                    buf.push(b'0' + o / 100);
                }
                if o >= 10 {
                    buf.push(b'0' + o / 10 % 10);
                }
                buf.push(b'0' + o % 10);
            }
        }
        // Writing to a Vec cannot fail.
        IpAddr::V6(a) => drop(write!(buf, "{a}")),
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
            let mut buf = Vec::new();
            push_line(&mut buf, &r);
            assert_eq!(std::str::from_utf8(&buf).unwrap(), r.line().as_str());
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
