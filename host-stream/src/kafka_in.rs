//! Reading records from Kafka: the consumer, partition assignment (the partial-assignment
//! warning, resuming from the commit metadata), decoding messages into wire records, the end
//! offsets of a replay, offset commits that carry where a restart must begin (sent without
//! waiting: a commit never blocks the loop), and, live, the proofs that every partition has
//! been read to its end ([`crate::ends`]), without which the wall clock closes no window.
//! [`Kafka`] is the driver's source. Records are taken in batches ([`batch`]): each assigned
//! partition is routed to the batch queue, the consumer queue keeps the events.

mod batch;
mod record_headers;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use core_nostd::windows::Millis;
use core_nostd::wire::{self, Decoded, HEARTBEAT_HEADER, PACKETS_HEADER, WireError};
use host_common::clock::now_ms;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{Headers, Message};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use self::batch::{BatchConsumer, Kind, Msg};
use crate::driver::{ClockBound, Intake, Lag, Polled, Source, TimeBounds};
use crate::ends::{self, Ends};
use crate::engine::{Closed, Engine};
use crate::judge::Alerting;

/// What a restart needs besides the offsets, stored as the commit metadata of every partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    /// The first window not yet settled when the offsets were committed.
    pub next_window: Option<u64>,
    /// Which rules' last judged window had sent an alert (for their `recovered` messages).
    pub alerting: Alerting,
}

impl Resume {
    /// `streamchecker/1 next=<ms> alerting=<0|1>`, then ` alerting_scopes=<hex>,<hex>…` when
    /// scopes are alerting (each scope's [`crate::judge::scope_key`], at most
    /// [`Resume::MAX_SCOPES`] of them, the smallest keys: Kafka keeps 4096 bytes of metadata
    /// by default, `offset.metadata.max.bytes`).
    pub fn encode(&self) -> String {
        let mut text = format!(
            "streamchecker/1 next={} alerting={}",
            self.next_window
                .map_or_else(|| "-".into(), |n| n.to_string()),
            u8::from(self.alerting.total)
        );
        for (i, key) in self
            .alerting
            .scopes
            .iter()
            .take(Self::MAX_SCOPES)
            .enumerate()
        {
            text.push_str(if i == 0 { " alerting_scopes=" } else { "," });
            text.push_str(&format!("{key:016x}"));
        }
        text
    }

    /// The most alerting scopes a commit remembers: 200 keys of 17 bytes fit Kafka's default
    /// 4096 bytes of metadata with room to spare.
    pub const MAX_SCOPES: usize = 200;

    /// Reads [`Resume::encode`]'s form; anything else (another tool's commit) is ignored, and
    /// so is a scope key that is not one.
    pub fn decode(text: &str) -> Option<Resume> {
        let mut words = text.split_whitespace();
        if words.next() != Some("streamchecker/1") {
            return None;
        }
        let mut r = Resume::default();
        for w in words {
            match w.split_once('=') {
                Some(("next", n)) => r.next_window = n.parse().ok(),
                Some(("alerting", a)) => r.alerting.total = a == "1",
                Some(("alerting_scopes", keys)) => {
                    r.alerting.scopes = keys
                        .split(',')
                        .filter_map(|k| u64::from_str_radix(k, 16).ok())
                        .collect();
                }
                _ => {}
            }
        }
        Some(r)
    }
}

/// An assignment, as the main loop needs it.
#[derive(Clone, Debug, Default)]
pub struct Assignment {
    /// Partitions of the topic now ours.
    pub partitions: Vec<i32>,
    /// From the committed offsets' metadata: the newest resume point.
    pub resume: Option<Resume>,
    /// The committed offset of each partition that has one: where reading starts.
    pub committed: BTreeMap<i32, i64>,
    /// Partitions taken away.
    pub revoked: Vec<i32>,
    /// A replay's own assignment: the (first, end) offsets of the partitions, asked before
    /// the fetchers started (partitions missing here are asked one by one).
    pub watermarks: BTreeMap<i32, (i64, i64)>,
}

/// Rebalance events, handed from librdkafka's callback to the main loop.
#[derive(Default)]
pub struct Events {
    assignment: Mutex<Option<Assignment>>,
    /// Set with `assignment`: checked per record without taking the lock.
    changed: AtomicBool,
    /// An asynchronous commit failed: the next commit must be sent even if nothing moved.
    commit_failed: AtomicBool,
    topic: String,
}

/// The committed offsets in `tpl` (partitions without one are left out).
fn committed_of(tpl: &TopicPartitionList) -> BTreeMap<i32, i64> {
    tpl.elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

impl ClientContext for Events {}

impl ConsumerContext for Events {
    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let partitions_of = |tpl: &TopicPartitionList| -> Vec<i32> {
            tpl.elements()
                .iter()
                .filter(|e| e.topic() == self.topic)
                .map(|e| e.partition())
                .collect()
        };
        let assignment = match rebalance {
            Rebalance::Assign(tpl) => {
                // Read the commits' metadata here, before any record of these partitions.
                let committed = consumer
                    .committed_offsets((*tpl).clone(), Duration::from_secs(10))
                    .ok();
                let resume = committed.as_ref().and_then(|c| {
                    c.elements()
                        .iter()
                        .filter_map(|e| Resume::decode(e.metadata()))
                        .max_by_key(|r| r.next_window)
                });
                Assignment {
                    partitions: partitions_of(tpl),
                    resume,
                    committed: committed.as_ref().map(committed_of).unwrap_or_default(),
                    ..Assignment::default()
                }
            }
            Rebalance::Revoke(tpl) => {
                // Also happens when this consumer closes; the main loop, if still running,
                // says so.
                Assignment {
                    revoked: partitions_of(tpl),
                    ..Assignment::default()
                }
            }
            Rebalance::Error(e) => {
                tracing::error!(error = %e, "kafka: rebalance error");
                return;
            }
        };
        if let Ok(mut a) = self.assignment.lock() {
            *a = Some(assignment);
            self.changed.store(true, Ordering::Release);
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if let Err(e) = result {
            self.commit_failed.store(true, Ordering::Relaxed);
            tracing::warn!(error = %e, "kafka: offset commit failed (will retry)");
        }
    }
}

/// The consumer of the records topic.
pub struct Input {
    /// The librdkafka consumer, with the batch queue.
    consumer: BatchConsumer<Events>,
    /// The topic.
    pub topic: String,
    /// The bootstrap servers (named in errors).
    pub brokers: String,
}

impl Input {
    /// A consumer of `topic` in `group`, offsets committed by hand only. Live, it subscribes
    /// (the group assigns partitions and warns of other members); for a replay it takes every
    /// partition itself ([`Input::assign_all`]), which starts at once.
    pub fn new(
        brokers: &str,
        topic: &str,
        group: &str,
        options: &[(String, String)],
        subscribe: bool,
    ) -> Result<Input> {
        let config = host_common::kafka::records_consumer(brokers, group, options);
        let events = Events {
            topic: topic.to_string(),
            ..Events::default()
        };
        let consumer: BaseConsumer<Events> = config
            .create_with_context(events)
            .context("--kafka-option: librdkafka rejected the consumer settings")?;
        if subscribe {
            consumer
                .subscribe(&[topic])
                .with_context(|| format!("--topic {topic}"))?;
        }
        let consumer = BatchConsumer::new(consumer).context("the batch queue")?;
        Ok(Input {
            consumer,
            topic: topic.to_string(),
            brokers: brokers.to_string(),
        })
    }

    /// The librdkafka consumer.
    fn consumer(&self) -> &BaseConsumer<Events> {
        self.consumer.consumer()
    }

    /// Sends the records of `partitions` to the batch queue (at each assignment: a revocation
    /// clears the route). A partition that cannot be routed is read through the consumer queue.
    fn route(&self, partitions: &[i32]) {
        for p in partitions {
            if let Err(e) = self.consumer.route(&self.topic, *p) {
                tracing::warn!(partition = p, error = %e, "kafka: read without batches");
            }
        }
    }

    /// A failed request as one line naming the brokers.
    fn failed(&self, what: &str, e: &rdkafka::error::KafkaError) -> anyhow::Error {
        host_common::kafka::broker_error(&self.brokers, what, e)
    }

    /// A new assignment, if one happened since the last call.
    pub fn take_assignment(&self) -> Option<Assignment> {
        let events = self.consumer().context();
        if !events.changed.swap(false, Ordering::Acquire) {
            return None;
        }
        events.assignment.lock().ok().and_then(|mut a| a.take())
    }

    /// Takes every partition of the topic, each from its committed offset (or the beginning),
    /// and returns the assignment as a rebalance would.
    pub fn assign_all(&self) -> Result<Assignment> {
        let md = self
            .consumer()
            .fetch_metadata(Some(&self.topic), Duration::from_secs(10))
            .map_err(|e| {
                self.failed(&format!("reading the metadata of topic {}", self.topic), &e)
            })?;
        let partitions: Vec<i32> = md
            .topics()
            .first()
            .map(|t| t.partitions().iter().map(|p| p.id()).collect())
            .unwrap_or_default();
        if partitions.is_empty() {
            anyhow::bail!(
                "--topic {}: no such topic, or it has no partitions",
                self.topic
            );
        }
        let mut query = TopicPartitionList::new();
        for p in &partitions {
            query.add_partition(&self.topic, *p);
        }
        let committed = self
            .consumer()
            .committed_offsets(query, Duration::from_secs(10))
            .map_err(|e| self.failed("reading the committed offsets", &e))?;
        let mut assign = TopicPartitionList::new();
        for e in committed.elements() {
            let offset = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            assign.add_partition_offset(&self.topic, e.partition(), offset)?;
        }
        // Asked before the fetchers start: behind a fetch that waits for records
        // (fetch.wait.max.ms) on the same connection, each question would wait too.
        let watermarks = self.all_watermarks(&partitions);
        // Routed before the assignment starts the fetchers: no record goes the other way.
        self.route(&partitions);
        self.consumer()
            .assign(&assign)
            .context("assigning the partitions")?;
        let resume = committed
            .elements()
            .iter()
            .filter_map(|e| Resume::decode(e.metadata()))
            .max_by_key(|r| r.next_window);
        Ok(Assignment {
            partitions,
            resume,
            committed: committed_of(&committed),
            revoked: Vec::new(),
            watermarks,
        })
    }

    /// The first offset still there and the end offset of each of `partitions`, in two
    /// questions for all of them (the ones [`Input::watermarks`] asks per partition: a
    /// ListOffsets for the earliest and one for the latest offset). A partition whose answer
    /// is missing or failed is left out (and asked on its own later).
    fn all_watermarks(&self, partitions: &[i32]) -> BTreeMap<i32, (i64, i64)> {
        let ask = |at: Offset| -> BTreeMap<i32, i64> {
            let mut tpl = TopicPartitionList::new();
            for p in partitions {
                if tpl.add_partition_offset(&self.topic, *p, at).is_err() {
                    return BTreeMap::new();
                }
            }
            let Ok(answer) = self
                .consumer()
                .offsets_for_times(tpl, Duration::from_secs(10))
            else {
                return BTreeMap::new();
            };
            answer
                .elements()
                .iter()
                .filter(|e| e.error().is_ok() && e.topic() == self.topic)
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some((e.partition(), o)),
                    _ => None,
                })
                .collect()
        };
        let (first, end) = (ask(Offset::Beginning), ask(Offset::End));
        first
            .iter()
            .filter_map(|(p, a)| end.get(p).map(|b| (*p, ((*a).min(*b), (*a).max(*b)))))
            .collect()
    }

    /// How many partitions the topic has.
    pub fn partition_count(&self) -> Result<usize> {
        let md = self
            .consumer()
            .fetch_metadata(Some(&self.topic), Duration::from_secs(10))
            .map_err(|e| {
                self.failed(&format!("reading the metadata of topic {}", self.topic), &e)
            })?;
        Ok(md.topics().first().map_or(0, |t| t.partitions().len()))
    }

    /// The first offset still there and the end offset (high watermark) of a partition now.
    pub fn watermarks(&self, partition: i32) -> Result<(i64, i64)> {
        self.consumer()
            .fetch_watermarks(&self.topic, partition, Duration::from_secs(10))
            .map_err(|e| self.failed(&format!("reading the end of partition {partition}"), &e))
    }

    /// Where reading will start for a partition (the committed offset, else the beginning).
    pub fn start_offset(&self, partition: i32) -> i64 {
        let mut tpl = TopicPartitionList::new();
        if tpl
            .add_partition(&self.topic, partition)
            .set_offset(Offset::Invalid)
            .is_err()
        {
            return 0;
        }
        match self
            .consumer()
            .committed_offsets(tpl, Duration::from_secs(10))
        {
            Ok(c) => c
                .elements()
                .first()
                .and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                })
                .unwrap_or(0),
            Err(_) => 0,
        }
    }

    /// Pauses or resumes one partition.
    pub fn set_paused(&self, partition: i32, paused: bool) {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&self.topic, partition);
        let r = if paused {
            self.consumer().pause(&tpl)
        } else {
            self.consumer().resume(&tpl)
        };
        if let Err(e) = r {
            tracing::warn!(
                partition,
                error = %e,
                "kafka: cannot {} a partition",
                if paused { "pause" } else { "resume" }
            );
        }
    }

    /// Whether an asynchronous commit failed since the last call.
    pub fn commit_failed(&self) -> bool {
        self.consumer()
            .context()
            .commit_failed
            .swap(false, Ordering::Relaxed)
    }

    /// Commits `positions` with `resume` as every partition's metadata: sent, and (`mode`
    /// Sync) waited for; an asynchronous failure is reported by [`Input::commit_failed`].
    pub fn commit(
        &self,
        positions: &[(i32, i64)],
        resume: &Resume,
        mode: rdkafka::consumer::CommitMode,
    ) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        let metadata = resume.encode();
        for (p, o) in positions {
            let mut e = tpl.add_partition(&self.topic, *p);
            e.set_offset(Offset::Offset(*o))?;
            e.set_metadata(metadata.clone());
        }
        if tpl.count() > 0 {
            self.consumer()
                .commit(&tpl, mode)
                .context("committing offsets")?;
        }
        Ok(())
    }
}

/// Records taken from the consumer between two rounds of per-batch work.
const BATCH: usize = 20_000;

/// Messages taken from the batch queue per librdkafka call.
const CHUNK: usize = 4_096;

/// How long a round waits for a first record.
const WAIT: Duration = Duration::from_millis(100);

/// How often settled positions are committed.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// A message as a wire record or heartbeat: its key, value, `packets` and `heartbeat`
/// headers and timestamp.
#[inline]
fn decode(m: &impl Message) -> Result<Decoded, WireError> {
    let headers = m.headers().into_iter().flat_map(|h| h.iter());
    decode_parts(
        m.key().unwrap_or_default(),
        m.payload().unwrap_or_default(),
        headers.map(|h| (h.key.as_bytes(), h.value)),
        m.timestamp().to_millis(),
    )
}

/// [`decode`] for a record of a batch.
#[inline]
fn decode_batched(m: &Msg<'_>) -> Result<Decoded, WireError> {
    decode_parts(
        m.key().unwrap_or_default(),
        m.payload().unwrap_or_default(),
        m.headers(),
        m.timestamp_ms(),
    )
}

/// Decodes a message from its parts, its headers as (name, value) pairs: the one reading of
/// the `packets` and heartbeat headers, whichever way the message was taken.
#[inline]
fn decode_parts<'h>(
    key: &[u8],
    payload: &[u8],
    headers: impl Iterator<Item = (&'h [u8], Option<&'h [u8]>)>,
    timestamp_ms: Option<i64>,
) -> Result<Decoded, WireError> {
    let (mut packets, mut heartbeat) = (None, false);
    for (name, value) in headers {
        if name == PACKETS_HEADER.as_bytes() {
            packets = value;
        } else if name == HEARTBEAT_HEADER.as_bytes() {
            heartbeat = true;
        }
    }
    wire::decode_kafka_message(key, payload, packets, heartbeat, timestamp_ms)
}

/// The records topic as the driver's source.
pub struct Kafka {
    input: Input,
    reading: Reading,
    /// Live: the partitions' end offsets, asked in the background.
    ends: Option<Ends>,
    /// The positions last committed.
    last_commit: Vec<(i32, i64)>,
    next_commit: Instant,
    /// Live: per partition, (position, high watermark) as of the last end-offset answer (the
    /// numbers [`Kafka::prove`] has anyway), for the metrics and the status page.
    lag: BTreeMap<i32, (i64, i64)>,
    /// The partitions paused (their records held by the engine).
    paused: BTreeSet<i32>,
}

/// What the reading loop keeps besides the consumer.
struct Reading {
    /// A replay: stop at the end offsets current at the assignment.
    until_end: bool,
    /// How far from the wall clock a record may be stamped.
    bounds: TimeBounds,
    /// A replay's own assignment, taken before the first poll.
    first_assignment: Option<Assignment>,
    end_offsets: BTreeMap<i32, i64>,
    /// The partition of the last record taken and its end offset (records come in runs of
    /// one partition: saves the map's look-up per record); cleared with `end_offsets`.
    last_end: Option<(i32, Option<i64>)>,
    /// A replay: where reading starts per partition (the committed offset, or the first one
    /// still there), for the progress bar.
    start_offsets: BTreeMap<i32, i64>,
    assigned: bool,
    /// The partitions of the assignment that have been read to their end since it was made
    /// (a partition-EOF event, or a replay's end offset reached): caught up, for `/readyz`.
    caught_up: BTreeSet<i32>,
    /// How many partitions the assignment has.
    partitions: usize,
    /// The wall clock at the last assignment: an end offset asked before it proves nothing.
    assigned_at: Millis,
    /// The committed offsets of the assignment.
    committed: BTreeMap<i32, i64>,
    /// Per partition, the time of the last end-offset answer used.
    proofs_used: BTreeMap<i32, Millis>,
    /// Per partition (by number), the offset of the next record it will return, -1 before
    /// the first since the assignment. Tracked here: librdkafka's position, in the batch path,
    /// is one past the end after an end-of-partition event ([`batch`]).
    next: Vec<i64>,
    started: Instant,
}

impl Kafka {
    /// Reads `topic` in `group`: live (the group assigns the partitions; records more than
    /// `max_ahead` ms ahead of the wall clock are refused), or, `until_end`, a replay of every
    /// partition up to the end offsets current when it is assigned.
    pub fn new(
        brokers: &str,
        topic: &str,
        group: &str,
        options: &[(String, String)],
        until_end: bool,
        bounds: TimeBounds,
    ) -> Result<Kafka> {
        let input = Input::new(brokers, topic, group, options, !until_end)?;
        let first_assignment = if until_end {
            Some(input.assign_all()?)
        } else {
            None
        };
        // A replay closes windows by event time only: it needs no proofs.
        let ends = if until_end {
            None
        } else {
            let client: BaseConsumer = host_common::kafka::end_offsets_client(brokers, options)
                .create()
                .context("--kafka-option: librdkafka rejected the end-offset client's settings")?;
            Some(Ends::start(client, topic.to_string()))
        };
        Ok(Kafka {
            input,
            reading: Reading {
                until_end,
                bounds,
                first_assignment,
                end_offsets: BTreeMap::new(),
                last_end: None,
                start_offsets: BTreeMap::new(),
                assigned: false,
                caught_up: BTreeSet::new(),
                partitions: 0,
                assigned_at: 0,
                committed: BTreeMap::new(),
                proofs_used: BTreeMap::new(),
                next: Vec::new(),
                started: Instant::now(),
            },
            ends,
            last_commit: Vec::new(),
            next_commit: Instant::now(),
            lag: BTreeMap::new(),
            paused: BTreeSet::new(),
        })
    }

    /// Commits the engine's positions, with where a restart must begin, if they moved (or
    /// the last commit failed).
    fn commit_now(
        &mut self,
        engine: &Engine,
        alerting: &Alerting,
        mode: rdkafka::consumer::CommitMode,
    ) {
        if self.input.commit_failed() {
            self.last_commit.clear();
        }
        let positions = engine.commit_positions();
        if positions.is_empty() || positions == self.last_commit {
            return;
        }
        let resume = Resume {
            next_window: engine.first_unsettled(),
            alerting: alerting.clone(),
        };
        match self.input.commit(&positions, &resume, mode) {
            Ok(()) => self.last_commit = positions,
            Err(e) => tracing::warn!("{e:#}"),
        }
    }

    /// Turns the end-offset answers that arrived since the last call into proofs: a
    /// partition read up to (at least) the end offset the broker gave was at its end when the
    /// question was sent. Also says whether this instance reads the whole topic.
    fn prove(&mut self, engine: &mut Engine) {
        let Some(ends) = &self.ends else {
            return;
        };
        let r = &mut self.reading;
        let latest = ends.latest();
        let fresh: Vec<(i32, ends::End)> = latest
            .ends
            .iter()
            .filter(|(p, e)| {
                e.asked_ms >= r.assigned_at
                    && engine.has_source(**p)
                    && r.proofs_used.get(p).is_none_or(|t| e.asked_ms > *t)
            })
            .map(|(p, e)| (*p, *e))
            .collect();
        engine.set_whole(
            !latest.partitions.is_empty()
                && latest.partitions.iter().all(|p| engine.has_source(*p)),
        );
        self.lag.retain(|p, _| engine.has_source(*p));
        if fresh.is_empty() {
            return;
        }
        for (p, end) in fresh {
            let position = r.position(p).unwrap_or(end.low);
            if ends::at_end(position, &end) {
                engine.prove(p, end.asked_ms);
            }
            self.lag.insert(p, (position, end.high));
            r.proofs_used.insert(p, end.asked_ms);
        }
    }
}

impl Kafka {
    /// The consumer queue, without waiting: rebalances (a new assignment's partitions are
    /// routed to the batch queue), errors, and the records of partitions not routed. Returns
    /// whether it is empty: records of a partition routed just now that were queued there
    /// before must be taken first, for each partition's offset order.
    fn serve_consumer_queue(&mut self, intake: &mut Intake<'_>) -> Result<bool> {
        let mut bound = None;
        for _ in 0..BATCH {
            let polled = self.input.consumer().poll(Duration::ZERO);
            let reading = &mut self.reading;
            let assignment = reading
                .first_assignment
                .take()
                .or_else(|| self.input.take_assignment());
            let changed = assignment.is_some();
            if let Some(a) = assignment {
                self.input.route(&a.partitions);
                reading.assignment(&self.input, a, intake)?;
            }
            match polled {
                Some(Ok(m)) => {
                    let (p, o) = (m.partition(), m.offset());
                    let decoded = decode(&m);
                    drop(m);
                    let bound =
                        *bound.get_or_insert_with(|| ClockBound::at(now_ms(), reading.bounds));
                    if reading.take(p, o, decoded, bound, intake) {
                        self.input.set_paused(p, true);
                        self.paused.insert(p);
                    }
                }
                Some(Err(KafkaError::PartitionEOF(p))) => reading.at_end(&self.input, p, intake),
                Some(Err(e)) => tracing::warn!(error = %e, "kafka: consumer error"),
                // A rebalance was served: there may be more.
                None if changed => {}
                None => return Ok(true),
            }
        }
        Ok(false)
    }

    /// The batch queue: the first record waited for up to [`WAIT`], then what is there, up to
    /// [`BATCH`] records, taken [`CHUNK`] at a time.
    fn consume_batches(&mut self, intake: &mut Intake<'_>) {
        let mut taken = 0;
        let mut bound = None;
        let (mut wait, mut want) = (WAIT, 1);
        while taken < BATCH {
            let batch = self.input.consumer.consume(wait, want);
            if batch.is_empty() {
                break;
            }
            let full = batch.len() == want;
            taken += batch.len();
            let bound = *bound.get_or_insert_with(|| ClockBound::at(now_ms(), self.reading.bounds));
            let mut ended: Vec<i32> = Vec::new();
            // Each message is freed as soon as it has been read (see `Batch`).
            for m in batch {
                let p = m.partition();
                match m.kind() {
                    Kind::Record => {
                        if self
                            .reading
                            .take(p, m.offset(), decode_batched(&m), bound, intake)
                        {
                            self.input.set_paused(p, true);
                            self.paused.insert(p);
                        }
                    }
                    Kind::Eof => {
                        self.reading.advance(p, m.offset());
                        self.reading.at_end(&self.input, p, intake);
                        ended.push(p);
                    }
                    Kind::Error(code) => tracing::warn!(
                        partition = p,
                        error = %KafkaError::MessageConsumption(code),
                        detail = %String::from_utf8_lossy(m.error_text().unwrap_or_default()),
                        "kafka: consumer error"
                    ),
                }
            }
            self.seek_back(&ended);
            if !full {
                break;
            }
            (wait, want) = (Duration::ZERO, CHUNK.min(BATCH - taken));
        }
    }

    /// Partitions of `ended` (end-of-partition events just taken) that are paused: a pause
    /// resumes at librdkafka's position, one past the end after such an event ([`batch`]), so
    /// they are sought back to the record after the last one taken.
    fn seek_back(&self, ended: &[i32]) {
        for p in ended.iter().filter(|p| self.paused.contains(p)) {
            let Some(next) = self.reading.position(*p) else {
                continue;
            };
            if let Err(e) = self.input.consumer().seek(
                &self.input.topic,
                *p,
                Offset::Offset(next),
                Duration::ZERO,
            ) {
                tracing::warn!(partition = p, error = %e, "kafka: cannot seek a paused partition");
            }
        }
    }
}

impl Reading {
    /// A new assignment: the engine's sources, the resume point, the partial-assignment
    /// warning, a replay's end offsets.
    fn assignment(&mut self, input: &Input, a: Assignment, intake: &mut Intake<'_>) -> Result<()> {
        if !a.revoked.is_empty() {
            tracing::warn!(
                partitions = ?a.revoked,
                "partitions were taken from this instance: window sums cover only what it read"
            );
        }
        if !a.partitions.is_empty() {
            tracing::info!(
                "kafka: reading partitions {:?} of {}",
                a.partitions,
                input.topic
            );
        }
        self.assigned = !a.partitions.is_empty();
        self.partitions = a.partitions.len();
        self.caught_up.clear();
        self.assigned_at = now_ms();
        self.committed = a.committed;
        self.proofs_used.clear();
        self.next.clear();
        intake.engine.set_sources(&a.partitions);
        let mut alerting = None;
        if let Some(r) = a.resume {
            if let Some(next) = r.next_window {
                intake.engine.start_at(next);
            }
            tracing::info!("resuming from the committed offsets ({})", r.encode());
            alerting = Some(r.alerting);
        }
        let total = input.partition_count().unwrap_or(0);
        let partial = (a.partitions.len() < total).then_some((a.partitions.len(), total));
        if let Some((have, all)) = partial {
            tracing::warn!(
                "the group gave this instance {have} of the {all} partitions of {}: every \
                 window sum is PARTIAL (run one instance per group)",
                input.topic
            );
        }
        intake.scope(partial, alerting);
        if self.until_end {
            self.end_offsets.clear();
            self.last_end = None;
            self.start_offsets.clear();
            for p in &a.partitions {
                let (low, end) = match a.watermarks.get(p) {
                    Some(w) => *w,
                    None => input.watermarks(*p)?,
                };
                // The committed offset (as [`Input::start_offset`] asks it), else 0.
                let start = self.committed.get(p).copied().unwrap_or(0);
                self.end_offsets.insert(*p, end);
                self.start_offsets.insert(*p, start.max(low).min(end));
                if start >= end {
                    intake.engine.done(*p);
                    self.caught_up.insert(*p);
                }
            }
        }
        Ok(())
    }

    /// Where partition `p` will be read from next: the offset after the last record taken, else
    /// the committed offset; `None` when neither is known (reading starts at the low offset).
    fn position(&self, p: i32) -> Option<i64> {
        usize::try_from(p)
            .ok()
            .and_then(|i| self.next.get(i).copied())
            .filter(|o| *o >= 0)
            .or_else(|| self.committed.get(&p).copied())
    }

    /// Partition `p` will be read from `next` (or later) on.
    #[inline]
    fn advance(&mut self, p: i32, next: i64) {
        let Ok(i) = usize::try_from(p) else {
            return;
        };
        if i >= self.next.len() {
            self.next.resize(i + 1, -1);
        }
        if let Some(n) = self.next.get_mut(i) {
            *n = (*n).max(next);
        }
    }

    /// The record at offset `o` of partition `p`, decoded or not: into the engine (true: it is
    /// held, `p` must pause) or counted as undecodable; a replay's partition is done at its end
    /// offset.
    #[inline]
    fn take(
        &mut self,
        p: i32,
        o: i64,
        decoded: Result<Decoded, WireError>,
        bound: Option<ClockBound>,
        intake: &mut Intake<'_>,
    ) -> bool {
        self.advance(p, o + 1);
        let held = match decoded {
            Ok(d) => intake.decoded(p, o, d, bound),
            Err(e) => {
                intake.engine.skip(p, o);
                intake.undecodable(format_args!("partition {p} offset {o}"), e);
                false
            }
        };
        let end = match self.last_end {
            Some((q, end)) if q == p => end,
            _ => {
                let end = self.end_offsets.get(&p).copied();
                self.last_end = Some((p, end));
                end
            }
        };
        if end.is_some_and(|end| o + 1 >= end) {
            intake.engine.done(p);
            self.caught_up.insert(p);
        }
        held
    }

    /// A partition at the end of what is there: finished, for a replay that started there.
    fn at_end(&mut self, input: &Input, p: i32, intake: &mut Intake<'_>) {
        self.caught_up.insert(p);
        // Not a proof for the wall clock: the event says when librdkafka saw the end, not when
        // it asked; the proofs come from [`crate::ends`].
        intake.engine.at_end(p);
        if self
            .end_offsets
            .get(&p)
            .is_some_and(|end| input.start_offset(p) >= *end)
        {
            intake.engine.done(p);
        }
    }
}

impl Source for Kafka {
    const STOPPING: &'static str = " (open windows resume after a restart)";

    /// A round: the consumer queue's events (a new assignment is routed to the batch queue)
    /// and records, then the batch queue's records: the first waited for up to [`WAIT`], the
    /// rest only what is there (up to [`BATCH`]); the per-batch work (watermark, judging,
    /// alerts, commits) then runs once.
    fn poll(&mut self, intake: &mut Intake<'_>) -> Result<Polled> {
        if self.serve_consumer_queue(intake)? {
            self.consume_batches(intake);
        }
        Ok(Polled::Batch)
    }

    /// Held records taken again: their partitions resume. New proofs of the partitions' ends
    /// move the wall-clock watermark.
    fn after_batch(&mut self, engine: &mut Engine, closed: &mut Vec<Closed>) {
        for p in engine.retry_held(closed) {
            self.input.set_paused(p, false);
            self.paused.remove(&p);
        }
        self.prove(engine);
        engine.advance(Some(now_ms()), closed);
    }

    fn commit(&mut self, engine: &Engine, alerting: &Alerting) {
        if Instant::now() >= self.next_commit {
            self.next_commit = Instant::now() + COMMIT_EVERY;
            self.commit_now(engine, alerting, rdkafka::consumer::CommitMode::Async);
        }
    }

    /// A replay is finished when every partition reached its end offset; it fails when no
    /// partition was assigned within 60 s.
    fn finished(&self, engine: &Engine) -> Result<bool> {
        let r = &self.reading;
        if r.until_end && r.assigned && engine.all_done() {
            return Ok(true);
        }
        if r.until_end && !r.assigned && r.started.elapsed() > Duration::from_secs(60) {
            anyhow::bail!(
                "no partition of {} was assigned within 60 s",
                self.input.topic
            );
        }
        Ok(false)
    }

    fn lag(&self) -> Vec<Lag> {
        self.lag
            .iter()
            .map(|(&partition, &(position, high))| Lag {
                partition,
                position,
                high,
            })
            .collect()
    }

    /// A replay: per partition, the offsets from its start to the record last taken (all of
    /// them once it is done), of those from its start to its end offset.
    fn progress(&self, engine: &Engine) -> Option<(u64, u64)> {
        let r = &self.reading;
        if !r.until_end || !r.assigned {
            return None;
        }
        let (mut done, mut total) = (0u64, 0u64);
        for (p, end) in &r.end_offsets {
            let start = r.start_offsets.get(p).copied().unwrap_or(*end);
            let len = end.saturating_sub(start).max(0);
            let read = engine
                .last_offset(*p)
                .map_or(0, |last| (last + 1).saturating_sub(start))
                .clamp(0, len);
            total += u64::try_from(len).unwrap_or(0);
            done += u64::try_from(read).unwrap_or(0);
        }
        Some((done, total))
    }

    /// Ready once partitions are assigned and each has been read to its end once since the
    /// assignment (caught up). It stays ready while the consumer falls behind later: lag is
    /// the metrics' and the alerts' business, and a restart of a lagging instance helps
    /// nobody.
    fn readiness(&self) -> Result<(), &'static str> {
        let r = &self.reading;
        if !r.assigned {
            Err("no partition assigned yet")
        } else if r.caught_up.len() < r.partitions {
            Err("catching up: not every assigned partition has been read to its end yet")
        } else {
            Ok(())
        }
    }

    fn close(&mut self, engine: &Engine, alerting: &Alerting, pending_alerts: usize) {
        if pending_alerts > 0 {
            tracing::warn!(
                pending_alerts,
                "alerts not acknowledged: their windows are not committed and will be judged \
                 again after a restart"
            );
        }
        // The last one is waited for: the process ends next.
        self.commit_now(engine, alerting, rdkafka::consumer::CommitMode::Sync);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core_nostd::wire::Record;
    use rdkafka::message::{Header, OwnedHeaders, OwnedMessage, Timestamp};

    fn message(headers: Option<OwnedHeaders>, timestamp: Timestamp) -> OwnedMessage {
        OwnedMessage::new(
            Some(b"1500".to_vec()),
            Some(b"10.0.0.1,2001:db8::7".to_vec()),
            "traffic".into(),
            timestamp,
            0,
            7,
            headers,
        )
    }

    #[test]
    fn messages_decode_with_their_packets_header_and_timestamp() {
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "other",
                value: Some("9"),
            })
            .insert(Header {
                key: PACKETS_HEADER,
                value: Some("3"),
            });
        let r = decode(&message(
            Some(headers),
            Timestamp::CreateTime(1_700_000_001_000),
        ))
        .unwrap();
        assert_eq!(
            r,
            Decoded::Record(Record {
                start_ms: 1_700_000_001_000,
                src: "10.0.0.1".parse().unwrap(),
                dst: "2001:db8::7".parse().unwrap(),
                bytes: 1500,
                packets: 3,
            })
        );
        // No header: one packet (the seed's records). No timestamp: refused.
        let seed = decode(&message(None, Timestamp::CreateTime(1))).unwrap();
        assert!(matches!(seed, Decoded::Record(r) if r.packets == 1));
        assert!(decode(&message(None, Timestamp::NotAvailable)).is_err());
    }

    #[test]
    fn resume_metadata_round_trips() {
        let r = Resume {
            next_window: Some(1_700_000_100_000),
            alerting: Alerting {
                total: true,
                scopes: Default::default(),
            },
        };
        assert_eq!(r.encode(), "streamchecker/1 next=1700000100000 alerting=1");
        assert_eq!(Resume::decode(&r.encode()), Some(r.clone()));
        // Alerting scopes by key, in hex; a key that is not hex is dropped, not the commit.
        let scoped = Resume {
            alerting: Alerting {
                total: false,
                scopes: [1, 0xfedc_ba98_7654_3210].into_iter().collect(),
            },
            ..r
        };
        assert_eq!(
            scoped.encode(),
            "streamchecker/1 next=1700000100000 alerting=0 \
             alerting_scopes=0000000000000001,fedcba9876543210"
        );
        assert_eq!(Resume::decode(&scoped.encode()), Some(scoped.clone()));
        assert_eq!(
            Resume::decode(
                "streamchecker/1 next=1700000100000 alerting=0 alerting_scopes=1,x,fedcba9876543210"
            ),
            Some(scoped)
        );
        // At most MAX_SCOPES keys are kept, the smallest, within Kafka's default 4096 bytes.
        let many = Resume {
            next_window: Some(u64::MAX),
            alerting: Alerting {
                total: true,
                scopes: (0..1000u64)
                    .map(|k| k.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                    .collect(),
            },
        };
        let text = many.encode();
        assert!(text.len() < 4096, "{}", text.len());
        let back = Resume::decode(&text).unwrap();
        assert_eq!(back.alerting.scopes.len(), Resume::MAX_SCOPES);
        assert!(
            back.alerting
                .scopes
                .iter()
                .eq(many.alerting.scopes.iter().take(Resume::MAX_SCOPES))
        );
        assert_eq!(Resume::decode("someone else's metadata"), None);
        assert_eq!(Resume::decode(""), None);
        assert_eq!(
            Resume::decode("streamchecker/1 next=- alerting=0"),
            Some(Resume::default())
        );
    }
}
