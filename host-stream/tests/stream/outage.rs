//! A broker outage while host-stream consumes live: it is blind, and a blind consumer must not
//! judge a window as quiet. Windows close by the wall clock only as far as every partition is
//! proven read to its end (an end-offset answer, asked before, no higher than what was read);
//! during the outage no proof comes, so no window of the outage is judged until
//! the broker is back. The broker is private (librdkafka's mock cluster behind a test-owned
//! proxy that cuts and refuses connections): a real Kafka cannot be cut by a test.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::*;

const WINDOW: u64 = 2_000;
const GRACE: u64 = 1_000;
const WAIT: Duration = Duration::from_secs(60);

/// The window lines seen so far: (start, end, bytes, verdict).
fn lines(seen: &[String]) -> Vec<(u64, u64, u64, String)> {
    windows(&seen.join("\n"))
        .iter()
        .map(|w: &Value| {
            (
                ms(w["window_start"].as_str().unwrap()),
                ms(w["window_end"].as_str().unwrap()),
                w["bytes"].as_u64().unwrap(),
                w["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// RFC 3339 (whole seconds, as the lines print them) back to ms.
fn ms(text: &str) -> u64 {
    let n = |a: usize, b: usize| text[a..b].parse::<i64>().unwrap();
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    let (hh, mm, ss) = (n(11, 13), n(14, 16), n(17, 19));
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + hh * 3600 + mm * 60 + ss) * 1000) as u64
}

#[test]
fn a_broker_outage_judges_no_window_of_the_outage_as_quiet() {
    let cluster = Cluster::start(1).expect("a private broker");
    let topic = "blind";
    cluster.create_topic(topic, 2).unwrap();
    let brokers = cluster.bootstrap_servers();
    let proxy = cluster.proxy(1).unwrap();
    let dir = scratch("outage");
    // Every window with traffic is within the limits; an empty one is below the minimum.
    let limits = limits_file(&dir, 1, 1 << 40);
    let mut run = Running::start(host_stream().args([
        "--brokers",
        &brokers,
        "--topic",
        topic,
        "--group",
        &unique("outage-group"),
        "--window",
        "2s",
        "--grace",
        "1s",
        "--limits-file",
        limits.to_str().unwrap(),
        "--alerts-topic",
        "outage-alerts",
        "--log-format",
        "json",
        "--stats-interval",
        "0",
    ]));

    // 1. Broker up: a record, and the wall clock closes windows. The record is stamped in the
    // next window, which the wall clock closes 3 s after it starts at the earliest: time
    // enough for the record to reach the broker on a loaded machine.
    let first = (now_ms() / WINDOW + 1) * WINDOW;
    produce(
        &brokers,
        topic,
        &[rec(first + 500, "10.0.0.1", "192.0.2.1", 700, 7)],
    );
    run.stdout.wait_until(
        "the record's window and a quiet one after it",
        WAIT,
        |seen| lines(seen).iter().any(|l| l.0 > first),
    );
    let before = lines(&run.stdout.seen);
    assert!(
        before.contains(&(first, first + WINDOW, 700, "ok".into())),
        "{before:?}"
    );

    // 2. The broker goes away. Whatever was proven before the cut may still close windows
    // (those ending by the cut minus the grace period); nothing after. Eight seconds of
    // outage: four windows that the wall clock alone would have closed as quiet.
    proxy.set_down(true);
    let cut = now_ms();
    run.stdout
        .read_until(Instant::now() + Duration::from_secs(8));
    let blind = lines(&run.stdout.seen);
    let judged_blind: Vec<_> = blind.iter().filter(|l| l.1 + GRACE > cut).collect();
    assert!(
        judged_blind.is_empty(),
        "windows judged while the broker was down (cut at {cut}): {judged_blind:?}"
    );
    assert!(
        proxy.stats().cut + proxy.stats().refused >= 1,
        "the outage happened"
    );

    // 3. The broker is back: proofs come again and the wall clock closes the outage's windows
    // (quiet: nothing was produced) and those after it.
    proxy.set_down(false);
    let back = now_ms();
    run.stdout
        .wait_until("windows after the outage", WAIT, |seen| {
            lines(seen).iter().any(|l| l.0 >= back)
        });
    let ended = run.terminate(WAIT);
    assert!(ended.status.success(), "{:#?}", ended.stderr);
    let all = lines(&ended.stdout);
    // Consecutive windows, each judged once; the only traffic is the record's.
    for pair in all.windows(2) {
        assert_eq!(pair[1].0, pair[0].1, "{all:?}");
    }
    assert_eq!(all.iter().map(|l| l.2).sum::<u64>(), 700, "{all:?}");
    let summary = ended
        .stderr
        .iter()
        .find(|l| l.contains("summary "))
        .unwrap_or_else(|| panic!("{:#?}", ended.stderr));
    assert!(
        summary.contains(
            "records=1 filtered_out=0 undecodable=0 future=0 behind=0 late_records=0 late_bytes=0 "
        ),
        "{summary}"
    );
}
