//! `--user` through the binary: the refusals an operator can meet. (That root which could be
//! regained is refused is tested in `src/privileges.rs`, with made-up ids.)

use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::support::*;

#[test]
fn an_unknown_user_is_refused_before_any_frame_is_counted() {
    let out = run(&[
        "--read",
        &sample(),
        "--totals",
        "--user",
        "no-such-user-streamchecker",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        testkit::log::text(&out.stderr),
        "ERROR host_capture: --user no-such-user-streamchecker: no such user\n"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_user_other_than_root_cannot_switch_to_root() {
    let mut cmd = Command::new(bin());
    // The capture on stdin (so that nobody need not be able to read the checkout), shorter
    // than PIPE_BUF: written at once, before host-capture can stop reading.
    cmd.args(["--read", "-", "--totals", "--user", "root"]);
    // As root, run it as nobody; as anyone else, as is: either way not root.
    if nix::unistd::Uid::effective().is_root() {
        cmd.uid(65534).gid(65534);
    }
    let capture = pcap(1, &[(1_000, ipv4_frame([10, 0, 0, 1], [10, 0, 0, 2], 60))]);
    assert!(capture.len() < 512);
    let out = fed(&mut cmd, &capture);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        testkit::log::text(&out.stderr)
    );
    assert_eq!(
        testkit::log::text(&out.stderr),
        "ERROR host_capture: --user root: only root can switch to another user\n"
    );
    assert!(out.stdout.is_empty());
}
