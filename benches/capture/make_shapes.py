#!/usr/bin/env python3
"""Writes the five input shapes of the replay bench (issue 13) from the same 1,000 real frames:
every 50th of the shared corpus' Ethernet frames (walked as make_big_pcap.py walks it, each cut
to 128 bytes: about 350 distinct seconds from many captures), with their own timestamps, repeated
until PACKETS frames are written.

  asis.pcap          the frames as they are, timestamps restarting each pass (sparse: the
                     file's clock jumps between the captures the frames come from)
  1mpps.pcap         increasing timestamps, 1 µs apart (1 Mpps)
  1kpps.pcap         increasing timestamps, 1 ms apart (1 kpps)
  1mpps-jitter.pcap  1 Mpps, each timestamp moved by up to ±2 ms (not sorted: what several
                     NIC queues or `-i any` deliver around each second boundary)
  1kpps-jitter.pcap  1 kpps, each timestamp moved by up to ±2 ms

The jitter comes from a fixed seed: the files are the same on every run.
Usage: make_shapes.py CORPUS_DIR OUT_DIR PACKETS"""
import os
import random
import struct
import sys

FRAMES = 1000
STRIDE = 50
SNAP = 128
BASE_US = 1_700_000_000 * 1_000_000
JITTER_US = 2_000

corpus, out_dir, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
frames = []  # (seconds, microseconds, bytes)
for root, _, files in sorted(os.walk(corpus)):
    for name in sorted(files):
        if len(frames) >= FRAMES * STRIDE:
            break
        with open(os.path.join(root, name), "rb") as f:
            data = f.read()
        if len(data) < 24 or data[:4] != b"\xd4\xc3\xb2\xa1":
            continue  # little-endian microsecond pcap only, as make_big_pcap.py
        if struct.unpack("<I", data[20:24])[0] != 1:
            continue
        at = 24
        while at + 16 <= len(data) and len(frames) < FRAMES * STRIDE:
            sec, usec, caplen = struct.unpack("<III", data[at:at + 12])
            if caplen > 262144 or at + 16 + caplen > len(data) or usec >= 1_000_000:
                break
            frames.append((sec, usec, data[at + 16:at + 16 + min(caplen, SNAP)]))
            at += 16 + caplen
frames = frames[::STRIDE]
if len(frames) < FRAMES:
    sys.exit(f"only {len(frames)} Ethernet frames found under {corpus}")


def write(name, stamp):
    """Writes `want` frames to OUT_DIR/name, frame i stamped stamp(i) (µs since the epoch)."""
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAP, 1))
        buf = []
        for i in range(want):
            fr = frames[i % FRAMES][2]
            ts = stamp(i)
            buf.append(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(fr), len(fr)))
            buf.append(fr)
            if len(buf) >= 20000:
                f.write(b"".join(buf))
                buf.clear()
        f.write(b"".join(buf))


own = [s * 1_000_000 + u for s, u, _ in frames]
rng = random.Random(13)
jitter = [rng.randint(-JITTER_US, JITTER_US) for _ in range(want)]
write("asis.pcap", lambda i: own[i % FRAMES])
write("1mpps.pcap", lambda i: BASE_US + i)
write("1kpps.pcap", lambda i: BASE_US + i * 1000)


def jittered(step):
    """Frame i at i * step ± 2 ms, kept within the in-order file's span (so that both shapes
    cover the same intervals and their records compare)."""
    last = BASE_US + (want - 1) * step
    return lambda i: min(last, max(BASE_US, BASE_US + i * step + jitter[i]))


write("1mpps-jitter.pcap", jittered(1))
write("1kpps-jitter.pcap", jittered(1000))
seconds = {t // 1_000_000 for t in own}
print(f"{out_dir}: 5 shapes of {want} packets from {FRAMES} frames "
      f"({(max(own) - min(own)) / 1e6:.0f} s span, {len(seconds)} distinct seconds a pass)")
