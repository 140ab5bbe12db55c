//! Facts about the machine we run on.

/// This machine's host name, or `unknown` when it has none that is text.
pub fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown".into())
}
