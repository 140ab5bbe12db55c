//! Value parsers for clap, one per kind of value, so every binary reads the same text the
//! same way (and names the flag the same way: clap adds the flag to the message).

use core_nostd::units;

/// A duration as `300s`, `5m`, `1h`, `250ms`, …: the core's parser is the clap value parser.
pub use core_nostd::units::duration;

/// `KEY=VALUE` (a librdkafka setting: `-X acks=all`).
pub fn key_value(text: &str) -> Result<(String, String), String> {
    units::key_value(text)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_splits_at_the_first_equals_sign() {
        assert_eq!(
            key_value("sasl.jaas=a=b"),
            Ok(("sasl.jaas".to_string(), "a=b".to_string()))
        );
        assert!(
            key_value("novalue")
                .unwrap_err()
                .starts_with("\"novalue\": ")
        );
    }
}
