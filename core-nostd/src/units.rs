//! Values operators type on command lines: durations (`500ms`, `5s`, `1.5s`, `20m`, `1h`, or a
//! bare number of seconds), sizes and rates (`1.5GiB`, `40Mbit/s`: [`amount`]) and `KEY=VALUE`
//! settings. Every binary reads them with these, so they
//! read the same everywhere.

use core::fmt;

use nom::Parser;
use nom::character::complete::{alpha0, char, digit1};
use nom::combinator::{all_consuming, opt};
use nom::sequence::preceded;

/// Why a value was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitError {
    /// Not a number with an optional unit.
    NotADuration,
    /// A unit other than `ms`, `s`, `m`, `h`.
    UnknownUnit,
    /// Above 10^9 seconds, or more than 0 but under a millisecond.
    OutOfRange,
    /// Not `KEY=VALUE` with a non-empty key.
    NotKeyValue,
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UnitError::NotADuration => "not a duration (e.g. 500ms, 5s, 1.5s, 20m, 1h)",
            UnitError::UnknownUnit => "unknown unit (ms, s, m, h)",
            UnitError::OutOfRange => "out of range (0, or 1 ms to 10^9 s)",
            UnitError::NotKeyValue => "expected KEY=VALUE",
        })
    }
}

impl core::error::Error for UnitError {}

/// `1 packet`, `2 packets`: a count and its noun, plural when it is not one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count(pub u64, pub &'static str);

impl core::fmt::Display for Count {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let Count(n, noun) = *self;
        write!(f, "{n} {noun}{}", if n == 1 { "" } else { "s" })
    }
}

/// A duration in whole milliseconds.
pub fn duration_ms(text: &str) -> Result<u64, UnitError> {
    type E<'a> = nom::error::Error<&'a str>;
    let (_, (whole, fraction, unit)) = all_consuming((
        digit1::<&str, E<'_>>,
        opt(preceded(char('.'), digit1)),
        alpha0,
    ))
    .parse(text.trim())
    .map_err(|_| UnitError::NotADuration)?;
    let scale: u64 = match unit {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(UnitError::UnknownUnit),
    };
    let whole: u64 = whole.parse().map_err(|_| UnitError::OutOfRange)?;
    let mut ms = whole.checked_mul(scale).ok_or(UnitError::OutOfRange)?;
    let mut nonzero = whole > 0;
    if let Some(f) = fraction {
        // Up to 9 places are meaningful for any unit here; more would only overflow.
        let digits = f.get(..f.len().min(9)).unwrap_or(f);
        let value: u64 = digits.parse().map_err(|_| UnitError::NotADuration)?;
        nonzero |= value > 0;
        let denominator = 10u64.pow(digits.len() as u32);
        ms = ms
            .checked_add(value.saturating_mul(scale) / denominator)
            .ok_or(UnitError::OutOfRange)?;
    }
    if ms > 1_000_000_000_000 || (nonzero && ms == 0) {
        return Err(UnitError::OutOfRange);
    }
    Ok(ms)
}

/// A duration, as [`duration_ms`] reads it; command-line parsers take this one directly.
pub fn duration(text: &str) -> Result<core::time::Duration, UnitError> {
    duration_ms(text).map(core::time::Duration::from_millis)
}

/// `KEY=VALUE` (the value may hold `=`); the key is trimmed.
pub fn key_value(text: &str) -> Result<(&str, &str), UnitError> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim(), v)),
        _ => Err(UnitError::NotKeyValue),
    }
}

/// Why a size or rate ([`amount`]) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AmountError {
    /// Expected a number (`1024`, `1.5`) at the start; found none.
    NotANumber,
    /// Expected a unit (`B`, `KiB`, `MB`, `bit`, `Mbit/s`, `Gbps`, …) at byte `at` of the
    /// trimmed text; found text that is none.
    UnknownUnit {
        /// Byte offset of the unit in the trimmed text.
        at: usize,
    },
    /// A bare number (no unit) must be a whole number of bytes, as limits always were.
    NotWhole,
    /// The value, or its bytes per window, does not fit 64 bits (or has more than 20 decimal
    /// places).
    Overflow,
}

impl fmt::Display for AmountError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmountError::NotANumber => {
                f.write_str("expected a number (e.g. 1024, 1.5GiB, 40Mbit/s)")
            }
            AmountError::UnknownUnit { at } => write!(
                f,
                "unknown unit at byte {at} (expected B, kB, MB, GB, TB, PB, KiB … PiB, \
                 bits with b or bit, a rate with /s or ps)"
            ),
            AmountError::NotWhole => f.write_str("a number without a unit must be whole bytes"),
            AmountError::Overflow => f.write_str("does not fit 64 bits"),
        }
    }
}

impl core::error::Error for AmountError {}

/// A size (bytes) or a rate (bytes per second), exactly, as the fraction
/// `numerator / denominator` bytes (per second for a rate), in lowest terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Amount {
    numerator: u128,
    denominator: u128,
    rate: bool,
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `n / d` rounded to the nearest whole number, halves up; `d > 0`.
fn round_div(n: u128, d: u128) -> u128 {
    let (q, r) = (n / d.max(1), n % d.max(1));
    // r < d, so d - r cannot underflow: r ≥ d - r is 2r ≥ d without overflow.
    q + u128::from(r >= d.max(1) - r)
}

/// The multiplier of a unit prefix: `k`/`K` 10^3, `M` 10^6, `G` 10^9, `T` 10^12, `P` 10^15;
/// `Ki` 2^10 … `Pi` 2^50. Lowercase `m`, `g`, `t`, `p` are no prefix (SI's `m` is milli).
fn prefix(text: &str) -> Option<u128> {
    Some(match text {
        "" => 1,
        "k" | "K" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        _ => return None,
    })
}

/// A unit: (multiplier in bytes' numerator, bits, rate), or `None`.
fn unit(text: &str) -> Option<(u128, bool, bool)> {
    let (base, rate) = if let Some(b) = text.strip_suffix("/s") {
        (b, true)
    } else if let Some(b) = text.strip_suffix("ps").filter(|b| b.ends_with(['B', 'b'])) {
        (b, true)
    } else {
        (text, false)
    };
    for (name, bits) in [
        ("bytes", false),
        ("byte", false),
        ("bits", true),
        ("bit", true),
        ("B", false),
        ("b", true),
    ] {
        if let Some(p) = base.strip_suffix(name) {
            return prefix(p).map(|m| (m, bits, rate));
        }
    }
    None
}

/// Reads a size or a rate as operators write limits.
///
/// - A bare whole number is bytes (`1073741824`), as limits always were.
/// - Otherwise a number (`1.5`) and a unit, spaces between allowed. Prefixes: `k` or `K` =
///   1000, `M` 10^6, `G` 10^9, `T` 10^12, `P` 10^15 (SI: powers of 1000); `Ki`, `Mi`, `Gi`,
///   `Ti`, `Pi` powers of 1024 (IEC). Case matters except for `k`/`K`: `m` would be milli in
///   SI, so `mb` is refused rather than guessed. Then `B`/`byte`/`bytes` for bytes, `b`/`bit`/
///   `bits` for bits (8 to a byte): `MB` is 10^6 bytes, `Mb` and `Mbit` 10^6 bits.
/// - A rate ends in `/s` (`40Mbit/s`, `5MB/s`, `1GiB/s`) or `ps` after `B` or `b` (`2Gbps`
///   bits per second, `10MBps` bytes per second).
///
/// The value is kept exactly (a fraction); a size that is not a whole number of bytes rounds
/// to the nearest byte, halves up (`1.1KiB` = 1126.4 B → 1126; `4b` = 0.5 B → 1).
pub fn amount(text: &str) -> Result<Amount, AmountError> {
    let t = text.trim();
    let whole_len = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if whole_len == 0 {
        return Err(AmountError::NotANumber);
    }
    let (whole, rest) = t.split_at(whole_len);
    let (fraction, rest) = match rest.strip_prefix('.') {
        Some(r) => {
            let n = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            if n == 0 {
                return Err(AmountError::NotANumber);
            }
            r.split_at(n)
        }
        None => ("", rest),
    };
    if fraction.len() > 20 {
        return Err(AmountError::Overflow);
    }
    let unit_text = rest.trim_start();
    let at = t.len() - unit_text.len();
    let (multiplier, bits, rate) = if unit_text.is_empty() {
        if !fraction.is_empty() {
            return Err(AmountError::NotWhole);
        }
        (1, false, false)
    } else {
        unit(unit_text).ok_or(AmountError::UnknownUnit { at })?
    };
    let mut mantissa: u128 = 0;
    for c in whole.bytes().chain(fraction.bytes()) {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(u128::from(c - b'0')))
            .ok_or(AmountError::Overflow)?;
    }
    let numerator = mantissa
        .checked_mul(multiplier)
        .ok_or(AmountError::Overflow)?;
    let denominator = 10u128.pow(fraction.len() as u32) * if bits { 8 } else { 1 };
    let g = gcd(numerator, denominator).max(1);
    let a = Amount {
        numerator: numerator / g,
        denominator: denominator / g,
        rate,
    };
    if !rate {
        a.bytes_per_window(0)?;
    }
    Ok(a)
}

impl Amount {
    /// True for a rate (bytes per second), false for a size.
    pub fn is_rate(&self) -> bool {
        self.rate
    }

    /// A size in whole bytes (rounded as [`amount`] says), or for a rate its bytes per second
    /// (rounded the same way).
    pub fn whole_bytes(&self) -> Result<u64, AmountError> {
        u64::try_from(round_div(self.numerator, self.denominator))
            .map_err(|_| AmountError::Overflow)
    }

    /// The bytes a window of `window_ms` milliseconds may carry: a size as it is, whatever the
    /// window; a rate times the window, computed exactly and rounded to the nearest byte,
    /// halves up (`40Mbit/s` over 300 s = 1,500,000,000). More than 2^64 − 1 is
    /// [`AmountError::Overflow`].
    pub fn bytes_per_window(&self, window_ms: u64) -> Result<u64, AmountError> {
        if !self.rate {
            return self.whole_bytes();
        }
        let d = self
            .denominator
            .checked_mul(1_000)
            .ok_or(AmountError::Overflow)?;
        let w = u128::from(window_ms);
        let (q, r) = (self.numerator / d, self.numerator % d);
        // r < d < 2^80 and w < 2^64: r·w fits; q·w is at most the result.
        let whole = q.checked_mul(w).ok_or(AmountError::Overflow)?;
        let part = r
            .checked_mul(w)
            .map(|rw| round_div(rw, d))
            .ok_or(AmountError::Overflow)?;
        whole
            .checked_add(part)
            .and_then(|b| u64::try_from(b).ok())
            .ok_or(AmountError::Overflow)
    }

    /// Compares two amounts of the same kind exactly (sizes as fractions of bytes, rates as
    /// fractions of bytes per second); `None` for a size against a rate, which depends on the
    /// window.
    pub fn cmp_same_kind(&self, other: &Amount) -> Option<core::cmp::Ordering> {
        if self.rate != other.rate {
            return None;
        }
        // a/b against c/d by their continued fractions: exact, and never overflows.
        let (mut a, mut b, mut c, mut d) = (
            self.numerator,
            self.denominator.max(1),
            other.numerator,
            other.denominator.max(1),
        );
        let mut flipped = false;
        loop {
            let (qa, qc) = (a / b, c / d);
            if qa != qc {
                let o = qa.cmp(&qc);
                return Some(if flipped { o.reverse() } else { o });
            }
            let (ra, rc) = (a % b, c % d);
            let o = match (ra == 0, rc == 0) {
                (true, true) => core::cmp::Ordering::Equal,
                (true, false) => core::cmp::Ordering::Less,
                (false, true) => core::cmp::Ordering::Greater,
                (false, false) => {
                    // ra/b against rc/d is d/rc against b/ra.
                    (a, b, c, d) = (d, rc, b, ra);
                    flipped = !flipped;
                    continue;
                }
            };
            return Some(if flipped { o.reverse() } else { o });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_is_plural_unless_it_is_one() {
        extern crate std;
        use std::format;
        assert_eq!(format!("{}", Count(1, "packet")), "1 packet");
        assert_eq!(format!("{}", Count(0, "packet")), "0 packets");
        assert_eq!(format!("{}", Count(3, "record")), "3 records");
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms("1s"), Ok(1_000));
        assert_eq!(duration_ms(" 500ms "), Ok(500));
        assert_eq!(duration_ms("1.5s"), Ok(1_500));
        assert_eq!(duration_ms("1.5"), Ok(1_500));
        assert_eq!(duration_ms("20m"), Ok(1_200_000));
        assert_eq!(duration_ms("1h"), Ok(3_600_000));
        assert_eq!(duration_ms("0"), Ok(0));
        assert_eq!(duration_ms("0.25m"), Ok(15_000));
        assert_eq!(duration_ms("fast"), Err(UnitError::NotADuration));
        assert_eq!(duration_ms("-1s"), Err(UnitError::NotADuration));
        assert_eq!(duration_ms("5y"), Err(UnitError::UnknownUnit));
        assert_eq!(duration_ms("0.5ms"), Err(UnitError::OutOfRange));
        assert_eq!(
            duration_ms("99999999999999999999s"),
            Err(UnitError::OutOfRange)
        );
        assert_eq!(duration_ms("2000000000s"), Err(UnitError::OutOfRange));
    }

    #[test]
    fn key_values() {
        assert_eq!(key_value("a.b=c=d"), Ok(("a.b", "c=d")));
        assert_eq!(
            key_value(" sasl.mechanism =PLAIN"),
            Ok(("sasl.mechanism", "PLAIN"))
        );
        assert_eq!(key_value("novalue"), Err(UnitError::NotKeyValue));
        assert_eq!(key_value("=x"), Err(UnitError::NotKeyValue));
    }

    #[test]
    fn sizes_in_every_unit() {
        let b = |t: &str| amount(t).and_then(|a| a.bytes_per_window(300_000));
        assert_eq!(b("1073741824"), Ok(1_073_741_824));
        assert_eq!(b(" 0 "), Ok(0));
        assert_eq!(b("500MB"), Ok(500_000_000));
        assert_eq!(b("1.5GiB"), Ok(1_610_612_736));
        assert_eq!(b("1.5 GiB"), Ok(1_610_612_736));
        assert_eq!(b("1kB"), Ok(1_000));
        assert_eq!(b("1KB"), Ok(1_000));
        assert_eq!(b("1KiB"), Ok(1_024));
        assert_eq!(b("2MiB"), Ok(2 << 20));
        assert_eq!(b("1TB"), Ok(1_000_000_000_000));
        assert_eq!(b("1TiB"), Ok(1 << 40));
        assert_eq!(b("1PB"), Ok(1_000_000_000_000_000));
        assert_eq!(b("1PiB"), Ok(1 << 50));
        assert_eq!(b("7B"), Ok(7));
        assert_eq!(b("7 bytes"), Ok(7));
        assert_eq!(b("1byte"), Ok(1));
        // Bits: 8 to a byte; `Mb` is megabits, `MB` megabytes.
        assert_eq!(b("8b"), Ok(1));
        assert_eq!(b("16 bits"), Ok(2));
        assert_eq!(b("1Mb"), Ok(125_000));
        assert_eq!(b("1Mbit"), Ok(125_000));
        assert_eq!(b("1Mib"), Ok(131_072));
        // Rounding to the nearest byte, halves up.
        assert_eq!(b("1.1KiB"), Ok(1_126));
        assert_eq!(b("4b"), Ok(1));
        assert_eq!(b("3b"), Ok(0));
        assert_eq!(b("12.5B"), Ok(13));
        assert_eq!(amount("1.5GiB").map(|a| a.is_rate()), Ok(false));
        // A size is the same for every window.
        assert_eq!(
            amount("1.5GiB").unwrap().bytes_per_window(1),
            Ok(1_610_612_736)
        );
    }

    #[test]
    fn rates_convert_to_bytes_per_window_exactly() {
        let per = |t: &str, ms: u64| amount(t).and_then(|a| a.bytes_per_window(ms));
        assert_eq!(per("40Mbit/s", 300_000), Ok(1_500_000_000));
        assert_eq!(per("40Mbit/s", 60_000), Ok(300_000_000));
        assert_eq!(per("2Gbps", 300_000), Ok(75_000_000_000));
        assert_eq!(per("10MBps", 1_000), Ok(10_000_000));
        assert_eq!(per("5MB/s", 2_000), Ok(10_000_000));
        assert_eq!(per("1GiB/s", 1_000), Ok(1 << 30));
        assert_eq!(per("1Bps", 1_000), Ok(1));
        assert_eq!(per("1bps", 1_000), Ok(0));
        assert_eq!(per("1bps", 4_000), Ok(1));
        assert_eq!(per("1kbit/s", 1), Ok(0));
        assert_eq!(per("1kbit/s", 4), Ok(1));
        assert_eq!(per("1kbit/s", 3), Ok(0));
        assert_eq!(per("1.5 kbps", 1_000), Ok(188));
        assert_eq!(per("100 bit/s", 1_000), Ok(13));
        assert_eq!(amount("2Gbps").unwrap().whole_bytes(), Ok(250_000_000));
        assert!(amount("40Mbit/s").unwrap().is_rate());
        // Overflow is an error, never a wrap.
        assert_eq!(per("1PiB/s", 1_000_000_000_000), Err(AmountError::Overflow));
        assert_eq!(
            per("18446744073709551615B/s", 1_001),
            Err(AmountError::Overflow)
        );
        assert_eq!(per("18446744073709551615B/s", 1_000), Ok(u64::MAX));
    }

    #[test]
    fn the_ambiguity_rule_and_bad_text() {
        // Case matters, except k/K: lowercase m is milli, not mega, so it is refused.
        assert_eq!(amount("1mb"), Err(AmountError::UnknownUnit { at: 1 }));
        assert_eq!(amount("1 gb"), Err(AmountError::UnknownUnit { at: 2 }));
        assert_eq!(amount("1KIB"), Err(AmountError::UnknownUnit { at: 1 }));
        assert_eq!(amount("1Mps"), Err(AmountError::UnknownUnit { at: 1 }));
        assert_eq!(amount("1M"), Err(AmountError::UnknownUnit { at: 1 }));
        assert_eq!(amount("1MB/h"), Err(AmountError::UnknownUnit { at: 1 }));
        assert_eq!(amount("1 B s"), Err(AmountError::UnknownUnit { at: 2 }));
        assert_eq!(amount("12.5"), Err(AmountError::NotWhole));
        assert_eq!(amount(""), Err(AmountError::NotANumber));
        assert_eq!(amount("-5"), Err(AmountError::NotANumber));
        assert_eq!(amount("GB"), Err(AmountError::NotANumber));
        assert_eq!(amount("1.GB"), Err(AmountError::NotANumber));
        assert_eq!(amount("18446744073709551616"), Err(AmountError::Overflow));
        assert_eq!(
            amount("18446744073709551615").unwrap().whole_bytes(),
            Ok(u64::MAX)
        );
        assert_eq!(amount("16EiB"), Err(AmountError::UnknownUnit { at: 2 }));
        assert_eq!(amount("16384PiB"), Err(AmountError::Overflow));
        assert_eq!(
            amount("99999999999999999999999999999999999999999GB"),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            amount("1.000000000000000000001GB"),
            Err(AmountError::Overflow)
        );
        assert_eq!(amount("1é"), Err(AmountError::UnknownUnit { at: 1 }));
        extern crate std;
        use std::string::ToString;
        assert!(
            AmountError::UnknownUnit { at: 1 }
                .to_string()
                .starts_with("unknown unit at byte 1")
        );
    }

    #[test]
    fn same_kinds_compare_exactly() {
        use core::cmp::Ordering::*;
        let a = |t: &str| amount(t).unwrap();
        assert_eq!(a("1kB").cmp_same_kind(&a("1000")), Some(Equal));
        assert_eq!(a("1.0kB").cmp_same_kind(&a("8kbit")), Some(Equal));
        assert_eq!(a("1KiB").cmp_same_kind(&a("1kB")), Some(Greater));
        assert_eq!(a("3b").cmp_same_kind(&a("1B")), Some(Less));
        assert_eq!(a("1Mbit/s").cmp_same_kind(&a("125kB/s")), Some(Equal));
        assert_eq!(a("1Mbps").cmp_same_kind(&a("1MBps")), Some(Less));
        // One third of a bit per second against 0.041 bytes per second: close, still exact.
        assert_eq!(a("0.333bps").cmp_same_kind(&a("0.041Bps")), Some(Greater));
        assert_eq!(a("0.328bps").cmp_same_kind(&a("0.041Bps")), Some(Equal));
        assert_eq!(a("1MB").cmp_same_kind(&a("1MB/s")), None);
    }
}
