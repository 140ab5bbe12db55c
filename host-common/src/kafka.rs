//! The Kafka clients' baseline settings, one function per role, so that what every producer
//! and consumer of StreamChecker must have (idempotence, acks, no expiry, manual commits…) is
//! said once. The operator's `-X KEY=VALUE` settings come last and win.

use rdkafka::ClientConfig;

/// The traffic records' producer (host-capture): idempotent, every replica acknowledges, no
/// expiry (a record waits for the broker as long as the process runs), the Java client's
/// partitioner (the same key lands on the same partition whichever client wrote it).
///
/// Its queue is bounded so that host-capture runs in fixed memory (≤ 32 MiB resident, with
/// about 15 MiB of its own): 30,000 messages (about 330 bytes each in librdkafka, a text
/// record; 1.5 M records/s through a 20 ms linger) and 4 MiB of values (a
/// JSON value is ~150 bytes: ~27,000 of them). A replay waits for room; a live capture parks
/// records in its own bounded buffer. An operator's `-X` may raise them, and the memory with
/// them.
///
/// Connections to every broker of the cluster open at once (`enable.sparse.connections=false`)
/// rather than when a partition first needs one: the idempotent producer asks for its
/// producer id only from a broker that is up, and with sparse connections it often found
/// none when the bootstrap broker's metadata arrived, and waited for its 500 ms retry timer
/// before sending anything (a replay of 0.1–0.2 s took 0.6 s).
pub fn records_producer(brokers: &str, options: &[(String, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "20")
        .set("message.timeout.ms", "0")
        .set("queue.buffering.max.messages", "30000")
        .set("queue.buffering.max.kbytes", "4096")
        .set("enable.sparse.connections", "false")
        .set("client.id", "streamchecker-host-capture");
    with_options(config, options, |_| true)
}

/// The alerts' producer (host-stream): idempotent, acknowledged by every replica, no expiry
/// (an alert waits for the broker). The operator's options are shared with the consumer, so
/// consumer-only keys (`group.*`, `auto.*`, `enable.auto*`) are left out: the producer would
/// refuse to start with them.
pub fn alerts_producer(brokers: &str, options: &[(String, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "0")
        .set("linger.ms", "5")
        .set("client.id", "streamchecker-host-stream-alerts");
    with_options(config, options, |k| {
        !k.starts_with("group.") && !k.starts_with("auto.") && !k.starts_with("enable.auto")
    })
}

/// The traffic records' consumer (host-stream): offsets committed by hand (never past what is
/// settled), from the earliest record of a new group, end-of-partition events on.
pub fn records_consumer(brokers: &str, group: &str, options: &[(String, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "true")
        // librdkafka pauses fetching for a second whenever its queue is full; a consumer
        // that drains it at once wants the next fetch at once.
        .set("fetch.queue.backoff.ms", "10")
        .set("client.id", "streamchecker-host-stream");
    with_options(config, options, |_| true)
}

/// The end-offset watcher of host-stream (a consumer that joins no group and commits nothing:
/// it only asks for the partitions' end offsets). The operator's options apply (security),
/// group keys are left out.
pub fn end_offsets_client(brokers: &str, options: &[(String, String)]) -> ClientConfig {
    metadata_client(brokers, options, "streamchecker-host-stream-ends")
}

/// A client that only asks the broker questions (metadata, end offsets) under `client_id`:
/// it joins no group and commits nothing. The operator's options apply (security), group keys
/// are left out.
pub fn metadata_client(
    brokers: &str,
    options: &[(String, String)],
    client_id: &str,
) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("enable.auto.commit", "false")
        .set("client.id", client_id);
    with_options(config, options, |k| {
        !k.starts_with("group.") && !k.starts_with("enable.auto")
    })
}

/// The partitions of `topic`, as the broker's metadata gives them (empty for a topic it does
/// not know).
pub fn topic_partitions<C: rdkafka::ClientContext>(
    client: &rdkafka::client::Client<C>,
    topic: &str,
    timeout: std::time::Duration,
) -> rdkafka::error::KafkaResult<Vec<i32>> {
    let md = client.fetch_metadata(Some(topic), timeout)?;
    Ok(md
        .topics()
        .first()
        .filter(|t| t.error().is_none())
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default())
}

/// librdkafka's version and `builtin.features` (TLS, SASL mechanisms, codecs), for
/// `--version`: `librdkafka 2.12.1 (builtin.features gzip,snappy,ssl,sasl,…)`.
pub fn library_version() -> String {
    let (_, version) = rdkafka::util::get_rdkafka_version();
    let features = ClientConfig::new()
        .create_native_config()
        .ok()
        .and_then(|c| c.get("builtin.features").ok())
        .unwrap_or_else(|| "unknown".into());
    format!("librdkafka {version} (builtin.features {features})")
}

/// A failed request to the brokers as one line that names them: what was asked, librdkafka's
/// reason said once (its error and the error's source repeat the same words), and what to
/// check when no broker answered.
pub fn broker_error(brokers: &str, what: &str, e: &rdkafka::error::KafkaError) -> anyhow::Error {
    use rdkafka::types::RDKafkaErrorCode as Code;
    let code = e.rdkafka_error_code();
    let reason = match code {
        Some(c) => c.to_string(),
        None => e.to_string(),
    };
    let hint = match code {
        Some(Code::BrokerTransportFailure | Code::AllBrokersDown | Code::OperationTimedOut) => {
            ": no broker answered (check the address, that a broker runs there, and the TLS/SASL \
             settings)"
        }
        _ => "",
    };
    anyhow::anyhow!("--brokers {brokers}: {what}: {reason}{hint}")
}

fn with_options(
    mut config: ClientConfig,
    options: &[(String, String)],
    keep: impl Fn(&str) -> bool,
) -> ClientConfig {
    for (k, v) in options {
        if keep(k) {
            config.set(k, v);
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Vec<(String, String)> {
        [
            ("linger.ms", "50"),
            ("group.instance.id", "a"),
            ("security.protocol", "SSL"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec()
    }

    #[test]
    fn the_library_has_tls_sasl_and_every_codec() {
        let v = library_version();
        assert!(v.starts_with("librdkafka 2."), "{v}");
        let features = v
            .split("builtin.features ")
            .nth(1)
            .unwrap()
            .trim_end_matches(')');
        for want in [
            "ssl",
            "sasl_plain",
            "sasl_scram",
            "sasl_gssapi",
            "gzip",
            "lz4",
            "snappy",
            "zstd",
        ] {
            assert!(
                features.split(',').any(|f| f == want),
                "{want} missing: {v}"
            );
        }
    }

    #[test]
    fn a_broker_error_names_the_brokers_and_says_its_reason_once() {
        use rdkafka::error::KafkaError;
        use rdkafka::types::RDKafkaErrorCode;
        let e = KafkaError::MetadataFetch(RDKafkaErrorCode::BrokerTransportFailure);
        assert_eq!(
            format!(
                "{:#}",
                broker_error("127.0.0.1:1", "reading the metadata of topic t", &e)
            ),
            "--brokers 127.0.0.1:1: reading the metadata of topic t: BrokerTransportFailure \
             (Local: Broker transport failure): no broker answered (check the address, that a broker runs there, and the \
             TLS/SASL settings)"
        );
        let e = KafkaError::MetadataFetch(RDKafkaErrorCode::TopicAuthorizationFailed);
        assert_eq!(
            broker_error("k:9092", "x", &e).to_string(),
            "--brokers k:9092: x: TopicAuthorizationFailed (Broker: Topic authorization failed)"
        );
    }

    #[test]
    fn the_operator_wins_and_the_alerts_producer_drops_consumer_keys() {
        let p = records_producer("b:9092", &opts());
        assert_eq!(p.get("linger.ms"), Some("50"));
        assert_eq!(p.get("acks"), Some("all"));
        assert_eq!(p.get("message.timeout.ms"), Some("0"));
        assert_eq!(p.get("group.instance.id"), Some("a"));
        let a = alerts_producer("b:9092", &opts());
        assert_eq!(a.get("group.instance.id"), None);
        assert_eq!(a.get("security.protocol"), Some("SSL"));
        assert_eq!(a.get("enable.idempotence"), Some("true"));
        let e = end_offsets_client("b:9092", &opts());
        assert_eq!(e.get("group.id"), None);
        assert_eq!(e.get("group.instance.id"), None);
        assert_eq!(e.get("security.protocol"), Some("SSL"));
        let c = records_consumer("b:9092", "g", &opts());
        assert_eq!(c.get("group.id"), Some("g"));
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        assert_eq!(c.get("group.instance.id"), Some("a"));
    }
}
