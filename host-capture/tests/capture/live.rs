//! Live capture on the loopback interface: known UDP datagrams must be counted exactly. Needs
//! root (for the capture and for `--user nobody`): skipped with a message otherwise, and failed
//! instead when `STREAMCHECKER_REQUIRE_SERVICES=1`.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, Uid};

use crate::support::*;
use crate::watch::{Watched, counter};

fn can_capture() -> bool {
    if Uid::effective().is_root() {
        return true;
    }
    assert!(
        std::env::var("STREAMCHECKER_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "live capture needs root, but the tests run as uid {} with \
         STREAMCHECKER_REQUIRE_SERVICES=1: run them as root, or unset it to skip this test",
        Uid::effective()
    );
    eprintln!("live capture needs root: skipped");
    false
}

#[test]
fn udp_datagrams_on_lo_are_counted_exactly() {
    if !can_capture() {
        return;
    }
    // Kept bound for the whole test: no one else sends to this port.
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let filter = format!("udp and dst port {port}");
    let mut child = Watched::spawn(Command::new(bin()).args([
        "-i",
        "lo",
        "-f",
        &filter,
        "--totals",
        "--flush-interval",
        "1s",
        "--immediate",
        "--stats-interval",
        "100ms",
        "--user",
        "nobody",
    ]));
    // The capture is open (and root dropped) once it says so.
    child.wait_for("capture start", Duration::from_secs(10), |l| {
        l.starts_with("INFO host_capture: capturing interface=lo link_type=1 ")
    });
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid.split_whitespace().skip(1).collect::<Vec<_>>(),
        ["65534"; 4],
        "real, effective, saved and filesystem uid: {uid}"
    );
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    // IPv4 length = 20 (IP) + 8 (UDP) + payload.
    let payloads = [0usize, 1, 100, 1000, 1472, 9000, 33];
    let mut expected = 0u64;
    for (i, size) in payloads.iter().cycle().take(70).enumerate() {
        sender
            .send_to(&vec![i as u8; *size], ("127.0.0.1", port))
            .unwrap();
        expected += 28 + *size as u64;
    }
    // Stop once the periodic counters show every datagram counted.
    let line = child.wait_for("70 counted packets", Duration::from_secs(20), |l| {
        l.starts_with("INFO host_capture::pipeline: stats ")
            && counter(l, "counted_packets") >= Some(70)
    });
    assert_eq!(counter(&line, "counted_bytes"), Some(expected), "{line}");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let end = child.finish(Duration::from_secs(20));
    let stderr = &end.stderr;
    assert!(end.status.success(), "{stderr}");
    assert_eq!(
        text(&end.stdout),
        format!("127.0.0.1 127.0.0.1 {expected} 70\nTOTAL {expected} 70\n")
    );
    assert!(
        stderr.contains("INFO host_capture::pipeline: stopping: signal received"),
        "{stderr}"
    );
    // (One record per second the datagrams spanned: one or two.)
    assert!(
        stderr.contains(&format!(
            "INFO host_capture: summary frames=70 counted_packets=70 counted_bytes={expected} \
             not_ip=0 malformed=0 kernel_drops=0 interface_drops=0 records="
        )),
        "{stderr}"
    );
    drop(receiver);
}
