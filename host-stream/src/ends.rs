//! The partitions' end offsets, asked of the broker in the background: what lets host-stream
//! prove, rather than assume, that it has read everything there is.
//!
//! A window may be closed by the wall clock only if every partition is known to have been
//! read to its end at a time after the window's end (plus the grace period). librdkafka says
//! "end of partition" once when the consumer reaches it, and then nothing while a partition
//! stays quiet, whether the broker is there or not; so a thread of its own asks for every
//! partition's end offset (ListOffsets) about twice a second. An answer is a proof only for the
//! time the question was *sent*: everything the broker held by then is below the end offset it
//! gave. While the broker is unreachable no answer comes, no proof is newer than the outage's
//! start, and the windows of the outage stay open until their records (or a proof) arrive.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use core_nostd::windows::Millis;
use host_common::clock::now_ms;
use host_common::ratelimit::RateLimit;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// One partition's offsets, as the broker gave them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct End {
    /// The first offset still there.
    pub low: i64,
    /// The end: the offset the next record will get.
    pub high: i64,
    /// The wall clock when the question was sent.
    pub asked_ms: Millis,
}

/// How long to wait between two rounds of questions.
const ROUND: Duration = Duration::from_millis(500);
/// How long one question may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// What the thread learnt: the topic's partitions and their latest end offsets.
#[derive(Clone, Debug, Default)]
pub struct Learnt {
    /// The topic's partitions, as the last metadata answer gave them.
    pub partitions: Vec<i32>,
    /// The latest answer per partition.
    pub ends: BTreeMap<i32, End>,
}

/// The thread that asks, and its latest answers.
pub struct Ends {
    answers: Arc<Mutex<Learnt>>,
    stop: Arc<AtomicBool>,
}

impl Ends {
    /// Starts asking for the end offsets of every partition of `topic`. The thread never
    /// blocks the caller; it ends when this is dropped.
    pub fn start(consumer: BaseConsumer, topic: String) -> Ends {
        let answers = Arc::new(Mutex::new(Learnt::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, s) = (answers.clone(), stop.clone());
        std::thread::spawn(move || ask(&consumer, &topic, &a, &s));
        Ends { answers, stop }
    }

    /// What is known now.
    pub fn latest(&self) -> Learnt {
        self.answers.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl Drop for Ends {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The thread: rounds of questions until `stop`. The partition list is re-read every round (a
/// topic may grow); failures are logged, rate-limited, and the round goes on.
fn ask(consumer: &BaseConsumer, topic: &str, answers: &Mutex<Learnt>, stop: &AtomicBool) {
    let mut log = RateLimit::new(1, Duration::from_secs(60));
    while !stop.load(Ordering::Relaxed) {
        let partitions =
            match host_common::kafka::topic_partitions(consumer.client(), topic, ASK_TIMEOUT) {
                Ok(partitions) => partitions,
                Err(e) => {
                    if log.allow() {
                        tracing::warn!(
                            topic,
                            error = %e,
                            "kafka: cannot read the end offsets: windows are closed only by the \
                             records' own times until it can"
                        );
                    }
                    Vec::new()
                }
            };
        if !partitions.is_empty()
            && let Ok(mut a) = answers.lock()
        {
            a.partitions.clone_from(&partitions);
        }
        for p in partitions {
            let asked_ms = now_ms();
            match consumer.fetch_watermarks(topic, p, ASK_TIMEOUT) {
                Ok((low, high)) => {
                    if let Ok(mut a) = answers.lock() {
                        a.ends.insert(
                            p,
                            End {
                                low,
                                high,
                                asked_ms,
                            },
                        );
                    }
                }
                Err(e) => {
                    if log.allow() {
                        tracing::warn!(
                            partition = p,
                            error = %e,
                            "kafka: cannot read the end offset of a partition: windows are \
                             closed only by the records' own times until it can"
                        );
                    }
                }
            }
            if stop.load(Ordering::Relaxed) {
                return;
            }
        }
        std::thread::sleep(ROUND);
    }
}

/// Whether a partition read up to `position` (the offset of the next record it will return)
/// was at its end when `end` was asked.
pub fn at_end(position: i64, end: &End) -> bool {
    position >= end.high
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_the_end_means_nothing_left_below_the_end_offset() {
        let end = End {
            low: 3,
            high: 10,
            asked_ms: 1,
        };
        assert!(at_end(10, &end));
        assert!(at_end(11, &end));
        assert!(!at_end(9, &end));
        let empty = End {
            low: 0,
            high: 0,
            asked_ms: 1,
        };
        assert!(at_end(0, &empty));
    }
}
