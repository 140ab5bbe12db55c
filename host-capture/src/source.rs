//! Where frames come from: a live interface or a capture file, behind one `pump`.

use std::time::Duration;

use anyhow::Result;
use core_nostd::savefile::Timestamp;

use crate::live::{self, Live};
use crate::offline::{self, Input};

/// How long a live capture waits for frames per pump, so that a quiet interface still lets
/// the loop flush, log and see signals.
const LIVE_WAIT: Duration = Duration::from_millis(100);

/// Packets read from a file per pump, so that the loop's periodic work runs during a file too.
const FILE_BATCH: usize = 4096;

/// Which source to open.
#[derive(Debug, Clone)]
pub enum Options {
    /// Capture live.
    Live(live::Options),
    /// Read a pcap or pcapng file.
    File(offline::Options),
}

/// An open source of frames.
pub enum Source {
    /// A live capture.
    Live(Live),
    /// A capture file (the reader holds a pcapng section's interface table inline).
    File(Box<Input>),
}

/// What a [`Source::pump`] came to.
pub enum Pumped {
    /// Some frames (or none yet): pump again. A file's batch, or a live batch that may have
    /// left frames in the ring.
    Frames,
    /// Live: the ring was found empty; every frame it held when the pump began was handed
    /// over (the coverage of a heartbeat may reach back to that moment).
    Drained,
    /// The end of the file.
    End,
    /// The file is damaged here (every frame before the damage was handed over); the error
    /// names the file.
    Damaged(anyhow::Error),
}

impl Source {
    /// Opens the source of `options`.
    pub fn open(options: &Options) -> Result<Source> {
        Ok(match options {
            Options::Live(o) => Source::Live(Live::open(o)?),
            Options::File(o) => Source::File(Box::new(offline::open(o)?)),
        })
    }

    /// Hands the next frames (link type, timestamp, captured bytes) to `each`: a live capture
    /// waits a moment for them, a file hands over a batch.
    #[inline]
    pub fn pump(&mut self, each: &mut impl FnMut(u32, Timestamp, &[u8])) -> Result<Pumped> {
        match self {
            Source::Live(live) => Ok(if live.pump(LIVE_WAIT, each)? {
                Pumped::Drained
            } else {
                Pumped::Frames
            }),
            Source::File(input) => Ok(match input.pump(FILE_BATCH, each) {
                Ok(Some(_)) => Pumped::Frames,
                Ok(None) => Pumped::End,
                Err(e) => Pumped::Damaged(e.context(format!("--read {}", input.path().display()))),
            }),
        }
    }

    /// A live capture (whose intervals end by the wall clock, not by the next frame).
    pub fn is_live(&self) -> bool {
        matches!(self, Source::Live(_))
    }

    /// A file's bytes consumed so far and its size when known; `None` for a live capture.
    pub fn position(&self) -> Option<(u64, Option<u64>)> {
        match self {
            Source::Live(_) => None,
            Source::File(input) => Some((input.consumed(), input.size())),
        }
    }

    /// Kernel and interface drop counters (live capture only).
    pub fn drops(&mut self) -> Option<(u64, u64)> {
        match self {
            Source::Live(live) => live.drops(),
            Source::File(_) => None,
        }
    }
}
