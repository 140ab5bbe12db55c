//! The `key=value` line a binary prints at the end of a run (and with `--stats-interval`): one
//! type builds it, so every summary reads the same way (space-separated, in the order added).

use std::fmt::{self, Display};

/// An ordered list of `key=value` fields.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary(Vec<(&'static str, String)>);

impl Summary {
    /// An empty summary.
    pub fn new() -> Summary {
        Summary::default()
    }

    /// Adds `key=value`.
    pub fn field(mut self, key: &'static str, value: impl Display) -> Summary {
        self.0.push((key, value.to_string()));
        self
    }

    /// Adds every field of `other` after these.
    pub fn and(mut self, other: Summary) -> Summary {
        self.0.extend(other.0);
        self
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_in_order() {
        let s = Summary::new()
            .field("records", 3)
            .field("bytes", 1_500u64)
            .and(Summary::new().field("late", 0));
        assert_eq!(s.to_string(), "records=3 bytes=1500 late=0");
        assert_eq!(s.get("bytes"), Some("1500"));
        assert_eq!(Summary::new().to_string(), "");
    }
}
