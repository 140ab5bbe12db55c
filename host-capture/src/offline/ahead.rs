//! The thread that reads a capture file ahead and splits it into frames, so that the kernel's
//! copy of the file and the container format (pcap record headers, pcapng blocks, timestamps)
//! are off the capture thread, which takes the frames ready-made.
//!
//! It fills buffers from a pool of [`POOL`] and hands each over with its frames, in order,
//! [`AHEAD`] at most waiting, so memory stays fixed however fast the file is. A record cut
//! by the end of a buffer is joined up by copying its head into the room kept before the next
//! buffer's bytes ([`HEAD`]): only the cut record is copied, never the file. A buffer is
//! handed over once it is full (a file) or after each read that completes a record (a pipe,
//! whose frames must not wait for more bytes). What ends the input (its end, a cut record,
//! damage, a read error) comes with the last frames before it.

use std::io::{self, Read};
use std::sync::mpsc::{Receiver, SyncSender};

use core_nostd::savefile::{Entry, FileError, Reader, Timestamp};

/// The most one read asks for (and the first read of a file).
pub const READ: usize = 512 << 10;

/// Room before a buffer's bytes for the head of a record cut by the end of the buffer before
/// (the longest pcap record and some); a longer head (a pcapng block) grows the buffer.
pub const HEAD: usize = core_nostd::savefile::MAX_CAPTURED_LEN as usize + 4096;

/// Buffers in all: the one the capture thread takes frames from, those waiting, and the one
/// being filled.
pub const POOL: usize = 4;

/// Filled buffers that may wait for the capture thread.
pub const AHEAD: usize = 2;

/// One frame, by where it is in its buffer.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    pub link_type: u32,
    pub timestamp: Timestamp,
    /// Its captured bytes: `bytes[at..at + len]`.
    pub at: u32,
    pub len: u32,
    /// Where its record ends in the buffer (for the bytes consumed).
    pub end: u32,
}

/// A buffer and its frames, handed over in the input's order.
pub struct Chunk {
    pub bytes: Vec<u8>,
    pub frames: Vec<Frame>,
    /// Offset in the file of `bytes[0]` (wrapping: the room before the first bytes has none).
    pub origin: u64,
    /// Where in `bytes` the first record of this chunk starts.
    pub first: usize,
    /// What ended the input after these frames, if it ended.
    pub end: Option<End>,
}

/// Why the input ended.
pub enum End {
    /// At a record's boundary: the normal end.
    Eof,
    /// Inside a record, at file offset `at`: it needs `needed` bytes, `remain` are there.
    Cut {
        at: u64,
        needed: usize,
        remain: usize,
    },
    /// Damage at file offset `at`.
    Damaged { at: u64, error: FileError },
    /// A read failed.
    Failed(io::Error),
}

/// A spent buffer and its frame list, back to the pool.
pub type Spent = (Vec<u8>, Vec<Frame>);

/// The state the reading starts from: the reader past the file header, which was read into
/// `buf` (`buf[start..end]` not parsed yet; `eof` if the input ended there).
pub struct Begin {
    pub reader: Reader,
    pub buf: Vec<u8>,
    pub start: usize,
    pub end: usize,
    pub eof: bool,
    pub pipe: bool,
}

/// The reading thread's loop: ends at the end of the input, or when the capture thread has
/// gone (a hand-over fails, or the pool is closed).
pub fn run(
    source: &mut dyn Read,
    begin: Begin,
    filled: &SyncSender<Chunk>,
    pool: &Receiver<Spent>,
) {
    let Begin {
        mut reader,
        buf,
        mut start,
        mut end,
        mut eof,
        pipe,
    } = begin;
    let mut chunk = Chunk {
        bytes: buf,
        frames: Vec::new(),
        origin: 0u64.wrapping_sub(HEAD as u64),
        first: start,
        end: None,
    };
    loop {
        let needed = match split(&mut reader, &mut chunk, &mut start, end) {
            Ok(needed) => needed,
            Err(error) => {
                let at = chunk.origin.wrapping_add(start as u64);
                chunk.end = Some(End::Damaged { at, error });
                let _ = filled.send(chunk);
                return;
            }
        };
        if eof {
            let at = chunk.origin.wrapping_add(start as u64);
            chunk.end = Some(if start == end {
                End::Eof
            } else {
                End::Cut {
                    at,
                    needed,
                    remain: end - start,
                }
            });
            let _ = filled.send(chunk);
            return;
        }
        let full = end >= chunk.bytes.len();
        if !chunk.frames.is_empty() && (pipe || full) {
            // Hand this buffer over; the cut record's head goes before the next one's bytes.
            let Ok((mut bytes, mut frames)) = pool.recv() else {
                return;
            };
            let tail = end - start;
            let at = HEAD.saturating_sub(tail);
            let size = (at + tail) + READ.max(needed);
            if bytes.len() < size {
                bytes.resize(size, 0);
            }
            bytes[at..at + tail].copy_from_slice(&chunk.bytes[start..end]);
            frames.clear();
            let origin = chunk
                .origin
                .wrapping_add(start as u64)
                .wrapping_sub(at as u64);
            let next = Chunk {
                bytes,
                frames,
                origin,
                first: at,
                end: None,
            };
            if filled.send(std::mem::replace(&mut chunk, next)).is_err() {
                return;
            }
            (start, end) = (at, at + tail);
        } else if full {
            // Nothing whole to hand over, and no room: the record is longer than what is
            // left of the buffer (a huge pcapng block); the buffer grows to take it.
            let size = (start + needed).max(end + READ);
            chunk.bytes.resize(size, 0);
        }
        let room = end + READ.min(chunk.bytes.len() - end);
        match read_once(source, &mut chunk.bytes[end..room]) {
            Ok(0) => eof = true,
            Ok(n) => end += n,
            Err(e) => {
                chunk.end = Some(End::Failed(e));
                let _ = filled.send(chunk);
                return;
            }
        }
    }
}

/// Splits `chunk.bytes[*start..end]` into frames until a record is not whole; returns the
/// bytes that record needs (from `*start`), or the damage found at `*start`.
fn split(
    reader: &mut Reader,
    chunk: &mut Chunk,
    start: &mut usize,
    end: usize,
) -> Result<usize, FileError> {
    let base = chunk.bytes.as_ptr().addr();
    loop {
        match reader.next(chunk.bytes.get(*start..end).unwrap_or_default()) {
            Ok((entry, used)) => {
                *start += used;
                if let Entry::Packet(p) = entry {
                    // Offsets fit: a buffer is a few MiB at most (a pcapng block's limit).
                    chunk.frames.push(Frame {
                        link_type: p.link_type,
                        timestamp: p.timestamp,
                        at: p.data.as_ptr().addr().wrapping_sub(base) as u32,
                        len: p.data.len() as u32,
                        end: *start as u32,
                    });
                }
            }
            Err(FileError::Incomplete { needed }) => return Ok(needed),
            Err(e) => return Err(e),
        }
    }
}

/// One read, retried when interrupted.
fn read_once(source: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match source.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}
