//! Values operators type on command lines: durations (`500ms`, `5s`, `1.5s`, `20m`, `1h`, or a
//! bare number of seconds) and `KEY=VALUE` settings. Every binary reads them with these, so they
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
}
