//! `dev-broker`'s library: librdkafka's mock cluster with every broker behind a
//! [`FaultProxy`], for the `dev-broker` process and for tests that want a private broker.
//!
//! Clients only ever learn the proxies' addresses: the bootstrap list is the proxies, and each
//! mock broker advertises its proxy in Metadata (`rd_kafka_mock_broker_set_host_port`). A broker
//! is taken down by its proxy (connections cut, new ones closed at once), never by the mock
//! cluster's own `broker_down`, which closes the listener and must bind the same ephemeral port
//! again later: when another socket got that port meanwhile, librdkafka aborts the process
//! (`Failed to create mock broker listener`). No port is ever released here.

#![warn(missing_docs)]

pub mod proxy;

use std::net::SocketAddr;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, DefaultProducerContext, Producer};

pub use proxy::{FaultProxy, ProxyStats};

/// A mock Kafka cluster of `N` brokers (ids 1..=N), each reached only through its proxy.
pub struct Cluster {
    /// The client that owns the mock cluster (created by `test.mock.num.brokers`); the cluster
    /// lives as long as it does.
    owner: BaseProducer,
    /// Broker `id`'s proxy at index `id - 1`.
    proxies: Vec<FaultProxy>,
}

impl Cluster {
    /// Starts `brokers` mock brokers on 127.0.0.1, each behind a proxy of its own.
    pub fn start(brokers: i32) -> Result<Cluster, String> {
        if !(1..=64).contains(&brokers) {
            return Err(format!("{brokers} brokers: expected 1 to 64"));
        }
        let owner: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", brokers.to_string())
            // The owner never produces; keep its own chatter with the cluster quiet.
            .set("log_level", "3")
            .create()
            .map_err(|e| format!("cannot start the mock cluster: {e}"))?;
        let mut cluster = Cluster {
            owner,
            proxies: Vec::new(),
        };
        let real = cluster.mock()?.bootstrap_servers();
        for (index, address) in real.split(',').enumerate() {
            let upstream: SocketAddr = address
                .parse()
                .map_err(|e| format!("mock broker address {address:?}: {e}"))?;
            let proxy = FaultProxy::start(upstream)
                .map_err(|e| format!("cannot start the proxy for {address}: {e}"))?;
            let id = i32::try_from(index + 1).map_err(|e| e.to_string())?;
            cluster.advertise(id, proxy.address().port())?;
            cluster.proxies.push(proxy);
        }
        if cluster.proxies.len() != usize::try_from(brokers).unwrap_or(0) {
            return Err(format!(
                "the mock cluster lists {} brokers ({real}), expected {brokers}",
                cluster.proxies.len()
            ));
        }
        Ok(cluster)
    }

    /// The mock cluster, borrowed from the client that owns it.
    fn mock(&self) -> Result<MockCluster<'_, DefaultProducerContext>, String> {
        self.owner
            .client()
            .mock_cluster()
            .ok_or_else(|| "the client has no mock cluster".to_string())
    }

    /// Makes broker `id` advertise 127.0.0.1:`port` in Metadata: its proxy (at the start), or
    /// something in front of that proxy (a test's TLS endpoint), whose port its owner keeps.
    pub fn advertise(&self, id: i32, port: u16) -> Result<(), String> {
        let host = c"127.0.0.1";
        // SAFETY: the handle is the live client that owns the mock cluster (checked non-null),
        // `host` is a NUL-terminated string that librdkafka copies under the cluster's lock.
        unsafe {
            let raw =
                rdkafka::bindings::rd_kafka_handle_mock_cluster(self.owner.client().native_ptr());
            if raw.is_null() {
                return Err("the client has no mock cluster".into());
            }
            rdkafka::bindings::rd_kafka_mock_broker_set_host_port(
                raw,
                id,
                host.as_ptr(),
                i32::from(port),
            );
        }
        Ok(())
    }

    /// The bootstrap list clients use: every broker's proxy.
    pub fn bootstrap_servers(&self) -> String {
        self.proxies
            .iter()
            .map(|p| p.address().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Broker `id`'s proxy.
    pub fn proxy(&self, id: i32) -> Result<&FaultProxy, String> {
        usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.proxies.get(i))
            .ok_or_else(|| format!("no broker {id} (ids 1 to {})", self.proxies.len()))
    }

    /// Creates `name` with `partitions` partitions (replication factor 1).
    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), String> {
        self.mock()?
            .create_topic(name, partitions, 1)
            .map_err(|e| format!("cannot create topic {name}: {e}"))
    }

    /// Takes broker `id` down: its connections are cut, new ones closed at once.
    pub fn down(&self, id: i32) -> Result<(), String> {
        self.proxy(id)?.set_down(true);
        Ok(())
    }

    /// Brings broker `id` back.
    pub fn up(&self, id: i32) -> Result<(), String> {
        self.proxy(id)?.set_down(false);
        Ok(())
    }

    /// Adds `rtt` of round-trip latency to broker `id`'s responses.
    pub fn rtt(&self, id: i32, rtt: Duration) -> Result<(), String> {
        self.proxy(id)?;
        self.mock()?
            .broker_round_trip_time(id, rtt)
            .map_err(|e| e.to_string())
    }
}
