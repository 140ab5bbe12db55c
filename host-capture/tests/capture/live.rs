//! Live capture on the loopback interface: known UDP datagrams must be counted exactly. Needs
//! root (or CAP_NET_RAW); skipped with a message otherwise.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn can_capture() -> bool {
    if nix_is_root() {
        return true;
    }
    eprintln!("live capture needs root: skipped");
    false
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn udp_datagrams_on_lo_are_counted_exactly() {
    if !can_capture() {
        return;
    }
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let filter = format!("udp and dst port {port}");
    let mut child = Command::new(bin())
        .args([
            "-i",
            "lo",
            "-f",
            &filter,
            "--totals",
            "--flush-interval",
            "1s",
            "--immediate",
            "--user",
            "nobody",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the capture is running.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !line.contains("capturing on lo") {
        line.clear();
        assert!(Instant::now() < deadline, "host-capture did not start");
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "host-capture exited early"
        );
    }
    // Root was dropped once the capture was open.
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(uid.split_whitespace().nth(2), Some("65534"), "{uid}");
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
    std::thread::sleep(Duration::from_millis(500));
    nix_kill(child.id());
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert!(out.status.success(), "{rest}");
    assert_eq!(
        text(&out.stdout),
        format!("127.0.0.1 127.0.0.1 {expected} 70\nTOTAL {expected} 70\n")
    );
    assert!(rest.contains("stopping: signal received"), "{rest}");
    assert!(rest.contains("kernel_drops=0"), "{rest}");
}

fn nix_kill(pid: u32) {
    Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
}
