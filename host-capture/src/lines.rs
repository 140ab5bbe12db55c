//! Pipe mode: records as lines on stdout (`docs/wire-format.md`), for `host-stream --input -`.
//!
//! A record counts as written once its whole line has been handed to the pipe; a line still
//! in our buffer (or half written) when the pipe breaks counts as unwritten, like every record
//! after it.
//!
//! The lines are made and written on a thread of their own ([`Writer`]), so that making them
//! (on sparse traffic a record comes every other packet) overlaps the reading and the
//! counting. The capture hands records over in batches of [`BATCH`] through a bounded queue
//! (a slow reader holds the capture back instead of filling memory). Once per batch of frames
//! ([`Lines::poll`]) it marks the place, and waits until the writer has reached the mark
//! before: the writer runs one batch of frames behind at most, and what the capture learns
//! (a closed stdout, the counts) is always the state at the end of the batch before, the
//! same on every run.

use std::fmt;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use core_nostd::wire::{HEARTBEAT_LINE_MAX, Heartbeat, LINE_MAX, Record};
use host_common::summary::Summary;

use crate::text::{Start, line_in};

/// Lines gathered before they are handed to the pipe (at the latest at each flush interval).
const BUFFER: usize = 64 * 1024;

/// Room for one line past [`BUFFER`], whichever kind: a line is written in place, never
/// split across a flush.
const SLACK: usize = max(LINE_MAX + 4, HEARTBEAT_LINE_MAX);

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

/// Records handed over to the writer, a batch at a time.
const BATCH: usize = 1024;

/// Batches that may wait for the writer.
const QUEUED: usize = 4;

/// What the capture hands the writer, in order.
enum Item {
    Record(Record),
    Heartbeat(Box<Heartbeat>),
    /// The end of an interval: hand the buffered lines to the reader.
    Flush,
}

/// A message to the writer.
enum Message {
    Items(Vec<Item>),
    /// Answer with the counts once everything before this is handled.
    Mark,
}

/// Records written to stdout (see the module's text).
pub struct Lines {
    /// The next batch.
    batch: Vec<Item>,
    to: SyncSender<Message>,
    from: Receiver<Seen>,
    /// Spent batches, back from the writer (their room is reused).
    spent: Receiver<Vec<Item>>,
    thread: JoinHandle<Written>,
    /// What the writer said at the last mark it reached.
    seen: Seen,
    /// A mark was sent whose answer has not been read.
    marked: bool,
    /// Records handed to the writer, and their bytes: all unwritten if it were lost.
    handed: (u64, u64),
}

/// The writer's counts, as of a mark.
#[derive(Clone, Copy, Default)]
struct Seen {
    records: u64,
    unwritten: u64,
    closed: bool,
}

impl Lines {
    /// Lines to stdout, from a writer thread started here.
    pub fn new() -> Result<Lines> {
        let (to, rx) = mpsc::sync_channel(QUEUED);
        let (seen_tx, from) = mpsc::channel();
        let (spent_tx, spent) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("lines".into())
            .spawn(move || Writer::new().serve(&rx, &seen_tx, &spent_tx))
            .context("cannot start the thread that writes the lines")?;
        Ok(Lines {
            batch: Vec::with_capacity(BATCH),
            to,
            from,
            spent,
            thread,
            seen: Seen::default(),
            marked: false,
            handed: (0, 0),
        })
    }

    /// Takes one record.
    #[inline]
    pub fn send(&mut self, r: &Record) {
        self.handed.0 += 1;
        self.handed.1 = self.handed.1.saturating_add(r.bytes);
        self.batch.push(Item::Record(*r));
        if self.batch.len() >= BATCH {
            self.hand_over();
        }
    }

    /// Takes one heartbeat line (not a record: not counted).
    pub fn heartbeat(&mut self, h: &Heartbeat) {
        self.batch.push(Item::Heartbeat(Box::new(*h)));
    }

    /// Hands the buffered lines to the reader (at each flush interval).
    pub fn flush(&mut self) {
        self.batch.push(Item::Flush);
        self.hand_over();
    }

    /// Sends the batch to the writer and starts the next one (in a spent batch's room).
    fn hand_over(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let next = self
            .spent
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let full = std::mem::replace(&mut self.batch, next);
        // A writer that is gone has accounted for nothing more: see `finish`.
        let _ = self.to.send(Message::Items(full));
    }

    /// Once per batch of frames: marks the place, and waits until the writer has reached the
    /// mark before (so it overlaps this batch with the next, and no more).
    pub fn poll(&mut self) {
        self.hand_over();
        if self.marked {
            match self.from.recv() {
                Ok(seen) => self.seen = seen,
                // The writer is gone (it panicked): nothing more will be written.
                Err(_) => self.seen.closed = true,
            }
        }
        self.marked = self.to.send(Message::Mark).is_ok();
    }

    /// Records written and not written as of the last mark reached (for the metrics).
    pub fn counts(&self) -> (u64, u64) {
        (self.seen.records, self.seen.unwritten)
    }

    /// The pipe broke (the reader went away), as of the last mark reached.
    pub fn is_closed(&self) -> bool {
        self.seen.closed
    }

    /// Flushes and accounts for every record.
    pub fn finish(mut self) -> Written {
        self.flush();
        drop(self.to);
        // The writer panicking would be a bug; what it wrote cannot be told then, so every
        // record handed to it counts as unwritten.
        self.thread.join().unwrap_or(Written {
            unwritten: self.handed.0,
            unwritten_bytes: self.handed.1,
            failed: true,
            ..Written::default()
        })
    }
}

/// Makes the lines and writes them to stdout (on the writer's thread).
struct Writer {
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

impl Writer {
    fn new() -> Writer {
        Writer {
            buf: vec![0; BUFFER + SLACK].into_boxed_slice(),
            len: 0,
            start: None,
            pending: Vec::new(),
            counts: Written::default(),
            failed: None,
        }
    }

    /// The writer's loop: handles what comes until the capture is done, and accounts for it.
    fn serve(
        mut self,
        from: &Receiver<Message>,
        seen: &mpsc::Sender<Seen>,
        spent: &mpsc::Sender<Vec<Item>>,
    ) -> Written {
        while let Ok(message) = from.recv() {
            match message {
                Message::Items(mut items) => {
                    for item in items.drain(..) {
                        match item {
                            Item::Record(r) => self.send(&r),
                            Item::Heartbeat(h) => self.heartbeat(&h),
                            Item::Flush => self.flush(),
                        }
                    }
                    let _ = spent.send(items);
                }
                Message::Mark => {
                    let (records, unwritten) = self.counts();
                    let _ = seen.send(Seen {
                        records,
                        unwritten,
                        closed: self.is_closed(),
                    });
                }
            }
        }
        self.finish()
    }

    /// Writes one record; after a write error (the reader went away) it only counts.
    fn send(&mut self, r: &Record) {
        if self.failed.is_some() {
            self.counts.unwritten += 1;
            self.counts.unwritten_bytes = self.counts.unwritten_bytes.saturating_add(r.bytes);
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
        // Built in place without core::fmt (crate::text): on sparse traffic a record comes
        // every few packets.
        match self
            .buf
            .get_mut(self.len..)
            .and_then(|b| b.first_chunk_mut())
        {
            Some(room) => self.len += line_in(room, &start, r),
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
    fn heartbeat(&mut self, h: &Heartbeat) {
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
    fn flush(&mut self) {
        if self.failed.is_some() {
            return;
        }
        let lines = self.buf.get(..self.len).unwrap_or_default();
        let (done, result) = write_out(&mut io::stdout().lock(), lines);
        for &(end, bytes) in &self.pending {
            if end <= done {
                self.counts.records += 1;
                self.counts.bytes = self.counts.bytes.saturating_add(bytes);
            } else {
                self.counts.unwritten += 1;
                self.counts.unwritten_bytes = self.counts.unwritten_bytes.saturating_add(bytes);
            }
        }
        self.failed = result.err();
        self.len = 0;
        self.pending.clear();
    }

    /// Records written and not written so far.
    fn counts(&self) -> (u64, u64) {
        (self.counts.records, self.counts.unwritten)
    }

    /// The pipe broke (the reader went away).
    fn is_closed(&self) -> bool {
        self.failed.is_some()
    }

    /// Flushes and accounts for every record.
    fn finish(mut self) -> Written {
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
