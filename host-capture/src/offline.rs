//! Capture files (pcap, pcapng; a path or stdin) read through the core's push parser, so a
//! file of any size streams through a few fixed buffers; `--filter` runs here, on each frame,
//! before the frame is handed over.
//!
//! The reading itself (the kernel's copy of the file, about a sixth of a replay's time) runs
//! ahead on a thread of its own ([`read_ahead`]), so that it overlaps the parsing: it fills
//! buffers from a pool of [`POOL`] and hands them over in order, [`AHEAD`] at most, so
//! memory stays fixed however fast the file is. A record cut by the end of a buffer is
//! joined up by copying its head into the room kept before the next buffer's bytes
//! ([`HEAD`]): only the cut record is copied, never the file.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};

use anyhow::{Context, Result, bail};
use core_nostd::linktype;
use core_nostd::savefile::{Entry, FileError, Reader, Timestamp};
use host_common::exit::BadInput;

use crate::bpf::FileFilter;
use crate::linktype::Unsupported;

/// How to read a capture file.
#[derive(Debug, Clone)]
pub struct Options {
    /// The file (`-` for stdin).
    pub path: PathBuf,
    /// A BPF filter (tcpdump syntax), compiled for each link type the file holds.
    pub filter: Option<String>,
}

/// How much is read before the file header is parsed: enough for the first records, which
/// decide between the pcap variants. Also the most one read asks for.
const FIRST_READ: usize = 512 << 10;

/// Room before a buffer's bytes for the head of a record cut by the end of the buffer before
/// (the longest pcap record and some); a longer head is joined by a slower copy.
const HEAD: usize = core_nostd::savefile::MAX_CAPTURED_LEN as usize + 4096;

/// Buffers in all: the one being parsed, and those being filled or waiting.
const POOL: usize = 3;

/// Filled buffers that may wait to be parsed.
const AHEAD: usize = POOL - 1;

/// What the reading thread hands over.
enum Chunk {
    /// A buffer whose bytes `[HEAD..HEAD + len]` come next in the input.
    Data(Vec<u8>, usize),
    /// The input ended.
    End,
    /// Reading failed.
    Failed(io::Error),
}

/// The reading thread's side: the buffers filled in order, and the way back for used ones.
struct Chunks {
    filled: Receiver<Chunk>,
    used: Sender<Vec<u8>>,
}

/// The pcap file header; the pcapng section header is no shorter.
const PCAP_HEADER: usize = 24;

/// An open capture file.
pub struct Input {
    path: PathBuf,
    filter: Option<FileFilter>,
    reader: Reader,
    /// Filled by the reading thread (`None` once the input has ended before it was needed).
    chunks: Option<Chunks>,
    /// The input is a pipe (stdin, a FIFO), not a regular file.
    pipe: bool,
    /// `buf[start..end]` is what is read and not parsed yet.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Offset in the file of `buf[0]` (wrapping: the room before the first bytes has none),
    /// for error messages and the progress bar.
    origin: u64,
    /// The file's size, when it is a regular file (not stdin, a pipe, a device).
    size: Option<u64>,
}

/// Opens the file of `options` (errors name it as `--read PATH`), reads its file header and
/// compiles the filter for its first link type. An unsupported link type is an error here,
/// naming the number.
pub fn open(options: &Options) -> Result<Input> {
    let path = &options.path;
    let mut input = read_header(path).with_context(|| format!("--read {}", path.display()))?;
    if let Some(text) = &options.filter {
        input.filter = Some(FileFilter::new(text, input.reader.link_type())?);
    }
    Ok(input)
}

fn read_header(path: &Path) -> Result<Input> {
    let stdin = path.as_os_str() == "-";
    let mut size = None;
    let source: Box<dyn Read + Send> = if stdin {
        Box::new(io::stdin())
    } else {
        let file = File::open(path).context("cannot open")?;
        size = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        Box::new(file)
    };
    start(path, source, stdin || size.is_none(), size)
}

/// Reads the file header from `source` (a pipe when `pipe`) and starts reading ahead.
fn start(
    path: &Path,
    mut source: Box<dyn Read + Send>,
    pipe: bool,
    size: Option<u64>,
) -> Result<Input> {
    let mut buf = vec![0; HEAD + FIRST_READ];
    // From a file, the first records are read too, to tell the pcap variants apart; from a
    // pipe, waiting for them would hold back the first packets.
    let mut want = if pipe { PCAP_HEADER } else { FIRST_READ };
    let mut read = 0;
    let (reader, used, eof) = loop {
        let (n, eof) = read_at_least(&mut source, &mut buf[HEAD + read..], want - read)?;
        read += n;
        match Reader::start(&buf[HEAD..HEAD + read]) {
            // A pipe may hand over less than a pcapng section header at first.
            Err(FileError::Incomplete { needed })
                if !eof && needed > read && needed <= FIRST_READ =>
            {
                want = needed;
            }
            Err(FileError::Incomplete { .. }) => bail!(BadInput::new(
                "not a capture file: it ends inside the file header"
            )),
            Err(e) => bail!(BadInput::new(e.to_string())),
            Ok((reader, used)) => break (reader, used, eof),
        }
    };
    let end = HEAD + read;
    if let Some(lt) = reader.link_type()
        && !linktype::is_supported(lt)
    {
        bail!(BadInput::new(Unsupported::new(lt).to_string()));
    }
    Ok(Input {
        path: path.to_path_buf(),
        filter: None,
        reader,
        chunks: (!eof).then(|| read_ahead(source)),
        pipe,
        buf,
        start: HEAD + used,
        end,
        eof,
        origin: 0u64.wrapping_sub(HEAD as u64),
        size,
    })
}

/// Starts the thread that reads `source` ahead into the pool's buffers. It ends at the end of
/// the input, after a read error, or when the `Input` is dropped (its next hand-over fails).
fn read_ahead(mut source: Box<dyn Read + Send>) -> Chunks {
    let (filled_tx, filled) = mpsc::sync_channel(AHEAD);
    let (used, used_rx) = mpsc::channel();
    for _ in 1..POOL {
        // The first buffer is the one the file header was read into.
        let _ = used.send(vec![0; HEAD + FIRST_READ]);
    }
    let spawned = std::thread::Builder::new()
        .name("read-ahead".into())
        .spawn(move || fill_pool(&mut *source, &filled_tx, &used_rx));
    if let Err(e) = spawned {
        // No thread: the input reads as failed, with the reason, at the first buffer needed.
        let (tx, rx) = mpsc::sync_channel(1);
        let _ = tx.send(Chunk::Failed(e));
        return Chunks { filled: rx, used };
    }
    Chunks { filled, used }
}

/// The reading thread: one read per buffer (a pipe's bytes are handed over as soon as they
/// come; a file's fill the buffer), in order.
fn fill_pool(source: &mut dyn Read, filled: &SyncSender<Chunk>, used: &Receiver<Vec<u8>>) {
    while let Ok(mut buf) = used.recv() {
        if buf.len() < HEAD + FIRST_READ {
            buf.resize(HEAD + FIRST_READ, 0);
        }
        let chunk = loop {
            match source.read(&mut buf[HEAD..HEAD + FIRST_READ]) {
                Ok(0) => break Chunk::End,
                Ok(n) => break Chunk::Data(buf, n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Chunk::Failed(e),
            }
        };
        let last = !matches!(chunk, Chunk::Data(..));
        if filled.send(chunk).is_err() || last {
            return;
        }
    }
}

/// Reads into `buf` until at least `min` bytes are in (or `buf` is full, or the input ends);
/// returns the bytes read and whether the input ended.
fn read_at_least(source: &mut dyn Read, buf: &mut [u8], min: usize) -> Result<(usize, bool)> {
    let mut end = 0;
    while end < min.min(buf.len()) {
        match source.read(&mut buf[end..]) {
            Ok(0) => return Ok((end, true)),
            Ok(n) => end += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("reading"),
        }
    }
    Ok((end, false))
}

impl Input {
    /// Takes the next buffer from the reading thread, waiting for it when `wait`; false when
    /// none was ready (and `wait` was not set).
    fn next_chunk(&mut self, wait: bool) -> Result<bool> {
        let Some(chunks) = &self.chunks else {
            self.eof = true;
            return Ok(true);
        };
        let chunk = if wait {
            chunks.filled.recv().unwrap_or(Chunk::End)
        } else {
            match chunks.filled.try_recv() {
                Ok(chunk) => chunk,
                Err(TryRecvError::Empty) => return Ok(false),
                Err(TryRecvError::Disconnected) => Chunk::End,
            }
        };
        match chunk {
            Chunk::Data(next, len) => self.join(next, len),
            Chunk::End => {
                self.eof = true;
                self.chunks = None;
            }
            Chunk::Failed(e) => {
                self.chunks = None;
                return Err(e).context("reading");
            }
        }
        Ok(true)
    }

    /// Makes `next`'s `len` bytes follow the unparsed ones. While the buffer has room after
    /// them (a pipe's short reads) they are copied in; otherwise the unparsed head of a record
    /// goes into the room before them, and the spent buffer back to the pool; a head too long
    /// for that room takes the new bytes in instead.
    fn join(&mut self, mut next: Vec<u8>, len: usize) {
        let tail = self.end - self.start;
        let spent = if let Some(room) = self.buf.get_mut(self.end..self.end + len) {
            room.copy_from_slice(&next[HEAD..HEAD + len]);
            self.end += len;
            next
        } else if tail <= HEAD {
            let at = HEAD - tail;
            next[at..HEAD].copy_from_slice(&self.buf[self.start..self.end]);
            self.origin = self
                .origin
                .wrapping_add(self.start as u64)
                .wrapping_sub(at as u64);
            self.start = at;
            self.end = HEAD + len;
            std::mem::replace(&mut self.buf, next)
        } else {
            self.buf.truncate(self.end);
            self.buf.extend_from_slice(&next[HEAD..HEAD + len]);
            self.end += len;
            next
        };
        if let Some(chunks) = &self.chunks {
            let _ = chunks.used.send(spent);
        }
    }

    /// Reads until `buf[start..end]` holds at least `needed` bytes or the input ends.
    fn fill(&mut self, needed: usize) -> Result<()> {
        while !self.eof && self.end - self.start < needed {
            self.next_chunk(true)?;
        }
        Ok(())
    }

    /// Bytes of the file consumed so far (handed over or passed over), for the progress bar.
    pub fn consumed(&self) -> u64 {
        self.origin.wrapping_add(self.start as u64)
    }

    /// The file's size, when known (a regular file).
    pub fn size(&self) -> Option<u64> {
        self.size
    }

    /// The file, as given (`-` for stdin).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads up to `max` packets and hands those that pass the filter (link type, timestamp,
    /// captured bytes) to `each`, in file order. Returns how many were read, or `None` at the
    /// end of the file. On damage the packets before it have been handed over and the error
    /// says where it is.
    pub fn pump(
        &mut self,
        max: usize,
        each: &mut impl FnMut(u32, Timestamp, &[u8]),
    ) -> Result<Option<usize>> {
        let mut n = 0;
        while n < max {
            let window = &self.buf[self.start..self.end];
            match self.reader.next(window) {
                Ok((record, used)) => {
                    if let Entry::Packet(p) = record {
                        if self
                            .filter
                            .as_mut()
                            .is_none_or(|f| f.matches(p.link_type, p.data))
                        {
                            each(p.link_type, p.timestamp, p.data);
                        }
                        n += 1;
                    }
                    self.start += used;
                }
                Err(FileError::Incomplete { needed }) => {
                    // What was read is used up. From a pipe, take what the reading thread
                    // has ready, but end the batch before a wait that may block (a pipe that
                    // is quiet), so that the loop's periodic work (the stats, the metrics)
                    // sees every frame read so far. A file never keeps us waiting: its
                    // batches are full, and so the same on every run.
                    if self.pipe && n > 0 && !self.eof {
                        if self.next_chunk(false)? {
                            continue;
                        }
                        return Ok(Some(n));
                    }
                    if self.eof {
                        if self.start == self.end {
                            return Ok(if n == 0 { None } else { Some(n) });
                        }
                        bail!(
                            "file cut short at byte {}: the last record needs {needed} bytes, {} remain",
                            self.consumed(),
                            self.end - self.start
                        );
                    }
                    self.fill(needed)?;
                }
                Err(e) => bail!("damaged at byte {}: {e}", self.consumed()),
            }
        }
        Ok(Some(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out `data` a few bytes at a time (1 to `most`, in a fixed cycle): a pipe whose
    /// writer is slow, so that records are cut at every offset.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        most: usize,
        turn: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.turn += 1;
            let n = (self.turn % self.most + 1)
                .min(buf.len())
                .min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// Fails after `ok` bytes.
    struct Broken {
        data: Vec<u8>,
        ok: usize,
        at: usize,
    }

    impl Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at >= self.ok {
                return Err(io::Error::other("the disk is gone"));
            }
            let n = buf.len().min(self.ok - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// (timestamp in ms, length) of every frame of `input`, and how it ended.
    fn frames(mut input: Input) -> (Vec<(i64, usize)>, Result<()>, u64) {
        let mut got = Vec::new();
        let ended = loop {
            match input.pump(1000, &mut |_, ts, data| {
                got.push((ts.as_millis(), data.len()))
            }) {
                Ok(Some(_)) => {}
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        (got, ended, input.consumed())
    }

    /// A pcap of `n` frames of 60 to 1,559 bytes (and one of 65,535).
    fn capture(n: u64) -> Vec<u8> {
        let frames: Vec<(u64, Vec<u8>)> = (0..n)
            .map(|i| {
                let len = if i == n / 2 {
                    65_535
                } else {
                    60 + (i as usize * 7919) % 1500
                };
                (1_700_000_000_000 + i * 3, vec![i as u8; len])
            })
            .collect();
        testkit::pcap(1, &frames)
    }

    #[test]
    fn a_file_read_ahead_in_any_pieces_gives_the_same_frames() {
        let data = capture(400);
        let whole = start(
            Path::new("whole"),
            Box::new(io::Cursor::new(data.clone())),
            false,
            None,
        )
        .unwrap();
        let (want, ended, consumed) = frames(whole);
        ended.unwrap();
        assert_eq!(want.len(), 400);
        assert_eq!(consumed, data.len() as u64);
        for most in [5, 4096, 300_000] {
            let trickle = Trickle {
                data: data.clone(),
                at: 0,
                most,
                turn: 0,
            };
            let input = start(Path::new("-"), Box::new(trickle), true, None).unwrap();
            let (got, ended, consumed) = frames(input);
            ended.unwrap();
            assert_eq!(got, want, "pieces of up to {most} bytes");
            assert_eq!(consumed, data.len() as u64);
        }
    }

    /// A little-endian pcapng block of `block_type` around `body` (padded to 4 bytes).
    fn block(block_type: u32, body: &[u8]) -> Vec<u8> {
        let padded = body.len().div_ceil(4) * 4;
        let len = (12 + padded) as u32;
        let mut b = Vec::new();
        b.extend_from_slice(&block_type.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.resize(8 + padded, 0);
        b.extend_from_slice(&len.to_le_bytes());
        b
    }

    /// A pcapng: section, interface, a block of `big` bytes that is not a packet, then `n`
    /// Ethernet frames (µs timestamps, 1 ms apart).
    fn pcapng(big: usize, n: u64) -> Vec<u8> {
        let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        shb.extend_from_slice(&[1, 0, 0, 0]);
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        let mut out = block(0x0a0d_0d0a, &shb);
        out.extend(block(1, &[1, 0, 0, 0, 0, 0, 0, 0]));
        out.extend(block(0x0000_0bad, &vec![7; big]));
        for i in 0..n {
            let ts = 1_700_000_000_000_000u64 + i * 1000;
            let data = vec![i as u8; 60 + (i as usize * 31) % 1400];
            let mut epb = Vec::new();
            for v in [0, (ts >> 32) as u32, ts as u32] {
                epb.extend_from_slice(&v.to_le_bytes());
            }
            epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
            epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
            epb.extend_from_slice(&data);
            out.extend(block(6, &epb));
        }
        out
    }

    #[test]
    fn a_block_longer_than_the_room_before_a_buffer_is_joined_too() {
        // Longer than HEAD and than a buffer: its head cannot go into the next buffer's room.
        let data = pcapng(HEAD + FIRST_READ + 12_345, 500);
        let whole = start(
            Path::new("whole"),
            Box::new(io::Cursor::new(data.clone())),
            false,
            None,
        )
        .unwrap();
        let (want, ended, consumed) = frames(whole);
        ended.unwrap();
        assert_eq!(want.len(), 500);
        assert_eq!(want[499], (1_700_000_000_499, 60 + (499 * 31) % 1400));
        assert_eq!(consumed, data.len() as u64);
        for most in [300, 4000, 70_000] {
            let trickle = Trickle {
                data: data.clone(),
                at: 0,
                most,
                turn: 0,
            };
            let input = start(Path::new("-"), Box::new(trickle), true, None).unwrap();
            let (got, ended, consumed) = frames(input);
            ended.unwrap();
            assert_eq!(got, want, "pieces of up to {most} bytes");
            assert_eq!(consumed, data.len() as u64);
        }
    }

    #[test]
    fn a_read_error_ends_the_file_after_the_frames_before_it() {
        let data = capture(3000);
        // Past the first buffer, inside a record.
        let ok = FIRST_READ + HEAD + 5;
        let broken = Broken {
            data: data.clone(),
            ok,
            at: 0,
        };
        let input = start(Path::new("broken"), Box::new(broken), false, None).unwrap();
        let (got, ended, consumed) = frames(input);
        let e = ended.unwrap_err();
        assert_eq!(format!("{e:#}"), "reading: the disk is gone");
        // Every whole record before the failed read was handed over, and none after.
        let whole = start(
            Path::new("whole"),
            Box::new(io::Cursor::new(data.clone())),
            false,
            None,
        )
        .unwrap();
        let (all, _, _) = frames(whole);
        let mut at = 24u64;
        let mut fit = 0;
        for &(_, len) in &all {
            if at + 16 + len as u64 > ok as u64 {
                break;
            }
            at += 16 + len as u64;
            fit += 1;
        }
        assert_eq!(got, all[..fit]);
        assert_eq!(consumed, at);
    }

    #[test]
    fn a_file_cut_inside_a_record_says_where() {
        let mut data = capture(10);
        data.truncate(data.len() - 3);
        let input = start(
            Path::new("cut"),
            Box::new(io::Cursor::new(data)),
            false,
            None,
        )
        .unwrap();
        let (got, ended, _) = frames(input);
        assert_eq!(got.len(), 9);
        let e = format!("{:#}", ended.unwrap_err());
        assert!(
            e.starts_with("file cut short at byte ") && e.ends_with(" remain"),
            "{e}"
        );
    }
}
