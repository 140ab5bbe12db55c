//! Live capture on the loopback interface: known UDP datagrams must be counted exactly. Needs
//! root (for the capture and for `--user nobody`): skipped with a message otherwise, and failed
//! instead when `STREAMCHECKER_REQUIRE_SERVICES=1`. The second test captures, without a
//! filter, on the loopback of a network namespace it makes (`ip netns`), where nothing else
//! sends.

use std::fs::File;
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
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

/// Frames that wait in the ring behind a stall are read before any heartbeat covers their
/// time: a heartbeat promises that every record of its span went out before it. The capture is
/// stopped (SIGSTOP) while three pumps' worth of datagrams (3 × 4,096) arrive, and let go only
/// once the wall clock is well past their interval's end plus the flush delay. One pump hands
/// over at most 4,096 frames; coverage must not move until the ring is read empty.
#[test]
fn frames_held_in_the_ring_by_a_stall_go_out_before_the_heartbeat_that_covers_them() {
    if !can_capture() {
        return;
    }
    let Stalled {
        mut child,
        pid,
        port,
        receiver,
    } = stalled_capture("test/stall", &[]);
    const FRAMES: u64 = 3 * 4096;
    flood(port, FRAMES);
    kill(pid, Signal::SIGCONT).unwrap();
    child.wait_for("every datagram counted", Duration::from_secs(30), |l| {
        l.starts_with("INFO host_capture::pipeline: stats ")
            && counter(l, "counted_packets") >= Some(FRAMES)
    });
    kill(pid, Signal::SIGINT).unwrap();
    let end = child.finish(Duration::from_secs(20));
    assert!(end.status.success(), "{}", end.stderr);
    let stdout = text(&end.stdout);
    let mut covered_to = 0u64;
    let (mut bytes, mut packets) = (0u64, 0u64);
    for line in stdout.lines() {
        let w: Vec<&str> = line.split(' ').collect();
        if w.get(1) == Some(&"heartbeat") {
            covered_to = covered_to.max(w[3].parse().unwrap());
            continue;
        }
        let start: u64 = w[0].parse().unwrap();
        assert!(
            start >= covered_to,
            "the record {line:?} came after a heartbeat that covered its time (to \
             {covered_to}):\n{stdout}"
        );
        bytes += w[3].parse::<u64>().unwrap();
        packets += w[4].parse::<u64>().unwrap();
    }
    assert_eq!((bytes, packets), (FRAMES * 100, FRAMES), "{stdout}");
    assert!(covered_to > 0, "no heartbeat:\n{stdout}");
    assert!(
        !end.stderr.contains("behind_heartbeat") && !end.stderr.contains("after a heartbeat"),
        "{}",
        end.stderr
    );
    drop(receiver);
}

/// Frames the kernel dropped (a ring too small for a stall) make a gap in the coverage, not a
/// quiet stretch: no heartbeat covers the time they were lost in. The capture, with the least
/// ring there is, is stopped while 20,000 datagrams arrive; the kernel drops most of them, and
/// no heartbeat spans the stop.
#[test]
fn frames_the_kernel_dropped_leave_a_gap_in_the_coverage() {
    if !can_capture() {
        return;
    }
    let Stalled {
        mut child,
        pid,
        port,
        receiver,
    } = stalled_capture("test/drops", &["--buffer-size", "65536"]);
    let stopped = now_ms();
    const FRAMES: u64 = 20_000;
    let sender = flood(port, FRAMES);
    let resumed = now_ms();
    kill(pid, Signal::SIGCONT).unwrap();
    // Nothing was read before the stop: the first frames counted are a pump's read of the
    // ring, which holds a few hundred frames, less than one pump takes (4,096). Then there is
    // room for a marker of another size (1,028 bytes of IP: the only count that is not a
    // multiple of 100); once it is counted, the ring has been read past every datagram.
    child.wait_for("frames read after the stop", Duration::from_secs(30), |l| {
        l.starts_with("INFO host_capture::pipeline: stats ") && counter(l, "frames") > Some(0)
    });
    sender.send_to(&[1u8; 1000], ("127.0.0.1", port)).unwrap();
    let line = child.wait_for("the marker counted", Duration::from_secs(30), |l| {
        l.starts_with("INFO host_capture::pipeline: stats ")
            && counter(l, "counted_bytes").is_some_and(|b| b % 100 == 28)
    });
    // (On lo the ring also gets each datagram's outgoing copy, which libpcap discards after
    // reading it: drops count both, so they are not FRAMES - frames.)
    let drops = counter(&line, "kernel_drops").unwrap_or(0);
    let frames = counter(&line, "frames").unwrap_or(0);
    assert!(
        drops > 0 && frames <= FRAMES,
        "the ring held them all: {line}"
    );
    // Coverage goes on after the stop: wait for the next interval's heartbeat to be due.
    clock_past((now_ms() / 1000 + 2) * 1000 + 300);
    kill(pid, Signal::SIGINT).unwrap();
    let end = child.finish(Duration::from_secs(20));
    assert!(end.status.success(), "{}", end.stderr);
    assert!(
        end.stderr.contains("the kernel dropped frames"),
        "{}",
        end.stderr
    );
    let stdout = text(&end.stdout);
    let spans: Vec<(u64, u64)> = stdout
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            (w.get(1) == Some(&"heartbeat")).then(|| (w[0].parse().unwrap(), w[3].parse().unwrap()))
        })
        .collect();
    // No heartbeat vouches for any moment of the stop, when the frames were lost.
    for (s, e) in &spans {
        assert!(
            *e <= stopped || *s >= resumed,
            "the heartbeat {s}–{e} covers the stop {stopped}–{resumed}:\n{stdout}"
        );
    }
    // And coverage went on after it.
    assert!(
        spans.iter().any(|(s, _)| *s >= resumed),
        "no heartbeat after the stop:\n{stdout}"
    );
    drop(receiver);
}

/// Waits until the periodic counters show `packets` frames counted, then stops the capture
/// (SIGINT) and checks that exactly those, `bytes` in all, were seen and counted: one pair
/// 127.0.0.1 → 127.0.0.1, nothing else, no drop.
fn stop_when_counted(mut child: Watched, packets: u64, bytes: u64) {
    let line = child.wait_for("every packet counted", Duration::from_secs(20), |l| {
        l.starts_with("INFO host_capture::pipeline: stats ")
            && counter(l, "counted_packets") >= Some(packets)
    });
    assert_eq!(counter(&line, "counted_bytes"), Some(bytes), "{line}");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    let end = child.finish(Duration::from_secs(20));
    assert!(end.status.success(), "{}", end.stderr);
    assert_eq!(
        text(&end.stdout),
        format!("127.0.0.1 127.0.0.1 {bytes} {packets}\nTOTAL {bytes} {packets}\n")
    );
    assert!(
        end.stderr.contains(&format!(
            "INFO host_capture: summary frames={packets} counted_packets={packets} \
             counted_bytes={bytes} not_ip=0 malformed=0 kernel_drops=0 interface_drops=0 \
             records="
        )),
        "{}",
        end.stderr
    );
}

/// A network namespace of this test's own (its loopback up), deleted when dropped.
struct Namespace(String);

impl Namespace {
    fn new(name: String) -> Namespace {
        let ip = |args: &[&str]| {
            let status = Command::new("ip").args(args).status().expect("run ip");
            assert!(status.success(), "ip {args:?}: {status}");
        };
        ip(&["netns", "add", &name]);
        let ns = Namespace(name);
        ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    /// Runs `f` on a thread that has entered the namespace (sockets made there stay there).
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let file = File::open(format!("/run/netns/{}", self.0)).unwrap();
        std::thread::spawn(move || {
            setns(&file, CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// No `--filter`: the accept-all filter host-capture installs then has the kernel cut every
/// frame to the snap length in the ring; frames far longer than it (up to 9,028 bytes of IP)
/// still count by their IP header's length, exactly.
#[test]
fn without_a_filter_long_frames_cut_in_the_kernel_count_by_their_ip_length() {
    if !can_capture() {
        return;
    }
    let ns = Namespace::new(format!("sclive{}", std::process::id()));
    // The receiver is bound first: a datagram to a closed port would bring an ICMP error back.
    let (receiver, port) = ns.run(|| {
        let r = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = r.local_addr().unwrap().port();
        (r, port)
    });
    let mut child = Watched::spawn(
        Command::new("ip")
            .args(["netns", "exec", &ns.0, bin()])
            .args([
                "-i",
                "lo",
                "--totals",
                "--snaplen",
                "64",
                "--stats-interval",
                "100ms",
            ]),
    );
    child.wait_for("capture start", Duration::from_secs(10), |l| {
        l.starts_with("INFO host_capture: capturing interface=lo link_type=1 ")
    });
    let payloads = [0usize, 18, 100, 1472, 9000, 65_000 - 28];
    let mut expected = 0u64;
    for size in payloads.iter().cycle().take(60) {
        expected += 28 + *size as u64;
    }
    ns.run(move || {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for (i, size) in payloads.iter().cycle().take(60).enumerate() {
            sender
                .send_to(&vec![i as u8; *size], ("127.0.0.1", port))
                .unwrap();
        }
    });
    // The frames reach the capture when their ring block is retired (a 100 ms timeout).
    stop_when_counted(child, 60, expected);
    drop(receiver);
}

/// `-i nflog:5` counts exactly what a firewall rule sends to NFLOG group 5. In a namespace of
/// its own, an nftables rule logs the UDP datagrams to one port (of known sizes, up to 9,028
/// bytes of IP, past any small snap length) and not those to another port; host-capture sees
/// the first and only them.
#[test]
fn nflog_counts_exactly_what_the_firewall_rule_selects() {
    if !can_capture() {
        return;
    }
    let ns = Namespace::new(format!("scnflog{}", std::process::id()));
    let (selected, unselected, ports) = ns.run(|| {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let ports = (
            a.local_addr().unwrap().port(),
            b.local_addr().unwrap().port(),
        );
        (a, b, ports)
    });
    let nft = |rule: &str| {
        let status = Command::new("ip")
            .args(["netns", "exec", &ns.0, "nft", rule])
            .status()
            .expect("run nft (Debian's nftables)");
        assert!(status.success(), "nft {rule}: {status}");
    };
    nft("add table inet streamchecker");
    nft("add chain inet streamchecker out { type filter hook output priority 0 ; }");
    nft(&format!(
        "add rule inet streamchecker out udp dport {} log group 5",
        ports.0
    ));
    let mut child = Watched::spawn(
        Command::new("ip")
            .args(["netns", "exec", &ns.0, bin()])
            .args(["-i", "nflog:5", "--totals", "--stats-interval", "100ms"]),
    );
    child.wait_for("capture start", Duration::from_secs(10), |l| {
        l.starts_with("INFO host_capture: capturing interface=nflog:5 link_type=239 ")
    });
    let sizes = [0usize, 1, 100, 1000, 1472, 9000, 33];
    let expected: u64 = sizes.iter().cycle().take(35).map(|s| 28 + *s as u64).sum();
    ns.run(move || {
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        for (i, size) in sizes.iter().cycle().take(35).enumerate() {
            let data = vec![i as u8; *size];
            sender.send_to(&data, ("127.0.0.1", ports.0)).unwrap();
            // Not selected by the rule: never seen.
            sender.send_to(&data, ("127.0.0.1", ports.1)).unwrap();
        }
    });
    stop_when_counted(child, 35, expected);
    drop((selected, unselected));
}

/// Returns once the wall clock has passed `due` (ms since the epoch): a wait for the clock
/// itself, the condition the capture's intervals and heartbeats follow.
fn clock_past(due: u64) {
    while now_ms() < due {
        std::thread::sleep(Duration::from_millis(due.saturating_sub(now_ms()).max(1)));
    }
}

/// The wall clock, ms since the Unix epoch (what the kernel stamps frames with).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A capture of lo in pipe mode with heartbeats, stopped once its loop runs.
struct Stalled {
    child: Watched,
    pid: Pid,
    /// The port whose UDP datagrams it captures (held by `receiver` while the test runs).
    port: u16,
    receiver: UdpSocket,
}

/// Starts host-capture on lo (`--immediate`, stdout lines, heartbeats of `sensor`, counters
/// every 100 ms, and `extra`) for datagrams to a port of its own, waits until its loop runs
/// (coverage has started once it logs its counters), then stops it.
fn stalled_capture(sensor: &str, extra: &[&str]) -> Stalled {
    let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = receiver.local_addr().unwrap().port();
    let filter = format!("udp and dst port {port}");
    let mut child = Watched::spawn(
        Command::new(bin())
            .args(["-i", "lo", "-f", &filter, "--immediate", "--output", "-"])
            .args(["--sensor-id", sensor, "--stats-interval", "100ms"])
            .args(extra),
    );
    child.wait_for("the loop's first counters", Duration::from_secs(10), |l| {
        l.starts_with("INFO host_capture::pipeline: stats ")
    });
    let pid = Pid::from_raw(child.id() as i32);
    stop(pid);
    Stalled {
        child,
        pid,
        port,
        receiver,
    }
}

/// Sends `frames` UDP datagrams of 100 bytes of IP each to `port` on lo, then waits for the
/// clock, not a guess: past the end of the last one's 1-s interval plus the 200-ms flush delay,
/// with room to spare. Returns the sending socket.
fn flood(port: u16, frames: u64) -> UdpSocket {
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..frames {
        sender.send_to(&[0u8; 72], ("127.0.0.1", port)).unwrap();
    }
    clock_past((now_ms() / 1000 + 1) * 1000 + 500);
    sender
}

/// Stops `pid` (SIGSTOP) and waits until the kernel says it is stopped (`T` in
/// `/proc/PID/stat`): from then on it reads nothing.
fn stop(pid: Pid) {
    kill(pid, Signal::SIGSTOP).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // The state follows the command name's closing parenthesis.
        let state = stat.rsplit_once(") ").map(|(_, rest)| rest.chars().next());
        if state == Some(Some('T')) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{pid} not stopped: {stat}"
        );
        std::thread::yield_now();
    }
}
