//! `--print-config`: the effective settings as a TOML file would hold them, each with where
//! it came from, every secret hidden.

use std::collections::BTreeMap;
use std::fmt::Write;

use clap::ArgMatches;

use super::file::File;
use super::kafka::{BROKERS, KafkaOption};
use super::{Kind, Opt, Origin, Settings};
use crate::secrets::redact_option;

/// The text `--print-config` prints.
pub(super) fn render<T>(
    settings: &Settings<T>,
    options: &[Opt],
    matches: &ArgMatches,
    origins: &BTreeMap<String, Origin>,
    kafka: &[KafkaOption],
    file: Option<&File>,
) -> String {
    let mut out = format!(
        "# {}: the effective settings (a flag wins over a STREAMCHECKER_ variable, a variable \
         over the file, the file over the default)\n",
        settings.program
    );
    let _ = match file {
        Some(f) => writeln!(out, "# configuration file: {}", f.path.display()),
        None => writeln!(out, "# configuration file: none"),
    };
    let mut tables: Vec<&str> = Vec::new();
    if settings.kafka_options.is_some() {
        tables.push("kafka");
    }
    for o in options {
        if !tables.contains(&o.table) {
            tables.push(o.table);
        }
    }
    for table in tables {
        let _ = writeln!(out, "\n[{table}]");
        for o in options.iter().filter(|o| o.table == table) {
            let origin = origins.get(&o.id).cloned().unwrap_or(Origin::Default);
            match value_of(o, matches) {
                Some(v) => {
                    let _ = writeln!(out, "{} = {v} # {origin}", key_text(&o.key));
                }
                None => {
                    let _ = writeln!(out, "# {} is not set", o.key);
                }
            }
        }
        if table == "kafka" {
            for k in kafka.iter().filter(|k| k.key != BROKERS) {
                let _ = writeln!(
                    out,
                    "{} = {} # {}",
                    key_text(&k.key),
                    quoted(&redact_option(&k.key, &k.value)),
                    k.origin
                );
            }
        }
    }
    out
}

/// The option's value as TOML (secrets hidden), or `None` when it is not set.
fn value_of(o: &Opt, matches: &ArgMatches) -> Option<String> {
    let raw: Vec<String> = matches
        .get_raw(&o.id)?
        .map(|v| redact_option(&o.key, &v.to_string_lossy()))
        .collect();
    Some(match o.kind {
        Kind::Flag => raw.first().map_or("false".into(), |v| v.clone()),
        // A whole number as TOML writes one; the file reads either back.
        Kind::One => match raw.first()? {
            n if n.parse::<i64>().is_ok() => n.clone(),
            text => quoted(text),
        },
        Kind::Many => format!(
            "[{}]",
            raw.iter().map(|v| quoted(v)).collect::<Vec<_>>().join(", ")
        ),
    })
}

/// A TOML string.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A key as TOML writes it: bare when it can be, else quoted (`"security.protocol"`).
fn key_text(key: &str) -> String {
    if !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        key.to_string()
    } else {
        quoted(key)
    }
}
