//! The Kafka sink: records to a topic with nothing acknowledged lost.
//!
//! Records go to librdkafka's queue (idempotent producer, `acks=all`, no message expiry). When
//! that queue is full (a slow or absent broker) the record is retried once after serving
//! delivery reports, then parked in a bounded buffer of our own, ordered by interval, where
//! records of the same interval and pair merge; capture goes on meanwhile. Only when that
//! buffer is full too is a record dropped, loudly, and counted as undelivered. Every record is
//! accounted for exactly once: delivered (acknowledged by the broker), or undelivered (failed,
//! dropped, or still queued when the flush timeout ran out).
//!
//! Heartbeats (`core_nostd::wire::Heartbeat`) go to every partition of the topic (the count is
//! asked in the background, [`Partitions`]), each after every record of its span: a heartbeat
//! waits while a parked record of an earlier time waits, and while the partition count is not
//! known yet. Waiting heartbeats merge (coverage is contiguous), so they take no room. They are
//! not records: they are counted apart and never make the run's records undelivered.

use std::collections::VecDeque;
use std::fmt;
use std::net::ToSocketAddrs;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use core_nostd::Counts;
use core_nostd::units::Count;
use core_nostd::wire::{HEARTBEAT_HEADER, Heartbeat, PACKETS_HEADER, Record};
use host_common::progress::suspend;
use host_common::ratelimit::{OncePerChange, RateLimit};
use host_common::summary::Summary;
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext, PurgeConfig};

use crate::overflow::{Overflow, Parked};
use crate::partitions::Partitions;

/// How a record's Kafka value is written (`docs/wire-format.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The decimal byte count; packets in the `packets` header.
    Text,
    /// A JSON object with src, dst, bytes, packets, start_ms, end_ms.
    Json,
}

/// Where and how records are sent.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bootstrap servers (host:port,…).
    pub brokers: String,
    /// The records' topic.
    pub topic: String,
    /// librdkafka settings, on top of the project's.
    pub settings: Vec<(String, String)>,
    /// The value format.
    pub format: Format,
    /// The flush interval, ms (a JSON value's `end_ms` is its start plus this).
    pub interval_ms: u64,
    /// Records kept in memory while the broker is away, beyond librdkafka's own queue.
    pub max_parked: usize,
}

/// Records, bytes and packets.
#[derive(Debug, Default)]
struct Tally {
    records: AtomicU64,
    bytes: AtomicU64,
    packets: AtomicU64,
}

impl Tally {
    fn add(&self, c: Counts) {
        self.records.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(c.bytes, Ordering::Relaxed);
        self.packets.fetch_add(c.packets, Ordering::Relaxed);
    }
    fn get(&self) -> Totals {
        Totals {
            records: self.records.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            packets: self.packets.load(Ordering::Relaxed),
        }
    }
}

/// A snapshot of a tally.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Records.
    pub records: u64,
    /// Bytes in them.
    pub bytes: u64,
    /// Packets in them.
    pub packets: u64,
}

impl Totals {
    /// One record of `c`.
    pub(crate) fn of(c: Counts) -> Totals {
        Totals {
            records: 1,
            bytes: c.bytes,
            packets: c.packets,
        }
    }

    pub(crate) fn plus(self, o: Totals) -> Totals {
        Totals {
            records: self.records + o.records,
            bytes: self.bytes + o.bytes,
            packets: self.packets + o.packets,
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
/// Observed once per delivered record (a record is a pair's interval, not a packet), on the
/// thread that polls the producer: uncontended atomics.
#[derive(Default)]
struct Latency {
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    sum_us: AtomicU64,
}

impl Latency {
    fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = LATENCY_BOUNDS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(LATENCY_BOUNDS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
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

/// What a message carries, for its delivery report.
pub enum Sent {
    /// A record of these counts, handed to librdkafka at this instant.
    Record(Counts, Instant),
    /// A heartbeat.
    Heartbeat,
}

/// Delivery reports and client errors, from librdkafka's callbacks.
struct Reports {
    delivered: Tally,
    failed: Tally,
    latency: Latency,
    heartbeats_delivered: AtomicU64,
    heartbeats_failed: AtomicU64,
    /// The last error logged and when, so an outage is logged once, not in a loop.
    last_error: Mutex<OncePerChange>,
}

impl Default for Reports {
    fn default() -> Reports {
        Reports {
            delivered: Tally::default(),
            failed: Tally::default(),
            latency: Latency::default(),
            heartbeats_delivered: AtomicU64::new(0),
            heartbeats_failed: AtomicU64::new(0),
            last_error: Mutex::new(OncePerChange::new(Duration::from_secs(60))),
        }
    }
}

impl Reports {
    fn note_error(&self, message: String) {
        let Ok(mut last) = self.last_error.lock() else {
            return;
        };
        if last.allow(&message) {
            suspend(|| eprintln!("host-capture: kafka: {message} (records wait in the queue)"));
        }
    }

    fn note_success(&self) {
        if let Ok(mut last) = self.last_error.lock()
            && last.clear()
        {
            suspend(|| eprintln!("host-capture: kafka: the broker takes records again"));
        }
    }
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

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<Sent>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent: Box<Sent>) {
        let (counts, sent_at) = match *sent {
            Sent::Record(counts, at) => (counts, at),
            Sent::Heartbeat => {
                let tally = if result.is_ok() {
                    &self.heartbeats_delivered
                } else {
                    &self.heartbeats_failed
                };
                tally.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        match result {
            Ok(_) => {
                self.delivered.add(counts);
                self.latency.observe(sent_at.elapsed());
                self.note_success();
            }
            Err((e, _)) => {
                self.failed.add(counts);
                if !matches!(
                    e,
                    KafkaError::MessageProduction(
                        RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight
                    )
                ) {
                    suspend(|| {
                        eprintln!(
                            "host-capture: kafka: a record of {} / {} was not delivered: {e}",
                            Count(counts.bytes, "byte"),
                            Count(counts.packets, "packet")
                        );
                    });
                }
            }
        }
    }
}

/// Records on their way to a Kafka topic.
pub struct KafkaSink {
    producer: BaseProducer<Reports>,
    topic: String,
    format: Format,
    interval_ms: u64,
    parked: Overflow,
    accepted: Tally,
    /// Records librdkafka refused outright (not for a full queue).
    refused: Tally,
    /// The drop warning: once, then at most every 10 s.
    drop_log: RateLimit,
    /// The topic's partition count, for the heartbeats.
    partitions: Partitions,
    /// Heartbeats not yet sent to every partition, with the next partition to send to.
    beats: VecDeque<(Heartbeat, i32)>,
}

/// Where the records stand during the run (the metrics' view).
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Records acknowledged by the broker.
    pub delivered: u64,
    /// Records failed, refused or dropped so far (parked ones are not: they may still go).
    pub undelivered: u64,
    /// Records parked in the overflow buffer.
    pub parked: usize,
    /// Messages in librdkafka's queue.
    pub queued: i32,
    /// Heartbeat messages acknowledged.
    pub heartbeats: u64,
    /// How long the delivered records took.
    pub latency: Latencies,
}

/// What became of the records at the end.
#[derive(Clone, Copy, Debug, Default)]
pub struct Delivery {
    /// Acknowledged by the broker.
    pub delivered: Totals,
    /// Not delivered: failed, dropped, or still queued when the flush timeout ran out.
    pub undelivered: Totals,
    /// Heartbeat messages acknowledged (one per partition per heartbeat).
    pub heartbeats: u64,
}

impl Delivery {
    /// `delivered_records=… delivered_bytes=… … undelivered_packets=…`
    pub fn summary(&self) -> Summary {
        let (d, u) = (self.delivered, self.undelivered);
        Summary::new()
            .field("delivered_records", d.records)
            .field("delivered_bytes", d.bytes)
            .field("delivered_packets", d.packets)
            .field("undelivered_records", u.records)
            .field("undelivered_bytes", u.bytes)
            .field("undelivered_packets", u.packets)
            .field("heartbeats_delivered", self.heartbeats)
    }
}

impl fmt::Display for Delivery {
    /// The summary line's suffix: ` delivered_records=… … undelivered_packets=…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, " {}", self.summary())
    }
}

impl KafkaSink {
    /// Connects (lazily: an unreachable broker is not an error, a name that does not resolve
    /// is) with the project's producer settings, then the operator's on top.
    pub fn new(options: &Options) -> Result<KafkaSink> {
        let Options {
            brokers,
            topic,
            settings,
            format,
            interval_ms,
            max_parked,
        } = options;
        for server in brokers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let with_port = if server
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            {
                server.to_string()
            } else {
                format!("{server}:9092")
            };
            with_port
                .to_socket_addrs()
                .with_context(|| format!("--brokers: cannot resolve {server:?}"))?;
        }
        if topic.is_empty() {
            bail!("--topic: empty topic name");
        }
        let producer: BaseProducer<Reports> =
            host_common::kafka::records_producer(brokers, settings)
                .create_with_context(Reports::default())
                .context("--kafka-option: librdkafka rejected the producer settings")?;
        Ok(KafkaSink {
            producer,
            topic: topic.clone(),
            format: *format,
            interval_ms: *interval_ms,
            parked: Overflow::new(*max_parked),
            accepted: Tally::default(),
            refused: Tally::default(),
            drop_log: RateLimit::new(1, Duration::from_secs(10)),
            partitions: Partitions::start(brokers, settings, topic)?,
            beats: VecDeque::new(),
        })
    }

    /// Sends one record (or parks it, if the queue is full).
    pub fn send(&mut self, record: Record) {
        if !self.parked.is_empty() {
            self.unpark();
        }
        if self.parked.is_empty() {
            let Err(record) = self.produce(record) else {
                return;
            };
            // Serve delivery reports (which frees room) and retry once with the record handed
            // back; then park it rather than hold up the capture.
            self.producer.poll(Duration::ZERO);
            let Err(record) = self.produce(record) else {
                return;
            };
            self.park(record);
        } else {
            // Keep interval order: nothing overtakes what waits.
            self.park(record);
        }
    }

    /// Sends a heartbeat to every partition, after every record of its span.
    pub fn heartbeat(&mut self, h: Heartbeat) {
        match self.beats.back_mut() {
            Some((back, 0)) if back.end_ms == h.start_ms && back.sensor == h.sensor => {
                back.end_ms = h.end_ms;
            }
            _ => self.beats.push_back((h, 0)),
        }
        self.unpark();
    }

    /// Serves delivery reports and moves parked records into the queue. Call it often.
    pub fn poll(&mut self) {
        self.producer.poll(Duration::ZERO);
        self.unpark();
    }

    /// A one-line account for the periodic log.
    pub fn progress(&self) -> Summary {
        let d = self.producer.context().delivered.get();
        Summary::new()
            .field("delivered_records", d.records)
            .field("delivered_bytes", d.bytes)
            .field("queued", self.producer.in_flight_count())
            .field("parked", self.parked.len())
    }

    /// Whether a broker has acknowledged a message (a record or a heartbeat) at least once.
    pub fn reached_broker(&self) -> bool {
        let ctx = self.producer.context();
        ctx.delivered.get().records > 0 || ctx.heartbeats_delivered.load(Ordering::Relaxed) > 0
    }

    /// The counts so far, for the metrics (atomic loads and lengths: cheap once per batch).
    pub fn counts(&self) -> Progress {
        let ctx = self.producer.context();
        Progress {
            delivered: ctx.delivered.get().records,
            undelivered: ctx
                .failed
                .get()
                .plus(self.refused.get())
                .plus(self.parked.dropped())
                .records,
            parked: self.parked.len(),
            queued: self.producer.in_flight_count(),
            heartbeats: ctx.heartbeats_delivered.load(Ordering::Relaxed),
            latency: ctx.latency.get(),
        }
    }

    /// Tries to hand `record` to librdkafka; gives it back when the queue is full.
    fn produce(&mut self, record: Record) -> Result<(), Record> {
        let counts = record.counts();
        let key = record.key();
        let packets = record.packets_header();
        let text;
        let json;
        let value: &[u8] = match self.format {
            Format::Text => {
                text = record.text_value();
                text.as_bytes()
            }
            Format::Json => {
                json = record.json_value(record.start_ms.saturating_add(self.interval_ms));
                json.as_bytes()
            }
        };
        let headers = OwnedHeaders::new().insert(Header {
            key: PACKETS_HEADER,
            value: Some(packets.as_bytes()),
        });
        let kafka_record =
            BaseRecord::with_opaque_to(&self.topic, Box::new(Sent::Record(counts, Instant::now())))
                .key(key.as_bytes())
                .payload(value)
                .headers(headers)
                .timestamp(i64::try_from(record.start_ms).unwrap_or(i64::MAX));
        match self.producer.send(kafka_record) {
            Ok(()) => {
                self.accepted.add(counts);
                Ok(())
            }
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => Err(record),
            Err((e, _)) => {
                suspend(|| {
                    eprintln!(
                        "host-capture: kafka: a record of {} / {} was refused: {e}",
                        Count(counts.bytes, "byte"),
                        Count(counts.packets, "packet")
                    );
                });
                self.refused.add(counts);
                Ok(())
            }
        }
    }

    fn park(&mut self, record: Record) {
        if self.parked.park(record) != Parked::Dropped {
            return;
        }
        if self.drop_log.allow() {
            let d = self.refused.get().plus(self.parked.dropped());
            suspend(|| {
                eprintln!(
                    "host-capture: ERROR: the broker has been away longer than every buffer lasts \
                     ({} parked): records are being dropped; so far {}, {}, {} undelivered",
                    Count(self.parked.len() as u64, "record"),
                    Count(d.records, "record"),
                    Count(d.bytes, "byte"),
                    Count(d.packets, "packet")
                );
            });
        }
    }

    /// Moves parked records and waiting heartbeats into the queue, in order: a heartbeat goes
    /// once no parked record is of an earlier time than its end.
    fn unpark(&mut self) {
        loop {
            let beat_end = self.beats.front().map(|(h, _)| h.end_ms);
            let first = self.parked.first();
            match (first, beat_end) {
                (None, None) => return,
                (Some(record), end) if end.is_none_or(|e| record.start_ms < e) => {
                    if self.produce(record).is_err() {
                        return;
                    }
                    self.parked.pop_first();
                }
                _ => {
                    if !self.send_beat() {
                        return;
                    }
                }
            }
        }
    }

    /// Sends the first waiting heartbeat to the partitions it has not reached yet; false when
    /// it must wait (no partition count yet, or a full queue).
    fn send_beat(&mut self) -> bool {
        let n = i32::try_from(self.partitions.count()).unwrap_or(i32::MAX);
        let Some((h, next)) = self.beats.front_mut() else {
            return true;
        };
        if n == 0 {
            return false;
        }
        let value = h.kafka_value();
        while *next < n {
            let headers = OwnedHeaders::new().insert(Header {
                key: HEARTBEAT_HEADER,
                value: Some("1"),
            });
            let message = BaseRecord::with_opaque_to(&self.topic, Box::new(Sent::Heartbeat))
                .partition(*next)
                .key(h.sensor.as_str())
                .payload(value.as_bytes())
                .headers(headers)
                .timestamp(i64::try_from(h.start_ms).unwrap_or(i64::MAX));
            match self.producer.send(message) {
                Ok(()) => {}
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    return false;
                }
                Err((e, _)) => {
                    self.producer
                        .context()
                        .heartbeats_failed
                        .fetch_add(1, Ordering::Relaxed);
                    self.producer
                        .context()
                        .note_error(format!("a heartbeat was refused: {e}"));
                }
            }
            *next += 1;
        }
        self.beats.pop_front();
        true
    }

    /// Waits up to `timeout` for every record to be acknowledged, then gives up on the rest
    /// and accounts for everything.
    pub fn finish(mut self, timeout: Duration) -> Delivery {
        let deadline = Instant::now() + timeout;
        loop {
            self.unpark();
            self.producer.poll(Duration::from_millis(50));
            if self.parked.is_empty()
                && self.beats.is_empty()
                && self.producer.in_flight_count() == 0
            {
                break;
            }
            if Instant::now() >= deadline {
                eprintln!(
                    "host-capture: kafka: --flush-timeout reached with {} records queued and {} parked",
                    self.producer.in_flight_count(),
                    self.parked.len()
                );
                break;
            }
        }
        // What is still queued will not be delivered: purge it, so that each record's delivery
        // report counts it as failed, exactly once.
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        let purge_deadline = Instant::now() + Duration::from_secs(5);
        while self.producer.in_flight_count() > 0 && Instant::now() < purge_deadline {
            self.producer.poll(Duration::from_millis(50));
        }
        self.producer.poll(Duration::ZERO);
        let ctx = self.producer.context();
        Delivery {
            heartbeats: ctx.heartbeats_delivered.load(Ordering::Relaxed),
            delivered: ctx.delivered.get(),
            undelivered: ctx
                .failed
                .get()
                .plus(self.refused.get())
                .plus(self.parked.dropped())
                .plus(self.parked.parked()),
        }
    }
}
