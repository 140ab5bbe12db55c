#!/usr/bin/env python3
"""The measuring half of benches/live-capture.sh (which makes the namespace, the veth pair and
the trafgen configurations, and deletes them): per shape, round-robin over the capture tools,
best of RUNS, each run being

  start the capture on the root end of the veth pair; wait for it to say it is capturing;
  read its CPU time so far (the sum of /proc/PID/task/*/schedstat's run time, in ns);
  (host-capture is ready at its first periodic stats line, tcpdump at "listening on");
  send COUNT packets with trafgen from the namespace, at its ceiling (no rate given);
  wait until the capture has counted COUNT packets (host-capture's periodic stats line) or has
  exited by itself (tcpdump -c COUNT), or DEADLINE s after trafgen ended; SIGINT;
  reap it with wait4: CPU = its rusage (user + system, all threads) - the CPU before traffic.

The startup (opening the ring, the pair table) is left out, the shutdown is in. Per tool:
packets counted, kernel and interface drops, CPU seconds per million packets (best and
median), the ratio to tcpdump's, and trafgen's rate. host-capture's totals are checked
against what trafgen sent: exact packets and bytes per pair (when nothing was dropped).

Usage: live_run.py --interface IF --netns NS --peer IF --runs N --count N --deadline S
                   --shape NAME:CFG:PAIRS ... --tool NAME:PATH ... [--tcpdump]
  PAIRS: the expected totals of one pass through the configuration's packets, as
         SRC,DST,BYTES,PACKETS;... (COUNT is a multiple of the packets in a pass).
"""

import argparse
import os
import re
import signal
import statistics
import subprocess
import threading
import time


def cpu_ns(pid):
    """Run time so far of every thread of `pid`, ns (0 if it is gone)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return 0
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


class Capture:
    """A capture process whose stderr is read line by line as it comes."""

    def __init__(self, argv, out_path):
        self.out = open(out_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.out, stderr=subprocess.PIPE)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stderr:
            with self.cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # end of stderr
            self.cond.notify_all()

    def wait_line(self, pred, timeout):
        """The first line for which pred holds, or None at the deadline or the end."""
        end = time.monotonic() + timeout
        seen = 0
        with self.cond:
            while True:
                while seen < len(self.lines):
                    line = self.lines[seen]
                    seen += 1
                    if line is None:
                        return None
                    if pred(line):
                        return line
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def stop(self):
        """SIGINT if still running, then reap: (user s, system s, exit status)."""
        # (Not Popen.poll or wait: they would reap it, and the rusage with it.)
        gone = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        if gone is None:
            try:
                os.kill(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
        _, status, ru = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.reader.join(timeout=10)
        self.out.close()
        return ru.ru_utime, ru.ru_stime, self.proc.returncode

    def stderr(self):
        with self.cond:
            return "\n".join(l for l in self.lines if l is not None)


def counter(text, name):
    m = re.findall(rf"\b{name}=(\d+)", text)
    return int(m[-1]) if m else None


def tcpdump_count(text, what):
    m = re.search(rf"^(\d+) packets? {what}$", text, re.M)
    return int(m.group(1)) if m else 0


def trafgen(args, cfg):
    argv = ["ip", "netns", "exec", args.netns, "trafgen", "--in", cfg, "--dev", args.peer,
            "-n", str(args.count), "--cpus", "1", "--no-sock-mem", "--notouch-irq"]
    t0 = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True)
    took = time.monotonic() - t0
    if out.returncode != 0:
        raise SystemExit(f"trafgen failed ({out.returncode}): {out.stderr}{out.stdout}")
    m = re.search(r"(\d+) packets outgoing", out.stdout + out.stderr)
    sent = int(m.group(1)) if m else None
    return sent, took


def rx_packets(interface):
    with open(f"/sys/class/net/{interface}/statistics/rx_packets") as f:
        return int(f.read())


def one_run(args, tool, path, cfg, workdir, tag):
    """One capture of COUNT packets by `tool`: a dict of what was measured."""
    out_path = os.path.join(workdir, f"{tag}.out")
    if tool == "tcpdump":
        # Same kernel buffer as host-capture's default (32 MiB); tcpdump's own snap length.
        argv = ["tcpdump", "-i", args.interface, "-B", "32768", "-n", "-c", str(args.count),
                "-w", "/dev/null"]
        ready = lambda l: "listening on " in l
        done = None
    else:
        argv = [path, "-i", args.interface, "--totals", "--stats-interval", "100ms",
                "--no-heartbeats"] + (args.hc_args if tool == "host-capture" else [])
        # The first periodic stats line: the loop runs (the pair table is allocated after
        # the "capturing" line, and that is startup too).
        ready = lambda l: " stats " in l
        done = lambda l: "stats " in l and (counter(l, "counted_packets") or 0) >= args.count
    cap = Capture(argv, out_path)
    if cap.wait_line(ready, 20) is None:
        cap.stop()
        raise SystemExit(f"{tool} did not start:\n{cap.stderr()}")
    before = cpu_ns(cap.proc.pid)
    rx0 = rx_packets(args.interface)
    sent, took = trafgen(args, cfg)
    rx = rx_packets(args.interface) - rx0
    # tcpdump -c COUNT exits by itself: its stderr ends then.
    cap.wait_line(done or (lambda _: False), args.deadline)
    user, system, status = cap.stop()
    err = cap.stderr()
    if status != 0:
        raise SystemExit(f"{tool} exited with {status}:\n{err}")
    r = {"tool": tool, "sent": sent, "rx": rx, "gen_s": took,
         "cpu": user + system - before / 1e9, "user": user, "sys": system}
    if tool == "tcpdump":
        r["counted"] = tcpdump_count(err, "captured")
        r["drops"] = tcpdump_count(err, "dropped by kernel")
        r["ifdrops"] = tcpdump_count(err, "dropped by interface")
    else:
        summary = next((l for l in err.splitlines() if " summary " in l), "")
        r["counted"] = counter(summary, "counted_packets")
        r["frames"] = counter(summary, "frames")
        r["drops"] = counter(summary, "kernel_drops")
        r["ifdrops"] = counter(summary, "interface_drops")
        with open(out_path) as f:
            r["totals"] = f.read()
    return r


def expected_totals(pairs, passes):
    """host-capture's --totals output for `passes` passes of the configuration."""
    rows = []
    tb = tp = 0
    for p in pairs.split(";"):
        src, dst, b, n = p.split(",")
        rows.append((src, dst, int(b) * passes, int(n) * passes))
    lines = [f"{s} {d} {b} {n}" for s, d, b, n in sorted(rows)]
    tb = sum(r[2] for r in rows)
    tp = sum(r[3] for r in rows)
    return "\n".join(lines) + f"\nTOTAL {tb} {tp}\n", tp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--interface", required=True)
    ap.add_argument("--netns", required=True)
    ap.add_argument("--peer", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--count", type=int, default=2_000_000)
    ap.add_argument("--deadline", type=float, default=5.0)
    ap.add_argument("--workdir", default="/tmp")
    ap.add_argument("--shape", action="append", required=True)
    ap.add_argument("--tool", action="append", required=True)
    ap.add_argument("--hc-arg", dest="hc_args", action="append", default=[])
    args = ap.parse_args()
    tools = [t.split(":", 1) for t in args.tool] + [["tcpdump", "tcpdump"]]
    verdicts = []
    for shape in args.shape:
        name, cfg, pairs = shape.split(":", 2)
        per_pass = sum(int(p.split(",")[3]) for p in pairs.split(";"))
        if args.count % per_pass:
            raise SystemExit(f"--count {args.count} is not a multiple of {per_pass}")
        want, want_packets = expected_totals(pairs, args.count // per_pass)
        runs = {t: [] for t, _ in tools}
        for i in range(args.runs):
            for tool, path in tools:
                r = one_run(args, tool, path, cfg, args.workdir, f"{name}.{tool}.{i}")
                runs[tool].append(r)
                print(f"  {name} run {i + 1} {tool}: counted {r['counted']} drops {r['drops']}"
                      f"/{r['ifdrops']} cpu {r['cpu']:.3f} s (user {r['user']:.3f} sys "
                      f"{r['sys']:.3f} whole run), trafgen {r['sent']} in {r['gen_s']:.2f} s",
                      flush=True)
        verdicts += report(name, args.count, runs, tools, want, want_packets)
    print()
    for v in verdicts:
        print(v)


def report(name, count, runs, tools, want, want_packets):
    per_m = lambda r: r["cpu"] / (count / 1e6)
    best = {t: min(per_m(r) for r in rs) for t, rs in runs.items()}
    med = {t: statistics.median(per_m(r) for r in rs) for t, rs in runs.items()}
    gen = max(count / r["gen_s"] for rs in runs.values() for r in rs)
    gen_med = statistics.median(count / r["gen_s"] for rs in runs.values() for r in rs)
    print(f"\nshape {name}: {count} packets a run, trafgen at its ceiling: best {gen / 1e6:.3f} "
          f"Mpps, median {gen_med / 1e6:.3f} Mpps")
    head = "{:<22} {:>14} {:>12} {:>16} {:>16} {:>12}"
    print(head.format("tool", "counted (min)", "drops (max)", "CPU s/Mpkt best", "median",
                      "x tcpdump"))
    verdicts = []
    for tool, _ in tools:
        rs = runs[tool]
        counted = min(r["counted"] or 0 for r in rs)
        drops = max((r["drops"] or 0) + (r["ifdrops"] or 0) for r in rs)
        ratio = best[tool] / best["tcpdump"]
        print(head.format(tool, counted, drops, f"{best[tool]:.4f}", f"{med[tool]:.4f}",
                          f"{ratio:.2f} ({med[tool] / med['tcpdump']:.2f})"))
        if tool == "tcpdump":
            continue
        exact = all(r["totals"] == want for r in rs if not r["drops"] and not r["ifdrops"])
        lossless = sum(1 for r in rs if not r["drops"] and not r["ifdrops"])
        verdicts.append(f"{name} {tool}: totals exact ({want_packets} packets) in every "
                        f"run without drops ({lossless} of {len(rs)}): "
                        f"{'yes' if exact else 'NO'}")
        verdicts.append(f"{name} {tool}: target <= 0.80x tcpdump's CPU per packet (best): "
                        f"{'PASS' if ratio <= 0.8 else 'MISS'} ({ratio:.2f}); 0 drops in every "
                        f"run: {'PASS' if drops == 0 else 'MISS'} ({drops} at most)")
    return verdicts


if __name__ == "__main__":
    main()
