//! One instance per group: an instance that the group gives only some partitions says so on
//! stderr and marks every window line `partial=have/all`.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::*;

const MINUTE: u64 = 60_000;
/// Bound of every wait. A group's rebalance on a member's join waits for the other members to
/// rejoin up to the session timeout (less a second, on librdkafka's mock cluster), and the
/// second member's join can cost two such rounds on a loaded machine.
const WAIT: Duration = Duration::from_secs(120);

/// The partitions whose window-0 bytes (partition `p` sent 10^p) add up to `bytes`.
fn partitions_in(bytes: u64, partitions: usize) -> BTreeSet<i32> {
    let mut left = bytes;
    let mut out = BTreeSet::new();
    for p in 0..partitions as u32 {
        match left % 10 {
            0 => {}
            1 => {
                out.insert(p as i32);
            }
            d => panic!("{bytes} bytes is not a sum of distinct partitions' traffic ({d})"),
        }
        left /= 10;
    }
    assert_eq!(left, 0, "{bytes} bytes");
    out
}

#[test]
fn two_members_of_one_group_each_warn_and_mark_their_windows_partial() {
    let Some(brokers) = brokers() else { return };
    let topic = unique("partial");
    let partitions = create_topic(&brokers, &topic);
    assert!(
        partitions >= 2 && partitions.is_multiple_of(2),
        "{partitions} partitions"
    );
    let half = partitions / 2;
    let group = unique("partial-group");
    // Windows ten minutes ahead of the wall clock: only event time closes them.
    let base = (now_ms() + 10 * MINUTE) / MINUTE * MINUTE;
    let member = |format: &str| {
        Running::start(host_stream().args([
            "--brokers",
            &brokers,
            "--topic",
            &topic,
            "--group",
            &group,
            "--window",
            "60s",
            "--grace",
            "1s",
            "--idle-partition",
            "1h",
            "--log-format",
            format,
            // Two members on one host: two static member ids (one would fence the other).
            "--instance-id",
            &format!("partial-{format}"),
            // The rebalance when the second member joins waits up to the session timeout
            // (default 45 s) for the first to rejoin: keep it short (6 s, as the broker smoke
            // test), so the assignment settles in seconds.
            "-X",
            "session.timeout.ms=6000",
        ]))
    };
    let mut text_member = member("text");
    let mut json_member = member("json");
    // The assignment has settled when each member has said it has half the partitions (an
    // earlier assignment, before the other member joined, may have given one all of them).
    let warning = format!(
        "WARN host_stream::kafka_in: the group gave this instance {half} of the {partitions} \
         partitions of {topic}: every window sum is PARTIAL (run one instance per group)"
    );
    for m in [&mut text_member, &mut json_member] {
        m.stderr
            .wait_until("the partial-assignment warning", WAIT, |l| {
                l.contains(&warning)
            });
    }
    // Now the records: window 0 gets 10^p bytes in partition p, window 1 one record per
    // partition, which closes window 0 in both members.
    for p in 0..partitions as i32 {
        produce_to(
            &brokers,
            &topic,
            p,
            &[
                rec(
                    base + 5_000,
                    "10.0.0.1",
                    "192.0.2.1",
                    10u64.pow(p as u32),
                    1,
                ),
                rec(base + MINUTE + 5_000, "10.0.0.1", "192.0.2.1", 1, 1),
            ],
        );
    }
    text_member
        .stdout
        .wait_until("a window line", WAIT, |l| !l.is_empty());
    json_member
        .stdout
        .wait_until("a window line", WAIT, |l| !l.is_empty());
    text_member.sigterm();
    json_member.sigterm();
    let text_run = text_member.wait(WAIT);
    let json_run = json_member.wait(WAIT);
    assert!(text_run.status.success() && json_run.status.success());

    // The text member: one line, marked partial=half/all.
    assert_eq!(text_run.stdout.len(), 1, "{:#?}", text_run.stdout);
    let line = &text_run.stdout[0];
    let bytes: u64 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("bytes="))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        *line,
        format!(
            "window {} {} bytes={bytes} packets={half} verdict=no_limits min=- max=- filter=all \
             partial={half}/{partitions}",
            rfc3339(base),
            rfc3339(base + MINUTE)
        )
    );
    let text_partitions = partitions_in(bytes, partitions);

    // The JSON member: one line, with "partial": {"partitions": half, "of": all}.
    let lines = windows(&json_run.stdout.join("\n"));
    assert_eq!(lines.len(), 1, "{:#?}", json_run.stdout);
    let w = &lines[0];
    assert_eq!(
        summary(&lines)[0],
        (
            rfc3339(base),
            w["bytes"].as_u64().unwrap(),
            half as u64,
            "no_limits".into()
        )
    );
    assert_eq!(
        w["partial"],
        serde_json::json!({"partitions": half, "of": partitions})
    );
    let json_partitions = partitions_in(w["bytes"].as_u64().unwrap(), partitions);

    // Each counted exactly its own half; together, every partition once.
    assert_eq!((text_partitions.len(), json_partitions.len()), (half, half));
    assert!(text_partitions.is_disjoint(&json_partitions));
    assert_eq!(
        text_partitions.union(&json_partitions).count(),
        partitions,
        "{text_partitions:?} {json_partitions:?}"
    );
}
