//! Pipe mode: records as lines on stdout (`docs/wire-format.md`), for `host-stream --input -`.
//!
//! A record counts as written once its whole line has been handed to the pipe; a line still
//! in our buffer (or half written) when the pipe breaks counts as unwritten, like every record
//! after it.

use std::fmt;
use std::io::{self, Write};

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
        // Built without core::fmt (crate::text): on sparse traffic a record comes every few
        // packets.
        self.buf.extend_from_slice(crate::text::line(r).as_bytes());
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
