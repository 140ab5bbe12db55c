//! A network namespace of the test's own (`ip netns add`): inside a fresh namespace every
//! port is free by construction, so a test can start a server that wants a fixed port (a
//! Prometheus server, its scrape target) without picking a port that something else may take.
//! Needs root; [`Netns::create`] skips (or fails, under `STREAMCHECKER_REQUIRE_SERVICES=1`)
//! otherwise. The namespace is deleted on every path (`Drop`).

use std::fs::File;
use std::process::Command;

use nix::sched::{CloneFlags, setns};

/// A network namespace, deleted on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace `name` with `lo` up, or `None` (with a printed reason) when not
    /// root; under `STREAMCHECKER_REQUIRE_SERVICES=1` not being root fails the test instead.
    pub fn create(name: &str) -> Option<Netns> {
        if !nix::unistd::Uid::effective().is_root() {
            assert!(
                std::env::var("STREAMCHECKER_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "a network namespace needs root, but the tests run as uid {} with \
                 STREAMCHECKER_REQUIRE_SERVICES=1",
                nix::unistd::Uid::effective()
            );
            println!("a network namespace needs root: skipped");
            return None;
        }
        run(&["netns", "add", name]);
        // From here on the guard deletes it, whatever fails next.
        let ns = Netns {
            name: name.to_string(),
        };
        run(&["netns", "exec", name, "ip", "link", "set", "lo", "up"]);
        Some(ns)
    }

    /// `program` to be run inside the namespace (`ip netns exec NAME program`).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `f` on a thread that has joined the namespace (a network namespace is a
    /// per-thread setting: the test's other threads stay where they are).
    pub fn within<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            setns(&file, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let status = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!(
                "could not delete the network namespace {}: {status:?}",
                self.name
            );
        }
    }
}

fn run(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
