//! The Kafka sink on a thread of its own: the capture hands records over, the thread
//! produces them ([`KafkaSink`]: librdkafka's queue, the delivery reports, the overflow
//! buffer, the heartbeats).
//!
//! Per record, handing it to librdkafka and serving its delivery report cost more than
//! parsing and counting the packets it came from (about 4,000 instructions against 3,000 for
//! a second of a 1 M-packet replay's records). On the capture's thread that was the run's
//! longest path; here it runs beside the capture on the other core.
//!
//! Records and heartbeats go over in order, in batches of [`BATCH`], through a queue of
//! [`QUEUED`] batches (plus the one the capture fills and the one the thread empties); spent
//! batches come back and are reused. A full queue holds the capture up: a replay whose
//! librdkafka queue is full waits there, as it waited in the sink before (and parks past
//! [`crate::kafka::STALL`] without an acknowledgement), and a live capture's thread parks at
//! once, so it never holds the capture up for long. Memory stays bounded: at most
//! `(QUEUED + 2) × BATCH` records are between the two threads.
//!
//! Once per batch of frames ([`KafkaThread::poll`]) the capture hands over what it has and
//! asks the thread to serve the delivery reports and move parked records on; the thread
//! answers with its [`State`] (delivered, undelivered, parked, queued; whether a broker was
//! reached). The capture takes the latest answer that is in without waiting for it: it learns
//! the sink's state a batch behind, or more while the thread works through a backlog. (The
//! line writer waits for its mark, `crate::lines`; here that would make the capture wait for
//! every interval's records to be produced, the very wait this thread removes: an interval's
//! records come all at once, at its end.)
//!
//! At the end ([`KafkaThread::finish`]) the thread delivers what is left within the flush
//! timeout, as the sink did, and hands back its account. A thread that died (a bug: it
//! panicked) cannot tell what became of what it held; then every record handed to it that
//! it had not reported delivered counts as undelivered, so nothing is ever lost unreported.

use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use core_nostd::wire::{Heartbeat, Record};
use host_common::summary::Summary;

use crate::kafka::{Delivery, KafkaSink, Progress, State, Totals};
use crate::text;

/// Records handed over at a time.
pub const BATCH: usize = 1024;

/// Batches that may wait for the thread.
pub const QUEUED: usize = 4;

/// What the thread does with what the capture hands it: [`KafkaSink`]'s methods (tests give
/// it others).
pub trait Producing: Send + 'static {
    /// Reads the clock before a batch of records (their hand-over time).
    fn tick(&mut self);
    /// Takes one record, whose key (`text::key`) is `key`.
    fn send(&mut self, r: Record, key: &[u8]);
    /// Takes one heartbeat, after the records handed before it.
    fn heartbeat(&mut self, h: Heartbeat);
    /// Serves the delivery reports and moves parked records on.
    fn poll(&mut self);
    /// Where the records stand.
    fn state(&self) -> State;
    /// Delivers what is left within `timeout` and accounts for everything.
    fn finish(self, timeout: Duration) -> Delivery;
}

impl Producing for KafkaSink {
    fn tick(&mut self) {
        KafkaSink::tick(self);
    }
    fn send(&mut self, r: Record, key: &[u8]) {
        KafkaSink::send(self, r, key);
    }
    fn heartbeat(&mut self, h: Heartbeat) {
        KafkaSink::heartbeat(self, h);
    }
    fn poll(&mut self) {
        KafkaSink::poll(self);
    }
    fn state(&self) -> State {
        KafkaSink::state(self)
    }
    fn finish(self, timeout: Duration) -> Delivery {
        KafkaSink::finish(self, timeout)
    }
}

/// What the capture hands the thread, in order.
enum Item {
    /// A record, and where its key ends in its batch's `keys` (it starts where the record
    /// before's ends).
    Record(Record, u32),
    /// Boxed: a heartbeat is ten times a record's size, and comes once per interval.
    Heartbeat(Box<Heartbeat>),
}

/// Records and heartbeats, with the records' keys: written on the capture's thread, so that
/// the text of the addresses (a tenth of the sink's work) is made beside the producing.
#[derive(Default)]
struct Batch {
    items: Vec<Item>,
    keys: Vec<u8>,
}

impl Batch {
    fn new() -> Batch {
        Batch {
            items: Vec::with_capacity(BATCH),
            keys: Vec::with_capacity(BATCH * 32),
        }
    }
}

/// A message to the thread.
enum Message {
    Items(Batch),
    /// Serve the reports, move parked records on, and answer with the state.
    Poll,
    /// Deliver what is left within this long, then hand back the account.
    Finish(Duration),
}

/// The capture's end of the Kafka sink's thread (see the module's text).
pub struct KafkaThread {
    /// The next batch.
    batch: Batch,
    /// `None` once finished (or when dropped).
    to: Option<SyncSender<Message>>,
    states: Receiver<State>,
    /// Spent batches, back from the thread (their room is reused).
    spent: Receiver<Batch>,
    thread: Option<JoinHandle<Option<Delivery>>>,
    /// The thread's latest answer.
    state: State,
    /// Records handed to the thread: all undelivered but those it reported delivered, were
    /// it lost.
    handed: Totals,
}

impl KafkaThread {
    /// Starts the thread that produces through `sink`; the run fails here if it cannot start.
    pub fn start(sink: impl Producing) -> Result<KafkaThread> {
        let (to, rx) = mpsc::sync_channel(QUEUED);
        let (state_tx, states) = mpsc::channel();
        let (spent_tx, spent) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("kafka".into())
            .spawn(move || serve(sink, &rx, &state_tx, &spent_tx))
            .context("cannot start the thread that sends the records to Kafka")?;
        Ok(KafkaThread {
            batch: Batch::new(),
            to: Some(to),
            states,
            spent,
            thread: Some(thread),
            state: State::default(),
            handed: Totals::default(),
        })
    }

    /// Takes one record.
    #[inline]
    pub fn send(&mut self, r: Record) {
        self.handed = self.handed.plus(Totals::of(r.counts()));
        let keys = &mut self.batch.keys;
        keys.extend_from_slice(text::key(&r).as_bytes());
        let end = u32::try_from(keys.len()).unwrap_or(u32::MAX);
        self.batch.items.push(Item::Record(r, end));
        if self.batch.items.len() >= BATCH {
            self.hand_over();
        }
    }

    /// Takes one heartbeat (after every record taken before it).
    pub fn heartbeat(&mut self, h: Heartbeat) {
        self.batch.items.push(Item::Heartbeat(Box::new(h)));
    }

    /// Sends the batch to the thread (waiting while its queue is full) and starts the next
    /// one, in a spent batch's room.
    fn hand_over(&mut self) {
        if self.batch.items.is_empty() {
            return;
        }
        let next = self.spent.try_recv().unwrap_or_else(|_| Batch::new());
        let full = std::mem::replace(&mut self.batch, next);
        self.tell(Message::Items(full));
    }

    /// Sends `m` to the thread. A thread that is gone has accounted for nothing more: see
    /// [`KafkaThread::finish`].
    fn tell(&mut self, m: Message) {
        if let Some(to) = &self.to
            && to.send(m).is_err()
        {
            self.to = None;
        }
    }

    /// Once per batch of frames: hands over what is batched, takes the thread's latest
    /// answer, and asks it for the next one (serving its delivery reports meanwhile).
    pub fn poll(&mut self) {
        self.hand_over();
        while let Ok(s) = self.states.try_recv() {
            self.state = s;
        }
        self.tell(Message::Poll);
    }

    /// See [`State::reached_broker`].
    pub fn reached_broker(&self) -> bool {
        self.state.reached_broker()
    }

    /// The counts, for the metrics.
    pub fn counts(&self) -> Progress {
        self.state.progress
    }

    /// A one-line account for the periodic log.
    pub fn progress(&self) -> Summary {
        self.state.summary()
    }

    /// Hands over the rest, lets the thread deliver it (up to `timeout`, returning as soon as
    /// everything is acknowledged) and accounts for every record.
    pub fn finish(mut self, timeout: Duration) -> Delivery {
        self.hand_over();
        self.tell(Message::Finish(timeout));
        self.to = None;
        let account = self.thread.take().and_then(|t| t.join().ok().flatten());
        while let Ok(s) = self.states.try_recv() {
            self.state = s;
        }
        account.unwrap_or_else(|| {
            // Not reachable but by a bug: the thread panicked. What it did not report
            // delivered may or may not have been: it counts as undelivered.
            let d = Delivery {
                delivered: self.state.delivered,
                undelivered: self.handed.minus(self.state.delivered),
                heartbeats: self.state.progress.heartbeats,
            };
            tracing::error!(
                undelivered_records = d.undelivered.records,
                undelivered_bytes = d.undelivered.bytes,
                "kafka: the thread that sends the records ended without an account: what it \
                 had not reported delivered counts as undelivered"
            );
            d
        })
    }
}

impl Drop for KafkaThread {
    /// Without [`KafkaThread::finish`] (the run failed): the thread drops the sink (which
    /// purges librdkafka's queue) and ends; waited for, as the sink's drop was before.
    fn drop(&mut self) {
        self.to = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The thread's loop: handles what comes in order until told to finish; `None` when the
/// capture went away without that (its run failed).
fn serve(
    mut sink: impl Producing,
    from: &Receiver<Message>,
    states: &Sender<State>,
    spent: &Sender<Batch>,
) -> Option<Delivery> {
    while let Ok(message) = from.recv() {
        match message {
            Message::Items(mut batch) => {
                sink.tick();
                let mut start = 0;
                for item in batch.items.drain(..) {
                    match item {
                        Item::Record(r, end) => {
                            let end = end as usize;
                            sink.send(r, batch.keys.get(start..end).unwrap_or_default());
                            start = end;
                        }
                        Item::Heartbeat(h) => sink.heartbeat(*h),
                    }
                }
                batch.keys.clear();
                // A batch is many records: their reports are served as often.
                sink.poll();
                let _ = spent.send(batch);
            }
            Message::Poll => {
                sink.poll();
                let _ = states.send(sink.state());
            }
            Message::Finish(timeout) => return Some(sink.finish(timeout)),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::{Format, Options};
    use core_nostd::wire::SensorId;
    use core_nostd::{Counts, Pair};
    use rdkafka::mocking::MockCluster;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    /// Record `i`: `i + 1` bytes, one packet, one of 500 pairs (IPv4 or IPv6), interval
    /// `i / 1000`.
    fn record(i: u64) -> Record {
        let n = (i % 500) as u16;
        let src = if n.is_multiple_of(2) {
            IpAddr::V4(Ipv4Addr::new(10, 0, (n >> 8) as u8, n as u8))
        } else {
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, n))
        };
        let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        Record::new(
            1_700_000_000_000 + i / 1000 * 1000,
            Pair::new(src, dst),
            Counts::new(i + 1, 1),
        )
    }

    /// The totals of records `from..to`.
    fn totals(from: u64, to: u64) -> Totals {
        (from..to).fold(Totals::default(), |t, i| {
            t.plus(Totals::of(record(i).counts()))
        })
    }

    fn beat(i: u64) -> Heartbeat {
        let start = 1_700_000_000_000 + i * 1000;
        Heartbeat::new(SensorId::new(b"test/thread").unwrap(), start, start + 1000).unwrap()
    }

    /// What a [`Keeps`] was given, in order: a record's bytes and key, or a heartbeat's start.
    #[derive(Debug, PartialEq)]
    enum Got {
        Record(u64, Vec<u8>),
        Beat(u64),
    }

    /// Keeps what it is given and counts every record delivered; panics at record `dies_at`.
    struct Keeps {
        got: Arc<Mutex<Vec<Got>>>,
        delivered: Totals,
        dies_at: Option<u64>,
    }

    impl Producing for Keeps {
        fn tick(&mut self) {}
        fn send(&mut self, r: Record, key: &[u8]) {
            assert_ne!(
                Some(self.delivered.records),
                self.dies_at,
                "a bug in the sink"
            );
            self.got
                .lock()
                .unwrap()
                .push(Got::Record(r.bytes, key.to_vec()));
            self.delivered = self.delivered.plus(Totals::of(r.counts()));
        }
        fn heartbeat(&mut self, h: Heartbeat) {
            self.got.lock().unwrap().push(Got::Beat(h.start_ms));
        }
        fn poll(&mut self) {}
        fn state(&self) -> State {
            State {
                progress: Progress {
                    delivered: self.delivered.records,
                    ..Progress::default()
                },
                delivered: self.delivered,
            }
        }
        fn finish(self, _: Duration) -> Delivery {
            Delivery {
                delivered: self.delivered,
                ..Delivery::default()
            }
        }
    }

    fn keeps(dies_at: Option<u64>) -> (Keeps, Arc<Mutex<Vec<Got>>>) {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Keeps {
            got: got.clone(),
            delivered: Totals::default(),
            dies_at,
        };
        (sink, got)
    }

    #[test]
    fn records_and_heartbeats_reach_the_thread_in_order_with_their_keys() {
        // 10,000 records (more than every batch that can be on its way: the queue's bound and
        // the spent batches' reuse are both used), a heartbeat after each interval's records.
        let (sink, got) = keeps(None);
        let mut t = KafkaThread::start(sink).expect("the thread");
        let mut want = Vec::new();
        for i in 0..10_000u64 {
            let r = record(i);
            t.send(r);
            want.push(Got::Record(r.bytes, text::key(&r).as_bytes().to_vec()));
            if i % 1000 == 999 {
                t.heartbeat(beat(i / 1000));
                want.push(Got::Beat(beat(i / 1000).start_ms));
            }
            if i % 4096 == 4095 {
                t.poll();
            }
        }
        let d = t.finish(Duration::from_secs(10));
        assert_eq!(d.delivered, totals(0, 10_000));
        assert_eq!(d.delivered.bytes, 50_005_000);
        assert_eq!(d.undelivered, Totals::default());
        let got = std::mem::take(&mut *got.lock().unwrap());
        assert_eq!(got.len(), want.len());
        assert!(got == want, "the order or a key differs");
    }

    #[test]
    fn a_thread_that_dies_counts_what_it_had_not_reported_delivered_as_undelivered() {
        // The sink panics at record 2,500 (a bug); the capture's last answer said 2,000
        // delivered (the poll after them, answered in order before the thread got further).
        let (sink, got) = keeps(Some(2_500));
        let mut t = KafkaThread::start(sink).expect("the thread");
        for i in 0..3_000u64 {
            t.send(record(i));
            if i % 1000 == 999 {
                t.poll();
            }
        }
        let d = t.finish(Duration::from_secs(10));
        assert_eq!(got.lock().unwrap().len(), 2_500);
        assert_eq!(d.delivered, totals(0, 2_000));
        assert_eq!(d.undelivered, totals(2_000, 3_000));
        assert_eq!(
            (
                d.undelivered.records,
                d.undelivered.bytes,
                d.undelivered.packets
            ),
            (1_000, 2_500_500, 1_000)
        );
    }

    #[test]
    fn every_record_through_the_thread_is_acknowledged_and_counted_once() {
        // A real sink, into an in-process mock cluster: 7,000 records (more than the batches
        // between the threads) in 7 intervals, a heartbeat after each, librdkafka's queue held
        // to 500 messages (a replay waits for room, so every record goes as it was made).
        let mock = MockCluster::new(1).expect("mock cluster");
        mock.create_topic("thread", 4, 1).expect("topic");
        let sink = KafkaSink::new(&Options {
            brokers: mock.bootstrap_servers(),
            topic: "thread".into(),
            settings: vec![("queue.buffering.max.messages".into(), "500".into())],
            format: Format::Text,
            interval_ms: 1000,
            max_parked: 10,
            wait_for_room: true,
        })
        .expect("the sink");
        let mut t = KafkaThread::start(sink).expect("the thread");
        for i in 0..7_000u64 {
            t.send(record(i));
            if i % 1000 == 999 {
                t.heartbeat(beat(i / 1000));
            }
            if i % 512 == 511 {
                t.poll();
            }
        }
        // The capture learns of the first acknowledgement from a later answer.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !t.reached_broker() && Instant::now() < deadline {
            t.poll();
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(t.reached_broker(), "no acknowledgement reported");
        assert!(t.counts().delivered <= 7_000);
        let d = t.finish(Duration::from_secs(30));
        assert_eq!(d.delivered, totals(0, 7_000));
        assert_eq!(d.undelivered, Totals::default());
        // Seven heartbeats, each to the four partitions; those made before the partition count
        // was known waited, and merged (coverage is contiguous): fewer, longer ones.
        assert!(
            d.heartbeats.is_multiple_of(4) && (4..=28).contains(&d.heartbeats),
            "{}",
            d.heartbeats
        );
    }
}
