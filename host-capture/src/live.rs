//! Live capture through libpcap, non-blocking: a quiet interface must not stall flushes,
//! statistics or signals, so the loop waits on the capture's descriptor with its own timeout
//! instead of inside libpcap.
//!
//! Two things keep the cost per packet down (`benches/live-capture.sh`, docs/PERFORMANCE.md):
//! a filter is always installed in the kernel, `--filter`'s or one that accepts everything,
//! because only a filter makes the kernel copy no more than the snap length into the ring
//! (without one it copies whole frames and libpcap cuts them afterwards: a full-size frame
//! then takes a ring slot ten times larger, and the ring's blocks fill, wake the capture and
//! are handed back that much more often); and the frames of a wakeup are read with one
//! `pcap_dispatch`, in place in the ring, where `pcap_next_ex` costs a call and a copy of the
//! frame each.

use std::os::fd::AsFd;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use core_nostd::linktype;
use core_nostd::savefile::Timestamp;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use pcap::{Active, Capture};

use crate::linktype::Unsupported;

/// How to open a live capture.
#[derive(Debug, Clone)]
pub struct Options {
    /// The interface (`any` for all of them).
    pub interface: String,
    /// Bytes captured per frame.
    pub snaplen: i32,
    /// Promiscuous mode.
    pub promisc: bool,
    /// Kernel capture buffer size in bytes.
    pub buffer_size: i32,
    /// Frames as they arrive rather than in batches.
    pub immediate: bool,
    /// A BPF filter (tcpdump syntax), run in the kernel.
    pub filter: Option<String>,
}

/// An open live capture.
pub struct Live {
    capture: Capture<Active>,
    interface: String,
    link_type: u32,
}

/// Frames handed over per call of [`Live::pump`] at most, so the caller's periodic work (the
/// wall-clock flush, the Kafka poll) runs even under a flood.
const BATCH: usize = 4096;

/// The least snap length on an `nflog:N` device. libpcap reads each netfilter message into a
/// buffer sized from the snap length and asks the kernel to copy at most that much of the
/// packet, but the message's own TLVs come on top: with a small snap length the frames of
/// longer packets were lost without a drop being counted (seen with the default of 128). The
/// NFLOG device carries only what a firewall rule selected, so whole packets cost little.
pub const NFLOG_SNAPLEN: i32 = 65_535;

/// The snap length to capture `interface` with: `asked`, or [`NFLOG_SNAPLEN`] at least on an
/// NFLOG device (`nflog` or `nflog:N`).
pub fn snaplen_for(interface: &str, asked: i32) -> i32 {
    if interface == "nflog" || interface.starts_with("nflog:") {
        asked.max(NFLOG_SNAPLEN)
    } else {
        asked
    }
}

impl Live {
    /// Opens the interface of `options`.
    pub fn open(options: &Options) -> Result<Live> {
        let interface = &options.interface;
        let snaplen = snaplen_for(interface, options.snaplen);
        if snaplen != options.snaplen {
            tracing::info!(
                interface = interface.as_str(),
                snaplen,
                "an NFLOG device is captured whole (libpcap loses its longer frames otherwise)"
            );
        }
        let inactive = Capture::from_device(interface.as_str())
            .with_context(|| format!("--interface {interface}"))?
            .snaplen(snaplen)
            .promisc(options.promisc)
            .buffer_size(options.buffer_size)
            .immediate_mode(options.immediate)
            .timeout(100);
        let mut capture = inactive
            .open()
            .with_context(|| format!("--interface {interface}: cannot start the capture"))?;
        // The empty program accepts every frame, cut to the snap length in the kernel.
        match &options.filter {
            Some(filter) => capture
                .filter(filter, true)
                .with_context(|| format!("--filter {filter:?}"))?,
            None => capture
                .filter("", true)
                .with_context(|| format!("--interface {interface}: cannot set a kernel filter"))?,
        }
        let link_type = u32::try_from(capture.get_datalink().0).unwrap_or(u32::MAX);
        if !linktype::is_supported(link_type) {
            let name = capture.get_datalink().get_name();
            let unsupported = Unsupported {
                link_type,
                name: Some(name.unwrap_or_else(|_| "unknown".into())),
            };
            bail!("--interface {interface}: {unsupported}");
        }
        let capture = capture
            .setnonblock()
            .context("cannot make the capture non-blocking")?;
        Ok(Live {
            capture,
            interface: interface.clone(),
            link_type,
        })
    }

    /// Waits up to `wait` for frames, then hands each one to `each` (at most a batch).
    ///
    /// Returns true when the ring was found empty (fewer than a batch of frames handed over): every
    /// frame the ring showed when this call began has been handed over. libpcap's dispatch
    /// stops early only at a ring slot (TPACKET_V2) or block (TPACKET_V3) that is not the
    /// reader's yet.
    pub fn pump(
        &mut self,
        wait: Duration,
        each: &mut impl FnMut(u32, Timestamp, &[u8]),
    ) -> Result<bool> {
        let ready = {
            let mut fds = [PollFd::new(self.capture.as_fd(), PollFlags::POLLIN)];
            let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, timeout) {
                Ok(n) => n > 0,
                Err(nix::errno::Errno::EINTR) => false,
                Err(e) => return Err(e).context("waiting for frames"),
            }
        };
        if !ready {
            return Ok(true);
        }
        let link_type = self.link_type;
        // Non-blocking: what the ring holds now, up to a batch, then 0 when it is empty.
        let handed = self
            .capture
            .dispatch(Some(BATCH), |p| {
                let ts = Timestamp {
                    secs: p.header.ts.tv_sec,
                    nanos: u32::try_from(p.header.ts.tv_usec)
                        .unwrap_or(0)
                        .saturating_mul(1000),
                };
                each(link_type, ts, p.data);
            })
            .context("reading frames")?;
        Ok(handed < BATCH)
    }

    /// The interface captured on.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The link type libpcap reports.
    pub fn link_type(&self) -> u32 {
        self.link_type
    }

    /// Kernel and interface drop counters.
    pub fn drops(&mut self) -> Option<(u64, u64)> {
        self.capture
            .stats()
            .ok()
            .map(|s| (u64::from(s.dropped), u64::from(s.if_dropped)))
    }
}
