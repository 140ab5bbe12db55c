//! The stop flag: set by SIGINT or SIGTERM, read by the binaries' loops, which then finish
//! what they hold (flush, deliver, commit) and end normally.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result};

/// A flag that SIGINT and SIGTERM set (it is only ever set, never cleared).
pub fn on_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .context("cannot install the signal handlers")?;
    }
    Ok(stop)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    #[test]
    fn sigterm_sets_the_flag() {
        let stop = super::on_signals().unwrap();
        assert!(!stop.load(Ordering::SeqCst));
        signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
        assert!(stop.load(Ordering::SeqCst));
    }
}
