//! Man pages and shell completions, written by the binaries themselves at package build time.
//!
//! Each host binary calls [`if_asked`] before it parses its command line. When the process was
//! started as one of
//!
//! ```text
//! <bin> --generate man                       the manual page (roff, section 1) of <bin>
//! <bin> --generate man SUBCOMMAND            the page of `<bin> SUBCOMMAND`, titled <bin>-SUBCOMMAND
//! <bin> --generate subcommands               the names of the subcommands that have a page, one a line
//! <bin> --generate completions bash|zsh|fish the completion script for that shell
//! ```
//!
//! (`--generate` first, nothing else on the line), it writes the page or script for the
//! binary's own [`clap::Command`] to stdout and exits 0; anything else after `--generate` is a
//! usage error (exit 2). Otherwise it returns and the binary parses its arguments as always.
//!
//! `--generate` is not one of the binaries' options: it is not in `--help`, never reaches the
//! parser, and is meant for `scripts/package` only (the man pages under
//! `/usr/share/man/man1`, the completions under `/usr/share/bash-completion/completions`,
//! `/usr/share/zsh/vendor-completions` and `/usr/share/fish/vendor_completions.d`). Generating
//! from the binary keeps the pages and scripts exactly in step with the options it parses.
//! A page's date is `SOURCE_DATE_EPOCH`'s day (UTC) when that is set (reproducible builds; the
//! packaging sets it to the last commit's time), else today's.

use std::ffi::OsString;
use std::io::Write;
use std::process::exit;

use clap_complete::Shell;

/// If the process was started as `<bin> --generate …` (see the [module](self)), writes what was
/// asked for, for the command `command()` returns, to stdout and exits; otherwise returns at
/// once (without calling `command`).
pub fn if_asked(command: impl FnOnce() -> clap::Command) {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().map(|a| a.as_os_str()) != Some("--generate".as_ref()) {
        return;
    }
    let words: Vec<&str> = args[1..].iter().map(|a| a.to_str().unwrap_or("")).collect();
    let mut out = Vec::new();
    if let Err(e) = render(command(), &words, &mut out) {
        eprintln!("--generate: {e}");
        exit(2);
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(&out).and_then(|()| stdout.flush()) {
        eprintln!("--generate: cannot write to stdout: {e}");
        exit(1);
    }
    exit(0);
}

/// Renders what `words` (the arguments after `--generate`) ask for into `out`; an error names
/// what is wrong with `words`.
fn render(command: clap::Command, words: &[&str], out: &mut Vec<u8>) -> Result<(), String> {
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let io = |e: std::io::Error| e.to_string();
    match words {
        ["man"] => clap_mangen::Man::new(command)
            .date(page_date())
            .render(out)
            .map_err(io),
        ["man", name] => {
            // The footer names the binary and its version (the subcommand has none of its own).
            let source = format!(
                "{} {}",
                command.get_name(),
                command.get_version().unwrap_or_default()
            );
            let sub = command
                .find_subcommand(name)
                .filter(|s| !s.is_hide_set())
                .ok_or_else(|| format!("{name:?}: no such subcommand"))?
                .clone();
            clap_mangen::Man::new(sub)
                .source(source)
                .date(page_date())
                .render(out)
                .map_err(io)
        }
        ["subcommands"] => {
            for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
                writeln!(out, "{}", sub.get_name()).map_err(io)?;
            }
            Ok(())
        }
        ["completions", shell @ ("bash" | "zsh" | "fish")] => {
            let shell: Shell = shell.parse().map_err(|e: String| e)?;
            let name = command.get_name().to_string();
            clap_complete::generate(shell, &mut command, name, out);
            Ok(())
        }
        _ => Err(format!(
            "expected `man [SUBCOMMAND]`, `subcommands` or `completions bash|zsh|fish`, got {words:?}"
        )),
    }
}

/// The date a man page carries: `SOURCE_DATE_EPOCH` (seconds since the epoch) if set and
/// valid, else now; as `YYYY-MM-DD` in UTC.
fn page_date() -> String {
    let seconds = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
        });
    let (y, m, d) = civil_from_days(seconds.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01); H. Hinnant's
/// `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> clap::Command {
        clap::Command::new("tool")
            .version("1.2.3")
            .about("Does things")
            .arg(clap::Arg::new("verbose").long("verbose").help("Say more"))
            .subcommand(clap::Command::new("init").about("Start over"))
            .subcommand(clap::Command::new("secret").hide(true))
    }

    fn text(words: &[&str]) -> String {
        let mut out = Vec::new();
        render(sample(), words, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_man_page_names_the_command_its_version_and_its_options() {
        let page = text(&["man"]);
        assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{page}");
        assert!(page.contains(".TH tool 1 "), "{page}");
        assert!(page.contains(" \"tool 1.2.3\""), "{page}");
        assert!(page.contains("verbose"), "{page}");
        assert!(page.contains("tool\\-init(1)"), "{page}");
    }

    #[test]
    fn a_subcommand_page_is_titled_bin_dash_subcommand() {
        let page = text(&["man", "init"]);
        assert!(page.contains(".TH tool-init 1 "), "{page}");
        assert!(page.contains(" \"tool 1.2.3\""), "{page}");
        let mut out = Vec::new();
        assert!(render(sample(), &["man", "secret"], &mut out).is_err());
        assert!(render(sample(), &["man", "nope"], &mut out).is_err());
    }

    #[test]
    fn dates_are_gregorian_days_in_utc() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
        assert_eq!(civil_from_days(1_796_399_999 / 86_400), (2026, 12, 4));
    }

    #[test]
    fn subcommands_lists_the_visible_ones() {
        assert_eq!(text(&["subcommands"]), "init\n");
    }

    #[test]
    fn completions_for_each_shell_and_nothing_else() {
        assert!(text(&["completions", "bash"]).contains("complete -F _tool"));
        assert!(text(&["completions", "zsh"]).starts_with("#compdef tool"));
        assert!(text(&["completions", "fish"]).contains("complete -c tool"));
        let mut out = Vec::new();
        assert!(render(sample(), &["completions", "tcsh"], &mut out).is_err());
        assert!(render(sample(), &[], &mut out).is_err());
    }
}
