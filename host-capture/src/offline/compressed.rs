//! Compressed capture files: gzip, zstd, xz and lz4 (frame format), told apart by their magic
//! bytes, never by the file's name, so a rotated `capture.pcap.1` that is really gzip, or a
//! compressed stream on stdin, reads the same. Each is decompressed as a stream, on the thread
//! that reads the file ahead (so the capture thread never waits for it), through buffers of
//! fixed size: no temporary file, and a decompression bomb costs time, not memory.
//!
//! Concatenated members/frames (what `cat a.gz b.gz` or a log rotator's appends make) read as
//! one stream, as gzip, zstd, xz and lz4 tools do.
//!
//! An error of the decoder (damaged or cut-short compressed data) is damage of the input, not a
//! failed read: the reader's own errors are marked ([`RawError`]) on their way through the
//! decoder, so the two can be told apart afterwards ([`is_damage`]).

use std::fmt;
use std::io::{self, BufRead, BufReader, Cursor, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How a file is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// gzip (RFC 1952), `1f 8b`.
    Gzip,
    /// Zstandard, `28 b5 2f fd`.
    Zstd,
    /// xz, `fd 37 7a 58 5a 00`.
    Xz,
    /// LZ4 frame format, `04 22 4d 18`.
    Lz4,
}

/// The longest magic of [`Compression`]: the bytes needed to tell them apart.
pub const MAGIC_LEN: usize = 6;

impl Compression {
    /// The format whose magic `prefix` starts with, if any. A capture file's own magics
    /// (pcap, pcapng) collide with none of these.
    pub fn detect(prefix: &[u8]) -> Option<Compression> {
        const MAGICS: [(&[u8], Compression); 4] = [
            (&[0x1f, 0x8b], Compression::Gzip),
            (&[0x28, 0xb5, 0x2f, 0xfd], Compression::Zstd),
            (&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], Compression::Xz),
            (&[0x04, 0x22, 0x4d, 0x18], Compression::Lz4),
        ];
        MAGICS
            .iter()
            .find(|(magic, _)| prefix.starts_with(magic))
            .map(|&(_, c)| c)
    }

    /// The format's usual name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Xz => "xz",
            Compression::Lz4 => "lz4",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error of the underlying reader (the disk, the pipe), carried through a decoder unchanged
/// in meaning: whatever error comes out of a decoder without this mark is the data's fault.
#[derive(Debug)]
pub struct RawError(io::Error);

impl fmt::Display for RawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for RawError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// True when `e`, from a decoder over a [`Raw`] reader, is damage of the compressed data
/// rather than a failed read.
pub fn is_damage(e: &io::Error) -> bool {
    e.get_ref().is_none_or(|inner| !inner.is::<RawError>())
}

/// The compressed file itself: counts the bytes read (for the progress bar, which measures the
/// file on disk) and marks its errors.
struct Raw {
    inner: Box<dyn Read + Send>,
    read: Arc<AtomicU64>,
}

impl Read for Raw {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Ok(n) => {
                    // One writer: a load and a store, no locked add.
                    let total = self.read.load(Ordering::Relaxed) + n as u64;
                    self.read.store(total, Ordering::Relaxed);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io::Error::new(e.kind(), RawError(e))),
            }
        }
    }
}

/// What [`open`] makes of an input.
pub struct Opened {
    /// The capture file's bytes (decompressed, if it was compressed).
    pub source: Box<dyn Read + Send>,
    /// How it was compressed, if it was, and the bytes of the compressed file read so far.
    pub compressed: Option<(Compression, Arc<AtomicU64>)>,
}

/// Looks at the first bytes of `source` and, when they are one of the magics, puts the right
/// decoder in front of it. The bytes looked at are not lost: they are read again first.
pub fn open(mut source: Box<dyn Read + Send>) -> anyhow::Result<Opened> {
    let mut prefix = [0; MAGIC_LEN];
    // A pipe may hand over fewer bytes than asked: read until the magic is in or it ends.
    let (got, _) = super::read_at_least(&mut *source, &mut prefix, MAGIC_LEN)?;
    let head = prefix.get(..got).unwrap_or_default().to_vec();
    let compression = Compression::detect(&head);
    let whole: Box<dyn Read + Send> = Box::new(Cursor::new(head).chain(source));
    let Some(compression) = compression else {
        return Ok(Opened {
            source: whole,
            compressed: None,
        });
    };
    let read = Arc::new(AtomicU64::new(0));
    let raw = BufReader::with_capacity(
        READ_COMPRESSED,
        Raw {
            inner: whole,
            read: Arc::clone(&read),
        },
    );
    let source: Box<dyn Read + Send> = match compression {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(raw)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(raw)
                .map_err(|e| anyhow::anyhow!("reading: cannot start the zstd decoder: {e}"))?,
        ),
        Compression::Xz => Box::new(xz2::bufread::XzDecoder::new_multi_decoder(raw)),
        Compression::Lz4 => Box::new(Lz4Frames(lz4_flex::frame::FrameDecoder::new(raw))),
    };
    Ok(Opened {
        source: Box::new(Sticky {
            inner: source,
            failed: None,
        }),
        compressed: Some((compression, read)),
    })
}

/// A decoder whose first error is its answer to every later read too: what a decoder does
/// after an error is its own affair (one may even go on with garbage), and the reader reads
/// again after a failure that came with bytes ([`super::read_at_least`]).
pub struct Sticky {
    inner: Box<dyn Read + Send>,
    /// The first error: its kind, its text, and whether it was the file's (not the data's).
    failed: Option<(io::ErrorKind, String, bool)>,
}

impl Read for Sticky {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some((kind, text, raw)) = &self.failed {
            let again = io::Error::new(*kind, text.clone());
            return Err(if *raw {
                io::Error::new(*kind, RawError(again))
            } else {
                again
            });
        }
        let read = self.inner.read(buf);
        if let Err(e) = &read
            && e.kind() != io::ErrorKind::Interrupted
        {
            self.failed = Some((e.kind(), e.to_string(), !is_damage(e)));
        }
        read
    }
}

/// lz4_flex's decoder ends its stream at the end of each frame; the `lz4` tool reads on into
/// the next. This goes on while bytes are left after a frame's end.
struct Lz4Frames<R: BufRead>(lz4_flex::frame::FrameDecoder<R>);

impl<R: BufRead> Read for Lz4Frames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.0.read(buf)?;
            if n > 0 || buf.is_empty() || self.0.get_mut().fill_buf()?.is_empty() {
                return Ok(n);
            }
        }
    }
}

/// The most one read of the compressed file asks for.
const READ_COMPRESSED: usize = 256 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magics_are_told_apart_and_capture_magics_are_none() {
        assert_eq!(
            Compression::detect(&[0x1f, 0x8b, 8, 0]),
            Some(Compression::Gzip)
        );
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Some(Compression::Zstd)
        );
        assert_eq!(
            Compression::detect(&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]),
            Some(Compression::Xz)
        );
        // Five of xz's six bytes are not xz.
        assert_eq!(Compression::detect(&[0xfd, 0x37, 0x7a, 0x58, 0x5a]), None);
        assert_eq!(
            Compression::detect(&[0x04, 0x22, 0x4d, 0x18]),
            Some(Compression::Lz4)
        );
        for capture in [
            [0xd4, 0xc3, 0xb2, 0xa1],
            [0xa1, 0xb2, 0xc3, 0xd4],
            [0x4d, 0x3c, 0xb2, 0xa1],
            [0x0a, 0x0d, 0x0d, 0x0a],
        ] {
            assert_eq!(Compression::detect(&capture), None);
        }
        assert_eq!(Compression::detect(&[]), None);
        assert_eq!(Compression::detect(&[0x1f]), None);
    }

    /// Hands out one byte per read: the magic arrives in pieces.
    struct OneByOne(Vec<u8>, usize);

    impl Read for OneByOne {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match (self.0.get(self.1), buf.first_mut()) {
                (Some(&b), Some(slot)) => {
                    *slot = b;
                    self.1 += 1;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    fn read_all(opened: Opened) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut source = opened.source;
        source.read_to_end(&mut out)?;
        Ok(out)
    }

    fn every_format(data: &[u8]) -> Vec<(Compression, Vec<u8>)> {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        let mut xz = xz2::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(data).unwrap();
        // As the zstd and lz4 tools write them: with a checksum of the content.
        let info = lz4_flex::frame::FrameInfo::new().content_checksum(true);
        let mut lz = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
        let mut zs = zstd::Encoder::new(Vec::new(), 1).unwrap();
        zs.include_checksum(true).unwrap();
        zs.write_all(data).unwrap();
        lz.write_all(data).unwrap();
        vec![
            (Compression::Gzip, gz.finish().unwrap()),
            (Compression::Zstd, zs.finish().unwrap()),
            (Compression::Xz, xz.finish().unwrap()),
            (Compression::Lz4, lz.finish().unwrap()),
        ]
    }

    #[test]
    fn every_format_round_trips_from_a_trickling_pipe_and_counts_the_file() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for (kind, packed) in every_format(&data) {
            let opened = open(Box::new(OneByOne(packed.clone(), 0))).unwrap();
            let (found, read) = opened.compressed.clone().unwrap();
            assert_eq!(found, kind);
            let out = read_all(opened).unwrap();
            assert!(
                out == data,
                "{kind}: {} bytes out of {}",
                out.len(),
                data.len()
            );
            // The magic bytes were read before the counter began, and read again after.
            assert_eq!(read.load(Ordering::Relaxed), packed.len() as u64, "{kind}");
        }
    }

    #[test]
    fn concatenated_members_read_as_one_stream() {
        let (a, b) = (b"first part, ".repeat(1000), b"second part".repeat(1000));
        let both = [a.clone(), b.clone()].concat();
        let formats = every_format(&a).into_iter().zip(every_format(&b));
        for (((kind, pa), (_, pb)), (_, empty)) in formats.zip(every_format(b"")) {
            // An empty member between the two must not end the stream.
            let opened = open(Box::new(Cursor::new([pa, empty, pb].concat()))).unwrap();
            let out = read_all(opened).unwrap();
            assert!(
                out == both,
                "{kind}: {} bytes out of {}",
                out.len(),
                both.len()
            );
        }
    }

    #[test]
    fn uncompressed_input_is_handed_on_whole_even_when_short() {
        for data in [
            &b""[..],
            b"\xd4\xc3",
            b"\xd4\xc3\xb2\xa1 and the rest of a pcap",
        ] {
            let opened = open(Box::new(OneByOne(data.to_vec(), 0))).unwrap();
            assert!(opened.compressed.is_none());
            assert_eq!(read_all(opened).unwrap(), data);
        }
    }

    #[test]
    fn damaged_and_cut_data_is_damage_but_a_failed_read_is_not() {
        let data = b"some capture bytes ".repeat(5000);
        for (kind, packed) in every_format(&data) {
            // Cut in the middle.
            let cut = packed.get(..packed.len() / 2).unwrap().to_vec();
            let e = read_all(open(Box::new(Cursor::new(cut))).unwrap()).unwrap_err();
            assert!(is_damage(&e), "{kind} cut: {e:?}");
            // Bytes after the magic overwritten.
            let mut bad = packed.clone();
            for b in bad.iter_mut().skip(MAGIC_LEN + 8).take(64) {
                *b ^= 0x5a;
            }
            let e = read_all(open(Box::new(Cursor::new(bad))).unwrap()).unwrap_err();
            assert!(is_damage(&e), "{kind} damaged: {e:?}");
            // The disk fails after the magic.
            let failing =
                Cursor::new(packed.get(..MAGIC_LEN + 10).unwrap().to_vec()).chain(FailingRead);
            let e = read_all(open(Box::new(failing)).unwrap()).unwrap_err();
            assert!(!is_damage(&e), "{kind} failed read: {e:?}");
            assert!(e.to_string().contains("the disk is gone"), "{kind}: {e}");
        }
    }

    #[test]
    fn a_decoder_error_is_the_answer_to_every_later_read() {
        let data = b"some capture bytes ".repeat(5000);
        let (_, packed) = every_format(&data).remove(0);
        let cut = packed.get(..packed.len() / 2).unwrap().to_vec();
        let mut source = open(Box::new(Cursor::new(cut))).unwrap().source;
        let mut buf = vec![0; 1 << 20];
        let mut got = 0;
        let first = loop {
            match source.read(&mut buf) {
                Ok(n) => got += n,
                Err(e) => break e,
            }
        };
        assert!(got > 0 && got < data.len(), "{got}");
        for _ in 0..3 {
            let again = source.read(&mut buf).unwrap_err();
            assert_eq!(
                (again.kind(), again.to_string()),
                (first.kind(), first.to_string())
            );
            assert!(is_damage(&again));
        }
    }

    struct FailingRead;

    impl Read for FailingRead {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("the disk is gone"))
        }
    }
}
