//! Pipe mode: records as lines on stdout (`docs/wire-format.md`), for `host-stream --input -`.

use std::io::{self, BufWriter, Stdout, Write};

use anyhow::{Context, Result};
use core_nostd::wire::Record;

/// Records written to stdout.
pub struct Lines {
    out: BufWriter<Stdout>,
    /// Records written (handed to the pipe).
    pub written: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Records that could not be written after the pipe broke.
    pub unwritten: u64,
    /// Their bytes.
    pub unwritten_bytes: u64,
    failed: Option<io::Error>,
}

impl Lines {
    /// Lines to stdout.
    pub fn new() -> Lines {
        Lines {
            out: BufWriter::with_capacity(64 * 1024, io::stdout()),
            written: 0,
            bytes: 0,
            unwritten: 0,
            unwritten_bytes: 0,
            failed: None,
        }
    }

    /// Writes one record; after a write error (the reader went away) it only counts.
    pub fn send(&mut self, r: &Record) {
        if self.failed.is_none() {
            match self.out.write_all(r.line().as_bytes()) {
                Ok(()) => {
                    self.written += 1;
                    self.bytes += r.bytes;
                    return;
                }
                Err(e) => self.failed = Some(e),
            }
        }
        self.unwritten += 1;
        self.unwritten_bytes += r.bytes;
    }

    /// Pushes buffered lines to the reader (at each flush interval).
    pub fn flush(&mut self) {
        if self.failed.is_none()
            && let Err(e) = self.out.flush()
        {
            self.failed = Some(e);
        }
    }

    /// The write error, if the pipe broke.
    pub fn error(&self) -> Result<()> {
        match &self.failed {
            None => Ok(()),
            Some(e) => Err(io::Error::new(e.kind(), e.to_string())).context("--output -"),
        }
    }
}
