#!/usr/bin/env python3
"""Writes a large Ethernet pcap by repeating the Ethernet frames of the shared corpus (each cut
to 128 bytes, as a live capture with the default snap length would keep them), with
timestamps 10 µs apart. Usage: make_big_pcap.py CORPUS_DIR OUT PACKETS"""
import os
import struct
import sys

corpus, out, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
frames = []
for root, _, files in sorted(os.walk(corpus)):
    for name in sorted(files):
        path = os.path.join(root, name)
        with open(path, "rb") as f:
            data = f.read()
        if len(data) < 24 or data[:4] != b"\xd4\xc3\xb2\xa1":
            continue  # little-endian microsecond pcap only: simple and plenty
        if struct.unpack("<I", data[20:24])[0] != 1:
            continue
        at = 24
        while at + 16 <= len(data) and len(frames) < 200_000:
            caplen = struct.unpack("<I", data[at + 8:at + 12])[0]
            if caplen > 262144 or at + 16 + caplen > len(data):
                break
            frames.append(data[at + 16:at + 16 + min(caplen, 128)])
            at += 16 + caplen
if not frames:
    sys.exit("no Ethernet frames found under " + corpus)
with open(out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 128, 1))
    ts = 1_700_000_000 * 1_000_000
    buf = []
    for i in range(want):
        fr = frames[i % len(frames)]
        buf.append(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(fr), len(fr)))
        buf.append(fr)
        ts += 10
        if len(buf) >= 20000:
            f.write(b"".join(buf))
            buf.clear()
    f.write(b"".join(buf))
print(f"{out}: {want} packets from {len(frames)} distinct frames")
