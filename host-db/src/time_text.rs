//! Instants as operators write them: RFC 3339, always shown in UTC.

use anyhow::{Result, anyhow};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the Unix epoch, signed: an instant on the limits' timeline.
///
/// Not the core's `core_nostd::Millis` (`u64`), the event time of traffic, which is never
/// before 1970 (the wire formats refuse such records). A limits row's `effective_date` may be:
/// PostgreSQL's `timestamptz` and RFC 3339 both allow it, the loader reads it as a negative
/// number of ms, and the row is in force from then on like any other. So the timeline, and
/// every instant compared with it (`now`, `--at`, a window's end), is `i64`.
pub type SignedMillis = i64;

/// Now, in ms since the epoch.
pub fn now_ms() -> SignedMillis {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Parses RFC 3339 (`2026-11-26T18:00:00Z`, `2026-11-26T21:00:00+03:00`) or `now`.
pub fn parse(text: &str) -> Result<SignedMillis> {
    instant(text).map_err(|why| anyhow!("{text:?} is {why}"))
}

/// [`parse`], the error saying only why (for clap, whose message names the value).
pub fn instant(text: &str) -> Result<SignedMillis, String> {
    if text.trim().eq_ignore_ascii_case("now") {
        return Ok(now_ms());
    }
    // The parser's error and its source say the same words: keep one.
    let t = OffsetDateTime::parse(text.trim(), &Rfc3339)
        .map_err(|e| format!("not an RFC 3339 instant (e.g. 2026-11-26T18:00:00Z): {e}"))?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms).map_err(|_| "out of range".to_string())
}

/// RFC 3339 in UTC with millisecond precision when it is not a whole second.
pub fn format(ms: SignedMillis) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return format!("@{ms}ms");
    };
    let t = t.to_offset(time::UtcOffset::UTC);
    let (y, mo, d) = (t.year(), u8::from(t.month()), t.day());
    let (h, mi, s) = (t.hour(), t.minute(), t.second());
    let milli = t.millisecond();
    if milli == 0 {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    } else {
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_instant_says_why_once() {
        assert_eq!(
            format!("{:#}", parse("2026-13-01").unwrap_err()),
            "\"2026-13-01\" is not an RFC 3339 instant (e.g. 2026-11-26T18:00:00Z): the \
             'separator' component could not be parsed"
        );
        assert_eq!(
            format!("{:#}", parse("2026-01-01 00:00").unwrap_err()),
            "\"2026-01-01 00:00\" is not an RFC 3339 instant (e.g. 2026-11-26T18:00:00Z): a \
             character literal was not valid"
        );
    }

    #[test]
    fn round_trip_in_utc() {
        assert_eq!(parse("2019-10-20T22:56:44Z").unwrap(), 1_571_612_204_000);
        assert_eq!(format(1_571_612_204_000), "2019-10-20T22:56:44Z");
        assert_eq!(
            parse("2019-10-21T01:56:44+03:00").unwrap(),
            1_571_612_204_000
        );
        assert_eq!(format(1_571_612_204_250), "2019-10-20T22:56:44.250Z");
        for bad in ["yesterday", "2019-10-20 22:56:44"] {
            let e = parse(bad).unwrap_err().to_string();
            let want = format!("{bad:?} is not an RFC 3339 instant (e.g. 2026-11-26T18:00:00Z): ");
            assert!(e.starts_with(&want), "{e}");
        }
    }

    #[test]
    fn instants_before_1970_are_negative() {
        assert_eq!(parse("1969-12-31T23:59:59Z").unwrap(), -1_000);
        assert_eq!(format(-1_000), "1969-12-31T23:59:59Z");
        assert_eq!(format(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn now_is_the_clock() {
        let before = now_ms();
        let at = parse(" NOW ").unwrap();
        assert!(before <= at && at <= now_ms(), "{before} {at}");
        // A plausible clock: after 2019-10-20, and formatted back the way it parses.
        assert!(at > 1_571_612_204_000);
        assert_eq!(parse(&format(at)).unwrap(), at);
    }
}
