//! Secrets are never printed: one place that knows which settings hold them and how to hide
//! them in a connection string, whatever its form.
//!
//! A setting holds a secret when its name contains `password`, `secret` or `token` (any case):
//! `password`, `sslpassword`, `sasl.password`, `ssl.key.password`,
//! `sasl.oauthbearer.client.secret`, …

/// Words that make a setting's value a secret.
const SECRET_WORDS: [&str; 3] = ["password", "secret", "token"];

/// What a secret is printed as.
pub const HIDDEN: &str = "***";

/// Whether the setting `key` holds a secret.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_WORDS.iter().any(|w| key.contains(w))
}

/// A connection string with every secret replaced by `***`, in either of libpq's forms:
/// - a URL: the password of `user:password@`, and every query parameter whose name holds a
///   secret (`?password=…`, percent-encoded or not);
/// - `key=value` pairs: every secret value, bare or single-quoted (spaces and `\'` inside).
///
/// The rest is kept as it was, so the message still says which server.
pub fn redact_url(text: &str) -> String {
    match text.split_once("://") {
        Some((scheme, rest)) => redact_uri(scheme, rest),
        None => redact_pairs(text),
    }
}

fn redact_uri(scheme: &str, rest: &str) -> String {
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    // The credentials end at the last `@` before the query (a password may hold a `/`).
    let main = match before_query.rfind('@') {
        Some(at) => {
            let (creds, host) = before_query.split_at(at);
            match creds.split_once(':') {
                Some((user, _)) => format!("{user}:{HIDDEN}{host}"),
                None => before_query.to_string(),
            }
        }
        None => before_query.to_string(),
    };
    let mut out = format!("{scheme}://{main}");
    if let Some(q) = query {
        out.push('?');
        let params: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if is_secret_key(&percent_decoded(k)) => format!("{k}={HIDDEN}"),
                _ => p.to_string(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

/// `%xx` decoded (for a parameter's name only; a bad escape is kept as it is).
fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes.get(i),
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (Some(b'%'), Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (Some(&b), _, _) => {
                out.push(b);
                i += 1;
            }
            (None, _, _) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The connection string `conn` with `password` added (a password read from a file): a
/// `password` query parameter (percent-encoded) for a URL, a quoted `password='…'` pair for
/// libpq's `key=value` form. A string that already holds a password is refused: which one
/// would count is not obvious.
pub fn with_password(conn: &str, password: &str) -> Result<String, crate::config::ConfigError> {
    let already = redact_url(conn) != conn;
    if already {
        return Err(crate::config::ConfigError::new(format!(
            "{} already holds a password; give it in one place only",
            redact_url(conn)
        )));
    }
    if conn.contains("://") {
        let mut encoded = String::new();
        for b in password.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                encoded.push(char::from(b));
            } else {
                encoded.push_str(&format!("%{b:02X}"));
            }
        }
        let sep = if conn.contains('?') { '&' } else { '?' };
        Ok(format!("{conn}{sep}password={encoded}"))
    } else {
        let quoted = password.replace('\\', "\\\\").replace('\'', "\\'");
        Ok(format!("{conn} password='{quoted}'"))
    }
}

/// `conn` with the password read from `password_file` (if given) added by [`with_password`];
/// errors name `flag`, the option that named the file.
pub fn with_password_file(
    conn: &str,
    password_file: Option<&std::path::Path>,
    flag: &str,
) -> anyhow::Result<String> {
    use anyhow::Context;
    let Some(path) = password_file else {
        return Ok(conn.to_string());
    };
    let password = crate::config::read_secret(path).context(flag.to_string())?;
    with_password(conn, &password).context(flag.to_string())
}

/// A setting's value as it may be shown: `***` for a setting that holds a secret (but a
/// `…_file` setting names a file: its path is shown), and any connection string or
/// `key=value` list inside any other value with its secrets hidden.
pub fn redact_option(key: &str, value: &str) -> String {
    if key.ends_with("_file") {
        return value.to_string();
    }
    if is_secret_key(key) {
        return HIDDEN.to_string();
    }
    redact_url(value)
}

/// libpq's `key = value` form: whitespace around `=` allowed, a value bare (up to whitespace)
/// or in single quotes with `\` escapes. Secret values become `***`; everything else, spacing
/// included, is kept.
fn redact_pairs(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        // Whitespace between pairs, as it was.
        while let Some(c) = chars.get(i).filter(|c| c.is_whitespace()) {
            out.push(*c);
            i += 1;
        }
        // The key.
        let key_start = i;
        while chars
            .get(i)
            .is_some_and(|c| !c.is_whitespace() && *c != '=')
        {
            i += 1;
        }
        let key: String = chars.get(key_start..i).unwrap_or(&[]).iter().collect();
        out.push_str(&key);
        // `=` with the whitespace around it.
        while let Some(c) = chars.get(i).filter(|c| c.is_whitespace() || **c == '=') {
            out.push(*c);
            i += 1;
            if *c == '=' {
                while let Some(w) = chars.get(i).filter(|c| c.is_whitespace()) {
                    out.push(*w);
                    i += 1;
                }
                break;
            }
        }
        // The value.
        let value_start = i;
        if let Some(&quote) = chars.get(i).filter(|c| **c == '\'' || **c == '"') {
            i += 1;
            while let Some(&c) = chars.get(i) {
                i += 1;
                if c == '\\' {
                    i += 1;
                } else if c == quote {
                    break;
                }
            }
        } else {
            while chars.get(i).is_some_and(|c| !c.is_whitespace()) {
                i += 1;
            }
        }
        let end = i.min(chars.len());
        if is_secret_key(&key) {
            out.push_str(HIDDEN);
        } else {
            out.extend(chars.get(value_start..end).unwrap_or(&[]));
        }
        if i == key_start {
            // Nothing was read (cannot happen with the loops above); never spin.
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_database_password_is_hidden() {
        for (given, shown) in [
            (
                "postgresql://app:s3cret@db.example:5432/limits?sslmode=require",
                "postgresql://app:***@db.example:5432/limits?sslmode=require",
            ),
            (
                "postgresql://u@db:5432/x?password=s3cret",
                "postgresql://u@db:5432/x?password=***",
            ),
            (
                "postgres://u@db/x?sslmode=verify-full&PassWord=s3%20cret&application_name=a",
                "postgres://u@db/x?sslmode=verify-full&PassWord=***&application_name=a",
            ),
            (
                "postgresql://u@db/x?pass%77ord=s3cret",
                "postgresql://u@db/x?pass%77ord=***",
            ),
            ("postgresql://u:pa/ss@w@rd@db/x", "postgresql://u:***@db/x"),
            (
                "postgresql://app@db.example/limits",
                "postgresql://app@db.example/limits",
            ),
            (
                "host=db user=app password='s3 cret' dbname=limits",
                "host=db user=app password=*** dbname=limits",
            ),
            (
                "host=db password = s3cret  sslpassword='it\\'s secret' port=5432",
                "host=db password = ***  sslpassword=*** port=5432",
            ),
            ("host=db PassWord=s3cret", "host=db PassWord=***"),
            (
                "principal=sc clientSecret=\"s3 cret\" scope=x",
                "principal=sc clientSecret=*** scope=x",
            ),
            ("host=db user=app", "host=db user=app"),
        ] {
            assert_eq!(redact_url(given), shown, "{given}");
            assert!(!redact_url(given).contains("s3"), "{given}");
        }
    }

    #[test]
    fn a_password_from_a_file_joins_either_form_and_never_twice() {
        assert_eq!(
            with_password("postgresql://app@db/limits", "s3 cr/t%").unwrap(),
            "postgresql://app@db/limits?password=s3%20cr%2Ft%25"
        );
        assert_eq!(
            with_password("postgresql://app@db/limits?sslmode=require", "x").unwrap(),
            "postgresql://app@db/limits?sslmode=require&password=x"
        );
        assert_eq!(
            with_password("host=db user=app", "it's \\ s3").unwrap(),
            "host=db user=app password='it\\'s \\\\ s3'"
        );
        assert_eq!(
            with_password("postgresql://app:old@db/limits", "x")
                .unwrap_err()
                .to_string(),
            "postgresql://app:***@db/limits already holds a password; give it in one place only"
        );
        assert!(with_password("host=db password=old", "x").is_err());
    }

    #[test]
    fn an_option_hides_its_secret_but_shows_a_secret_file_path() {
        assert_eq!(redact_option("sasl.password", "s3cret"), HIDDEN);
        assert_eq!(redact_option("ssl.key.password", "s3 cret"), HIDDEN);
        assert_eq!(
            redact_option("sasl.password_file", "/etc/streamchecker/kafka.password"),
            "/etc/streamchecker/kafka.password"
        );
        assert_eq!(
            redact_option("database_url", "postgresql://u:s3cret@db/x"),
            "postgresql://u:***@db/x"
        );
        assert_eq!(redact_option("window", "300s"), "300s");
    }

    #[test]
    fn secret_settings_are_known_by_name() {
        for key in [
            "password",
            "sslpassword",
            "sasl.password",
            "ssl.key.password",
            "sasl.oauthbearer.client.secret",
            "SASL.PASSWORD",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["sasl.username", "ssl.ca.location", "host", "user"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }
}
