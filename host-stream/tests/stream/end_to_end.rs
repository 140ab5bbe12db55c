//! host-capture into the broker, host-stream --until-end out of it: exact windows, verdicts and
//! alerts.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::support::*;

const BASE: u64 = 1_800_000_000_000; // a multiple of 300,000 ms
const MIN5: u64 = 300_000;

/// One Ethernet/IPv4/UDP frame from `src` to 192.0.2.1 whose IPv4 total length is `len`.
fn frame(src: [u8; 4], len: u16) -> Vec<u8> {
    ipv4_frame(src, [192, 0, 2, 1], len)
}

/// Five windows: ok (but the capture starts 1 s into it), a burst above the maximum, silence,
/// ok again, a trickle below the minimum.
fn traffic() -> Vec<(u64, Vec<u8>)> {
    let mut f = Vec::new();
    for i in 0..40 {
        f.push((BASE + 1_000 + i * 7_000, frame([10, 0, 0, 1], 500)));
    }
    for i in 0..20 {
        f.push((BASE + 2_000 + i * 11_000, frame([10, 0, 0, 2], 1500)));
    }
    for i in 0..100 {
        f.push((BASE + MIN5 + 500 + i * 2_000, frame([10, 0, 0, 3], 1500)));
    }
    for i in 0..10 {
        f.push((BASE + MIN5 + 100_000 + i * 1_000, frame([10, 0, 0, 1], 100)));
    }
    // BASE + 2 * MIN5 .. BASE + 3 * MIN5: nothing at all.
    for i in 0..5 {
        f.push((BASE + 3 * MIN5 + i * 60_000, frame([10, 0, 0, 4], 400)));
    }
    f.push((BASE + 4 * MIN5 + 299_999, frame([10, 0, 0, 5], 60)));
    f.sort_by_key(|(t, _)| *t);
    f
}

#[test]
fn capture_to_alerts_with_exact_windows() {
    let Some(brokers) = brokers() else { return };
    let dir = scratch("e2e");
    let capture = dir.join("traffic.pcap");
    std::fs::write(&capture, pcap(1, &traffic())).unwrap();
    let limits = limits_file(&dir, 1_000, 100_000);
    let topic = unique("e2e");
    let alerts = unique("e2e-alerts");
    capture_into(&brokers, &topic, &capture);
    let out = output(host_stream().args([
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--group",
        &unique("e2e-group"),
        "--until-end",
        "--limits-file",
        limits.to_str().unwrap(),
        "--alerts-topic",
        &alerts,
        "--log-format",
        "json",
        "--host-name",
        "test-host",
    ]));
    let stderr = testkit::log::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines = windows(&text(&out.stdout));
    assert_eq!(
        summary(&lines),
        vec![
            // The capture covers it from 08:00:01 only: no verdict on a part of the window.
            ("2027-01-15T08:00:00Z".into(), 50_000, 60, "no_data".into()),
            (
                "2027-01-15T08:05:00Z".into(),
                151_000,
                110,
                "above_max".into()
            ),
            // Silence the sensor's heartbeats vouch for: the network was quiet.
            ("2027-01-15T08:10:00Z".into(), 0, 0, "below_min".into()),
            ("2027-01-15T08:15:00Z".into(), 2_000, 5, "ok".into()),
            ("2027-01-15T08:20:00Z".into(), 60, 1, "below_min".into()),
        ]
    );
    assert!(
        lines
            .iter()
            .all(|w| w["min"] == 1000 && w["max"] == 100_000)
    );
    // host-capture sends one record per pair and second: here one per frame, as no two
    // frames of a pair share a second.
    let intervals: BTreeSet<(Vec<u8>, u64)> = traffic()
        .iter()
        .map(|(t, f)| (f[26..34].to_vec(), t / 1000))
        .collect();
    assert_eq!(intervals.len(), traffic().len());
    assert!(
        stderr.contains(&format!(
            "INFO host_stream: summary records={} filtered_out=0 undecodable=0 future=0 behind=0 \
             late_records=0 late_bytes=0 windows=5 revised=0 alerts=6 incomplete=1 gaps=1 \
             heartbeats=",
            intervals.len()
        )),
        "{stderr}"
    );

    let all = read_topic(&brokers, &alerts);
    assert_eq!(
        all.len(),
        6,
        "one message per alert and gap end, none twice: {all:?}"
    );
    let mut sent: BTreeMap<String, Value> = BTreeMap::new();
    let mut gap: Vec<Value> = Vec::new();
    for (k, v) in all {
        let v: Value = serde_json::from_str(&v).unwrap();
        if k == "all|gap|2027-01-15T08:00:00Z" {
            gap.push(v);
        } else {
            sent.insert(k, v);
        }
    }
    // The gap's two messages share their key (the reader sorts them by content).
    gap.sort_by_key(|m| m["type"] != "gap_start");
    assert_eq!(gap.len(), 2, "{gap:?}");
    assert_eq!(gap[0]["type"], "gap_start");
    assert_eq!(gap[0]["window_start"], "2027-01-15T08:00:00Z");
    assert_eq!(gap[1]["type"], "gap_end");
    assert_eq!(
        (gap[1]["gap_start"].as_str(), gap[1]["gap_end"].as_str()),
        (Some("2027-01-15T08:00:00Z"), Some("2027-01-15T08:05:00Z"))
    );
    assert_eq!(gap[1]["window_start"], "2027-01-15T08:05:00Z");
    assert_eq!(
        sent.keys().cloned().collect::<Vec<_>>(),
        vec![
            "all|2027-01-15T08:05:00Z",
            "all|2027-01-15T08:10:00Z",
            "all|2027-01-15T08:15:00Z",
            "all|2027-01-15T08:20:00Z",
        ]
    );
    let burst = sent.remove("all|2027-01-15T08:05:00Z").unwrap();
    assert_eq!(burst["type"], "alert");
    assert_eq!(burst["verdict"], "above_max");
    assert_eq!(burst["window_start"], "2027-01-15T08:05:00Z");
    assert_eq!(burst["window_end"], "2027-01-15T08:10:00Z");
    assert_eq!(
        (burst["bytes"].as_u64(), burst["packets"].as_u64()),
        (Some(151_000), Some(110))
    );
    assert_eq!(burst["max"]["value"], 100_000);
    assert_eq!(burst["max"]["effective_date"], "2019-10-20T22:56:44Z");
    assert_eq!(burst["max"]["row"], "entry 2");
    assert_eq!(burst["min"]["value"], 1_000);
    assert_eq!(burst["filter"], "all");
    assert_eq!(burst["host"], "test-host");
    assert_eq!(burst["top_talkers"][0]["src"], "10.0.0.3");
    assert_eq!(burst["top_talkers"][0]["dst"], "192.0.2.1");
    assert_eq!(burst["top_talkers"][0]["bytes"], 150_000);
    assert_eq!(burst["top_talkers"][1]["src"], "10.0.0.1");
    assert_eq!(burst["top_talkers"][1]["bytes"], 1_000);
    assert_eq!(
        burst["message"],
        "traffic from 2027-01-15T08:05:00Z to 2027-01-15T08:10:00Z is above the maximum: \
         151.0 kB (151000 bytes, 110 packets) > 100000 bytes"
    );
    let quiet = sent.remove("all|2027-01-15T08:10:00Z").unwrap();
    assert_eq!(
        (quiet["verdict"].as_str(), quiet["bytes"].as_u64()),
        (Some("below_min"), Some(0))
    );
    assert_eq!(quiet["top_talkers"], serde_json::json!([]));
    let back = sent.remove("all|2027-01-15T08:15:00Z").unwrap();
    assert_eq!(
        (back["type"].as_str(), back["verdict"].as_str()),
        (Some("recovered"), Some("ok"))
    );
    let last = sent.remove("all|2027-01-15T08:20:00Z").unwrap();
    assert_eq!(
        (last["type"].as_str(), last["bytes"].as_u64()),
        (Some("alert"), Some(60))
    );
}

#[test]
fn a_corpus_capture_adds_up_to_its_reference_total() {
    let Some(brokers) = brokers() else { return };
    let name = "OISF.suricata-verify/tests/filestore-filecontainer-http/filecontainer-http.pcap";
    let Some((corpus, capture)) = corpus_capture(name) else {
        return;
    };
    let expected =
        std::fs::read_to_string(corpus.join("expected").join(format!("{name}.expected46")))
            .unwrap();
    let total: Vec<u64> = expected
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    let topic = unique("corpus");
    capture_into(&brokers, &topic, &capture);
    let out = output(host_stream().args([
        "--brokers",
        &brokers,
        "--topic",
        &topic,
        "--group",
        &unique("corpus"),
        "--until-end",
        "--log-format",
        "json",
        "--window",
        "60s",
    ]));
    assert!(out.status.success(), "{}", testkit::log::text(&out.stderr));
    let lines = windows(&text(&out.stdout));
    let bytes: u64 = lines.iter().map(|w| w["bytes"].as_u64().unwrap()).sum();
    let packets: u64 = lines.iter().map(|w| w["packets"].as_u64().unwrap()).sum();
    assert_eq!(vec![bytes, packets], total);
    assert!(lines.iter().all(|w| w["verdict"] == "no_limits"));
}

/// Kafka over TLS, the whole path: a private broker behind a TLS endpoint (a throw-away CA;
/// the broker advertises the TLS port), host-capture into it and host-stream out of it with
/// the right CA: exact windows. With another CA, host-capture delivers nothing, says
/// "certificate verify failed" naming the broker, and exits 3.
#[test]
fn through_tls_with_the_right_ca_and_a_clear_error_with_another() {
    let dir = scratch("tls");
    let ca = testkit::tls::TestCa::make(&dir, "right");
    let wrong = testkit::tls::TestCa::make(&dir, "wrong");
    let cluster = Cluster::start(1).expect("a private broker");
    cluster.create_topic("tls", 2).unwrap();
    let upstream = cluster.proxy(1).unwrap().address();
    let tls = testkit::tls::TlsProxy::start(upstream, ca.identity()).unwrap();
    cluster.advertise(1, tls.address().port()).unwrap();
    let brokers = tls.address().to_string();
    let ssl = |ca_pem: &std::path::Path| {
        vec![
            "-X".to_string(),
            "security.protocol=SSL".to_string(),
            "-X".to_string(),
            format!("ssl.ca.location={}", ca_pem.display()),
        ]
    };
    let sample = repo().join("samples/mixed.pcap");
    let capture = |ca_pem: &std::path::Path, timeout: &str| {
        output(
            sibling("host-capture")
                .args(["--read", sample.to_str().unwrap(), "--brokers", &brokers])
                .args(["--topic", "tls", "--flush-timeout", timeout])
                .args(ssl(ca_pem)),
        )
    };
    let out = capture(&ca.ca_pem, "30s");
    let stderr = testkit::log::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(
            "delivered_records=8 delivered_bytes=5224 delivered_packets=8 undelivered_records=0"
        ),
        "{stderr}"
    );
    let out = output(
        host_stream()
            .args(["--brokers", &brokers, "--topic", "tls", "--group", "tls"])
            .args(["--until-end", "--log-format", "json", "--window", "60s"])
            .args(ssl(&ca.ca_pem)),
    );
    let stderr = testkit::log::text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines = windows(&text(&out.stdout));
    let total: (u64, u64) = lines.iter().fold((0, 0), |(b, p), w| {
        (
            b + w["bytes"].as_u64().unwrap(),
            p + w["packets"].as_u64().unwrap(),
        )
    });
    assert_eq!(total, (5_224, 8), "{lines:?}");
    assert!(
        stderr.contains(" records=8 ") || stderr.contains("summary records=8 "),
        "{stderr}"
    );

    let out = capture(&wrong.ca_pem, "3s");
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    eprintln!("with another CA, host-capture says:\n{stderr}");
    assert!(stderr.contains("certificate verify failed"), "{stderr}");
    assert!(
        stderr.contains(&brokers),
        "the message names the broker: {stderr}"
    );
    assert!(
        stderr.contains(
            "delivered_records=0 delivered_bytes=0 delivered_packets=0 undelivered_records=8"
        ),
        "{stderr}"
    );

    // SASL/SCRAM over TLS is accepted as a setting (the mock broker speaks no SASL, so nothing
    // is delivered), and the password appears nowhere.
    let secret = "p4ss-w0rd-that-must-not-show";
    let out = output(
        sibling("host-capture")
            .args(["--read", sample.to_str().unwrap(), "--brokers", &brokers])
            .args(["--topic", "tls", "--flush-timeout", "2s"])
            .args([
                "-X",
                "security.protocol=SASL_SSL",
                "-X",
                "sasl.mechanism=SCRAM-SHA-512",
            ])
            .args(["-X", "sasl.username=capture"])
            .args(["-X", &format!("sasl.password={secret}")])
            .args(["-X", &format!("ssl.ca.location={}", ca.ca_pem.display())]),
    );
    let stderr = testkit::log::text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        !stderr.contains("rejected") && !stderr.contains("not available"),
        "{stderr}"
    );
    assert!(!stderr.contains(secret), "{stderr}");
}

#[test]
fn version_names_librdkafka_and_what_it_was_built_with() {
    for mut cmd in [host_stream(), sibling("host-capture")] {
        let out = output(cmd.arg("--version"));
        assert!(out.status.success());
        let v = text(&out.stdout);
        assert!(v.contains(", librdkafka 2."), "{v}");
        for feature in [
            "ssl",
            "sasl_plain",
            "sasl_scram",
            "sasl_gssapi",
            "zstd",
            "lz4",
            "gzip",
        ] {
            assert!(
                v.trim_end()
                    .trim_end_matches(')')
                    .split(['(', ' ', ','])
                    .any(|f| f == feature),
                "{feature}: {v}"
            );
        }
    }
}
