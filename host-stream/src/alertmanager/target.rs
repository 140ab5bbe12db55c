//! An Alertmanager's address, from `--alertmanager URL`: `http://[user:password@]host[:port][/prefix]`
//! (the prefix for an Alertmanager behind `--web.route-prefix`). The one place that reads
//! such a URL; what is shown of it never holds the password ([`host_common::secrets`]).

use std::fmt;

use base64::Engine as _;

/// Why a `--alertmanager` URL is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetError {
    /// Not `http://…`.
    Scheme {
        /// The scheme found (`https`, or what stood before `://`; empty: none).
        found: String,
    },
    /// No host after `http://`.
    NoHost,
    /// The port is not a number from 1 to 65535.
    BadPort {
        /// What stood after the `:`.
        found: String,
    },
    /// A query or fragment (`?`, `#`): the API path is host-stream's to add.
    Query,
    /// A space or control character.
    BadChar,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::Scheme { found } if found == "https" => f.write_str(
                "https is not supported: expected http://HOST:PORT (put a TLS-terminating \
                 proxy on the Alertmanager's side, or reach it on its plain HTTP port)",
            ),
            TargetError::Scheme { found } if found.is_empty() => {
                f.write_str("expected http://HOST:PORT, found no scheme")
            }
            TargetError::Scheme { found } => {
                write!(f, "expected http://HOST:PORT, found the scheme {found:?}")
            }
            TargetError::NoHost => f.write_str("expected http://HOST:PORT, found no host"),
            TargetError::BadPort { found } => {
                write!(f, "expected a port from 1 to 65535, found {found:?}")
            }
            TargetError::Query => f.write_str(
                "expected no query or fragment (host-stream adds /api/v2/alerts to the path)",
            ),
            TargetError::BadChar => f.write_str("expected no spaces or control characters"),
        }
    }
}

impl std::error::Error for TargetError {}

/// Where alerts are posted.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port` to connect to (an IPv6 address in brackets).
    pub authority: String,
    /// The request's path: the prefix, then `/api/v2/alerts`.
    pub path: String,
    /// `Basic …` when the URL had credentials.
    pub authorization: Option<String>,
    /// The URL as it may be shown: any password replaced by `***`.
    pub shown: String,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the authorization: it holds the password.
        write!(f, "Target({})", self.shown)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Target {
    /// Reads `url`.
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TargetError::BadChar);
        }
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) => {
                return Err(TargetError::Scheme {
                    found: scheme.to_ascii_lowercase(),
                });
            }
            None => {
                return Err(TargetError::Scheme {
                    found: String::new(),
                });
            }
        };
        if rest.contains(['?', '#']) {
            return Err(TargetError::Query);
        }
        let (authority, prefix) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (host, port) = split_port(hostport)?;
        if host.is_empty() || host == "[]" {
            return Err(TargetError::NoHost);
        }
        let authorization = userinfo.map(|u| {
            let (user, password) = u.split_once(':').unwrap_or((u, ""));
            let pair = format!("{}:{}", percent_decoded(user), percent_decoded(password));
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        });
        Ok(Target {
            authority: format!("{host}:{port}"),
            path: format!("{}/api/v2/alerts", prefix.trim_end_matches('/')),
            authorization,
            shown: host_common::secrets::redact_url(url),
        })
    }
}

/// `host[:port]` (port 80 without one); an IPv6 host keeps its brackets.
fn split_port(hostport: &str) -> Result<(&str, u16), TargetError> {
    let (host, port) = if hostport.starts_with('[') {
        match hostport.find(']') {
            Some(end) => {
                let (h, after) = hostport.split_at(end + 1);
                (h, after.strip_prefix(':'))
            }
            None => return Err(TargetError::NoHost),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    match port {
        None => Ok((host, 80)),
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok((host, n)),
            _ => Err(TargetError::BadPort {
                found: p.to_string(),
            }),
        },
    }
}

/// `%XX` sequences decoded (a password may hold `@` or `:` written so); anything else kept.
fn percent_decoded(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_url_and_one_with_credentials_and_a_prefix() {
        let t = Target::parse("http://127.0.0.1:9093").unwrap();
        assert_eq!(t.authority, "127.0.0.1:9093");
        assert_eq!(t.path, "/api/v2/alerts");
        assert_eq!(t.authorization, None);
        let t = Target::parse("http://ops:s%40cret@am.example:8080/alertmanager/").unwrap();
        assert_eq!(t.authority, "am.example:8080");
        assert_eq!(t.path, "/alertmanager/api/v2/alerts");
        // base64("ops:s@cret")
        assert_eq!(t.authorization.as_deref(), Some("Basic b3BzOnNAY3JldA=="));
        assert_eq!(t.shown, "http://ops:***@am.example:8080/alertmanager/");
        assert!(!format!("{t:?} {t}").contains("cret"));
        let t = Target::parse("http://[::1]:9093").unwrap();
        assert_eq!(t.authority, "[::1]:9093");
        assert_eq!(Target::parse("http://am").unwrap().authority, "am:80");
    }

    #[test]
    fn bad_urls_say_what_was_expected() {
        let e = |u: &str| Target::parse(u).unwrap_err().to_string();
        assert!(e("https://am:9093").starts_with("https is not supported"));
        assert_eq!(e("am:9093"), "expected http://HOST:PORT, found no scheme");
        assert_eq!(
            e("ftp://am"),
            "expected http://HOST:PORT, found the scheme \"ftp\""
        );
        assert_eq!(
            e("http://:9093"),
            "expected http://HOST:PORT, found no host"
        );
        assert_eq!(
            e("http://am:99999"),
            "expected a port from 1 to 65535, found \"99999\""
        );
        assert_eq!(
            e("http://am:0"),
            "expected a port from 1 to 65535, found \"0\""
        );
        assert!(e("http://am:9093/?x=1").starts_with("expected no query"));
        assert_eq!(
            e("http://am 1:9093"),
            "expected no spaces or control characters"
        );
    }
}
