//! A record's text built on the stack without `core::fmt`: the pipe line, the Kafka key and
//! values. The bytes are exactly those of `core_nostd::wire::Record`'s `line`, `key`,
//! `text_value`, `packets_header` and `json_value` (tested byte for byte here); on sparse
//! traffic, and in Kafka mode with one record per packet, a record comes every few packets,
//! and `fmt` took more time than the rest of the capture there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use core_nostd::wire::{JSON_MAX, KEY_MAX, LINE_MAX, NUMBER_MAX, Record};

/// Text built in `N` bytes of its own. Each `N` below is the longest its text can be plus 4,
/// so that an IPv4 octet is always copied as 4 bytes.
pub struct TextBuf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

/// Text being written into `N` bytes that belong to someone else (a [`TextBuf`], or pipe
/// mode's output buffer, where a line is built in place).
struct Cursor<'a, const N: usize> {
    bytes: &'a mut [u8; N],
    len: usize,
}

/// The pipe line, newline included.
#[cfg(test)]
pub type Line = TextBuf<{ LINE_MAX + 4 }>;
/// The Kafka key, `<src>,<dst>`.
pub type Key = TextBuf<{ KEY_MAX + 4 }>;
/// A decimal number (the text value, the `packets` header).
pub type Number = TextBuf<NUMBER_MAX>;
/// The JSON value.
pub type Json = TextBuf<{ JSON_MAX + 4 }>;

/// `r`'s pipe line: `<start_ms> <src> <dst> <bytes> <packets>\n`.
#[cfg(test)]
pub fn line(r: &Record) -> Line {
    let mut t = Line::new();
    t.len = line_in(&mut t.bytes, &Start::of(r.start_ms), r);
    t
}

/// Writes `r`'s pipe line at the start of `room` and returns its length; `start` is
/// `r.start_ms`'s text ([`Start::of`]), made once for all the records of an interval.
#[inline]
pub fn line_in(room: &mut [u8; LINE_MAX + 4], start: &Start, r: &Record) -> usize {
    let mut t = Cursor {
        bytes: room,
        len: usize::from(start.len),
    };
    t.bytes[..Start::WIDTH].copy_from_slice(&start.bytes);
    t.ip(r.src);
    t.push(b' ');
    t.ip(r.dst);
    t.push(b' ');
    t.u64(r.bytes);
    t.push(b' ');
    t.u64(r.packets);
    t.push(b'\n');
    t.len
}

/// An interval's start as a pipe line's first field: its digits and a space, in a fixed-width
/// array that is copied whole (a fixed copy beats a variable one) and advanced by `len`.
#[derive(Clone, Copy)]
pub struct Start {
    bytes: [u8; Start::WIDTH],
    len: u8,
}

impl Start {
    /// 20 digits (`u64::MAX`) and the space, rounded up.
    const WIDTH: usize = 24;

    /// `ms` and a space.
    pub fn of(ms: u64) -> Start {
        let mut bytes = [0; Start::WIDTH];
        let mut t = Cursor {
            bytes: &mut bytes,
            len: 0,
        };
        t.u64(ms);
        t.push(b' ');
        let len = t.len as u8;
        Start { bytes, len }
    }
}

/// `r`'s Kafka key: `<src>,<dst>`.
#[inline]
pub fn key(r: &Record) -> Key {
    TextBuf::write(|t| {
        t.ip(r.src);
        t.push(b',');
        t.ip(r.dst);
    })
}

/// `v` in decimal.
#[inline]
pub fn number(v: u64) -> Number {
    TextBuf::write(|t| t.u64(v))
}

/// `r`'s JSON value, `end_ms` being its interval's end.
pub fn json(r: &Record, end_ms: u64) -> Json {
    TextBuf::write(|t| {
        t.extend(br#"{"src":""#);
        t.ip(r.src);
        t.extend(br#"","dst":""#);
        t.ip(r.dst);
        t.extend(br#"","bytes":"#);
        t.u64(r.bytes);
        t.extend(br#","packets":"#);
        t.u64(r.packets);
        t.extend(br#","start_ms":"#);
        t.u64(r.start_ms);
        t.extend(br#","end_ms":"#);
        t.u64(end_ms);
        t.push(b'}');
    })
}

/// "00" to "99": two digits per division.
const PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Each octet's decimal text in 3 bytes, then its length: copied whole, advanced by the length.
const OCTETS: [[u8; 4]; 256] = {
    let mut t = [[0u8; 4]; 256];
    let mut i = 0;
    while i < 256 {
        let (h, d, u) = ((i / 100) as u8, (i / 10 % 10) as u8, (i % 10) as u8);
        t[i] = if i >= 100 {
            [b'0' + h, b'0' + d, b'0' + u, 3]
        } else if i >= 10 {
            [b'0' + d, b'0' + u, 0, 2]
        } else {
            [b'0' + u, 0, 0, 1]
        };
        i += 1;
    }
    t
};

impl<const N: usize> TextBuf<N> {
    /// Empty.
    #[inline]
    pub fn new() -> TextBuf<N> {
        TextBuf {
            bytes: [0; N],
            len: 0,
        }
    }

    /// What was written.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The text `f` writes.
    #[inline]
    fn write(f: impl FnOnce(&mut Cursor<'_, N>)) -> TextBuf<N> {
        let mut t = TextBuf::new();
        let mut c = Cursor {
            bytes: &mut t.bytes,
            len: 0,
        };
        f(&mut c);
        t.len = c.len;
        t
    }
}

impl<const N: usize> Cursor<'_, N> {
    #[inline]
    fn push(&mut self, b: u8) {
        self.bytes[self.len] = b;
        self.len += 1;
    }

    #[inline]
    fn extend(&mut self, s: &[u8]) {
        self.bytes[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
    }

    /// `v` in decimal, written in place from its last digit back (two at a time), its length
    /// known first: no scratch digits to copy over.
    #[inline]
    fn u64(&mut self, mut v: u64) {
        let end = self.len + digits(v);
        let mut at = end;
        while v >= 100 {
            let two = (v % 100) as usize * 2;
            v /= 100;
            at -= 2;
            self.bytes[at..at + 2].copy_from_slice(&PAIRS[two..two + 2]);
        }
        if v >= 10 {
            let two = v as usize * 2;
            self.bytes[at - 2..at].copy_from_slice(&PAIRS[two..two + 2]);
        } else {
            self.bytes[at - 1] = b'0' + v as u8;
        }
        self.len = end;
    }

    #[inline]
    fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(a) => self.ipv4(a),
            IpAddr::V6(a) => self.ipv6(a),
        }
    }

    #[inline]
    fn ipv4(&mut self, a: Ipv4Addr) {
        for (i, o) in a.octets().into_iter().enumerate() {
            if i > 0 {
                self.push(b'.');
            }
            let t = &OCTETS[usize::from(o)];
            self.bytes[self.len..self.len + 4].copy_from_slice(t);
            self.len += usize::from(t[3]);
        }
    }

    /// `a` as `Ipv6Addr`'s `Display` writes it (RFC 5952: lowercase hex without leading
    /// zeros, the first longest run of two or more zero groups as `::`, an IPv4-mapped
    /// address as `::ffff:a.b.c.d`), without `core::fmt`. The run is looked up by the
    /// pattern of zero groups ([`ZERO_RUNS`]) rather than searched for, and each group is
    /// written as 4 bytes then advanced by its digit count: a third of the addresses of real
    /// traffic are IPv6, and this was the costliest part of a record's text.
    fn ipv6(&mut self, a: Ipv6Addr) {
        if let Some(v4) = a.to_ipv4_mapped() {
            self.extend(b"::ffff:");
            return self.ipv4(v4);
        }
        let groups = a.segments();
        let mut zeros = 0usize;
        for (i, &g) in groups.iter().enumerate() {
            zeros |= usize::from(g == 0) << i;
        }
        let [at, len] = ZERO_RUNS[zeros].map(usize::from);
        if len > 1 {
            self.groups(&groups[..at]);
            self.push(b':');
            self.push(b':');
            self.groups(&groups[at + len..]);
        } else {
            self.groups(&groups);
        }
    }

    fn groups(&mut self, groups: &[u16]) {
        for (i, &g) in groups.iter().enumerate() {
            if i > 0 {
                self.push(b':');
            }
            self.group(g);
        }
    }

    /// One group in hex without leading zeros (at least one digit): its four digits are
    /// shifted so that the first significant one leads, copied as 4 bytes (the room's
    /// slack), and the text advanced by the significant ones.
    #[inline]
    fn group(&mut self, g: u16) {
        let [hi, lo] = g.to_be_bytes();
        let (h, l) = (HEX_PAIRS[usize::from(hi)], HEX_PAIRS[usize::from(lo)]);
        let digits = ((19 - g.leading_zeros()) / 4).max(1);
        let word = u32::from_be_bytes([h[0], h[1], l[0], l[1]]) << (8 * (4 - digits));
        self.bytes[self.len..self.len + 4].copy_from_slice(&word.to_be_bytes());
        self.len += digits as usize;
    }
}

/// How many decimal digits `v` has (1 for 0), without a loop or a division: the bit length
/// gives the digit count or one more ([`POWERS`] tells which).
#[inline]
fn digits(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    let guess = (bits * 1233) >> 12;
    guess + 1 - usize::from(v < POWERS[guess])
}

/// `10^i` for `i` of 1 to 19, and 0 first (so that 0 to 9 have one digit).
const POWERS: [u64; 20] = {
    let mut t = [0u64; 20];
    let mut i = 1;
    let mut p = 1u64;
    while i < 20 {
        p *= 10;
        t[i] = p;
        i += 1;
    }
    t
};

/// Each byte's two lowercase hex digits.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut t = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = [HEX[i >> 4], HEX[i & 0xf]];
        i += 1;
    }
    t
};

/// For each pattern of zero groups of an IPv6 address (bit `i` set when group `i` is 0), the
/// first longest run of zero groups: `[where it starts, how long it is]` (`[0, 0]` for none).
const ZERO_RUNS: [[u8; 2]; 256] = {
    let mut t = [[0u8; 2]; 256];
    let mut mask = 0;
    while mask < 256 {
        let (mut best_at, mut best_len, mut run_at, mut run_len) = (0, 0, 0, 0);
        let mut i = 0;
        while i < 8 {
            if mask >> i & 1 == 1 {
                if run_len == 0 {
                    run_at = i;
                }
                run_len += 1;
                if run_len > best_len {
                    (best_at, best_len) = (run_at, run_len);
                }
            } else {
                run_len = 0;
            }
            i += 1;
        }
        t[mask] = [best_at as u8, best_len as u8];
        mask += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;
    use core_nostd::{Counts, Pair};

    fn s<const N: usize>(t: &TextBuf<N>) -> &str {
        std::str::from_utf8(t.as_bytes()).unwrap()
    }

    /// Records at the edges: the shortest and longest addresses and numbers of each kind.
    fn records() -> Vec<Record> {
        let v4 = |a: [u8; 4]| IpAddr::from(a);
        let v6 = |s: &str| IpAddr::V6(s.parse().unwrap());
        let full = v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        let mapped = v6("::ffff:255.255.255.255");
        [
            (0, v4([0, 0, 0, 0]), v4([255, 255, 255, 255]), 0, 0),
            (
                1_700_000_001_000,
                v4([10, 0, 9, 1]),
                v4([192, 0, 2, 99]),
                1500,
                1,
            ),
            (
                u64::MAX,
                v4([1, 20, 100, 7]),
                v6("2001:db8::1"),
                u64::MAX,
                u64::MAX,
            ),
            (9, v6("::ffff:10.0.0.1"), v6("fe80::1:0:0:2"), 10, 99),
            (
                10_000,
                v6("::"),
                v4([100, 10, 1, 0]),
                1_000_000,
                123_456_789,
            ),
            (u64::MAX, full, full, u64::MAX, u64::MAX),
            (u64::MAX, mapped, full, u64::MAX, u64::MAX),
        ]
        .into_iter()
        .map(|(start, src, dst, bytes, packets)| {
            Record::new(start, Pair::new(src, dst), Counts::new(bytes, packets))
        })
        .collect()
    }

    #[test]
    fn lines_keys_and_values_are_the_records_own() {
        for r in records() {
            assert_eq!(s(&line(&r)), r.line().as_str());
            assert_eq!(s(&key(&r)), r.key().as_str());
            assert_eq!(s(&number(r.bytes)), r.text_value().as_str());
            assert_eq!(s(&number(r.packets)), r.packets_header().as_str());
            for end in [0, r.start_ms.saturating_add(1_000), u64::MAX] {
                assert_eq!(s(&json(&r, end)), r.json_value(end).as_str());
            }
        }
    }

    #[test]
    fn ipv6_is_written_as_display_writes_it() {
        // Every pattern of zero and non-zero groups (the zero runs decide the `::`), with
        // non-zero groups of 1 to 4 hex digits, plus the mapped and the special addresses.
        let mut checked = 0;
        for zeros in 0..256u32 {
            for width in 0..4u32 {
                let groups: [u16; 8] = std::array::from_fn(|i| {
                    if zeros >> i & 1 == 1 {
                        0
                    } else {
                        [0x1, 0xab, 0xf0d, 0xdb80][((i as u32 + width) % 4) as usize]
                    }
                });
                let a = Ipv6Addr::from(groups);
                assert_eq!(written(IpAddr::V6(a)), a.to_string());
                checked += 1;
            }
        }
        for s in [
            "::",
            "::1",
            "::ffff:10.0.0.1",
            "::ffff:0.0.0.0",
            "::10.0.0.1",
            "64:ff9b::1",
        ] {
            let a: Ipv6Addr = s.parse().unwrap();
            assert_eq!(written(IpAddr::V6(a)), a.to_string());
        }
        assert_eq!(checked, 1024);
    }

    /// `ip` as [`TextBuf`] writes it.
    fn written(ip: IpAddr) -> String {
        s(&Key::write(|t| t.ip(ip))).to_string()
    }

    #[test]
    fn numbers_are_written_as_display_writes_them() {
        let mut values = vec![0, u64::MAX, u64::MAX - 1];
        for p in 0..20 {
            let ten = 10u64.pow(p);
            values.extend([ten - 1, ten, ten + 1, ten.saturating_mul(7) / 3]);
        }
        for v in values {
            assert_eq!(s(&number(v)), v.to_string());
            let start = Start::of(v);
            let text = &start.bytes[..usize::from(start.len)];
            assert_eq!(std::str::from_utf8(text).unwrap(), format!("{v} "));
        }
    }

    #[test]
    fn every_ipv4_octet_is_written_as_display_writes_it() {
        for o in 0..=255u8 {
            for a in [
                [o, 0, 9, 255],
                [1, o, 100, 10],
                [255, 99, o, 0],
                [10, 0, 0, o],
            ] {
                let a = Ipv4Addr::from(a);
                assert_eq!(written(IpAddr::V4(a)), a.to_string());
            }
        }
    }
}
