//! The librdkafka settings of a program: the `[kafka]` table, then `STREAMCHECKER_KAFKA_…`
//! variables, then `-X` flags, merged per key (the later wins), secrets read from their files
//! and every key checked by librdkafka itself, so a typo fails at start and names its place.

use std::collections::BTreeMap;
use std::path::Path;

use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;

use super::file::{File, Value};
use super::{ConfigError, Origin, read_secret};

/// `[kafka]`'s own key: the bootstrap servers (an option of the programs, not of librdkafka).
pub(super) const BROKERS: &str = "brokers";

/// Variables for librdkafka keys: `STREAMCHECKER_KAFKA_SECURITY_PROTOCOL` is
/// `security.protocol`.
const ENV_KAFKA: &str = "STREAMCHECKER_KAFKA_";

/// A key ending in this reads its value from the file it names.
const FILE_SUFFIX: &str = "_file";

/// One librdkafka setting and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaOption {
    /// The librdkafka key.
    pub key: String,
    /// Its value (a secret read from its file, if the setting named one).
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
}

/// The merged settings, in the order librdkafka is given them.
pub(super) fn merge(
    file: Option<&File>,
    env: &BTreeMap<String, String>,
    cli: Vec<(String, String)>,
) -> Result<Vec<KafkaOption>, ConfigError> {
    let mut out = Vec::new();
    for f in file.into_iter() {
        for e in f
            .entries
            .iter()
            .filter(|e| e.table == "kafka" && e.key != BROKERS)
        {
            let value = match &e.value {
                Value::Text(t) => t.clone(),
                Value::Bool(b) => b.to_string(),
                // librdkafka's lists are comma-separated.
                Value::List(items) => items.join(","),
            };
            put(&mut out, &e.key, value, Origin::File(f.place(e)))?;
        }
    }
    for (name, value) in env {
        if let Some(rest) = name.strip_prefix(ENV_KAFKA)
            && !rest.eq_ignore_ascii_case(BROKERS)
        {
            put(
                &mut out,
                &env_key(rest),
                value.clone(),
                Origin::Env(name.clone()),
            )?;
        }
    }
    for (key, value) in cli {
        put(&mut out, &key, value, Origin::Flag("-X".into()))?;
    }
    Ok(out)
}

/// `SASL_PASSWORD_FILE` → `sasl.password_file`, `SECURITY_PROTOCOL` → `security.protocol`.
fn env_key(rest: &str) -> String {
    let lower = rest.to_ascii_lowercase();
    match lower.strip_suffix(FILE_SUFFIX) {
        Some(base) => format!("{}{FILE_SUFFIX}", base.replace('_', ".")),
        None => lower.replace('_', "."),
    }
}

/// Adds a setting (replacing the same key from a lower layer), its secret read from its file.
fn put(
    out: &mut Vec<KafkaOption>,
    key: &str,
    value: String,
    origin: Origin,
) -> Result<(), ConfigError> {
    let option = match key.strip_suffix(FILE_SUFFIX) {
        Some(base) => KafkaOption {
            key: base.to_string(),
            value: read_secret(Path::new(&value))
                .map_err(|e| ConfigError::new(format!("{origin}: {key}: {e}")))?,
            origin: Origin::SecretFile(value, Box::new(origin)),
        },
        None => KafkaOption {
            key: key.to_string(),
            value,
            origin,
        },
    };
    check(&option)?;
    out.retain(|o| o.key != option.key);
    out.push(option);
    Ok(())
}

/// librdkafka's own check of the key and its value.
fn check(o: &KafkaOption) -> Result<(), ConfigError> {
    let mut config = ClientConfig::new();
    config.set(&o.key, &o.value);
    let why = match config.create_native_config() {
        Ok(_) => return Ok(()),
        Err(_) if crate::secrets::is_secret_key(&o.key) => {
            "librdkafka refuses the value (not shown: it is a secret)".to_string()
        }
        Err(KafkaError::ClientConfig(_, description, _, _)) => description,
        Err(e) => e.to_string(),
    };
    Err(ConfigError::new(format!(
        "{}: Kafka setting {}: {why}",
        o.origin, o.key
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_name_librdkafka_keys() {
        assert_eq!(env_key("SECURITY_PROTOCOL"), "security.protocol");
        assert_eq!(env_key("SASL_PASSWORD_FILE"), "sasl.password_file");
        assert_eq!(env_key("DEBUG"), "debug");
    }

    #[test]
    fn librdkafka_refuses_an_unknown_key_and_a_bad_value_naming_where() {
        let e = merge(
            None,
            &BTreeMap::new(),
            vec![("securty.protocol".into(), "SSL".into())],
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "-X: Kafka setting securty.protocol: No such configuration property: \
             \"securty.protocol\""
        );
        let env = BTreeMap::from([(
            "STREAMCHECKER_KAFKA_SECURITY_PROTOCOL".to_string(),
            "TLS".to_string(),
        )]);
        let e = merge(None, &env, Vec::new()).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "STREAMCHECKER_KAFKA_SECURITY_PROTOCOL: Kafka setting security.protocol: "
            ),
            "{e}"
        );
    }
}
