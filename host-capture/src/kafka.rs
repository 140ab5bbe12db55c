//! The Kafka sink: records to a topic with nothing acknowledged lost. It runs on a thread of
//! its own, fed by the capture's (`crate::kafka_thread`); everything here happens there.
//!
//! Records go to librdkafka's queue (idempotent producer, `acks=all`, no message expiry), which
//! is bounded (`queue.buffering.max.messages` and `.max.kbytes` in
//! `host_common::kafka::records_producer`, so that the process stays in fixed memory). Its
//! delivery reports are served until none is left ([`KafkaSink::poll`], once per batch of
//! records and per batch of frames, and whenever the queue is full), so the queue holds what
//! is on its way, not what was acknowledged long ago.
//!
//! When the queue is full the delivery reports are served and the record is retried. A replay
//! (`wait_for_room`) then waits: it serves delivery reports until there is room, as long as the
//! broker acknowledges something at least every [`STALL`] (a file does not run away, so holding
//! it up loses nothing). A live capture cannot wait, nor can a replay whose broker has
//! acknowledged nothing for [`STALL`] (it is away: the replay must still end, and account for
//! everything within `--flush-timeout`): the record is parked in a bounded buffer of our own,
//! ordered by interval, where records of the same interval and pair merge; capture goes on
//! meanwhile. Only when that buffer is full too is a record dropped, loudly, and counted as
//! undelivered. Every record is accounted for exactly once: delivered (acknowledged by the
//! broker), or undelivered (failed, dropped, or still queued when the flush timeout ran out).
//!
//! Heartbeats (`core_nostd::wire::Heartbeat`) go to every partition of the topic (the count is
//! asked in the background, [`Partitions`]), each after every record of its span: a heartbeat
//! waits while a parked record of an earlier time waits, and while the partition count is not
//! known yet. Waiting heartbeats merge (coverage is contiguous), so they take no room. They are
//! not records: they are counted apart and never make the run's records undelivered. A record
//! that is dropped or refused leaves a hole (`crate::holes`) in the heartbeats: its interval is
//! cut out of every heartbeat not sent yet, so no heartbeat vouches for bytes that were lost.

use std::collections::VecDeque;
use std::ffi::CStr;
use std::fmt;
use std::net::ToSocketAddrs;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use core_nostd::Counts;
use core_nostd::wire::{HEARTBEAT_HEADER, Heartbeat, PACKETS_HEADER, Record};
use host_common::ratelimit::RateLimit;
use host_common::summary::Summary;
use rdkafka::producer::{BaseProducer, Producer, PurgeConfig};
use rdkafka::types::RDKafkaErrorCode;

use crate::delivery::{HEARTBEAT, Reports, Tally};
pub use crate::delivery::{LATENCY_BOUNDS, Latencies};
use crate::holes::Holes;
use crate::overflow::{Overflow, Parked};
use crate::partitions::Partitions;
use crate::produce::{ANY_PARTITION, Message, TopicProducer};
use crate::text;

/// A replay waits for room in a full queue while the broker acknowledges something at least
/// this often; past that it is taken to be away, and records park as in a live capture (until
/// it acknowledges again).
pub const STALL: Duration = Duration::from_secs(5);

/// The pause between two looks for delivery reports while waiting for them (a full queue, the
/// end of the run): short, so that the run goes on or ends as soon as they are in. A pause of
/// ours rather than a poll with a timeout: the producer's poll runs to its deadline and spins
/// through the last millisecond of it (the remainder is rounded down to a 0 ms wait), taking
/// the CPU from librdkafka's own threads.
const WAIT: Duration = Duration::from_micros(100);
/// How often the topic's metadata is asked while messages are queued and none was acknowledged
/// yet: each answer makes the idempotent producer ask for its producer id again if it has none
/// (`TopicProducer::ask_metadata`), instead of after its 500 ms timer.
const ASK_EVERY: Duration = Duration::from_millis(5);
/// At most this many times (the first second or so): a broker that is up and yet acknowledges
/// nothing (a topic that does not exist yet, say) is not asked 200 times a second for long;
/// librdkafka's own timers take over.
const ASKS: u32 = 200;
/// The pause between looks at the end of a run, while librdkafka sends without lingering.
const FINISH_WAIT: Duration = Duration::from_millis(1);

/// The headers' names as librdkafka takes them (NUL-terminated), checked against the wire
/// format's at compile time.
pub(crate) const PACKETS_HEADER_C: &CStr = c"packets";
const HEARTBEAT_HEADER_C: &CStr = c"heartbeat";
const _: () =
    assert!(same(PACKETS_HEADER_C, PACKETS_HEADER) && same(HEARTBEAT_HEADER_C, HEARTBEAT_HEADER));

/// Whether `c` holds the bytes of `s`.
const fn same(c: &CStr, s: &str) -> bool {
    let (a, b) = (c.to_bytes(), s.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

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
    /// A replay: a full queue holds it up (see the module's documentation) instead of parking.
    pub wait_for_room: bool,
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

    /// What is left of `self` once `o` is taken out (none below zero).
    pub(crate) fn minus(self, o: Totals) -> Totals {
        Totals {
            records: self.records.saturating_sub(o.records),
            bytes: self.bytes.saturating_sub(o.bytes),
            packets: self.packets.saturating_sub(o.packets),
        }
    }
}

/// Records on their way to a Kafka topic.
pub struct KafkaSink {
    /// The producer, with the handle of the records' topic.
    topic: TopicProducer<Reports>,
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
    /// The intervals of records dropped or refused, cut out of the heartbeats.
    holes: Holes,
    /// A replay: wait for room in a full queue (while the broker acknowledges).
    wait_for_room: bool,
    /// Delivery reports served when last looked, and when that count last moved.
    served: (u64, Instant),
    /// A wait for room went [`STALL`] without a delivery report: records park until one comes.
    stalled: bool,
    /// When the topic's metadata is asked next while nothing was acknowledged yet
    /// ([`ASK_EVERY`]), and how many more times it may be.
    next_ask: (Instant, u32),
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

/// Where the records stand, as the sink's thread last told the capture's.
#[derive(Clone, Copy, Debug, Default)]
pub struct State {
    /// The metrics' view.
    pub progress: Progress,
    /// Records acknowledged by the broker, with their bytes and packets.
    pub delivered: Totals,
}

impl State {
    /// Whether a broker has acknowledged a message (a record or a heartbeat) at least once:
    /// the only proof librdkafka gives that it reached one.
    pub fn reached_broker(&self) -> bool {
        self.progress.delivered > 0 || self.progress.heartbeats > 0
    }

    /// A one-line account for the periodic log.
    pub fn summary(&self) -> Summary {
        Summary::new()
            .field("delivered_records", self.delivered.records)
            .field("delivered_bytes", self.delivered.bytes)
            .field("queued", self.progress.queued)
            .field("parked", self.progress.parked)
    }
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
            wait_for_room,
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
                .create_with_context(Reports::new(*format))
                .context("--kafka-option: librdkafka rejected the producer settings")?;
        Ok(KafkaSink {
            topic: TopicProducer::new(producer, topic)
                .map_err(|e| anyhow::anyhow!("--topic: {e}"))?,
            format: *format,
            interval_ms: *interval_ms,
            parked: Overflow::new(*max_parked),
            accepted: Tally::default(),
            refused: Tally::default(),
            drop_log: RateLimit::new(1, Duration::from_secs(10)),
            partitions: Partitions::start(brokers, settings, topic)?,
            beats: VecDeque::new(),
            holes: Holes::default(),
            wait_for_room: *wait_for_room,
            served: (0, Instant::now()),
            stalled: false,
            next_ask: (Instant::now(), ASKS),
        })
    }

    /// The producer (delivery reports, the queue).
    fn producer(&self) -> &BaseProducer<Reports> {
        self.topic.producer()
    }

    /// Sends one record whose key (`text::key`) is `key`: into the queue, or, when it is
    /// full, after waiting for room (a replay) or into the overflow buffer (see the module's
    /// documentation). The key comes made: the capture's thread writes it
    /// (`crate::kafka_thread`), beside this one.
    pub fn send(&mut self, mut record: Record, key: &[u8]) {
        let mut waits = 0u32;
        loop {
            if !self.parked.is_empty() {
                self.unpark();
            }
            // Interval order: nothing overtakes what waits.
            if self.parked.is_empty() {
                match self.produce(record, key) {
                    Ok(()) => return,
                    Err(r) => record = r,
                }
            }
            if !self.room(waits) {
                break;
            }
            waits += 1;
        }
        self.park(record);
    }

    /// Makes room in a full queue before try `waits + 1`; false when the record must park.
    /// The first time the delivery reports waiting are served (which frees room at once if
    /// the broker has acknowledged), then a replay waits for more while the broker answers.
    fn room(&mut self, waits: u32) -> bool {
        if waits == 0 {
            self.serve();
            return true;
        }
        if !self.wait_for_room || self.stalled {
            return false;
        }
        if waits == 1 {
            // The wait starts now: a run that was idle is not a broker that stalled.
            self.served.1 = self.served.1.max(Instant::now());
        }
        if self.served.1.elapsed() >= STALL {
            self.stalled = true;
            tracing::warn!(
                stall = ?STALL,
                "kafka: the broker acknowledged nothing for a while: records park until it does"
            );
            return false;
        }
        self.pause();
        true
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

    /// Reads the clock before a batch of records: their hand-over time (the start of their
    /// delivery latency).
    pub fn tick(&self) {
        self.producer().context().tick();
    }

    /// Serves every delivery report waiting and moves parked records into the queue. Call it
    /// often (once per batch of frames).
    pub fn poll(&mut self) {
        self.serve();
        self.unpark();
    }

    /// Serves every delivery report waiting: events until the producer's queue is empty
    /// (each holds one or more reports).
    fn serve(&mut self) {
        let reports = self.producer().context();
        reports.tick();
        while self.topic.serve(|e| reports.event(e)) {}
        let served = reports.served();
        if served != self.served.0 {
            self.served = (served, Instant::now());
            self.stalled = false;
        }
        if self.served.0 == 0 && self.next_ask.1 > 0 && self.producer().in_flight_count() > 0 {
            let now = Instant::now();
            if now >= self.next_ask.0 {
                self.next_ask = (now + ASK_EVERY, self.next_ask.1 - 1);
                self.topic.ask_metadata();
            }
        }
    }

    /// Waits [`WAIT`] for more delivery reports, then serves them.
    fn pause(&mut self) {
        std::thread::sleep(WAIT);
        self.serve();
    }
    /// Where the records stand now (atomic loads and lengths): what the sink's thread hands
    /// the capture's at each poll (`crate::kafka_thread`).
    pub fn state(&self) -> State {
        let ctx = self.producer().context();
        let delivered = ctx.delivered.get();
        State {
            progress: Progress {
                delivered: delivered.records,
                undelivered: ctx
                    .failed
                    .get()
                    .plus(self.refused.get())
                    .plus(self.parked.dropped())
                    .records,
                parked: self.parked.len(),
                queued: self.producer().in_flight_count(),
                heartbeats: ctx.heartbeats_delivered.load(Ordering::Relaxed),
                latency: ctx.latencies(),
            },
            delivered,
        }
    }

    /// Tries to hand `record`, whose key is `key`, to librdkafka; gives it back when the
    /// queue is full.
    fn produce(&mut self, record: Record, key: &[u8]) -> Result<(), Record> {
        let counts = record.counts();
        let packets = text::number(record.packets);
        let number;
        let json;
        let value: &[u8] = match self.format {
            Format::Text => {
                number = text::number(record.bytes);
                number.as_bytes()
            }
            Format::Json => {
                json = text::json(&record, record.start_ms.saturating_add(self.interval_ms));
                json.as_bytes()
            }
        };
        let opaque = self.producer().context().record_opaque(record.packets);
        let message = Message {
            partition: ANY_PARTITION,
            key,
            value,
            header: PACKETS_HEADER_C,
            header_value: packets.as_bytes(),
            timestamp_ms: i64::try_from(record.start_ms).unwrap_or(i64::MAX),
            opaque,
        };
        match self.topic.send(&message) {
            Ok(()) => {
                self.accepted.add(counts);
                Ok(())
            }
            Err(RDKafkaErrorCode::QueueFull) => Err(record),
            Err(e) => {
                tracing::error!(
                    bytes = counts.bytes,
                    packets = counts.packets,
                    error = %e,
                    "kafka: a record was refused"
                );
                self.refused.add(counts);
                self.lost(&record);
                Ok(())
            }
        }
    }

    fn park(&mut self, record: Record) {
        if self.parked.park(record) != Parked::Dropped {
            return;
        }
        self.lost(&record);
        if self.drop_log.allow() {
            let d = self.refused.get().plus(self.parked.dropped());
            tracing::error!(
                parked = self.parked.len(),
                undelivered_records = d.records,
                undelivered_bytes = d.bytes,
                undelivered_packets = d.packets,
                "the broker has been away longer than every buffer lasts: records are being \
                 dropped"
            );
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
                    if self.produce(record, text::key(&record).as_bytes()).is_err() {
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

    /// `record` will never reach the broker: no heartbeat may cover its interval (one
    /// millisecond, the packet's, when records are per packet).
    fn lost(&mut self, record: &Record) {
        let end = record.start_ms.saturating_add(self.interval_ms.max(1));
        self.holes.add(record.start_ms, end);
    }

    /// Sends the first waiting heartbeat to the partitions it has not reached yet, less the
    /// holes (true also when a hole took all of it); false when it must wait (no partition
    /// count yet, or a full queue).
    fn send_beat(&mut self) -> bool {
        let n = i32::try_from(self.partitions.count()).unwrap_or(i32::MAX);
        if n == 0 {
            return self.beats.is_empty();
        }
        if let Some(&(h, 0)) = self.beats.front() {
            // Not sent anywhere yet: cut out the holes first.
            let (now, rest) = self.holes.cut(h);
            self.beats.pop_front();
            if let Some(r) = rest {
                self.beats.push_front((r, 0));
            }
            match now {
                Some(piece) => self.beats.push_front((piece, 0)),
                None => return true,
            }
        }
        let Some((h, next)) = self.beats.front_mut() else {
            return true;
        };
        let value = h.kafka_value();
        while *next < n {
            let message = Message {
                partition: *next,
                key: h.sensor.as_str().as_bytes(),
                value: value.as_bytes(),
                header: HEARTBEAT_HEADER_C,
                header_value: b"1",
                timestamp_ms: i64::try_from(h.start_ms).unwrap_or(i64::MAX),
                opaque: HEARTBEAT,
            };
            match self.topic.send(&message) {
                Ok(()) => {}
                Err(RDKafkaErrorCode::QueueFull) => return false,
                Err(e) => {
                    let reports = self.topic.producer().context();
                    reports.heartbeats_failed.fetch_add(1, Ordering::Relaxed);
                    reports.note_error(format!("a heartbeat was refused: {e}"));
                }
            }
            *next += 1;
        }
        self.beats.pop_front();
        true
    }

    /// Waits up to `timeout` for every record to be acknowledged (returning as soon as they
    /// are), then gives up on the rest and accounts for everything.
    pub fn finish(mut self, timeout: Duration) -> Delivery {
        let deadline = Instant::now() + timeout;
        loop {
            self.unpark();
            self.serve();
            if self.parked.is_empty()
                && self.beats.is_empty()
                && self.producer().in_flight_count() == 0
            {
                break;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    queued = self.producer().in_flight_count(),
                    parked = self.parked.len(),
                    "kafka: --flush-timeout reached with records still queued or parked"
                );
                break;
            }
            // Until the next reports (a fixed wait here would be the run's last word), with
            // the last batches sent at once instead of after `linger.ms`.
            crate::linger::send_now(self.producer(), FINISH_WAIT);
            self.serve();
        }
        // What is still queued will not be delivered: purge it, so that each record's delivery
        // report counts it as failed, exactly once.
        self.producer()
            .purge(PurgeConfig::default().queue().inflight());
        let purge_deadline = Instant::now() + Duration::from_secs(5);
        while self.producer().in_flight_count() > 0 && Instant::now() < purge_deadline {
            self.pause();
        }
        self.serve();
        let ctx = self.producer().context();
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
