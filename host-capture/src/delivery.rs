//! Delivery reports: what librdkafka says became of each message, tallied on the thread that
//! polls the producer (uncontended atomics).
//!
//! A message carries no allocation of ours: its opaque is a number ([`Opaque`]: the time it was
//! handed over and its packets, or 0 for a heartbeat); a record's bytes are read back from the
//! message itself (its value, which this program wrote; its packets from the `packets` header
//! when the opaque cannot hold them), so a record is counted exactly once, delivered or failed,
//! from what went to the broker.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use core_nostd::Counts;
use core_nostd::wire::PACKETS_HEADER;
use host_common::ratelimit::OncePerChange;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::producer::{DeliveryResult, ProducerContext};

use crate::kafka::{Format, PACKETS_HEADER_C, Totals};
use crate::produce::Event;

/// Records, bytes and packets: written by one thread (the one that polls the producer, or
/// owns the sink), read by any (the metrics).
#[derive(Debug, Default)]
pub struct Tally {
    records: AtomicU64,
    bytes: AtomicU64,
    packets: AtomicU64,
}

/// Adds `n` to `a`, which only the calling thread writes: a load and a store, not the locked
/// read-modify-write of `fetch_add` (three per record otherwise).
fn bump(a: &AtomicU64, n: u64) {
    a.store(a.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

impl Tally {
    /// One record of `c` (from the tally's one writer).
    pub fn add(&self, c: Counts) {
        bump(&self.records, 1);
        bump(&self.bytes, c.bytes);
        bump(&self.packets, c.packets);
    }

    /// What was added so far.
    pub fn get(&self) -> Totals {
        Totals {
            records: self.records.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            packets: self.packets.load(Ordering::Relaxed),
        }
    }
}

/// Upper bounds of the delivery-latency histogram's buckets, seconds (from the hand-over to
/// librdkafka to the broker's acknowledgement; `acks=all` over a LAN is milliseconds, an
/// outage is seconds and more).
pub const LATENCY_BOUNDS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The delivery latencies: a count per bucket (the last one above every bound) and the sum.
/// Observed once per delivered record (a record is a pair's interval, not a packet).
#[derive(Default)]
struct Latency {
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    sum_us: AtomicU64,
}

impl Latency {
    fn observe(&self, us: u64) {
        let s = Duration::from_micros(us).as_secs_f64();
        let i = LATENCY_BOUNDS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(LATENCY_BOUNDS.len());
        bump(&self.buckets[i], 1);
        bump(&self.sum_us, us);
    }

    fn get(&self) -> Latencies {
        Latencies {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            sum_us: self.sum_us.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of the delivery latencies.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latencies {
    /// Records per bucket of [`LATENCY_BOUNDS`] (not cumulative), the last above them all.
    pub buckets: [u64; LATENCY_BOUNDS.len() + 1],
    /// Their sum, microseconds.
    pub sum_us: u64,
}

/// A message's delivery opaque: a number, not a pointer (nothing to allocate or free per
/// message). 0 for a heartbeat; for a record, from the top: the microseconds from the
/// [`Reports`]' start to its hand-over, modulo 2^39 (6.4 days: its latency), a 1 (never 0), and
/// its packets in 24 bits ([`IN_HEADER`] from 2^24 - 1 on: read from the header then), so that
/// a report needs no look-up of the header in the common case.
pub type Opaque = usize;

// The opaque holds 64 bits.
const _: () = assert!(usize::BITS >= 64);

/// The opaque of every heartbeat.
pub const HEARTBEAT: Opaque = 0;

/// The packets field of an opaque whose record has too many packets for it.
const IN_HEADER: u64 = (1 << 24) - 1;

/// The bits of the hand-over time.
const TIME_BITS: u32 = 39;

/// A record's opaque: handed over at `sent_us`, of `packets`.
fn encode(sent_us: u64, packets: u64) -> Opaque {
    let time = sent_us & ((1 << TIME_BITS) - 1);
    let v = time << 25 | 1 << 24 | packets.min(IN_HEADER);
    Opaque::try_from(v).unwrap_or(Opaque::MAX)
}

/// A record opaque's hand-over time (modulo 2^39) and packets, if they were held in it.
fn decode(opaque: Opaque) -> (u64, Option<u64>) {
    let v = opaque as u64;
    let packets = v & IN_HEADER;
    (v >> 25, (packets != IN_HEADER).then_some(packets))
}

/// The microseconds from `sent_us` to `now_us`, both modulo 2^39.
fn elapsed_us(sent_us: u64, now_us: u64) -> u64 {
    now_us.wrapping_sub(sent_us) & ((1 << TIME_BITS) - 1)
}

/// Delivery reports and client errors, from librdkafka's callbacks.
pub struct Reports {
    format: Format,
    /// What the opaques' times count from.
    start: Instant,
    /// The clock when last read ([`Reports::tick`]: once per poll and once per batch of
    /// records, not once per report or record), µs from `start`.
    now_us: AtomicU64,
    /// Delivery reports served, of records and heartbeats: the sink polls until a poll serves
    /// none (librdkafka's queue of reports is empty), and waits for room while they come.
    served: AtomicU64,
    /// Records acknowledged by the broker.
    pub delivered: Tally,
    /// Records that failed (or were purged at the end).
    pub failed: Tally,
    latency: Latency,
    /// Heartbeat messages acknowledged.
    pub heartbeats_delivered: AtomicU64,
    /// Heartbeat messages that failed or were refused.
    pub heartbeats_failed: AtomicU64,
    /// The last error logged and when, so an outage is logged once, not in a loop.
    last_error: Mutex<OncePerChange>,
    /// An error was logged (and its end is still to be): the lock is taken only then.
    erring: AtomicBool,
}

impl Reports {
    /// Reports of records in `format`.
    pub fn new(format: Format) -> Reports {
        Reports {
            format,
            start: Instant::now(),
            now_us: AtomicU64::new(0),
            served: AtomicU64::new(0),
            delivered: Tally::default(),
            failed: Tally::default(),
            latency: Latency::default(),
            heartbeats_delivered: AtomicU64::new(0),
            heartbeats_failed: AtomicU64::new(0),
            last_error: Mutex::new(OncePerChange::new(Duration::from_secs(60))),
            erring: AtomicBool::new(false),
        }
    }

    /// The opaque of a record of `packets` handed over now: as of the last
    /// [`Reports::tick`], which comes before every batch of records and every poll (a batch
    /// is handed over in a few milliseconds; a clock read per record was 2 % of the sink).
    pub fn record_opaque(&self, packets: u64) -> Opaque {
        encode(self.now_us.load(Ordering::Relaxed), packets)
    }

    /// Reads the clock, for the reports the next poll serves and the records handed over
    /// until the next tick.
    pub fn tick(&self) {
        let us = u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.now_us.store(us, Ordering::Relaxed);
    }

    /// Delivery reports served so far.
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// The delivery latencies so far.
    pub fn latencies(&self) -> Latencies {
        self.latency.get()
    }

    /// Logs `message` as the reason records wait, once per change (and once a minute).
    pub fn note_error(&self, message: String) {
        let Ok(mut last) = self.last_error.lock() else {
            return;
        };
        if last.allow(&message) {
            self.erring.store(true, Ordering::Relaxed);
            tracing::warn!(error = %message, "kafka: records wait in the queue");
        }
    }

    /// A record was delivered: ends the error logged, if any (an atomic load per record).
    fn note_success(&self) {
        if !self.erring.load(Ordering::Relaxed) {
            return;
        }
        if let Ok(mut last) = self.last_error.lock() {
            self.erring.store(false, Ordering::Relaxed);
            if last.clear() {
                tracing::info!("kafka: the broker takes records again");
            }
        }
    }

    fn heartbeat(&self, ok: bool) {
        let tally = if ok {
            &self.heartbeats_delivered
        } else {
            &self.heartbeats_failed
        };
        bump(tally, 1);
    }
}

/// A record message's bytes and packets, read back from its value (and, in the text format,
/// `packets`: from the opaque or the header) as this program wrote them (`crate::text`);
/// `None` for anything else.
pub fn counts_of(format: Format, value: &[u8], packets: Option<u64>) -> Option<Counts> {
    match format {
        Format::Text => Some(Counts::new(decimal(value)?, packets?)),
        Format::Json => Some(Counts::new(
            json_number(value, b"\"bytes\":")?,
            json_number(value, b"\"packets\":")?,
        )),
    }
}

/// The digits after the first `name` in `value` (the JSON member this program wrote; an
/// address never holds a `"`, so the name cannot occur inside one).
fn json_number(value: &[u8], name: &[u8]) -> Option<u64> {
    let at = value.windows(name.len()).position(|w| w == name)? + name.len();
    let rest = &value[at..];
    let end = rest
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    decimal(&rest[..end])
}

/// A decimal number of 1 to 20 digits that fits a u64.
fn decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    text.iter().try_fold(0u64, |n, &b| {
        let d = b.checked_sub(b'0').filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u64::from(d))
    })
}

/// The `packets` header of `message`, if it has one.
fn packets_header<'a>(message: &'a BorrowedMessage<'_>) -> Option<&'a [u8]> {
    message
        .headers()?
        .iter()
        .find(|h| h.key == PACKETS_HEADER)?
        .value
}

impl ClientContext for Reports {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, message: &str) {
        use rdkafka::config::RDKafkaLogLevel::*;
        if matches!(level, Emerg | Alert | Critical | Error) {
            self.note_error(format!("{fac}: {message}"));
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.note_error(format!("{error}: {reason}"));
    }
}

impl Reports {
    /// An event of the producer's queue, served by the sink (`TopicProducer::serve`).
    pub fn event(&self, event: Event<'_>) {
        match event {
            Event::Report(r) => {
                self.report(r.error(), r.value(), r.opaque(), || {
                    r.header(PACKETS_HEADER_C)
                });
            }
            Event::Error(code, reason) => self.error(KafkaError::Global(code), reason),
        }
    }

    /// A message's delivery report: `error` (`None`: delivered), its value and opaque, and
    /// how to find its `packets` header. Every record is counted here exactly once,
    /// delivered or failed.
    fn report<'a>(
        &self,
        error: Option<RDKafkaErrorCode>,
        value: &[u8],
        opaque: Opaque,
        header: impl FnOnce() -> Option<&'a [u8]>,
    ) {
        bump(&self.served, 1);
        if opaque == HEARTBEAT {
            return self.heartbeat(error.is_none());
        }
        let (sent_us, packets) = decode(opaque);
        let packets = match (self.format, packets) {
            (Format::Text, None) => header().and_then(decimal),
            _ => packets,
        };
        let counts = counts_of(self.format, value, packets).unwrap_or_else(|| {
            // Not reachable: every record message is written by this program.
            tracing::error!("kafka: a delivery report of a record without its counts");
            Counts::ZERO
        });
        match error {
            None => {
                self.delivered.add(counts);
                let now = self.now_us.load(Ordering::Relaxed);
                self.latency.observe(elapsed_us(sent_us, now));
                self.note_success();
            }
            Some(code) => {
                self.failed.add(counts);
                if !matches!(
                    code,
                    RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight
                ) {
                    tracing::error!(
                        bytes = counts.bytes,
                        packets = counts.packets,
                        error = %KafkaError::MessageProduction(code),
                        "kafka: a record was not delivered"
                    );
                }
            }
        }
    }
}

/// The reports the rdkafka crate serves itself: those left when the producer is dropped (the
/// sink serves the others, [`Reports::event`]).
impl ProducerContext for Reports {
    type DeliveryOpaque = Opaque;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Opaque) {
        let (error, message) = match result {
            Ok(m) => (None, m),
            Err((KafkaError::MessageProduction(code), m)) => (Some(*code), m),
            Err((_, m)) => (Some(RDKafkaErrorCode::Fail), m),
        };
        let value = message.payload().unwrap_or_default();
        self.report(error, value, opaque, || packets_header(message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core_nostd::Pair;
    use core_nostd::wire::Record;
    use std::net::IpAddr;

    #[test]
    fn a_records_counts_read_back_from_what_was_sent() {
        let v6: IpAddr = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff".parse().unwrap();
        let v4 = IpAddr::from([10, 0, 0, 1]);
        for (bytes, packets) in [(0, 0), (1, 1), (1500, 1), (423_595_688, 952_693)]
            .into_iter()
            .chain([(u64::MAX, u64::MAX), (u64::MAX, 1), (7, u64::MAX)])
        {
            for (src, dst) in [(v4, v6), (v6, v4)] {
                let r = Record::new(u64::MAX, Pair::new(src, dst), Counts::new(bytes, packets));
                let text = crate::text::number(r.bytes);
                let header = crate::text::number(r.packets);
                let json = crate::text::json(&r, u64::MAX);
                let want = Some(Counts::new(bytes, packets));
                // The packets as the report finds them: in the opaque, else in the header.
                let (_, held) = decode(encode(12_345, packets));
                let packets = held.or_else(|| decimal(header.as_bytes()));
                assert_eq!(counts_of(Format::Text, text.as_bytes(), packets), want);
                assert_eq!(counts_of(Format::Json, json.as_bytes(), None), want);
            }
        }
    }

    #[test]
    fn what_this_program_did_not_write_has_no_counts() {
        for bad in [
            &b""[..],
            b"-1",
            b"1 ",
            b"18446744073709551616",
            b"000000000000000000001",
        ] {
            assert_eq!(counts_of(Format::Text, bad, Some(1)), None, "{bad:?}");
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
        assert_eq!(counts_of(Format::Text, b"1", None), None);
        assert_eq!(counts_of(Format::Json, br#"{"bytes":1}"#, None), None);
        assert_eq!(
            counts_of(Format::Json, br#"{"bytes":,"packets":1}"#, None),
            None
        );
        assert_eq!(decimal(b"18446744073709551615"), Some(u64::MAX));
    }

    #[test]
    fn an_opaque_holds_the_time_and_the_packets_that_fit() {
        for (us, packets) in [
            (0, 0),
            (0, 1),
            (1, 1),
            (u64::MAX, 5),
            (1 << 39, IN_HEADER - 1),
        ] {
            let o = encode(us, packets);
            assert_ne!(o, HEARTBEAT);
            assert_eq!(decode(o), (us & ((1 << 39) - 1), Some(packets)));
        }
        for packets in [IN_HEADER, IN_HEADER + 1, u64::MAX] {
            assert_eq!(decode(encode(7, packets)), (7, None));
        }
        // The latency across the wrap of the time field.
        assert_eq!(elapsed_us((1 << 39) - 10, 5), 15);
        assert_eq!(elapsed_us(100, 350), 250);
        let r = Reports::new(Format::Text);
        assert_ne!(r.record_opaque(1), HEARTBEAT);
        assert_eq!(r.served(), 0);
    }
}
