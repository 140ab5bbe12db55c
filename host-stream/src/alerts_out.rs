//! Where alerts go: a Kafka topic (each one acknowledged before its window is settled), or
//! stdout when there is no broker. The windows whose alert the broker acknowledged come back
//! from [`Alerts::poll`] and [`Alerts::flush`], for the driver to settle. A window may send
//! several messages (a `gap_end` and an alert): it comes back once the last of them is
//! acknowledged. Each message has an id of its own, so a failed one is the one sent again.

use std::io::{self, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::ClientContext;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

/// A message waiting for the broker.
pub struct Outgoing {
    id: u64,
    window: u64,
    key: String,
    payload: String,
}

/// Delivery reports, from librdkafka's callback.
#[derive(Default)]
pub struct Reports {
    /// Message ids.
    acked: Mutex<Vec<u64>>,
    /// Message ids, with the error.
    failed: Mutex<Vec<(u64, String)>>,
}

impl ClientContext for Reports {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka (alerts): client error");
    }
}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<u64>;

    fn delivery(&self, result: &DeliveryResult<'_>, id: Box<u64>) {
        match result {
            Ok(_) => {
                if let Ok(mut a) = self.acked.lock() {
                    a.push(*id);
                }
            }
            Err((e, _)) => {
                if let Ok(mut f) = self.failed.lock() {
                    f.push((*id, e.to_string()));
                }
            }
        }
    }
}

/// What became of an alert just sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Written (stdout): nothing to wait for.
    Done,
    /// Queued for the broker: its window comes back from [`Alerts::poll`] once acknowledged.
    Pending,
}

/// The alerts' destination.
pub enum Alerts {
    /// A Kafka topic.
    Kafka {
        /// The producer.
        producer: BaseProducer<Reports>,
        /// The topic.
        topic: String,
        /// Sent, not yet acknowledged (kept to send again after a failure).
        in_flight: Vec<Outgoing>,
        /// Waiting for room in librdkafka's queue.
        waiting: Vec<Outgoing>,
        /// The next message's id.
        next_id: u64,
    },
    /// Lines `alert {json}` on stdout.
    Stdout,
}

impl Alerts {
    /// An idempotent producer to `topic` (no expiry: an alert waits for the broker).
    pub fn kafka(brokers: &str, topic: &str, options: &[(String, String)]) -> Result<Alerts> {
        let producer: BaseProducer<Reports> = host_common::kafka::alerts_producer(brokers, options)
            .create_with_context(Reports::default())
            .context("cannot create the alerts producer")?;
        Ok(Alerts::Kafka {
            producer,
            topic: topic.to_string(),
            in_flight: Vec::new(),
            waiting: Vec::new(),
            next_id: 0,
        })
    }

    /// Sends one message for `window`; without a broker, as a line on `stdout`. The error is
    /// that write's (a closed stdout: the caller ends the run).
    pub fn send(
        &mut self,
        window: u64,
        key: String,
        payload: String,
        stdout: &mut dyn Write,
    ) -> io::Result<Delivery> {
        match self {
            Alerts::Stdout => {
                writeln!(stdout, "alert {payload}")?;
                stdout.flush()?;
                Ok(Delivery::Done)
            }
            Alerts::Kafka {
                waiting, next_id, ..
            } => {
                *next_id += 1;
                waiting.push(Outgoing {
                    id: *next_id,
                    window,
                    key,
                    payload,
                });
                self.pump();
                Ok(Delivery::Pending)
            }
        }
    }

    fn pump(&mut self) {
        let Alerts::Kafka {
            producer,
            topic,
            in_flight,
            waiting,
            ..
        } = self
        else {
            return;
        };
        while let Some(m) = waiting.first() {
            let record = BaseRecord::with_opaque_to(topic.as_str(), Box::new(m.id))
                .key(m.key.as_bytes())
                .payload(m.payload.as_bytes());
            match producer.send(record) {
                Ok(()) => in_flight.push(waiting.remove(0)),
                Err((e, _)) => {
                    // Queue full (or worse): try again on the next poll.
                    if !matches!(
                        e,
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull
                        )
                    ) {
                        tracing::warn!(error = %e, "kafka (alerts): cannot send an alert yet");
                    }
                    break;
                }
            }
        }
    }

    /// Serves delivery reports; returns the windows whose alert the broker acknowledged.
    pub fn poll(&mut self) -> Vec<u64> {
        let Alerts::Kafka {
            producer,
            in_flight,
            waiting,
            ..
        } = self
        else {
            return Vec::new();
        };
        producer.poll(Duration::ZERO);
        let acked_ids: Vec<u64> = producer
            .context()
            .acked
            .lock()
            .map(|mut a| std::mem::take(&mut *a))
            .unwrap_or_default();
        let failed: Vec<(u64, String)> = producer
            .context()
            .failed
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default();
        let mut acked = Vec::new();
        for id in &acked_ids {
            if let Some(i) = in_flight.iter().position(|m| m.id == *id) {
                acked.push(in_flight.remove(i).window);
            }
        }
        for (id, e) in failed {
            if let Some(i) = in_flight.iter().position(|m| m.id == id) {
                let m = in_flight.remove(i);
                tracing::warn!(
                    window = m.window,
                    error = %e,
                    "kafka (alerts): a message not delivered, sending it again"
                );
                waiting.push(m);
            }
        }
        // A window is done when none of its messages is still on its way.
        acked.sort_unstable();
        acked.dedup();
        acked.retain(|w| {
            !in_flight
                .iter()
                .chain(waiting.iter())
                .any(|m| m.window == *w)
        });
        self.pump();
        acked
    }

    /// Alerts not yet acknowledged.
    pub fn pending(&self) -> usize {
        match self {
            Alerts::Kafka {
                in_flight, waiting, ..
            } => in_flight.len() + waiting.len(),
            Alerts::Stdout => 0,
        }
    }

    /// Waits up to `timeout` for every alert to be acknowledged; returns the windows acked.
    pub fn flush(&mut self, timeout: Duration) -> Vec<u64> {
        let deadline = Instant::now() + timeout;
        let mut acked = Vec::new();
        while self.pending() > 0 && Instant::now() < deadline {
            if let Alerts::Kafka { producer, .. } = self {
                producer.poll(Duration::from_millis(50));
            }
            acked.extend(self.poll());
        }
        acked
    }
}
