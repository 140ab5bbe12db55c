//! Exit statuses, one table for every program (docs/OPERATIONS.md, "Exit statuses"):
//!
//! | status | meaning |
//! |---|---|
//! | 0 | success (also a signal's clean stop, and a closed stdout) |
//! | 1 | a failure while running: a service unreachable at start, an I/O error |
//! | 2 | usage: the command line is wrong (clap's status) |
//! | 3 | undelivered: some records or alerts did not reach the broker |
//! | 4 | bad input: the capture is damaged or holds no frame of a supported link type (what came before was counted and sent) |
//! | 5 | configuration: a bad file, variable or combination of settings, or no limits |
//! | 6 | invalid limits: `host-db check` found the limits' timeline invalid |

use std::process::ExitCode;

use crate::config::ConfigError;

/// Success.
pub const SUCCESS: u8 = 0;
/// A failure while running.
pub const FAILURE: u8 = 1;
/// The command line is wrong (clap exits with it).
pub const USAGE: u8 = 2;
/// Some records or alerts were not delivered.
pub const UNDELIVERED: u8 = 3;
/// The input is damaged or unusable.
pub const BAD_INPUT: u8 = 4;
/// The configuration cannot be used.
pub const CONFIG: u8 = 5;
/// `host-db check`: the limits are invalid.
pub const INVALID_LIMITS: u8 = 6;

/// An input that cannot be read: not a capture file, or one of a link type not supported.
/// The programs exit with [`BAD_INPUT`] on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadInput(String);

impl BadInput {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> BadInput {
        BadInput(message.into())
    }
}

impl std::fmt::Display for BadInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// The status for an error that ended a run: [`CONFIG`] when a [`ConfigError`] is in its
/// chain, [`BAD_INPUT`] for a [`BadInput`], else [`FAILURE`].
pub fn status_of(error: &anyhow::Error) -> u8 {
    if error.chain().any(|e| e.is::<ConfigError>()) {
        CONFIG
    } else if error.chain().any(|e| e.is::<BadInput>()) {
        BAD_INPUT
    } else {
        FAILURE
    }
}

/// [`status_of`] as an [`ExitCode`].
pub fn code_of(error: &anyhow::Error) -> ExitCode {
    ExitCode::from(status_of(error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_configuration_error_anywhere_in_the_chain_is_status_5() {
        let e = Err::<(), _>(ConfigError::new("--window must be at least 1ms"))
            .context("starting")
            .unwrap_err();
        assert_eq!(status_of(&e), CONFIG);
        assert_eq!(status_of(&anyhow::anyhow!("cannot connect")), FAILURE);
        let bad = anyhow::Error::new(BadInput::new("not a capture file")).context("--read x");
        assert_eq!(status_of(&bad), BAD_INPUT);
        let all = [
            SUCCESS,
            FAILURE,
            USAGE,
            UNDELIVERED,
            BAD_INPUT,
            CONFIG,
            INVALID_LIMITS,
        ];
        for (i, s) in all.iter().enumerate() {
            assert_eq!(usize::from(*s), i, "statuses are distinct and in order");
        }
    }
}
