//! What librdkafka's mock cluster (dev-broker's broker) does with transactions, pinned so that
//! a test never counts on more: it speaks the protocol (InitProducerId, AddPartitionsToTxn,
//! EndTxn and TxnOffsetCommit are answered, a transactional producer runs), but it keeps none
//! of the guarantees. Its Fetch answers give the high watermark as the last stable offset and
//! no aborted transactions, so a `read_committed` consumer reads what an open transaction
//! wrote and what an aborted one wrote; and its TxnOffsetCommit answers without storing the
//! offsets, so offsets sent in a committed transaction are lost (a plain commit is stored).
//! Exactly-once behaviour (issue 16) cannot be proven against it: that needs a broker that
//! keeps these guarantees (a real Kafka through `STREAMCHECKER_TEST_BROKERS`).
//!
//! Always against a private in-process [`dev_broker::Cluster`], never the shared broker: a real
//! Kafka does keep the guarantees. When a librdkafka upgrade makes the mock keep them, this
//! test fails, and says which of them now holds.

use std::time::{Duration, Instant};

use dev_broker::Cluster;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(30);

fn transactional(brokers: &str, id: &str) -> BaseProducer {
    let p: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("transactional.id", id)
        .create()
        .expect("transactional producer");
    p.init_transactions(TIMEOUT).expect("init_transactions");
    p
}

/// Writes `value` to partition 0 of `topic` in the producer's open transaction and waits
/// until the broker has it.
fn write(p: &BaseProducer, topic: &str, value: &str) {
    p.send(BaseRecord::<(), str>::to(topic).partition(0).payload(value))
        .map_err(|(e, _)| e)
        .expect("send");
    p.flush(TIMEOUT).expect("flush");
}

/// Every value in partition 0 of `topic` as a `read_committed` consumer reads it: until the
/// partition's end (the consumer's end-of-partition event), within the timeout.
fn read_committed(brokers: &str, topic: &str) -> Vec<String> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "reader")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    c.assign(&tpl).expect("assign");
    let mut values = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline {
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                values.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return values,
            Some(Err(e)) => panic!("consume: {e}"),
            None => {}
        }
    }
    panic!("no end of partition within {TIMEOUT:?}; read {values:?}");
}

/// The offset the group `group` has committed for `topic`/`partition`.
fn committed(c: &BaseConsumer, topic: &str, partition: i32) -> Offset {
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    let got = c
        .committed_offsets(tpl, TIMEOUT)
        .expect("committed offsets");
    got.find_partition(topic, partition)
        .expect("the partition asked for")
        .offset()
}

#[test]
fn the_mock_cluster_speaks_transactions_but_keeps_none_of_their_guarantees() {
    let cluster = Cluster::start(1).expect("mock cluster");
    cluster.create_topic("out", 1).expect("topic out");
    cluster.create_topic("in", 2).expect("topic in");
    let brokers = cluster.bootstrap_servers();

    let p = transactional(&brokers, "probe-a");
    p.begin_transaction().expect("begin");
    write(&p, "out", "committed");
    p.commit_transaction(TIMEOUT).expect("commit");
    p.begin_transaction().expect("begin");
    write(&p, "out", "aborted");
    p.abort_transaction(TIMEOUT).expect("abort");
    let q = transactional(&brokers, "probe-b");
    q.begin_transaction().expect("begin");
    write(&q, "out", "open");
    // Kafka: only "committed" (the open transaction also holds back everything after it).
    assert_eq!(
        read_committed(&brokers, "out"),
        ["committed", "aborted", "open"],
        "read_committed now filters aborted or open transactions: the mock keeps isolation"
    );
    q.abort_transaction(TIMEOUT).expect("abort");

    let group: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", "probe-group")
        .set("enable.auto.commit", "false")
        .create()
        .expect("group consumer");
    let mut plain = TopicPartitionList::new();
    plain
        .add_partition_offset("in", 0, Offset::Offset(7))
        .expect("offset");
    group
        .commit(&plain, CommitMode::Sync)
        .expect("plain commit");
    assert_eq!(committed(&group, "in", 0), Offset::Offset(7));

    let mut sent = TopicPartitionList::new();
    sent.add_partition_offset("in", 1, Offset::Offset(11))
        .expect("offset");
    let metadata = group.group_metadata().expect("group metadata");
    p.begin_transaction().expect("begin");
    write(&p, "out", "with offsets");
    p.send_offsets_to_transaction(&sent, &metadata, TIMEOUT)
        .expect("send_offsets_to_transaction");
    p.commit_transaction(TIMEOUT).expect("commit");
    // Kafka: 11, committed with the transaction.
    assert_eq!(
        committed(&group, "in", 1),
        Offset::Invalid,
        "offsets sent in a transaction are now stored: the mock keeps TxnOffsetCommit"
    );
}
