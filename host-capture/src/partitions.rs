//! How many partitions the records' topic has, asked of the broker in the background: a
//! heartbeat goes to every partition, and the capture must never wait for the broker.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};

/// How often the count is asked again (a topic may grow), once known.
const EVERY: Duration = Duration::from_secs(10);
/// How often it is asked while unknown (the broker is away, the topic not created yet).
const UNTIL_KNOWN: Duration = Duration::from_millis(500);
/// How long one question may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// The latest partition count of a topic (0 while unknown), kept fresh by a thread.
pub struct Partitions {
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Partitions {
    /// Starts asking for the partitions of `topic`. The thread ends when this is dropped.
    pub fn start(brokers: &str, settings: &[(String, String)], topic: &str) -> Result<Partitions> {
        let client: BaseConsumer = host_common::kafka::metadata_client(
            brokers,
            settings,
            "streamchecker-host-capture-metadata",
        )
        .create()
        .context("--kafka-option: librdkafka rejected the settings of the metadata client")?;
        let count = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s, topic) = (count.clone(), stop.clone(), topic.to_string());
        std::thread::spawn(move || ask(&client, &topic, &c, &s));
        Ok(Partitions { count, stop })
    }

    /// The partition count, 0 while unknown.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}

impl Drop for Partitions {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn ask(client: &BaseConsumer, topic: &str, count: &AtomicUsize, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(partitions) =
            host_common::kafka::topic_partitions(client.client(), topic, ASK_TIMEOUT)
            && !partitions.is_empty()
        {
            count.store(partitions.len(), Ordering::Relaxed);
        }
        let pause = if count.load(Ordering::Relaxed) == 0 {
            UNTIL_KNOWN
        } else {
            EVERY
        };
        // In short steps, so that a stop is seen soon.
        let mut left = pause;
        while !left.is_zero() && !stop.load(Ordering::Relaxed) {
            let step = left.min(Duration::from_millis(100));
            std::thread::sleep(step);
            left -= step;
        }
    }
}
