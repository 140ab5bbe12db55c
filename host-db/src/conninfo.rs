//! libpq connection strings, read as libpq reads them: the parameters the `postgres` crate
//! does not know (the TLS ones: `sslmode` with all six of libpq's values, `sslrootcert`,
//! `sslcert`, `sslkey`, `sslsni`, and `gssencmode`, `sslcompression`) are taken out here, the
//! rest is handed to [`postgres::Config`] as it was written.
//!
//! Both of libpq's forms are read:
//! - a URL, `postgres[ql]://user@host:port/db?key=value&…` (the parameters in the query,
//!   percent-encoded or not);
//! - `key=value` pairs separated by whitespace, with whitespace around `=` allowed and values
//!   bare or in single quotes, `\` escaping the next character in both.
//!
//! Parameters libpq knows but this client cannot honour (`sslcrl`, `sslpassword`, …) are
//! refused by name ([`ConnInfoError::Unsupported`]) rather than ignored. A value is never part
//! of an error (it could be a secret).

use std::fmt;

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// Plaintext first; TLS (not verified) if the server refuses a plaintext connection.
    Allow,
    /// TLS if the server offers it, not verified; plaintext otherwise (the default).
    Prefer,
    /// TLS, not verified (but see [`crate::tls`]: with a root certificate, as `VerifyCa`).
    Require,
    /// TLS, the server's certificate chain verified against the root certificates.
    VerifyCa,
    /// TLS, the chain verified and the certificate issued for the host connected to.
    VerifyFull,
}

impl SslMode {
    /// Every mode, weakest first.
    pub const ALL: [SslMode; 6] = [
        SslMode::Disable,
        SslMode::Allow,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ];

    /// The value as libpq spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// The mode libpq's `value` names, if any (exact spelling, as libpq).
    pub fn parse(value: &str) -> Option<SslMode> {
        SslMode::ALL.into_iter().find(|m| m.as_str() == value)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connection string split into what this crate handles and what `postgres` does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnInfo {
    /// The connection string without the parameters taken out, in its own form, the rest as
    /// written: what [`postgres::Config`] parses.
    pub rest: String,
    /// `sslmode`, when given.
    pub sslmode: Option<SslMode>,
    /// `sslrootcert`, when given: a PEM file of CA certificates, or `system`.
    pub sslrootcert: Option<String>,
    /// `sslcert`, when given: the client certificate (PEM).
    pub sslcert: Option<String>,
    /// `sslkey`, when given: the client certificate's key (PEM, PKCS#8).
    pub sslkey: Option<String>,
    /// `sslsni` (default on): send the host name in the TLS handshake.
    pub sslsni: bool,
}

/// What is wrong with a connection string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnInfoError {
    /// A parameter libpq knows that this client cannot honour.
    Unsupported {
        /// The parameter.
        key: String,
        /// Why, and what to do instead.
        why: &'static str,
    },
    /// A parameter whose value is not one of those allowed.
    InvalidValue {
        /// The parameter.
        key: String,
        /// The values it takes.
        expected: &'static str,
    },
    /// The `key=value` form is broken (the place is said, the text is not shown).
    Syntax(String),
}

impl fmt::Display for ConnInfoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnInfoError::Unsupported { key, why } => {
                write!(f, "the connection parameter {key} is not supported: {why}")
            }
            ConnInfoError::InvalidValue { key, expected } => {
                write!(
                    f,
                    "invalid value for the connection parameter {key} (expected {expected})"
                )
            }
            ConnInfoError::Syntax(what) => write!(f, "the connection string is not valid: {what}"),
        }
    }
}

impl std::error::Error for ConnInfoError {}

/// Parameters libpq knows that this client refuses, with the reason.
const UNSUPPORTED: [(&str, &str); 8] = [
    (
        "sslcrl",
        "certificate revocation lists are not checked by this client; remove it",
    ),
    (
        "sslcrldir",
        "certificate revocation lists are not checked by this client; remove it",
    ),
    (
        "sslpassword",
        "encrypted client keys cannot be read; give sslkey an unencrypted PKCS#8 key",
    ),
    (
        "sslcertmode",
        "a client certificate is sent when sslcert is given (or ~/.postgresql/postgresql.crt exists)",
    ),
    (
        "ssl_min_protocol_version",
        "the TLS library's defaults (TLS 1.2 or later on Debian 12) apply",
    ),
    (
        "ssl_max_protocol_version",
        "the TLS library's defaults (TLS 1.2 or later on Debian 12) apply",
    ),
    (
        "requirepeer",
        "Unix-domain sockets are not used by this client",
    ),
    (
        "service",
        "pg_service.conf is not read; give the parameters themselves",
    ),
];

/// Splits `text` (either form) into the TLS parameters and the rest.
pub fn parse(text: &str) -> Result<ConnInfo, ConnInfoError> {
    let mut info = ConnInfo {
        sslsni: true,
        ..ConnInfo::default()
    };
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        info.rest = parse_url(text, &mut info)?;
    } else {
        info.rest = parse_pairs(text, &mut info)?;
    }
    Ok(info)
}

/// Takes `key` if it is one of ours; `Ok(false)`: not ours, keep it.
fn take(info: &mut ConnInfo, key: &str, value: String) -> Result<bool, ConnInfoError> {
    let invalid = |expected| ConnInfoError::InvalidValue {
        key: key.to_string(),
        expected,
    };
    match key {
        "sslmode" => {
            info.sslmode = Some(SslMode::parse(&value).ok_or_else(|| {
                invalid("disable, allow, prefer, require, verify-ca or verify-full")
            })?);
        }
        "sslrootcert" => info.sslrootcert = Some(value),
        "sslcert" => info.sslcert = Some(value),
        "sslkey" => info.sslkey = Some(value),
        "sslsni" => {
            info.sslsni = match value.as_str() {
                "1" => true,
                "0" => false,
                _ => return Err(invalid("0 or 1")),
            }
        }
        // No GSSAPI here: `prefer` and `allow` fall back to what follows, as libpq built
        // without GSSAPI does.
        "gssencmode" => match value.as_str() {
            "disable" | "allow" | "prefer" => {}
            "require" => {
                return Err(ConnInfoError::Unsupported {
                    key: key.into(),
                    why: "GSSAPI encryption is not available in this client (gssencmode=require)",
                });
            }
            _ => return Err(invalid("disable, prefer or require")),
        },
        // Ignored by libpq itself since PostgreSQL 14.
        "sslcompression" => {}
        _ => {
            if let Some((_, why)) = UNSUPPORTED.iter().find(|(k, _)| *k == key) {
                return Err(ConnInfoError::Unsupported {
                    key: key.into(),
                    why,
                });
            }
            return Ok(false);
        }
    }
    Ok(true)
}

fn parse_url(text: &str, info: &mut ConnInfo) -> Result<String, ConnInfoError> {
    let Some((base, query)) = text.split_once('?') else {
        return Ok(text.to_string());
    };
    let mut kept = Vec::new();
    for param in query.split('&') {
        // A parameter without `=` is the `postgres` crate's to refuse.
        let taken = match param.split_once('=') {
            Some((k, v)) => take(info, &percent_decoded(k), percent_decoded(v))?,
            None => false,
        };
        if !taken {
            kept.push(param);
        }
    }
    Ok(if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    })
}

/// `%xx` decoded, as libpq decodes URL parts (a bad escape is kept as it is).
fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|&c| (c as char).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `key = value` form: the pairs that are not ours are kept as written (quotes and
/// escapes included), separated by one space.
fn parse_pairs(text: &str, info: &mut ConnInfo) -> Result<String, ConnInfoError> {
    let mut kept: Vec<&str> = Vec::new();
    let mut it = text.char_indices().peekable();
    let skip_ws = |it: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        while it.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_ws(&mut it);
        let Some(&(start, _)) = it.peek() else {
            break;
        };
        while it
            .next_if(|(_, c)| !c.is_whitespace() && *c != '=')
            .is_some()
        {}
        let key_end = it.peek().map_or(text.len(), |(i, _)| *i);
        let key = text.get(start..key_end).unwrap_or_default();
        skip_ws(&mut it);
        if it.next_if(|(_, c)| *c == '=').is_none() {
            return Err(ConnInfoError::Syntax(format!(
                "missing \"=\" after {key:?}"
            )));
        }
        skip_ws(&mut it);
        let mut value = String::new();
        if it.next_if(|(_, c)| *c == '\'').is_some() {
            let mut closed = false;
            while let Some((_, c)) = it.next() {
                match c {
                    '\\' => value.extend(it.next().map(|(_, c)| c)),
                    '\'' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(ConnInfoError::Syntax(format!(
                    "unterminated quoted value of {key}"
                )));
            }
        } else {
            while let Some((_, c)) = it.next_if(|(_, c)| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(it.next().map(|(_, c)| c));
                } else {
                    value.push(c);
                }
            }
        }
        let end = it.peek().map_or(text.len(), |(i, _)| *i);
        if !take(info, key, value)? {
            kept.push(text.get(start..end).unwrap_or_default());
        }
    }
    Ok(kept.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(rest: &str) -> ConnInfo {
        ConnInfo {
            rest: rest.into(),
            sslsni: true,
            ..ConnInfo::default()
        }
    }

    #[test]
    fn the_url_form_gives_up_its_tls_parameters() {
        let got = parse(
            "postgresql://u:p@db.example:5433/limits?sslmode=verify-full&application_name=x\
             &sslrootcert=%2Fetc%2Fca.pem&sslcert=/c.pem&sslkey=/k.pem&connect_timeout=5",
        )
        .unwrap();
        assert_eq!(
            got,
            ConnInfo {
                sslmode: Some(SslMode::VerifyFull),
                sslrootcert: Some("/etc/ca.pem".into()),
                sslcert: Some("/c.pem".into()),
                sslkey: Some("/k.pem".into()),
                ..info(
                    "postgresql://u:p@db.example:5433/limits?application_name=x&connect_timeout=5"
                )
            }
        );
        // Only ours: the query goes entirely.
        assert_eq!(
            parse("postgres://h/d?sslmode=verify-ca&sslrootcert=system").unwrap(),
            ConnInfo {
                sslmode: Some(SslMode::VerifyCa),
                sslrootcert: Some("system".into()),
                ..info("postgres://h/d")
            }
        );
        // None of ours: untouched.
        for url in [
            "postgresql://h/d",
            "postgresql://h/d?application_name=a&password=s%20x",
            "postgresql://h/d?noequals",
        ] {
            assert_eq!(parse(url).unwrap(), info(url), "{url}");
        }
        // Percent-encoded names, the last occurrence wins (libpq).
        assert_eq!(
            parse("postgresql://h/d?ssl%6dode=disable&sslmode=allow&sslsni=0").unwrap(),
            ConnInfo {
                sslmode: Some(SslMode::Allow),
                sslsni: false,
                ..info("postgresql://h/d")
            }
        );
    }

    #[test]
    fn every_sslmode_is_read_in_both_forms() {
        for mode in SslMode::ALL {
            let url = parse(&format!("postgresql://h/d?sslmode={mode}")).unwrap();
            let pairs = parse(&format!("host=h sslmode={mode}")).unwrap();
            assert_eq!(url.sslmode, Some(mode));
            assert_eq!(pairs.sslmode, Some(mode));
            assert_eq!(
                (url.rest.as_str(), pairs.rest.as_str()),
                ("postgresql://h/d", "host=h")
            );
        }
        for bad in ["postgresql://h/d?sslmode=verify_full", "sslmode=Require"] {
            assert_eq!(
                parse(bad),
                Err(ConnInfoError::InvalidValue {
                    key: "sslmode".into(),
                    expected: "disable, allow, prefer, require, verify-ca or verify-full"
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_pairs_form_with_quotes_escapes_and_spacing() {
        let got = parse(
            "host=db  user = app password='it\\'s a secret' sslmode = 'verify-full' \
             sslrootcert='/etc/my certs/ca.pem' sslkey=/k\\ ey.pem dbname='lim its'",
        )
        .unwrap();
        assert_eq!(
            got,
            ConnInfo {
                sslmode: Some(SslMode::VerifyFull),
                sslrootcert: Some("/etc/my certs/ca.pem".into()),
                sslkey: Some("/k ey.pem".into()),
                ..info("host=db user = app password='it\\'s a secret' dbname='lim its'")
            }
        );
        // What is kept still parses as it did.
        let config: postgres::Config = got.rest.parse().unwrap();
        assert_eq!(config.get_password(), Some(&b"it's a secret"[..]));
        assert_eq!(config.get_dbname(), Some("lim its"));
        assert_eq!(config.get_user(), Some("app"));
        assert_eq!(parse("").unwrap(), info(""));
        assert_eq!(parse("  sslmode=require  ").unwrap().rest, "");
        assert_eq!(
            parse("sslrootcert=''").unwrap().sslrootcert,
            Some(String::new())
        );
    }

    #[test]
    fn a_broken_pairs_form_is_refused_without_its_values() {
        assert_eq!(
            parse("host=db password='s3cret"),
            Err(ConnInfoError::Syntax(
                "unterminated quoted value of password".into()
            ))
        );
        assert_eq!(
            parse("host=db sslmode"),
            Err(ConnInfoError::Syntax(
                "missing \"=\" after \"sslmode\"".into()
            ))
        );
    }

    #[test]
    fn parameters_this_client_cannot_honour_are_refused_by_name() {
        for key in [
            "sslcrl",
            "sslcrldir",
            "sslpassword",
            "ssl_min_protocol_version",
        ] {
            for text in [
                format!("postgresql://h/d?{key}=s3cret"),
                format!("host=h {key}='s3cret'"),
            ] {
                let e = parse(&text).unwrap_err();
                assert!(
                    matches!(&e, ConnInfoError::Unsupported { key: k, .. } if k == key),
                    "{text}: {e:?}"
                );
                let shown = e.to_string();
                assert!(
                    shown.contains(&format!("{key} is not supported")) && !shown.contains("s3"),
                    "{shown}"
                );
            }
        }
        assert!(parse("host=h gssencmode=disable sslcompression=0").is_ok());
        assert!(matches!(
            parse("host=h gssencmode=require"),
            Err(ConnInfoError::Unsupported { .. })
        ));
        assert!(matches!(
            parse("host=h sslsni=yes"),
            Err(ConnInfoError::InvalidValue { .. })
        ));
    }
}
