//! Consuming in batches: librdkafka's `rd_kafka_consume_batch_queue`, which the `rdkafka`
//! crate does not expose, behind a small safe wrapper. Taking up to thousands of messages per
//! call instead of one event per `BaseConsumer::poll` (a clock read, a queue operation and an
//! `Arc` per message) is what brings host-stream to a tuned kcat's speed.
//!
//! The messages of the partitions [`BatchConsumer::route`] names go to a queue of our own; the
//! consumer queue keeps everything else (rebalances, commit results, errors, and the messages of
//! a partition never routed), still served by [`BaseConsumer::poll`]. They must be kept apart:
//! served by `rd_kafka_consume_batch_queue`, a rebalance event of the consumer queue would be
//! answered by librdkafka itself with an unassign (the `rdkafka` crate takes rebalances as
//! events, with no rebalance callback), and an event that is not a message would abort.
//!
//! Routing sticks: librdkafka never forwards a routed partition's queue to the consumer queue
//! again, but stopping its fetcher (a revocation) clears the route, so that a partition assigned
//! again keeps its messages in its own queue, in order, until it is routed again.
//!
//! Two differences from the poll path, which the caller must mind:
//! - the consumer's position (`rd_kafka_position`) counts every message taken into a batch, and
//!   an end-of-partition event at offset `e` sets it to `e + 1` (librdkafka treats the event's
//!   offset like a message's), one past the end; pausing a partition then resumes it there. The
//!   caller tracks positions itself and seeks a paused partition back.
//! - messages are taken in bulk: a partition paused halfway through a batch still has the
//!   rest of its messages in the batch.

mod unparsed;

use std::ffi::{CStr, CString, c_char, c_void};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::time::Duration;

use rdkafka::bindings as rdsys;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::types::RDKafkaErrorCode;

use super::record_headers::RecordHeaders;

/// A consumer whose routed partitions are read in batches. The queue is a field before the
/// consumer: it is destroyed (its messages freed) while the consumer still exists.
pub struct BatchConsumer<C: ConsumerContext> {
    queue: Queue,
    consumer: BaseConsumer<C>,
    /// Whether records' headers are read from their unparsed bytes ([`unparsed`]).
    wire_headers: bool,
}

/// Our queue (owned: destroyed with `rd_kafka_queue_destroy`).
struct Queue(NonNull<rdsys::rd_kafka_queue_t>);

// SAFETY: librdkafka's queues are thread-safe (every operation takes the queue's lock); the
// handle is only a pointer to one.
unsafe impl Send for Queue {}
// SAFETY: as above: `&Queue` only hands the pointer to librdkafka's locked operations.
unsafe impl Sync for Queue {}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: the queue was made by `rd_kafka_queue_new` and is destroyed once, here, while
        // its client still exists (see `BatchConsumer`). Queued messages are freed; partitions
        // still routed here hold their own reference to the queue, which librdkafka disabled.
        unsafe { rdsys::rd_kafka_queue_destroy(self.0.as_ptr()) }
    }
}

impl<C: ConsumerContext> BatchConsumer<C> {
    /// Wraps `consumer` with a new, empty queue (no partition routed yet).
    pub fn new(consumer: BaseConsumer<C>) -> KafkaResult<BatchConsumer<C>> {
        // SAFETY: the client pointer is valid while `consumer` lives; the queue made belongs
        // to that client and is kept beside it.
        let queue = unsafe { rdsys::rd_kafka_queue_new(consumer.client().native_ptr()) };
        let queue = NonNull::new(queue).map(Queue).ok_or_else(|| {
            KafkaError::ClientCreation("librdkafka made no batch queue".to_string())
        })?;
        Ok(BatchConsumer {
            queue,
            consumer,
            wire_headers: unparsed::layout_known(),
        })
    }

    /// The consumer (assignments, commits, pauses, and `poll` for its events).
    pub fn consumer(&self) -> &BaseConsumer<C> {
        &self.consumer
    }

    /// Sends the messages (and end-of-partition and fetch errors) of `topic`'s `partition` to
    /// the batch queue from now on. Route a partition before its first assignment, or at
    /// each assignment when it was routed before (a revocation clears the route).
    pub fn route(&self, topic: &str, partition: i32) -> KafkaResult<()> {
        let name = CString::new(topic)
            .map_err(|_| KafkaError::Subscription(format!("topic {topic:?}: a NUL byte")))?;
        // SAFETY: the client is alive (we own it) and `name` is a C string; the handle returned
        // refers to the partition's queue (librdkafka keeps the partition, creating it if
        // unknown) and is ours to destroy.
        let src = unsafe {
            rdsys::rd_kafka_queue_get_partition(
                self.consumer.client().native_ptr(),
                name.as_ptr(),
                partition,
            )
        };
        let src = NonNull::new(src).ok_or_else(|| {
            KafkaError::Subscription(format!("{topic} [{partition}]: no partition queue"))
        })?;
        // SAFETY: both queues belong to this client and are valid; forwarding takes its own
        // reference to our queue, and the partition's handle is destroyed once, here (the
        // partition's queue itself stays with librdkafka).
        unsafe {
            rdsys::rd_kafka_queue_forward(src.as_ptr(), self.queue.0.as_ptr());
            rdsys::rd_kafka_queue_destroy(src.as_ptr());
        }
        Ok(())
    }

    /// Takes up to `max` messages from the batch queue: waits up to `timeout` for them (zero:
    /// only what is there). librdkafka waits for `max` messages until `timeout`, so a caller
    /// that wants the first one quickly asks for one with a timeout, then the rest with none.
    pub fn consume(&self, timeout: Duration, max: usize) -> Batch<'_> {
        let mut messages: Vec<*mut rdsys::rd_kafka_message_t> = Vec::with_capacity(max);
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: the queue is valid, and `messages` has room for `max` pointers, which
        // librdkafka fills from the start; it returns how many it wrote (or -1, none).
        let n = unsafe {
            rdsys::rd_kafka_consume_batch_queue(
                self.queue.0.as_ptr(),
                ms,
                messages.as_mut_ptr(),
                max,
            )
        };
        let n = usize::try_from(n).unwrap_or(0).min(max);
        // SAFETY: the first `n` elements were written by librdkafka, each a message (never
        // null) that is now ours.
        unsafe { messages.set_len(n) };
        Batch {
            messages,
            next: 0,
            wire_headers: self.wire_headers,
            _client: PhantomData,
        }
    }
}

/// Messages taken from a [`BatchConsumer`], handed out one by one as owned [`Msg`]s (in the
/// order taken, each partition's in offset order): each is destroyed exactly once, when its
/// `Msg` is dropped or, for those not handed out, with the batch; none outlives the consumer.
/// Destroying each message as soon as it has been read (rather than the whole batch at its
/// end) lets the next message's header parse reuse the memory just freed, from the thread's
/// malloc cache, instead of a batch's worth of frees going through the allocator's bins.
pub struct Batch<'c> {
    messages: Vec<*mut rdsys::rd_kafka_message_t>,
    /// The first message not yet handed out.
    next: usize,
    /// As the consumer's.
    wire_headers: bool,
    _client: PhantomData<&'c ()>,
}

impl Batch<'_> {
    /// How many messages were taken (end-of-partition events and errors included), handed
    /// out or not.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether it holds none (the wait ran out).
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }
}

impl<'c> Iterator for Batch<'c> {
    type Item = Msg<'c>;

    fn next(&mut self) -> Option<Msg<'c>> {
        let m = *self.messages.get(self.next)?;
        self.next += 1;
        // Handed out once: `next` moved past it, so neither the batch nor another `Msg`
        // destroys it. Never null (see `BatchConsumer::consume`).
        NonNull::new(m).map(|m| Msg {
            m,
            wire_headers: self.wire_headers,
            _client: PhantomData,
        })
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        for m in self.messages.drain(..).skip(self.next) {
            // SAFETY: returned by `rd_kafka_consume_batch_queue` and never handed out (those
            // before `next` belong to their `Msg`), destroyed once; the consumer is alive (the
            // batch borrows it).
            unsafe { rdsys::rd_kafka_message_destroy(m) }
        }
    }
}

/// One message of a [`Batch`], owned: destroyed when dropped. Borrows the consumer, which it
/// cannot outlive.
pub struct Msg<'c> {
    m: NonNull<rdsys::rd_kafka_message_t>,
    /// Whether a record's headers are read from their unparsed bytes ([`unparsed`]): only
    /// when the linked librdkafka is the release whose layout that module mirrors.
    wire_headers: bool,
    _client: PhantomData<&'c ()>,
}

impl Drop for Msg<'_> {
    fn drop(&mut self) {
        // SAFETY: a message librdkafka returned, owned by this `Msg` alone (handed out once by
        // `Batch::next`) and destroyed once, here, while the consumer is alive ('c); every
        // view of it borrows `self`, so none is left.
        unsafe { rdsys::rd_kafka_message_destroy(self.m.as_ptr()) }
    }
}

/// What a message of a batch is.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    /// A record.
    Record,
    /// The partition was read to its end; the offset is the next one there will be.
    Eof,
    /// A consumer error (fetch failed, offset out of range…), for this message's partition.
    Error(RDKafkaErrorCode),
}

impl Msg<'_> {
    /// The message.
    fn m(&self) -> &rdsys::rd_kafka_message_t {
        // SAFETY: a live message owned by `self` (see `Drop`), read only.
        unsafe { self.m.as_ref() }
    }

    /// A record, the end of the partition, or an error.
    pub fn kind(&self) -> Kind {
        match self.m().err {
            rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR => Kind::Record,
            rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__PARTITION_EOF => Kind::Eof,
            e => Kind::Error(e.into()),
        }
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.m().partition
    }

    /// The offset (for [`Kind::Eof`], the end offset).
    pub fn offset(&self) -> i64 {
        self.m().offset
    }

    /// The key (a record's), `None` when it has none.
    pub fn key(&self) -> Option<&[u8]> {
        if self.m().err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return None;
        }
        // SAFETY: librdkafka's message: `key` points to `key_len` bytes owned by the message.
        unsafe { bytes(self.m().key, self.m().key_len) }
    }

    /// The value (a record's), `None` when it has none. For an error, use [`Msg::error_text`].
    pub fn payload(&self) -> Option<&[u8]> {
        if self.m().err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return None;
        }
        // SAFETY: as for the key: `payload` points to `len` bytes owned by the message.
        unsafe { bytes(self.m().payload, self.m().len) }
    }

    /// An error's (or end-of-partition event's) text, from librdkafka.
    pub fn error_text(&self) -> Option<&[u8]> {
        if self.m().err == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return None;
        }
        // SAFETY: for an error, the payload is the error string (`len` bytes) of the message.
        unsafe { bytes(self.m().payload, self.m().len) }
    }

    /// The record's timestamp in ms (create or log-append time), `None` when it has none.
    pub fn timestamp_ms(&self) -> Option<i64> {
        let mut kind = rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        // SAFETY: a valid message; `kind` is written.
        let ms = unsafe { rdsys::rd_kafka_message_timestamp(self.m(), &raw mut kind) };
        (ms != -1 && kind != rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE)
            .then_some(ms)
    }

    /// The record's headers, in order (none for an error): read from the record's unparsed
    /// header bytes when the layout of librdkafka's message is known ([`unparsed`]), else
    /// parsed by librdkafka; the same either way.
    pub fn headers(&self) -> Headers<'_> {
        if self.wire_headers
            && self.m().err == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
        {
            // SAFETY: `wire_headers` is set only when `unparsed::layout_known()`; the message
            // is a record (no error) librdkafka returned, alive while `self` is.
            if let Some(section) = unsafe { unparsed::section(self.m()) } {
                return Headers(Parsed::Wire(RecordHeaders::new(section)));
            }
        }
        Headers(Parsed::Library(self.library_headers()))
    }

    /// The record's headers as librdkafka parses them (`rd_kafka_message_headers`: a list
    /// allocated on first use, kept and freed with the message).
    fn library_headers(&self) -> LibraryHeaders<'_> {
        let mut headers: *mut rdsys::rd_kafka_headers_t = ptr::null_mut();
        if self.m().err == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            // SAFETY: a valid message; librdkafka parses its headers once and keeps them with
            // the message (they live as long as it does). `_NOENT`: none, and `headers`
            // stays null.
            let err = unsafe { rdsys::rd_kafka_message_headers(self.m(), &raw mut headers) };
            if err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                headers = ptr::null_mut();
            }
        }
        LibraryHeaders {
            headers,
            next: 0,
            _message: PhantomData,
        }
    }
}

/// `len` bytes at `p`, `None` for a null pointer.
///
/// # Safety
/// `p` is null or points to `len` readable bytes that live for `'b`.
unsafe fn bytes<'b>(p: *const c_void, len: usize) -> Option<&'b [u8]> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller's promise.
    Some(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// The headers of a [`Msg`]: (name, value) pairs, a value `None` when it is null.
pub struct Headers<'m>(Parsed<'m>);

/// Who reads the headers.
enum Parsed<'m> {
    /// We do, from the record's bytes.
    Wire(RecordHeaders<'m>),
    /// librdkafka did.
    Library(LibraryHeaders<'m>),
}

impl<'m> Iterator for Headers<'m> {
    type Item = (&'m [u8], Option<&'m [u8]>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            Parsed::Wire(h) => h.next(),
            Parsed::Library(h) => h.next(),
        }
    }
}

/// The headers librdkafka parsed, read one by one with `rd_kafka_header_get_all`.
struct LibraryHeaders<'b> {
    headers: *const rdsys::rd_kafka_headers_t,
    next: usize,
    _message: PhantomData<&'b ()>,
}

impl<'b> Iterator for LibraryHeaders<'b> {
    type Item = (&'b [u8], Option<&'b [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.headers.is_null() {
            return None;
        }
        let (mut name, mut value, mut size): (*const c_char, *const c_void, usize) =
            (ptr::null(), ptr::null(), 0);
        // SAFETY: `headers` belongs to a live message (lifetime 'b); the out-pointers are
        // written when the header exists (`_NOENT` past the last one).
        let err = unsafe {
            rdsys::rd_kafka_header_get_all(
                self.headers,
                self.next,
                &raw mut name,
                &raw mut value,
                &raw mut size,
            )
        };
        if err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
            return None;
        }
        self.next += 1;
        // SAFETY: the name is a NUL-terminated string and the value `size` bytes (or null),
        // both owned by the message's headers.
        Some(unsafe { (CStr::from_ptr(name).to_bytes(), bytes(value, size)) })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Instant;

    use rdkafka::ClientConfig;
    use rdkafka::consumer::DefaultConsumerContext;
    use rdkafka::message::{Header, OwnedHeaders};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use rdkafka::{Message, Offset, TopicPartitionList};
    use testkit::Cluster;

    use super::*;

    /// A message as the tests compare it.
    #[derive(Debug, PartialEq, Eq)]
    enum Got {
        Record {
            offset: i64,
            key: Option<Vec<u8>>,
            value: Option<Vec<u8>>,
            timestamp: Option<i64>,
            headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        },
        Eof(i64),
        Error(RDKafkaErrorCode),
    }

    impl Got {
        fn of(m: &Msg<'_>) -> Got {
            match m.kind() {
                Kind::Record => Got::Record {
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    timestamp: m.timestamp_ms(),
                    headers: m
                        .headers()
                        .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                        .collect(),
                },
                Kind::Eof => Got::Eof(m.offset()),
                Kind::Error(code) => Got::Error(code),
            }
        }

        fn record(offset: i64, key: &str, value: &str, timestamp: i64) -> Got {
            Got::Record {
                offset,
                key: Some(key.into()),
                value: Some(value.into()),
                timestamp: Some(timestamp),
                headers: Vec::new(),
            }
        }
    }

    /// A private broker with topic `t` of `partitions` partitions.
    fn broker(partitions: i32) -> Cluster {
        let cluster = Cluster::start(1).expect("mock cluster");
        cluster.create_topic("t", partitions).expect("topic");
        cluster
    }

    /// A record to produce: partition, key, value, headers, timestamp.
    type ToProduce<'a> = (i32, Option<&'a str>, Option<&'a str>, OwnedHeaders, i64);

    /// Produces `records` to `t`, in order.
    fn produce(cluster: &Cluster, records: Vec<ToProduce<'_>>) {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .create()
            .expect("producer");
        for (partition, key, value, headers, timestamp) in records {
            let mut r = BaseRecord::<str, str>::to("t")
                .partition(partition)
                .headers(headers)
                .timestamp(timestamp);
            r.key = key;
            r.payload = value;
            producer.send(r).map_err(|(e, _)| e).expect("send");
        }
        producer.flush(Duration::from_secs(30)).expect("flush");
    }

    /// A consumer of `t` with end-of-partition events, `extra` settings, its batch queue
    /// holding `routed`, assigned `start` of every partition in `start`.
    fn consumer(
        cluster: &Cluster,
        extra: &[(&str, &str)],
        routed: &[i32],
        start: &[(i32, Offset)],
    ) -> BatchConsumer<DefaultConsumerContext> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", cluster.bootstrap_servers())
            .set("group.id", "batch-test")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true");
        for (k, v) in extra {
            config.set(*k, *v);
        }
        let c = BatchConsumer::new(config.create::<BaseConsumer>().expect("consumer")).unwrap();
        for p in routed {
            c.route("t", *p).unwrap();
        }
        let mut tpl = TopicPartitionList::new();
        for (p, offset) in start {
            tpl.add_partition_offset("t", *p, *offset).unwrap();
        }
        c.consumer().assign(&tpl).unwrap();
        c
    }

    /// What the batch queue and the consumer queue give, per partition, until `done` holds
    /// for what came (or 30 s pass).
    type Seen = BTreeMap<i32, Vec<Got>>;
    fn read_until(
        c: &BatchConsumer<DefaultConsumerContext>,
        done: impl Fn(&Seen, &Seen) -> bool,
    ) -> (Seen, Seen) {
        let (mut batched, mut polled) = (Seen::new(), Seen::new());
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(&batched, &polled) && Instant::now() < deadline {
            while let Some(m) = c.consumer().poll(Duration::ZERO) {
                match m {
                    Ok(m) => polled.entry(m.partition()).or_default().push(Got::Record {
                        offset: m.offset(),
                        key: m.key().map(<[u8]>::to_vec),
                        value: m.payload().map(<[u8]>::to_vec),
                        timestamp: m.timestamp().to_millis(),
                        headers: Vec::new(),
                    }),
                    Err(KafkaError::PartitionEOF(p)) => {
                        polled.entry(p).or_default().push(Got::Eof(-1));
                    }
                    Err(e) => panic!("consumer queue: {e}"),
                }
            }
            let batch = c.consume(Duration::from_millis(100), 64);
            for m in batch {
                batched.entry(m.partition()).or_default().push(Got::of(&m));
            }
        }
        (batched, polled)
    }

    fn ended(seen: &Seen, partitions: &[i32]) -> bool {
        partitions.iter().all(|p| {
            seen.get(p)
                .is_some_and(|v| v.iter().any(|g| matches!(g, Got::Eof(_))))
        })
    }

    #[test]
    fn routed_partitions_come_in_batches_exactly_then_their_end() {
        let cluster = broker(2);
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "packets",
                value: Some("3"),
            })
            .insert(Header::<&str> {
                key: "empty",
                value: None,
            })
            .insert(Header {
                key: "packets",
                value: Some("4"),
            });
        produce(
            &cluster,
            vec![
                (
                    0,
                    Some("10.0.0.1,10.0.0.2"),
                    Some("1500"),
                    headers,
                    1_700_000_001_000,
                ),
                (0, None, None, OwnedHeaders::new(), 1_700_000_002_000),
                (1, Some("b"), Some(""), OwnedHeaders::new(), 7),
                (
                    0,
                    Some("c"),
                    Some("x"),
                    OwnedHeaders::new(),
                    1_700_000_003_000,
                ),
            ],
        );
        let c = consumer(
            &cluster,
            &[],
            &[0, 1],
            &[(0, Offset::Beginning), (1, Offset::Beginning)],
        );
        let (batched, polled) = read_until(&c, |b, _| ended(b, &[0, 1]));
        assert_eq!(
            polled,
            Seen::new(),
            "nothing of a routed partition is polled"
        );
        let first = Got::Record {
            offset: 0,
            key: Some(b"10.0.0.1,10.0.0.2".to_vec()),
            value: Some(b"1500".to_vec()),
            timestamp: Some(1_700_000_001_000),
            headers: vec![
                (b"packets".to_vec(), Some(b"3".to_vec())),
                (b"empty".to_vec(), None),
                (b"packets".to_vec(), Some(b"4".to_vec())),
            ],
        };
        let keyless = Got::Record {
            offset: 1,
            key: None,
            value: None,
            timestamp: Some(1_700_000_002_000),
            headers: Vec::new(),
        };
        assert_eq!(
            batched,
            Seen::from([
                (
                    0,
                    vec![
                        first,
                        keyless,
                        Got::record(2, "c", "x", 1_700_000_003_000),
                        Got::Eof(3)
                    ]
                ),
                (1, vec![Got::record(0, "b", "", 7), Got::Eof(1)]),
            ])
        );
        // librdkafka takes the end event's offset for a message's: its position is one past
        // the end (why kafka_in tracks positions itself and seeks paused partitions back).
        let positions = c.consumer().position().unwrap();
        let at = |p| positions.find_partition("t", p).map(|e| e.offset());
        assert_eq!(at(0), Some(Offset::Offset(4)));
        assert_eq!(at(1), Some(Offset::Offset(2)));
    }

    #[test]
    fn headers_read_from_the_wire_bytes_are_what_librdkafka_parses() {
        let cluster = broker(1);
        let long = "v".repeat(300);
        let many = (0..200).fold(OwnedHeaders::new(), |h, i| {
            h.insert(Header {
                key: if i % 2 == 0 { "packets" } else { "n" },
                value: Some(&format!("{i}")),
            })
        });
        let shapes = vec![
            OwnedHeaders::new(),
            OwnedHeaders::new().insert(Header {
                key: "packets",
                value: Some("3"),
            }),
            OwnedHeaders::new()
                .insert(Header::<&str> {
                    key: "heartbeat",
                    value: None,
                })
                .insert(Header {
                    key: "",
                    value: Some(""),
                })
                .insert(Header {
                    key: long.as_str(),
                    value: Some(long.as_str()),
                }),
            OwnedHeaders::new().insert(Header {
                key: "heartbeat",
                value: Some(""),
            }),
            many,
        ];
        let n = shapes.len();
        produce(
            &cluster,
            shapes
                .into_iter()
                .map(|h| (0, Some("k"), Some("v"), h, 1))
                .collect(),
        );
        let c = consumer(&cluster, &[], &[0], &[(0, Offset::Beginning)]);
        assert!(
            c.wire_headers,
            "the layout of librdkafka's message is known"
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut compared = 0;
        while compared < n && Instant::now() < deadline {
            for m in c.consume(Duration::from_millis(100), 64) {
                if m.kind() != Kind::Record {
                    continue;
                }
                // SAFETY: the layout is known (asserted above) and `m` is a record.
                let section = unsafe { unparsed::section(m.m()) };
                assert!(section.is_some(), "offset {}: unparsed bytes", m.offset());
                let wire: Vec<_> = m.headers().collect();
                // librdkafka's parse, after which `headers` hands out its list (if any).
                let library: Vec<_> = m.library_headers().collect();
                assert_eq!(wire, library, "offset {}", m.offset());
                let listed = matches!(m.headers().0, Parsed::Library(_));
                assert_eq!(listed, !library.is_empty(), "offset {}", m.offset());
                assert_eq!(m.headers().collect::<Vec<_>>(), library);
                compared += 1;
            }
        }
        assert_eq!(compared, n);
    }

    #[test]
    fn a_partition_not_routed_stays_on_the_consumer_queue() {
        let cluster = broker(2);
        produce(
            &cluster,
            vec![
                (0, Some("a"), Some("1"), OwnedHeaders::new(), 10),
                (1, Some("b"), Some("2"), OwnedHeaders::new(), 20),
            ],
        );
        let c = consumer(
            &cluster,
            &[],
            &[0],
            &[(0, Offset::Beginning), (1, Offset::Beginning)],
        );
        let (batched, polled) = read_until(&c, |b, p| ended(b, &[0]) && ended(p, &[1]));
        assert_eq!(
            batched,
            Seen::from([(0, vec![Got::record(0, "a", "1", 10), Got::Eof(1)])])
        );
        assert_eq!(
            polled,
            Seen::from([(1, vec![Got::record(0, "b", "2", 20), Got::Eof(-1)])])
        );
    }

    #[test]
    fn a_fetch_error_comes_with_its_partition() {
        let cluster = broker(1);
        produce(
            &cluster,
            vec![(0, Some("a"), Some("1"), OwnedHeaders::new(), 10)],
        );
        // Offset 100 is out of range, and there is no reset: an error for partition 0.
        let c = consumer(
            &cluster,
            &[("auto.offset.reset", "error")],
            &[0],
            &[(0, Offset::Offset(100))],
        );
        let (batched, _) = read_until(&c, |b, _| !b.is_empty());
        assert_eq!(
            batched,
            Seen::from([(0, vec![Got::Error(RDKafkaErrorCode::AutoOffsetReset)])])
        );
    }

    #[test]
    fn a_consumer_dropped_with_records_queued_and_taken_frees_them() {
        let cluster = broker(1);
        let records = (0..500)
            .map(|i| (0, Some("k"), Some("v"), OwnedHeaders::new(), i64::from(i)))
            .collect();
        produce(&cluster, records);
        let c = consumer(&cluster, &[], &[0], &[(0, Offset::Beginning)]);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut first = c.consume(Duration::from_millis(100), 1);
        while first.is_empty() && Instant::now() < deadline {
            first = c.consume(Duration::from_millis(100), 1);
        }
        assert_eq!(first.by_ref().map(|m| m.offset()).collect::<Vec<_>>(), [0]);
        drop(first);
        // Returns once 10 are there (one fetch brings them all).
        let mut second = c.consume(Duration::from_secs(30), 10);
        assert_eq!(second.len(), 10);
        let offsets: Vec<i64> = second.by_ref().take(5).map(|m| m.offset()).collect();
        assert_eq!(offsets, (1..=5).collect::<Vec<_>>());
        // A message handed out and kept is freed when dropped, even after its batch.
        let kept = second.next().expect("offset 6");
        // The batch's last four, never handed out, are freed with it; the rest stays queued:
        // dropping the consumer frees it.
        drop(second);
        assert_eq!(kept.offset(), 6);
        drop(kept);
        drop(c);
    }
}
