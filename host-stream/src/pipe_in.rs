//! Records as lines on stdin (`--input -`, host-capture's pipe format): one source, 0, whose
//! offsets are line numbers. A thread reads whole lines in chunks; the driver's batches are
//! cut at every line that closes a window, so windows close, and are judged, line by line:
//! what is late, and where a stop lands, does not depend on how the input arrived.
//!
//! Lines are cut as bytes: a line that is not UTF-8 is one undecodable record (counted and
//! logged like any other), never the end of the input.

use std::io::BufRead;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::Duration;

use anyhow::{Context, Result};
use core_nostd::windows::Millis;
use core_nostd::wire;
use host_common::clock::now_ms;

use crate::driver::{ClockBound, Intake, Polled, Source, TimeBounds};
use crate::engine::Engine;

/// Stdin, read by a thread of its own.
pub struct Pipe {
    chunks: Receiver<std::io::Result<Vec<u8>>>,
    /// The chunk being read, and how far.
    chunk: Vec<u8>,
    at: usize,
    line_no: i64,
    /// The wall clock when the chunk arrived.
    now: Millis,
    bounds: TimeBounds,
}

impl Pipe {
    /// Starts reading stdin; records stamped beyond `bounds` are refused.
    pub fn stdin(bounds: TimeBounds) -> Pipe {
        let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(64);
        std::thread::spawn(move || {
            let mut input = std::io::BufReader::with_capacity(64 * 1024, std::io::stdin().lock());
            read_chunks(&mut input, &tx);
        });
        Pipe {
            chunks: rx,
            chunk: Vec::new(),
            at: 0,
            line_no: 0,
            now: 0,
            bounds,
        }
    }

    /// Takes the chunk's lines until one closes a window.
    fn lines(&mut self, intake: &mut Intake<'_>) {
        let bound = ClockBound::at(self.now, self.bounds);
        // In locals for the loop, stored back when it stops.
        let (mut at, mut line_no) = (self.at, self.line_no);
        while at < self.chunk.len() {
            let (line, next) = line_at(&self.chunk, at);
            at = next;
            line_no += 1;
            if line.trim_ascii().is_empty() {
                continue;
            }
            match wire::decode_any_line(line) {
                Ok(d) => {
                    intake.decoded(0, line_no, d, bound);
                }
                Err(e) => intake.undecodable(format_args!("line {line_no}"), e),
            }
            intake.engine.advance(Some(self.now), intake.closed);
            if !intake.closed.is_empty() {
                break;
            }
        }
        (self.at, self.line_no) = (at, line_no);
    }
}

impl Source for Pipe {
    const STOPPING: &'static str = "";

    fn start(&mut self, engine: &mut Engine) {
        engine.set_sources(&[0]);
    }

    fn poll(&mut self, intake: &mut Intake<'_>) -> Result<Polled> {
        if self.at >= self.chunk.len() {
            // Nothing waiting when the wait began: everything written before then is read.
            let asked = now_ms();
            match self.chunks.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.at = 0;
                    self.now = now_ms();
                }
                Ok(Err(e)) => return Err(e).context("reading stdin"),
                Err(RecvTimeoutError::Timeout) => {
                    intake.engine.at_end(0);
                    intake.engine.prove(0, asked);
                    return Ok(Polled::Batch);
                }
                Err(RecvTimeoutError::Disconnected) => {
                    intake.engine.done(0);
                    return Ok(Polled::End);
                }
            }
        }
        self.lines(intake);
        Ok(Polled::Batch)
    }
}

/// The line of `text` that starts at `at`, and where the next one starts: cut as `str::lines`
/// cuts them (`\n` or `\r\n` ends a line, the last one may have neither).
fn line_at(text: &[u8], at: usize) -> (&[u8], usize) {
    let rest = text.get(at..).unwrap_or_default();
    match rest.iter().position(|b| *b == b'\n') {
        Some(i) => {
            let line = rest.get(..i).unwrap_or_default();
            (line.strip_suffix(b"\r").unwrap_or(line), at + i + 1)
        }
        None => (rest, text.len()),
    }
}

/// Reads whole lines from `input` and sends them in chunks: a chunk holds the lines that could
/// be read without waiting (up to about 64 KiB), so a busy pipe costs one allocation and one
/// hand-over per chunk, not per line, and a line never waits for the next one to arrive.
fn read_chunks<R: std::io::Read>(
    input: &mut std::io::BufReader<R>,
    tx: &SyncSender<std::io::Result<Vec<u8>>>,
) {
    const CHUNK: usize = 64 * 1024;
    let mut chunk = Vec::new();
    loop {
        // Send before a read that may block: when the buffer holds no whole line.
        if !chunk.is_empty()
            && (chunk.len() >= CHUNK || !input.buffer().contains(&b'\n'))
            && tx.send(Ok(std::mem::take(&mut chunk))).is_err()
        {
            return;
        }
        match input.read_until(b'\n', &mut chunk) {
            Ok(n) if n > 0 => {}
            end => {
                if !chunk.is_empty() {
                    let _ = tx.send(Ok(chunk));
                }
                if let Err(e) = end {
                    let _ = tx.send(Err(e));
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    fn chunks(input: &[u8], capacity: usize) -> Vec<std::io::Result<Vec<u8>>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1024);
        read_chunks(&mut BufReader::with_capacity(capacity, input), &tx);
        drop(tx);
        rx.into_iter().collect()
    }

    #[test]
    fn lines_are_cut_as_str_lines_cuts_them() {
        for text in [
            "",
            "a",
            "a\n",
            "a\r\nb\r",
            "\n\n x \r\n",
            "x\ry\n\r",
            "1 2\r\n3",
        ] {
            let mut got = Vec::new();
            let mut at = 0;
            while at < text.len() {
                let (line, next) = line_at(text.as_bytes(), at);
                got.push(std::str::from_utf8(line).unwrap());
                at = next;
            }
            assert_eq!(got, text.lines().collect::<Vec<_>>(), "{text:?}");
        }
    }

    #[test]
    fn chunks_hold_whole_lines_and_everything_arrives() {
        let text: String = (0..1000)
            .map(|i| format!("1800000000000 10.0.0.{} 192.0.2.1 {i} 1\n", i % 256))
            .collect::<String>()
            + "1800000000000 10.0.0.1 192.0.2.1 7 1";
        for capacity in [8, 100, 4096, 1 << 20] {
            let got: Vec<String> = chunks(text.as_bytes(), capacity)
                .into_iter()
                .map(|c| String::from_utf8(c.unwrap()).unwrap())
                .collect();
            assert_eq!(got.concat(), text, "capacity {capacity}");
            let last = got.len() - 1;
            for (i, c) in got.iter().enumerate() {
                assert!(i == last || c.ends_with('\n'), "a chunk cut a line");
            }
            if capacity == 4096 {
                assert!(got.len() > 1 && got.len() < 100, "{} chunks", got.len());
            }
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_are_a_line_like_any_other() {
        let input = b"a\nb\n\xff\xfe\nc\n";
        for capacity in [4, 1024] {
            let got: Vec<u8> = chunks(input, capacity)
                .into_iter()
                .flat_map(|c| c.unwrap())
                .collect();
            assert_eq!(got, input, "capacity {capacity}");
        }
        let mut lines = Vec::new();
        let mut at = 0;
        while at < input.len() {
            let (line, next) = line_at(input, at);
            lines.push(line);
            at = next;
        }
        assert_eq!(lines, [&b"a"[..], b"b", b"\xff\xfe", b"c"]);
    }
}
