//! Capture files (pcap, pcapng; a path or stdin) read through the core's push parser, so a
//! file of any size streams through one buffer; `--filter` runs here, on each frame, before
//! the frame is handed over.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
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
/// decide between the pcap variants.
const FIRST_READ: usize = 1 << 20;

/// The pcap file header; the pcapng section header is no shorter.
const PCAP_HEADER: usize = 24;

/// An open capture file.
pub struct Input {
    path: PathBuf,
    filter: Option<FileFilter>,
    reader: Reader,
    source: Box<dyn Read>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Offset in the file of `buf[0]`, for error messages.
    offset: u64,
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
    let mut source: Box<dyn Read> = if stdin {
        Box::new(io::stdin().lock())
    } else {
        let file = File::open(path).context("cannot open")?;
        size = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        Box::new(file)
    };
    let mut buf = vec![0; FIRST_READ];
    // From a file, the first records are read too, to tell the pcap variants apart; from a
    // pipe, waiting for them would hold back the first packets.
    let first = if stdin { PCAP_HEADER } else { FIRST_READ };
    let (end, eof) = read_at_least(&mut source, &mut buf, first)?;
    let (reader, used) = Reader::start(&buf[..end]).map_err(|e| match e {
        FileError::Incomplete { .. } => {
            anyhow!(BadInput::new(
                "not a capture file: it ends inside the file header"
            ))
        }
        e => anyhow!(BadInput::new(e.to_string())),
    })?;
    if let Some(lt) = reader.link_type()
        && !linktype::is_supported(lt)
    {
        bail!(BadInput::new(Unsupported::new(lt).to_string()));
    }
    Ok(Input {
        path: path.to_path_buf(),
        filter: None,
        reader,
        source,
        buf,
        start: used,
        end,
        eof,
        offset: 0,
        size,
    })
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
    /// Reads until `buf[start..end]` holds at least `needed` bytes or the input ends.
    fn fill(&mut self, needed: usize) -> Result<()> {
        if self.start > 0 && self.start + needed > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.offset += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        if self.start + needed > self.buf.len() {
            self.buf.resize(self.start + needed, 0);
        }
        if !self.eof && self.end - self.start < needed {
            let missing = needed - (self.end - self.start);
            let (n, eof) = read_at_least(&mut self.source, &mut self.buf[self.end..], missing)?;
            self.end += n;
            self.eof = eof;
        }
        Ok(())
    }

    /// Bytes of the file consumed so far (handed over or passed over), for the progress bar.
    pub fn consumed(&self) -> u64 {
        self.offset + self.start as u64
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
                    // What was read is used up: end the batch before the read that may block
                    // (a pipe that is quiet), so that the loop's periodic work (the stats, the
                    // metrics) sees every frame read so far.
                    if n > 0 && !self.eof {
                        return Ok(Some(n));
                    }
                    if self.eof {
                        if self.start == self.end {
                            return Ok(if n == 0 { None } else { Some(n) });
                        }
                        bail!(
                            "file cut short at byte {}: the last record needs {needed} bytes, {} remain",
                            self.offset + self.start as u64,
                            self.end - self.start
                        );
                    }
                    self.fill(needed)?;
                }
                Err(e) => bail!("damaged at byte {}: {e}", self.offset + self.start as u64),
            }
        }
        Ok(Some(n))
    }
}
