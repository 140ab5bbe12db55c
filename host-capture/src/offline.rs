//! Capture files (pcap, pcapng; a path or stdin) read through the core's push parser, so a
//! file of any size streams through a few fixed buffers; `--filter` runs here, on each frame,
//! before the frame is handed over.
//!
//! The file header is read here, at the start; the rest of the file is read and split into
//! frames ahead, on a thread of its own ([`ahead`]), and the capture thread takes the frames
//! ready-made: the kernel's copy of the file and the container format overlap the counting.

mod ahead;
mod compressed;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};

use anyhow::{Context, Result, bail};
use core_nostd::linktype;
use core_nostd::savefile::{FileError, Reader, Timestamp};
use host_common::exit::BadInput;

use crate::bpf::FileFilter;
use crate::linktype::Unsupported;
use ahead::{AHEAD, Begin, Chunk, End, HEAD, POOL, READ, Spent};
use compressed::Compression;

/// How to read a capture file.
#[derive(Debug, Clone)]
pub struct Options {
    /// The file (`-` for stdin).
    pub path: PathBuf,
    /// A BPF filter (tcpdump syntax), compiled for each link type the file holds.
    pub filter: Option<String>,
}

/// The pcap file header; the pcapng section header is no shorter.
const PCAP_HEADER: usize = 24;

/// An open capture file.
pub struct Input {
    path: PathBuf,
    filter: Option<FileFilter>,
    /// The first link type (pcap: the file's; pcapng: the first interface's, if any yet).
    link_type: Option<u32>,
    /// Buffers and their frames from the reading thread, in order.
    filled: Receiver<Chunk>,
    /// Spent buffers back to it.
    pool: Sender<Spent>,
    /// The buffer whose frames are being handed out, and the next of them.
    chunk: Option<Chunk>,
    next: usize,
    /// The input is a pipe (stdin, a FIFO), not a regular file.
    pipe: bool,
    /// The input has ended (its last frames were handed out, or it failed).
    done: bool,
    /// The file's size, when it is a regular file (not stdin, a pipe, a device).
    size: Option<u64>,
    /// How the file is compressed, if it is, and the bytes of it read so far (the progress
    /// bar measures the file on disk; offsets in messages are of the decompressed bytes).
    compressed: Option<(Compression, Arc<AtomicU64>)>,
}

/// Opens the file of `options` (errors name it as `--read PATH`), reads its file header and
/// compiles the filter for its first link type. An unsupported link type is an error here,
/// naming the number.
pub fn open(options: &Options) -> Result<Input> {
    let path = &options.path;
    let mut input = read_header(path).with_context(|| format!("--read {}", path.display()))?;
    if let Some(text) = &options.filter {
        input.filter = Some(FileFilter::new(text, input.link_type)?);
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
    let opened = compressed::open(source)?;
    let compression = opened.compressed.as_ref().map(|(c, _)| *c);
    let mut input = start(path, opened.source, stdin || size.is_none(), size).map_err(|e| {
        // The decoder's error in the first read: damage of the compressed data, as it is
        // further on (`Input::ended`).
        match (compression, e.downcast_ref::<io::Error>()) {
            (Some(c), Some(io)) if compressed::is_damage(io) => {
                anyhow::Error::new(BadInput::new(format!("the {c} data is damaged: {io}")))
            }
            _ => e,
        }
    })?;
    input.compressed = opened.compressed;
    Ok(input)
}

/// Reads the file header from `source` (a pipe when `pipe`) and starts the reading thread.
fn start(
    path: &Path,
    mut source: Box<dyn Read + Send>,
    pipe: bool,
    size: Option<u64>,
) -> Result<Input> {
    let mut buf = vec![0; HEAD + READ];
    // From a file, the first records are read too, to tell the pcap variants apart; from a
    // pipe, waiting for them would hold back the first packets.
    let mut want = if pipe { PCAP_HEADER } else { READ };
    let mut read = 0;
    let (reader, used, eof) = loop {
        let (n, eof) = read_at_least(&mut source, &mut buf[HEAD + read..], want - read)?;
        read += n;
        match Reader::start(&buf[HEAD..HEAD + read]) {
            // A pipe may hand over less than a pcapng section header at first.
            Err(FileError::Incomplete { needed }) if !eof && needed > read && needed <= READ => {
                want = needed;
            }
            Err(FileError::Incomplete { .. }) => bail!(BadInput::new(
                "not a capture file: it ends inside the file header"
            )),
            Err(e) => bail!(BadInput::new(e.to_string())),
            Ok((reader, used)) => break (reader, used, eof),
        }
    };
    let link_type = reader.link_type();
    if let Some(lt) = link_type
        && !linktype::is_supported(lt)
    {
        bail!(BadInput::new(Unsupported::new(lt).to_string()));
    }
    let begin = Begin {
        reader,
        buf,
        start: HEAD + used,
        end: HEAD + read,
        eof,
        pipe,
    };
    let (filled_tx, filled) = mpsc::sync_channel(AHEAD);
    let (pool, pool_rx) = mpsc::channel();
    for _ in 1..POOL {
        // The first buffer is the one the file header was read into.
        let _ = pool.send((vec![0; HEAD + READ], Vec::new()));
    }
    std::thread::Builder::new()
        .name("read-ahead".into())
        .spawn(move || ahead::run(&mut *source, begin, &filled_tx, &pool_rx))
        .context("cannot start the thread that reads the file")?;
    Ok(Input {
        path: path.to_path_buf(),
        filter: None,
        link_type,
        filled,
        pool,
        chunk: None,
        next: 0,
        pipe,
        done: false,
        size,
        compressed: None,
    })
}

/// Reads into `buf` until at least `min` bytes are in (or `buf` is full, or the input ends);
/// returns the bytes read and whether the input ended. A read that fails after some bytes
/// came in returns those: the frames in them are counted, and the failure, which the next
/// read meets again (a failing disk does; a decoder's is kept, `compressed::Sticky`), ends
/// the input after them.
fn read_at_least(source: &mut dyn Read, buf: &mut [u8], min: usize) -> Result<(usize, bool)> {
    let mut end = 0;
    while end < min.min(buf.len()) {
        match source.read(&mut buf[end..]) {
            Ok(0) => return Ok((end, true)),
            Ok(n) => end += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) if end > 0 => break,
            Err(e) => return Err(e).context("reading"),
        }
    }
    Ok((end, false))
}

impl Input {
    /// Bytes of the file consumed so far (handed over or passed over), for the progress bar.
    pub fn consumed(&self) -> u64 {
        if let Some((_, read)) = &self.compressed {
            return read.load(Ordering::Relaxed);
        }
        match &self.chunk {
            Some(c) => {
                let at = match self.next.checked_sub(1).and_then(|i| c.frames.get(i)) {
                    Some(f) => f.end as usize,
                    None => c.first,
                };
                c.origin.wrapping_add(at as u64)
            }
            None => 0,
        }
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
        loop {
            if let Some(c) = &self.chunk {
                let frames = c.frames.get(self.next..).unwrap_or_default();
                for f in frames.iter().take(max - n) {
                    let data = c
                        .bytes
                        .get(f.at as usize..f.at as usize + f.len as usize)
                        .unwrap_or_default();
                    if self
                        .filter
                        .as_mut()
                        .is_none_or(|filter| filter.matches(f.link_type, data))
                    {
                        each(f.link_type, f.timestamp, data);
                    }
                }
                let taken = frames.len().min(max - n);
                (self.next, n) = (self.next + taken, n + taken);
                if n == max {
                    return Ok(Some(n));
                }
                if self.ended()? {
                    return Ok(if n == 0 { None } else { Some(n) });
                }
            }
            // This buffer's frames are used up. From a pipe, take what the reading thread has
            // ready, but end the batch before a wait that may block (a pipe that is quiet),
            // so that the loop's periodic work (the stats, the metrics) sees every frame read
            // so far. A file never keeps us waiting: its batches are full, and so the same on
            // every run.
            let next = if self.pipe && n > 0 {
                match self.filled.try_recv() {
                    Ok(c) => Some(c),
                    Err(TryRecvError::Empty) => return Ok(Some(n)),
                    Err(TryRecvError::Disconnected) => None,
                }
            } else {
                self.filled.recv().ok()
            };
            let Some(next) = next else {
                // The thread is gone without saying why: it cannot be, but is not a panic.
                bail!("reading: the reading thread ended early");
            };
            if let Some(spent) = self.chunk.replace(next) {
                let _ = self.pool.send((spent.bytes, spent.frames));
            }
            self.next = 0;
        }
    }

    /// Once the current buffer's frames are all handed out: whether the input ended there
    /// (normally; any other end is the error it carries).
    fn ended(&mut self) -> Result<bool> {
        let Some(end) = self.chunk.as_mut().and_then(|c| c.end.take()) else {
            return Ok(self.done);
        };
        self.done = true;
        // Offsets are of the capture file, which for a compressed one is the decompressed
        // stream.
        let of = match self.compressed {
            Some((c, _)) => format!(" of the decompressed {c} data"),
            None => String::new(),
        };
        match end {
            End::Eof => Ok(true),
            End::Cut { at, needed, remain } => bail!(
                "file cut short at byte {at}{of}: the last record needs {needed} bytes, {remain} remain"
            ),
            End::Damaged { at, error } => bail!("damaged at byte {at}{of}: {error}"),
            End::Failed(e) => match self.compressed {
                Some((c, _)) if compressed::is_damage(&e) => {
                    bail!("the {c} data is damaged: {e}")
                }
                _ => Err(e).context("reading"),
            },
        }
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

    /// `data` read as a regular file (one read fills a buffer).
    fn whole_file(data: &[u8]) -> Input {
        let source = Box::new(io::Cursor::new(data.to_vec()));
        start(Path::new("whole"), source, false, None).unwrap()
    }

    /// `data` read from a pipe in pieces of up to each of `pieces` bytes gives the frames
    /// `want` and consumes all of it.
    fn same_in_pieces(data: &[u8], want: &[(i64, usize)], pieces: &[usize]) {
        for &most in pieces {
            let trickle = Trickle {
                data: data.to_vec(),
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
        let whole = whole_file(&data);
        let (want, ended, consumed) = frames(whole);
        ended.unwrap();
        assert_eq!(want.len(), 400);
        assert_eq!(consumed, data.len() as u64);
        same_in_pieces(&data, &want, &[5, 4096, 300_000]);
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
        let data = pcapng(HEAD + READ + 12_345, 500);
        let whole = whole_file(&data);
        let (want, ended, consumed) = frames(whole);
        ended.unwrap();
        assert_eq!(want.len(), 500);
        assert_eq!(want[499], (1_700_000_000_499, 60 + (499 * 31) % 1400));
        assert_eq!(consumed, data.len() as u64);
        same_in_pieces(&data, &want, &[300, 4000, 70_000]);
    }

    #[test]
    fn a_read_error_ends_the_file_after_the_frames_before_it() {
        let data = capture(3000);
        // Past the first buffer, inside a record.
        let ok = READ + HEAD + 5;
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
        let whole = whole_file(&data);
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
