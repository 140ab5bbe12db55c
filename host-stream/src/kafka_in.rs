//! Reading records from Kafka: the consumer, partition assignment, the end offsets of a
//! replay, and offset commits that carry where a restart must begin.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaResult;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

/// What a restart needs besides the offsets, stored as the commit metadata of every partition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resume {
    /// The first window not yet settled when the offsets were committed.
    pub next_window: Option<u64>,
    /// Whether the last judged window had sent an alert (for the `recovered` message).
    pub alerting: bool,
}

impl Resume {
    /// `streamchecker/1 next=<ms> alerting=<0|1>`.
    pub fn encode(&self) -> String {
        format!(
            "streamchecker/1 next={} alerting={}",
            self.next_window
                .map_or_else(|| "-".into(), |n| n.to_string()),
            u8::from(self.alerting)
        )
    }

    /// Reads [`Resume::encode`]'s form; anything else (another tool's commit) is ignored.
    pub fn decode(text: &str) -> Option<Resume> {
        let mut words = text.split_whitespace();
        if words.next() != Some("streamchecker/1") {
            return None;
        }
        let mut r = Resume::default();
        for w in words {
            match w.split_once('=') {
                Some(("next", n)) => r.next_window = n.parse().ok(),
                Some(("alerting", a)) => r.alerting = a == "1",
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
    /// Partitions taken away.
    pub revoked: Vec<i32>,
}

/// Rebalance events, handed from librdkafka's callback to the main loop.
#[derive(Default)]
pub struct Events {
    assignment: Mutex<Option<Assignment>>,
    /// Set with `assignment`: checked per record without taking the lock.
    changed: AtomicBool,
    topic: String,
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
                let resume = consumer
                    .committed_offsets((*tpl).clone(), Duration::from_secs(10))
                    .ok()
                    .and_then(|c| {
                        c.elements()
                            .iter()
                            .filter_map(|e| Resume::decode(e.metadata()))
                            .max_by_key(|r| r.next_window)
                    });
                Assignment {
                    partitions: partitions_of(tpl),
                    resume,
                    revoked: Vec::new(),
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
                eprintln!("host-stream: kafka: rebalance error: {e}");
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
            eprintln!("host-stream: kafka: offset commit failed (will retry): {e}");
        }
    }
}

/// The consumer of the records topic.
pub struct Input {
    /// The librdkafka consumer.
    pub consumer: BaseConsumer<Events>,
    /// The topic.
    pub topic: String,
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
        Ok(Input {
            consumer,
            topic: topic.to_string(),
        })
    }

    /// A new assignment, if one happened since the last call.
    pub fn take_assignment(&self) -> Option<Assignment> {
        let events = self.consumer.context();
        if !events.changed.swap(false, Ordering::Acquire) {
            return None;
        }
        events.assignment.lock().ok().and_then(|mut a| a.take())
    }

    /// Takes every partition of the topic, each from its committed offset (or the beginning),
    /// and returns the assignment as a rebalance would.
    pub fn assign_all(&self) -> Result<Assignment> {
        let md = self
            .consumer
            .fetch_metadata(Some(&self.topic), Duration::from_secs(10))
            .context("reading the topic's metadata")?;
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
            .consumer
            .committed_offsets(query, Duration::from_secs(10))
            .context("reading the committed offsets")?;
        let mut assign = TopicPartitionList::new();
        for e in committed.elements() {
            let offset = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            assign.add_partition_offset(&self.topic, e.partition(), offset)?;
        }
        self.consumer
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
            revoked: Vec::new(),
        })
    }

    /// How many partitions the topic has.
    pub fn partition_count(&self) -> Result<usize> {
        let md = self
            .consumer
            .fetch_metadata(Some(&self.topic), Duration::from_secs(10))
            .context("reading the topic's metadata")?;
        Ok(md.topics().first().map_or(0, |t| t.partitions().len()))
    }

    /// The end offset (high watermark) of a partition now.
    pub fn end_offset(&self, partition: i32) -> Result<i64> {
        let (_low, high) = self
            .consumer
            .fetch_watermarks(&self.topic, partition, Duration::from_secs(10))
            .with_context(|| format!("reading the end of partition {partition}"))?;
        Ok(high)
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
            .consumer
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
            self.consumer.pause(&tpl)
        } else {
            self.consumer.resume(&tpl)
        };
        if let Err(e) = r {
            eprintln!(
                "host-stream: kafka: cannot {} partition {partition}: {e}",
                if paused { "pause" } else { "resume" }
            );
        }
    }

    /// Commits `positions` with `resume` as every partition's metadata.
    pub fn commit(&self, positions: &[(i32, i64)], resume: Resume) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        let metadata = resume.encode();
        for (p, o) in positions {
            let mut e = tpl.add_partition(&self.topic, *p);
            e.set_offset(Offset::Offset(*o))?;
            e.set_metadata(metadata.clone());
        }
        if tpl.count() > 0 {
            self.consumer
                .commit(&tpl, rdkafka::consumer::CommitMode::Sync)
                .context("committing offsets")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_metadata_round_trips() {
        let r = Resume {
            next_window: Some(1_700_000_100_000),
            alerting: true,
        };
        assert_eq!(r.encode(), "streamchecker/1 next=1700000100000 alerting=1");
        assert_eq!(Resume::decode(&r.encode()), Some(r));
        assert_eq!(Resume::decode("someone else's metadata"), None);
        assert_eq!(Resume::decode(""), None);
        assert_eq!(
            Resume::decode("streamchecker/1 next=- alerting=0"),
            Some(Resume::default())
        );
    }
}
