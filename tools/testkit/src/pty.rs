//! A child run with its stderr on a pseudo-terminal (what an operator's shell gives it) and
//! its stdout on a pipe: the progress bar is drawn only on a terminal, the records must stay
//! apart from it. The terminal is read from a thread while the child runs (a pty holds only a
//! few KiB), until the child has exited and the terminal is closed.

use std::fs::File;
use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};

use nix::pty::{Winsize, openpty};

/// What a child wrote, and how it ended.
pub struct PtyOutput {
    /// The exit status.
    pub status: ExitStatus,
    /// Stdout (a pipe), byte for byte.
    pub stdout: Vec<u8>,
    /// What reached the terminal on stderr, with the terminal's `\r\n` turned back into `\n`
    /// (control sequences and lone `\r` as written).
    pub terminal: String,
}

/// Columns of the terminal: wide enough that a line of the bar is never wrapped.
pub const COLUMNS: u16 = 200;

/// Runs `cmd` with `input` on stdin (written from a thread) and stderr on a fresh
/// pseudo-terminal of [`COLUMNS`] columns.
pub fn run_on_pty(cmd: &mut Command, input: &[u8]) -> PtyOutput {
    let size = Winsize {
        ws_row: 40,
        ws_col: COLUMNS,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    let pty = openpty(&size, None).expect("open a pseudo-terminal");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(pty.slave))
        .spawn()
        .expect("spawn");
    // The command keeps the terminal's other end until told otherwise: without this the
    // terminal would never close, and the reader never end.
    cmd.stderr(Stdio::null());
    let mut stdin = child.stdin.take().expect("a piped stdin");
    let input = input.to_vec();
    // A child that exits before reading everything is no error here.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let mut master = File::from(pty.master);
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        // Once the child has exited (the last holder of the other end), a read fails (EIO on
        // Linux): everything written before is in.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    let out = child.wait_with_output().expect("wait for the child");
    let _ = writer.join();
    let terminal = reader.join().expect("the terminal's reader");
    PtyOutput {
        status: out.status,
        stdout: out.stdout,
        terminal: String::from_utf8_lossy(&terminal).replace("\r\n", "\n"),
    }
}

/// Indicatif's erase-line, with which a bar is cleared.
const ERASE_LINE: &str = "\u{1b}[2K";

/// What `terminal` holds after the bar was last cleared (its last erase-line), without colour
/// codes: the lines written once the bar is gone, as a pipe would get them; all of
/// `terminal` (without colours) when nothing was drawn.
pub fn after_the_bar(terminal: &str) -> String {
    let rest = terminal
        .rfind(ERASE_LINE)
        .map_or(terminal, |i| &terminal[i + ERASE_LINE.len()..]);
    plain(rest)
}

/// `terminal` without its control sequences (`ESC [ parameters letter`).
pub fn plain(terminal: &str) -> String {
    let mut out = String::new();
    let mut rest = terminal;
    while let Some(esc) = rest.find('\u{1b}') {
        out.push_str(&rest[..esc]);
        let after = &rest[esc + 1..];
        let after = after.strip_prefix('[').unwrap_or(after);
        let end = after
            .find(|c: char| c.is_ascii_alphabetic())
            .map_or(after.len(), |i| i + 1);
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// Whether every control sequence in `terminal` only sets colours (`ESC [ … m`): a log line
/// on a terminal is coloured, a bar also moves the cursor and erases.
pub fn colours_only(terminal: &str) -> bool {
    terminal.match_indices('\u{1b}').all(|(i, _)| {
        let after = &terminal[i + 1..];
        after.strip_prefix('[').is_some_and(|a| {
            a.find(|c: char| c.is_ascii_alphabetic())
                .is_some_and(|e| a[e..].starts_with('m'))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_after_the_last_control_sequence() {
        assert_eq!(after_the_bar("a\nb\n"), "a\nb\n");
        assert_eq!(
            after_the_bar("bar\r\u{1b}[2K\u{1b}[1A\u{1b}[32m INFO\u{1b}[0m summary x\n"),
            " INFO summary x\n"
        );
        assert_eq!(after_the_bar("\u{1b}[2K"), "");
        assert!(colours_only(
            "\u{1b}[2m2026\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m x\n"
        ));
        assert!(!colours_only("bar\r\u{1b}[2K"));
        assert!(colours_only("no sequence at all\n"));
    }
}
