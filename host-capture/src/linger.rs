//! Sending what lingers, at the end of a run: the one call into librdkafka's C API that the
//! rdkafka crate does not offer as we need it.
//!
//! A message waits in librdkafka's queue up to `linger.ms` (20 ms) for its batch to fill. At
//! the end of a run nothing more will join the last batches, so that wait is pure delay (a
//! tenth of a 0.2 s replay). `rd_kafka_flush` tells the broker threads to send at once for as
//! long as it runs; the crate's `flush` calls it with a zero timeout, so that the flag is
//! down again before a broker thread looks at it. Here it runs for a short, bounded wait.
//!
//! The crate's `BaseProducer` takes its delivery reports as events, so `rd_kafka_flush` only
//! waits (for the message count to reach zero, which it cannot before we serve the reports):
//! it serves nothing, runs no callback of ours and loses no report; the caller serves them.

use std::time::Duration;

use rdkafka::producer::{BaseProducer, Producer, ProducerContext};

/// Lets librdkafka send every queued message now, ignoring `linger.ms`, for `wait` (whole
/// milliseconds, at least 1); returns after `wait`, or sooner when no message is left.
pub fn send_now<C: ProducerContext>(producer: &BaseProducer<C>, wait: Duration) {
    let ms = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX).max(1);
    // SAFETY: `native_ptr` is the producer's live `rd_kafka_t`, owned by `producer`, which
    // this borrow keeps alive for the call; `rd_kafka_flush` may be called from any thread,
    // takes no ownership and, with delivery reports as events (the crate's setting), only
    // waits: it polls no queue, so no report is consumed behind the crate's back.
    unsafe {
        rdkafka::bindings::rd_kafka_flush(producer.client().native_ptr(), ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::ClientConfig;
    use rdkafka::ClientContext;
    use rdkafka::producer::{BaseRecord, DeliveryResult, PurgeConfig};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    /// Counts the delivery reports it is given.
    #[derive(Default)]
    struct Count(AtomicUsize);
    impl ClientContext for Count {}
    impl ProducerContext for Count {
        type DeliveryOpaque = ();
        fn delivery(&self, _: &DeliveryResult<'_>, _: ()) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn no_report_is_consumed_and_an_empty_queue_returns_at_once() {
        // No broker needed: nothing is delivered; the messages stay queued until purged.
        let p: BaseProducer<Count> = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:9")
            .set("linger.ms", "60000")
            .set("message.timeout.ms", "0")
            .create_with_context(Count::default())
            .expect("producer");
        let t0 = Instant::now();
        send_now(&p, Duration::from_secs(30));
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "nothing queued: no wait"
        );
        for i in 0..3u8 {
            p.send(BaseRecord::<(), [u8]>::to("t").payload(&[i][..]))
                .map_err(|(e, _)| e)
                .expect("queued");
        }
        send_now(&p, Duration::ZERO);
        send_now(&p, Duration::from_millis(2));
        assert_eq!(p.context().0.load(Ordering::Relaxed), 0);
        // Purged, every message has its report, and we are the ones who get it: 3 exactly.
        p.purge(PurgeConfig::default().queue().inflight());
        let deadline = Instant::now() + Duration::from_secs(10);
        while p.context().0.load(Ordering::Relaxed) < 3 && Instant::now() < deadline {
            p.poll(Duration::from_millis(10));
        }
        p.poll(Duration::ZERO);
        assert_eq!(p.context().0.load(Ordering::Relaxed), 3);
    }
}
