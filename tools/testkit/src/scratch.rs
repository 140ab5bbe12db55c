//! Scratch directories for tests: made under the system's temporary directory with a name no
//! other test or run uses, and removed when the test is done with them, whether it passed or
//! panicked (a test that fails must not leave its files behind for every later run to step
//! over, nor fill `/tmp` on a CI machine that runs the suite again and again).

use std::ops::Deref;
use std::path::{Path, PathBuf};

/// A directory that exists while this value does.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// Makes `<tmp>/<name>-<pid>-<nanoseconds>` (see [`crate::unique`]).
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(crate::unique(name));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot make {}: {e}", dir.display()));
        Scratch(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        // Best effort: a test that already removed it, or a file a child still holds open,
        // must not turn a passing test into a panic while unwinding.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_is_gone_when_the_value_is() {
        let kept;
        {
            let s = Scratch::new("scratch-test");
            std::fs::write(s.join("a"), b"x").unwrap();
            std::fs::create_dir(s.join("b")).unwrap();
            std::fs::write(s.join("b/c"), b"y").unwrap();
            kept = s.path().to_path_buf();
            assert!(kept.join("b/c").is_file());
        }
        assert!(!kept.exists());
    }

    #[test]
    fn a_panicking_test_leaves_nothing_behind() {
        let mut seen = None;
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let s = Scratch::new("scratch-panic");
            seen = Some(s.path().to_path_buf());
            panic!("the test failed");
        }));
        assert!(r.is_err());
        assert!(!seen.unwrap().exists());
    }
}
