//! The configuration file: TOML read into flat entries `(table, key, value, line)`, so that
//! every later message can name the file's line.
//!
//! Tables hold keys; a table inside a table is only allowed in `[kafka]`, where it is a
//! librdkafka key written with dots: `security.protocol = "SSL"` and
//! `"security.protocol" = "SSL"` are the same entry.

use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use super::ConfigError;

/// The table whose nested tables are dotted librdkafka keys.
const DOTTED_TABLE: &str = "kafka";

/// A value as the file wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string, a number or a date, as text (what the command line would take).
    Text(String),
    /// `true` or `false`.
    Bool(bool),
    /// An array of strings or numbers.
    List(Vec<String>),
}

/// One `key = value` of the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The table (`kafka`, `capture`, `stream`, `limits`).
    pub table: String,
    /// The key, dotted for a nested key of `[kafka]`.
    pub key: String,
    /// The value.
    pub value: Value,
    /// The line the key is on (1-based).
    pub line: usize,
    /// The line of its table's header.
    pub table_line: usize,
}

/// A read configuration file.
#[derive(Clone, Debug, Default)]
pub struct File {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its entries, in table and key order.
    pub entries: Vec<Entry>,
}

impl File {
    /// Reads and parses `path`.
    pub fn read(path: &Path) -> Result<File, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(format!(
                "--config {}: cannot read the configuration file: {e}",
                path.display()
            ))
        })?;
        File::parse(path, &text)
    }

    /// Parses `text`, read from `path` (named in messages).
    pub fn parse(path: &Path, text: &str) -> Result<File, ConfigError> {
        let at = |offset: usize| line_of(text, offset);
        let doc = DeTable::parse(text).map_err(|e| {
            let line = e.span().map(|s| at(s.start)).unwrap_or(1);
            ConfigError::new(format!(
                "{}:{line}: not valid TOML: {}",
                path.display(),
                first_line(&e.to_string())
            ))
        })?;
        let mut entries = Vec::new();
        for (table, value) in doc.get_ref() {
            let name = table.get_ref().to_string();
            let line = at(table.span().start);
            let DeValue::Table(keys) = value.get_ref() else {
                return Err(ConfigError::new(format!(
                    "{}:{line}: `{name}` is outside any table: keys go under [kafka], \
                     [capture], [stream] or [limits]",
                    path.display()
                )));
            };
            flatten(path, text, (&name, line), "", keys, &mut entries)?;
        }
        Ok(File {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// Where an entry is, for messages: `/etc/streamchecker/streamchecker.toml:12`.
    pub fn place(&self, entry: &Entry) -> String {
        format!("{}:{}", self.path.display(), entry.line)
    }
}

/// Adds the keys of `table` (under the dotted `prefix`) to `out`.
fn flatten(
    path: &Path,
    text: &str,
    (table, table_line): (&str, usize),
    prefix: &str,
    keys: &DeTable<'_>,
    out: &mut Vec<Entry>,
) -> Result<(), ConfigError> {
    for (key, value) in keys {
        let line = line_of(text, key.span().start);
        let name = format!("{prefix}{}", key.get_ref());
        let wrong = |what: &str| {
            ConfigError::new(format!(
                "{}:{line}: [{table}] {name}: {what}",
                path.display()
            ))
        };
        let value = match value.get_ref() {
            DeValue::Table(inner) if table == DOTTED_TABLE => {
                flatten(
                    path,
                    text,
                    (table, table_line),
                    &format!("{name}."),
                    inner,
                    out,
                )?;
                continue;
            }
            DeValue::Table(_) => return Err(wrong("a table is not a value here")),
            DeValue::Boolean(b) => Value::Bool(*b),
            DeValue::Array(items) => Value::List(
                items
                    .iter()
                    .map(|i| {
                        scalar(i.get_ref()).ok_or_else(|| wrong("arrays hold strings or numbers"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => Value::Text(scalar(other).ok_or_else(|| wrong("not a value"))?),
        };
        out.push(Entry {
            table: table.to_string(),
            key: name,
            value,
            line,
            table_line,
        });
    }
    Ok(())
}

/// A string, number or date as the command line would take it.
fn scalar(value: &DeValue<'_>) -> Option<String> {
    match value {
        DeValue::String(s) => Some(s.to_string()),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .ok()
            .map(|n| n.to_string()),
        DeValue::Float(f) => Some(f.as_str().to_string()),
        DeValue::Boolean(b) => Some(b.to_string()),
        DeValue::Datetime(d) => Some(d.to_string()),
        DeValue::Array(_) | DeValue::Table(_) => None,
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let before = text.get(..offset).unwrap_or(text);
    before.bytes().filter(|&b| b == b'\n').count() + 1
}

/// The first line of a (multi-line) parser message.
fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("TOML parse error"))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<Entry>, String> {
        File::parse(Path::new("sc.toml"), text)
            .map(|f| f.entries)
            .map_err(|e| e.to_string())
    }

    fn entry(table: &str, key: &str, value: Value, line: usize) -> Entry {
        let table_line = match table {
            "kafka" => 2,
            _ => 8,
        };
        Entry {
            table: table.into(),
            key: key.into(),
            value,
            line,
            table_line,
        }
    }

    #[test]
    fn entries_carry_their_table_key_value_and_line() {
        let text = "# comment\n[kafka]\nbrokers = \"k1:9092\"\nsecurity.protocol = \"SSL\"\n\
                    \"ssl.ca.location\" = '/etc/ca.pem'\n[kafka.sasl]\nmechanism = \"PLAIN\"\n\
                    [stream]\ntop = 0x10\nlive = true\nsource = [\"10.0.0.0/8\", 7]\n";
        assert_eq!(
            parse(text).unwrap(),
            vec![
                entry("kafka", "brokers", Value::Text("k1:9092".into()), 3),
                entry("kafka", "sasl.mechanism", Value::Text("PLAIN".into()), 7),
                entry("kafka", "security.protocol", Value::Text("SSL".into()), 4),
                entry(
                    "kafka",
                    "ssl.ca.location",
                    Value::Text("/etc/ca.pem".into()),
                    5
                ),
                entry("stream", "live", Value::Bool(true), 10),
                entry(
                    "stream",
                    "source",
                    Value::List(vec!["10.0.0.0/8".into(), "7".into()]),
                    11
                ),
                entry("stream", "top", Value::Text("16".into()), 9),
            ]
        );
    }

    #[test]
    fn errors_name_the_file_and_the_line() {
        assert_eq!(
            parse("brokers = \"x\"\n").unwrap_err(),
            "sc.toml:1: `brokers` is outside any table: keys go under [kafka], [capture], \
             [stream] or [limits]"
        );
        assert_eq!(
            parse("[stream]\n\nwindow = { a = 1 }\n").unwrap_err(),
            "sc.toml:3: [stream] window: a table is not a value here"
        );
        let e = parse("[stream]\nwindow = 300s\n").unwrap_err();
        assert!(e.starts_with("sc.toml:2: not valid TOML: "), "{e}");
    }
}
