//! The records' producer with its topic's handle: messages go to librdkafka through
//! `rd_kafka_producev` directly, the one part of the rdkafka crate's producer that costs us per
//! message.
//!
//! The crate's `BaseProducer::send` makes a `CString` of the topic's name for every message (an
//! allocation and a free), librdkafka then looks the topic up by that name (a lock and a
//! reference taken and dropped), and an `OwnedHeaders` is built beside the message. Here the
//! topic's `rd_kafka_topic_t` is taken once, and the header list is made here, with room for
//! its one header, as before. What goes on the wire is the same: key, value, header,
//! timestamp, and the partition (given, or chosen by the partitioner of the producer's
//! configuration, which a handle made with no configuration of its own uses, as a send by
//! name does).
//!
//! Delivery reports are served here too ([`TopicProducer::serve`]), from the producer's main
//! queue, where the crate's `BaseProducer::poll` would serve them: that makes a `Vec` of
//! every event's messages (the allocation of a few KiB that makes glibc consolidate its
//! small free chunks each time), an `Arc` of the event and a `KafkaError` of each message's
//! result. Here the messages are read where they are, one after another; each [`Report`]
//! borrows its message for the call. The crate's `poll` still serves what is left when the
//! producer is dropped.
//!
//! The only `unsafe` of the sink besides `linger.rs`, kept here.

use std::ffi::{CStr, CString, c_void};
use std::ptr::NonNull;

use rdkafka::bindings as rdsys;
use rdkafka::bindings::rd_kafka_vtype_t::*;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

/// librdkafka's "no partition given": the configured partitioner chooses.
pub const ANY_PARTITION: i32 = -1;

/// One message: every field is copied by librdkafka before [`TopicProducer::send`] returns.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    /// The partition, or [`ANY_PARTITION`].
    pub partition: i32,
    /// The key.
    pub key: &'a [u8],
    /// The value.
    pub value: &'a [u8],
    /// The one header's name.
    pub header: &'a CStr,
    /// The one header's value.
    pub header_value: &'a [u8],
    /// The message's timestamp, ms since the epoch.
    pub timestamp_ms: i64,
    /// The delivery opaque, handed back in the message's delivery report.
    pub opaque: usize,
}

/// A message's delivery report, borrowed from its event for the call that is given it.
pub struct Report<'a> {
    message: &'a rdsys::rd_kafka_message_t,
}

impl Report<'_> {
    /// Why the message was not delivered; `None` if it was.
    pub fn error(&self) -> Option<RDKafkaErrorCode> {
        match RDKafkaErrorCode::from(self.message.err) {
            RDKafkaErrorCode::NoError => None,
            e => Some(e),
        }
    }

    /// The message's value.
    pub fn value(&self) -> &[u8] {
        let m = self.message;
        if m.payload.is_null() {
            return &[];
        }
        // SAFETY: librdkafka's message holds `len` bytes at `payload` (its copy of the value)
        // for as long as the message lives, which its event does, past this borrow.
        unsafe { std::slice::from_raw_parts(m.payload.cast::<u8>(), m.len) }
    }

    /// The opaque given at [`TopicProducer::send`].
    pub fn opaque(&self) -> usize {
        self.message._private as usize
    }

    /// The value of the message's last header named `name`, if it has one.
    pub fn header(&self, name: &CStr) -> Option<&[u8]> {
        let mut headers: *mut rdsys::rd_kafka_headers_t = std::ptr::null_mut();
        let mut value: *const c_void = std::ptr::null();
        let mut len = 0usize;
        // SAFETY: the message is alive (borrowed); librdkafka writes a pointer to the
        // message's own header list into `headers` (not ours to free), then a pointer to the
        // value (owned by the list) and its length into `value` and `len`. Both outlive this
        // borrow, as the message does.
        unsafe {
            if RDKafkaErrorCode::from(rdsys::rd_kafka_message_headers(self.message, &mut headers))
                != RDKafkaErrorCode::NoError
            {
                return None;
            }
            if RDKafkaErrorCode::from(rdsys::rd_kafka_header_get_last(
                headers,
                name.as_ptr(),
                &mut value,
                &mut len,
            )) != RDKafkaErrorCode::NoError
                || value.is_null()
            {
                return None;
            }
            Some(std::slice::from_raw_parts(value.cast::<u8>(), len))
        }
    }
}

/// What [`TopicProducer::serve`] hands over.
pub enum Event<'a> {
    /// A message's delivery report.
    Report(Report<'a>),
    /// A client error (a broker down, say): its code and librdkafka's text.
    Error(RDKafkaErrorCode, &'a str),
}

/// A producer and the handle of the one topic it sends to.
pub struct TopicProducer<C: ProducerContext<DeliveryOpaque = usize>> {
    /// The topic's name, until its handle is taken.
    name: CString,
    /// A reference of ours to the producer's main queue (delivery reports and errors), given
    /// back in `drop`.
    queue: NonNull<rdsys::rd_kafka_queue_t>,
    /// A reference of ours to the topic, taken at the first send (see [`TopicProducer::send`])
    /// and given back in `drop` (before the producer goes).
    topic: Option<NonNull<rdsys::rd_kafka_topic_t>>,
    producer: BaseProducer<C>,
}

// SAFETY: librdkafka's `rd_kafka_topic_t` and `rd_kafka_queue_t` may be used and destroyed
// from any thread (their state is behind their own locks); the producer is `Send` itself.
unsafe impl<C: ProducerContext<DeliveryOpaque = usize>> Send for TopicProducer<C> where
    BaseProducer<C>: Send
{
}

impl<C: ProducerContext<DeliveryOpaque = usize>> TopicProducer<C> {
    /// A producer of `producer` to `topic`; an error when the name cannot be one.
    pub fn new(producer: BaseProducer<C>, topic: &str) -> Result<TopicProducer<C>, String> {
        let name = CString::new(topic).map_err(|_| format!("{topic:?} holds a NUL byte"))?;
        // SAFETY: the producer's `rd_kafka_t` is alive (owned by `producer`); the call returns
        // a new reference to its main queue, given back in `drop` before the producer goes.
        let queue = unsafe { rdsys::rd_kafka_queue_get_main(producer.client().native_ptr()) };
        let queue = NonNull::new(queue).ok_or("librdkafka gave the producer no main queue")?;
        Ok(TopicProducer {
            name,
            queue,
            topic: None,
            producer,
        })
    }

    /// The topic's handle, taken now if it was not yet. Taken at the first message, not at
    /// the start: librdkafka asks the topic's metadata when the handle is made, and that
    /// answer makes the idempotent producer look for a broker to ask its producer id of; at
    /// the start none is connected yet, and it waits for its 500 ms timer.
    fn topic(&mut self) -> Result<NonNull<rdsys::rd_kafka_topic_t>, RDKafkaErrorCode> {
        if let Some(t) = self.topic {
            return Ok(t);
        }
        // SAFETY: the producer's `rd_kafka_t` is alive (owned by `self`); `name` is a
        // NUL-terminated string that outlives the call (librdkafka copies it); a null
        // configuration makes librdkafka use the producer's default topic configuration, the
        // one a send by name uses.
        let raw = unsafe {
            rdsys::rd_kafka_topic_new(
                self.producer.client().native_ptr(),
                self.name.as_ptr(),
                std::ptr::null_mut(),
            )
        };
        // SAFETY: reads the calling thread's last librdkafka error; no arguments.
        let t = NonNull::new(raw)
            .ok_or_else(|| RDKafkaErrorCode::from(unsafe { rdsys::rd_kafka_last_error() }))?;
        self.topic = Some(t);
        Ok(t)
    }

    /// The producer (delivery reports, the queue, purge, flush).
    pub fn producer(&self) -> &BaseProducer<C> {
        &self.producer
    }

    /// Hands `m` to librdkafka (copied); gives back its error when it is refused
    /// (`QueueFull` when the queue has no room): then no delivery report will come for it.
    pub fn send(&mut self, m: &Message<'_>) -> Result<(), RDKafkaErrorCode> {
        let topic = self.topic()?;
        let header_len = isize::try_from(m.header_value.len()).unwrap_or(isize::MAX);
        // SAFETY: makes an empty list with room for the one header (librdkafka's own list for
        // `RD_KAFKA_VTYPE_HEADER` has room for eight: 56 bytes more for each message held),
        // then copies the header's name (up to its NUL) and value (`header_len` bytes of a
        // borrowed slice) into it (an add fails only on a read-only list, which a new one is
        // not). The list is ours until `rd_kafka_producev` succeeds.
        let headers = unsafe {
            let h = rdsys::rd_kafka_headers_new(1);
            rdsys::rd_kafka_header_add(
                h,
                m.header.as_ptr(),
                -1,
                m.header_value.as_ptr().cast::<c_void>(),
                header_len,
            );
            h
        };
        // SAFETY: the producer's `rd_kafka_t` and our reference to the topic are alive for the
        // call (both held by `self`); every pointer comes from a slice borrowed for the call
        // and is read only for the length given with it, and `RD_KAFKA_MSG_F_COPY` makes
        // librdkafka copy the value (it always copies the key) before returning. Each
        // variadic argument has the C type that its `RD_KAFKA_VTYPE_*` tag announces:
        // `rd_kafka_topic_t *`, `int32_t`, `int`, `void *` + `size_t`, `void *`, `int64_t`,
        // `rd_kafka_headers_t *`; the list ends with `RD_KAFKA_VTYPE_END`. On success the
        // message owns the header list; on failure it is still ours, and destroyed here. The
        // opaque is a number that librdkafka only hands back.
        let err = unsafe {
            let err = rdsys::rd_kafka_producev(
                self.producer.client().native_ptr(),
                RD_KAFKA_VTYPE_RKT,
                topic.as_ptr(),
                RD_KAFKA_VTYPE_PARTITION,
                m.partition,
                RD_KAFKA_VTYPE_MSGFLAGS,
                rdsys::RD_KAFKA_MSG_F_COPY,
                RD_KAFKA_VTYPE_VALUE,
                m.value.as_ptr().cast::<c_void>().cast_mut(),
                m.value.len(),
                RD_KAFKA_VTYPE_KEY,
                m.key.as_ptr().cast::<c_void>().cast_mut(),
                m.key.len(),
                RD_KAFKA_VTYPE_OPAQUE,
                m.opaque as *mut c_void,
                RD_KAFKA_VTYPE_TIMESTAMP,
                m.timestamp_ms,
                RD_KAFKA_VTYPE_HEADERS,
                headers,
                RD_KAFKA_VTYPE_END,
            );
            if RDKafkaErrorCode::from(err) != RDKafkaErrorCode::NoError {
                rdsys::rd_kafka_headers_destroy(headers);
            }
            err
        };
        match RDKafkaErrorCode::from(err) {
            RDKafkaErrorCode::NoError => Ok(()),
            code => Err(code),
        }
    }
}

impl<C: ProducerContext<DeliveryOpaque = usize>> TopicProducer<C> {
    /// Asks a broker that is up for the topic's metadata, without waiting for the answer
    /// (none up: nothing is asked). Every metadata answer makes librdkafka's idempotent
    /// producer, while it has no producer id yet, ask one of a broker that is up; else it asks
    /// only when its 500 ms timer fires. The first answers come from the bootstrap broker,
    /// often before any broker of the cluster is connected, so without another question the
    /// first messages wait out that timer.
    pub fn ask_metadata(&mut self) {
        let Ok(topic) = self.topic() else {
            return;
        };
        let mut md: *const rdsys::rd_kafka_metadata = std::ptr::null();
        // SAFETY: the producer's `rd_kafka_t` and our reference to the topic are alive for the
        // call (held by `self`); `md` is a valid place for the answer's pointer. With a 0 ms
        // timeout the call does not wait: the request goes out, its answer is handled by
        // librdkafka's own thread, and the call returns a timeout with `md` untouched; if it
        // ever returns an answer, that answer is ours to destroy, and is.
        unsafe {
            let err = rdsys::rd_kafka_metadata(
                self.producer.client().native_ptr(),
                0,
                topic.as_ptr(),
                &mut md,
                0,
            );
            if RDKafkaErrorCode::from(err) == RDKafkaErrorCode::NoError && !md.is_null() {
                rdsys::rd_kafka_metadata_destroy(md);
            }
        }
    }
}

impl<C: ProducerContext<DeliveryOpaque = usize>> TopicProducer<C> {
    /// Serves one event of the producer's main queue, without waiting: `each` is given every
    /// delivery report of it in turn, or its error; other events (statistics, which are not
    /// asked for) are dropped. False when there was none.
    pub fn serve(&self, mut each: impl FnMut(Event<'_>)) -> bool {
        // SAFETY: our reference to the main queue is alive (held by `self`); a 0 ms timeout
        // does not wait. The event returned is ours, destroyed below once nothing borrows
        // from it.
        let event = unsafe { rdsys::rd_kafka_queue_poll(self.queue.as_ptr(), 0) };
        if event.is_null() {
            return false;
        }
        // SAFETY: `event` is a live event of ours. A delivery report's messages belong to it
        // and live until it is destroyed; each is lent to `each` for one call only. An error
        // event's string belongs to it too, and is copied before the event goes.
        unsafe {
            match rdsys::rd_kafka_event_type(event) {
                rdsys::RD_KAFKA_EVENT_DR => loop {
                    let m = rdsys::rd_kafka_event_message_next(event);
                    let Some(message) = m.as_ref() else { break };
                    each(Event::Report(Report { message }));
                },
                rdsys::RD_KAFKA_EVENT_ERROR => {
                    let code = RDKafkaErrorCode::from(rdsys::rd_kafka_event_error(event));
                    let text = rdsys::rd_kafka_event_error_string(event);
                    let text = if text.is_null() {
                        String::new()
                    } else {
                        CStr::from_ptr(text).to_string_lossy().into_owned()
                    };
                    each(Event::Error(code, text.trim()));
                }
                _ => {}
            }
            rdsys::rd_kafka_event_destroy(event);
        }
        true
    }
}

impl<C: ProducerContext<DeliveryOpaque = usize>> Drop for TopicProducer<C> {
    fn drop(&mut self) {
        // SAFETY: gives back the one reference to the main queue that `new` took, once, while
        // the producer is still alive.
        unsafe { rdsys::rd_kafka_queue_destroy(self.queue.as_ptr()) };
        if let Some(t) = self.topic.take() {
            // SAFETY: gives back the one reference `topic` took, once; the producer (dropped
            // after this body) is still alive, as librdkafka requires of a topic handle's
            // destruction.
            unsafe { rdsys::rd_kafka_topic_destroy(t.as_ptr()) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::ClientConfig;
    use rdkafka::ClientContext;
    use rdkafka::message::{Header, Headers, Message as _, OwnedHeaders};
    use rdkafka::mocking::MockCluster;
    use rdkafka::producer::{BaseRecord, DeliveryResult, PurgeConfig};
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// What a delivery report said: opaque, partition, key, value, headers, timestamp, ok.
    type Seen = (
        usize,
        i32,
        Vec<u8>,
        Vec<u8>,
        Vec<(String, Vec<u8>)>,
        Option<i64>,
        bool,
    );

    /// Keeps every delivery report it is given.
    #[derive(Default)]
    struct Keep(Mutex<Vec<Seen>>);
    impl ClientContext for Keep {}
    impl ProducerContext for Keep {
        type DeliveryOpaque = usize;
        fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
            let (m, ok) = match result {
                Ok(m) => (m, true),
                Err((_, m)) => (m, false),
            };
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                        .collect()
                })
                .unwrap_or_default();
            let seen = (
                opaque,
                m.partition(),
                m.key().unwrap_or_default().to_vec(),
                m.payload().unwrap_or_default().to_vec(),
                headers,
                m.timestamp().to_millis(),
                ok,
            );
            self.0.lock().unwrap().push(seen);
        }
    }

    fn producer(config: &mut ClientConfig) -> BaseProducer<Keep> {
        config
            .create_with_context(Keep::default())
            .expect("producer")
    }

    /// Polls until `n` reports are in (or 30 s: then the assertion after it says what came).
    fn reports(p: &BaseProducer<Keep>, n: usize) -> Vec<Seen> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while p.context().0.lock().unwrap().len() < n && Instant::now() < deadline {
            p.poll(Duration::from_millis(10));
        }
        p.poll(Duration::ZERO);
        let mut seen = p.context().0.lock().unwrap().clone();
        seen.sort();
        seen
    }

    fn message(i: usize, key: &[u8]) -> Message<'_> {
        Message {
            partition: if i.is_multiple_of(2) {
                ANY_PARTITION
            } else {
                1
            },
            key,
            value: b"1500",
            header: c"packets",
            header_value: b"3",
            timestamp_ms: 1_700_000_000_000 + i as i64,
            opaque: 1000 + i,
        }
    }

    #[test]
    fn every_message_has_one_report_with_its_opaque_and_fields() {
        // No broker: the messages wait in the queue until purged, then each is reported once.
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", "127.0.0.1:9")
            .set("message.timeout.ms", "0")
            .set("queue.buffering.max.messages", "3");
        let mut tp = TopicProducer::new(producer(&mut config), "t").expect("topic");
        for i in 0..3 {
            assert_eq!(tp.send(&message(i, b"10.0.0.1,10.0.0.2")), Ok(()));
        }
        // A full queue refuses, and no report will come for what it refused.
        assert_eq!(tp.send(&message(3, b"x")), Err(RDKafkaErrorCode::QueueFull));
        tp.producer()
            .purge(PurgeConfig::default().queue().inflight());
        let seen = reports(tp.producer(), 3);
        let want: Vec<Seen> = (0..3)
            .map(|i| {
                (
                    1000 + i,
                    -1,
                    b"10.0.0.1,10.0.0.2".to_vec(),
                    b"1500".to_vec(),
                    vec![("packets".to_string(), b"3".to_vec())],
                    None,
                    false,
                )
            })
            .collect();
        // Neither a partition (-1 unless given: none is chosen without the topic's metadata)
        // nor a timestamp (librdkafka gives one once the message is in a batch) for a message
        // that never left; the mock cluster's test below sees both.
        let got: Vec<Seen> = seen
            .into_iter()
            .map(|mut s| {
                s.1 = -1;
                s.5 = None;
                s
            })
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn served_reports_hold_each_messages_opaque_value_header_and_error() {
        // As above, served through `serve` instead of the crate's poll: the context is not
        // called, and every report comes once, with what was sent.
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", "127.0.0.1:9")
            .set("message.timeout.ms", "0");
        let mut tp = TopicProducer::new(producer(&mut config), "t").expect("topic");
        for i in 0..3 {
            let value = format!("{}", 1500 + i);
            let mut m = message(i, b"10.0.0.1,10.0.0.2");
            m.value = value.as_bytes();
            assert_eq!(tp.send(&m), Ok(()));
        }
        tp.producer()
            .purge(PurgeConfig::default().queue().inflight());
        let mut seen = Vec::new();
        let mut errors = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while seen.len() < 3 && Instant::now() < deadline {
            let served = tp.serve(|e| match e {
                Event::Report(r) => seen.push((
                    r.opaque(),
                    r.value().to_vec(),
                    r.header(c"packets").map(<[u8]>::to_vec),
                    r.header(c"other").map(<[u8]>::to_vec),
                    r.error(),
                )),
                Event::Error(code, text) => errors.push((code, text.to_string())),
            });
            if !served {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // What is left may be the client's own errors (nothing listens on port 9), never a
        // second report.
        while tp.serve(|e| {
            if let Event::Report(r) = e {
                panic!("a report twice: {:?}", r.opaque())
            }
        }) {}
        seen.sort_by_key(|s| s.0);
        let want: Vec<_> = (0..3)
            .map(|i| {
                (
                    1000 + i,
                    format!("{}", 1500 + i).into_bytes(),
                    Some(b"3".to_vec()),
                    None,
                    Some(RDKafkaErrorCode::PurgeQueue),
                )
            })
            .collect();
        assert_eq!(seen, want, "errors: {errors:?}");
        assert!(tp.producer().context().0.lock().unwrap().is_empty());
    }

    #[test]
    fn a_topic_name_with_a_nul_is_refused() {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", "127.0.0.1:9");
        let e = TopicProducer::new(producer(&mut config), "a\0b")
            .err()
            .expect("refused");
        assert_eq!(e, r#""a\0b" holds a NUL byte"#);
    }

    #[test]
    fn keys_land_on_the_partitions_a_send_by_name_chooses() {
        // The same keys through the crate's send (by name) and through the handle, on a
        // 64-partition topic of an in-process mock cluster, with the records' partitioner.
        let mock = MockCluster::new(1).expect("mock cluster");
        mock.create_topic("p", 64, 1).expect("topic");
        let keys: Vec<String> = (0..200).map(|i| format!("10.0.{i}.1,10.1.0.{i}")).collect();
        let mut placed = Vec::new();
        for direct in [false, true] {
            let mut config = ClientConfig::new();
            config
                .set("bootstrap.servers", mock.bootstrap_servers())
                .set("partitioner", "murmur2_random")
                .set("linger.ms", "1");
            let mut tp = TopicProducer::new(producer(&mut config), "p").expect("topic");
            for (i, k) in keys.iter().enumerate() {
                if direct {
                    let mut m = message(i, k.as_bytes());
                    m.partition = ANY_PARTITION;
                    tp.send(&m).expect("queued");
                } else {
                    let headers = OwnedHeaders::new_with_capacity(1).insert(Header {
                        key: "packets",
                        value: Some("3"),
                    });
                    let r = BaseRecord::with_opaque_to("p", 1000 + i)
                        .key(k.as_bytes())
                        .payload(&b"1500"[..])
                        .headers(headers)
                        .timestamp(1_700_000_000_000 + i as i64);
                    tp.producer().send(r).map_err(|(e, _)| e).expect("queued");
                }
            }
            let seen = reports(tp.producer(), keys.len());
            assert_eq!(seen.len(), keys.len());
            assert!(seen.iter().all(|s| s.6), "every message delivered");
            placed.push(
                seen.into_iter()
                    .map(|s| (s.0, s.1, s.2))
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(placed[0], placed[1]);
        // Asking the metadata without waiting returns at once, answered or not.
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", mock.bootstrap_servers());
        let mut tp = TopicProducer::new(producer(&mut config), "p").expect("topic");
        let t0 = Instant::now();
        for _ in 0..3 {
            tp.ask_metadata();
        }
        assert!(t0.elapsed() < Duration::from_secs(5));
        let partitions: std::collections::BTreeSet<i32> = placed[0].iter().map(|p| p.1).collect();
        assert!(
            partitions.len() > 32,
            "spread over the partitions: {partitions:?}"
        );
    }
}
