//! TLS to PostgreSQL as libpq does it: what each `sslmode` checks of the server's certificate,
//! where the root certificates come from, the client certificate, and errors that say which
//! check failed.
//!
//! | sslmode | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `allow` | only if the server refuses plaintext | not checked |
//! | `prefer` (default) | if the server offers it | not checked |
//! | `require` | always | not checked; with a root certificate (sslrootcert given, or `~/.postgresql/root.crt` present) as `verify-ca`, as libpq does |
//! | `verify-ca` | always | signed by a CA of the root certificates |
//! | `verify-full` | always | as `verify-ca`, and issued for the host connected to (DNS name, or IP SAN for an address) |
//!
//! Root certificates: `sslrootcert=FILE` (PEM, one or more CA certificates; only these are
//! trusted), `sslrootcert=system` (the system's store; then `sslmode` defaults to `verify-full`
//! and a weaker one is refused, as in libpq 16), or libpq's default `~/.postgresql/root.crt`.
//! A client certificate is sent when `sslcert` is given (or `~/.postgresql/postgresql.crt`
//! exists), with the key `sslkey` (default `~/.postgresql/postgresql.key`, unencrypted PKCS#8).

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow};
use native_tls::{Certificate, Identity, TlsConnector};
use postgres::config::{Host, SslMode as PgSslMode};
use postgres::{Client, Config, NoTls};
use postgres_native_tls::MakeTlsConnector;

use crate::conninfo::{ConnInfo, SslMode};

/// Where the trusted root certificates come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Roots {
    /// A PEM file: `sslrootcert=FILE`, or (`default`) libpq's `~/.postgresql/root.crt`.
    File {
        /// The file.
        path: PathBuf,
        /// It is libpq's default, not given.
        default: bool,
    },
    /// `sslrootcert=system`: the system's trusted store.
    System,
}

impl fmt::Display for Roots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Roots::File {
                path,
                default: false,
            } => write!(f, "sslrootcert={}", path.display()),
            Roots::File {
                path,
                default: true,
            } => write!(
                f,
                "sslrootcert={} (libpq's default: sslrootcert not given)",
                path.display()
            ),
            Roots::System => f.write_str("the system's store (sslrootcert=system)"),
        }
    }
}

/// What is checked of the server's certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verify {
    /// Nothing (the connection is encrypted, not authenticated).
    Nothing,
    /// The chain, up to one of the root certificates.
    Chain,
    /// The chain and the host name (or IP address).
    ChainAndHost,
}

/// How to connect: resolved from a [`ConnInfo`] by [`plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The mode in effect (given, or the default).
    pub mode: SslMode,
    /// What is checked of the server's certificate.
    pub verify: Verify,
    /// The root certificates, when the certificate is checked.
    pub roots: Option<Roots>,
    /// The client certificate and its key, when one is sent.
    pub client: Option<(PathBuf, PathBuf)>,
    /// Send the host name in the handshake (`sslsni`).
    pub sni: bool,
}

/// Why TLS cannot be set up as the connection string asks.
#[derive(Debug)]
pub enum TlsError {
    /// A mode that verifies, and no root certificate file.
    NoRootCert {
        /// The mode.
        mode: SslMode,
        /// The file that is missing (`None`: no home directory for libpq's default).
        path: Option<PathBuf>,
        /// The file is libpq's default, sslrootcert was not given.
        default: bool,
    },
    /// `sslrootcert=system` with a mode weaker than `verify-full`.
    SystemNeedsVerifyFull(SslMode),
    /// A file named by a parameter cannot be read.
    Unreadable {
        /// The parameter.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        error: std::io::Error,
    },
    /// A file named by a parameter does not hold what it must.
    BadFile {
        /// The parameter.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The TLS library refused the setup.
    Setup(native_tls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::NoRootCert {
                mode,
                path: Some(path),
                default: true,
            } => write!(
                f,
                "sslmode={mode} needs root certificates: sslrootcert is not given and libpq's \
                 default {} does not exist (give sslrootcert=FILE, or sslrootcert=system for \
                 the system's store, or a weaker sslmode)",
                path.display()
            ),
            TlsError::NoRootCert {
                path: Some(path), ..
            } => write!(
                f,
                "sslrootcert={}: the root certificate file does not exist",
                path.display()
            ),
            TlsError::NoRootCert {
                mode, path: None, ..
            } => write!(
                f,
                "sslmode={mode} needs root certificates: sslrootcert is not given and there is \
                 no home directory for libpq's default ~/.postgresql/root.crt"
            ),
            TlsError::SystemNeedsVerifyFull(mode) => write!(
                f,
                "sslrootcert=system needs sslmode=verify-full (as in libpq), not sslmode={mode}"
            ),
            TlsError::Unreadable { key, path, error } => {
                write!(f, "{key}={}: cannot read it: {error}", path.display())
            }
            TlsError::BadFile { key, path, what } => {
                write!(f, "{key}={}: {what}", path.display())
            }
            TlsError::Setup(e) => write!(f, "cannot set up TLS: {e}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// The user's home directory, for libpq's defaults under `~/.postgresql/`.
pub fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// What `info` asks for, with libpq's defaults under `home/.postgresql/` (files that are only
/// defaults count when they exist). Reads no file but checks that the ones needed exist.
pub fn plan(info: &ConnInfo, home: Option<&Path>) -> Result<Plan, TlsError> {
    let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let default_file = |name: &str| home.map(|h| h.join(".postgresql").join(name));
    let rootcert = given(&info.sslrootcert);
    let system = rootcert.as_deref() == Some("system");
    let mode = info.sslmode.unwrap_or(if system {
        SslMode::VerifyFull
    } else {
        SslMode::Prefer
    });
    if system && mode != SslMode::VerifyFull {
        return Err(TlsError::SystemNeedsVerifyFull(mode));
    }
    let roots = match rootcert {
        Some(_) if system => Some(Roots::System),
        Some(path) => Some(Roots::File {
            path: path.into(),
            default: false,
        }),
        None => default_file("root.crt")
            .filter(|p| p.exists())
            .map(|path| Roots::File {
                path,
                default: true,
            }),
    };
    let verify = match mode {
        SslMode::Disable | SslMode::Allow | SslMode::Prefer => Verify::Nothing,
        SslMode::Require if roots.is_some() => Verify::Chain,
        SslMode::Require => Verify::Nothing,
        SslMode::VerifyCa => Verify::Chain,
        SslMode::VerifyFull => Verify::ChainAndHost,
    };
    if verify != Verify::Nothing {
        match &roots {
            None => {
                return Err(TlsError::NoRootCert {
                    mode,
                    path: default_file("root.crt"),
                    default: true,
                });
            }
            Some(Roots::File { path, default }) if !path.exists() => {
                return Err(TlsError::NoRootCert {
                    mode,
                    path: Some(path.clone()),
                    default: *default,
                });
            }
            Some(_) => {}
        }
    }
    let client = match given(&info.sslcert) {
        Some(cert) => Some(PathBuf::from(cert)),
        None => default_file("postgresql.crt").filter(|p| p.exists()),
    }
    .map(|cert| {
        let key = given(&info.sslkey)
            .map(PathBuf::from)
            .or_else(|| default_file("postgresql.key"))
            .unwrap_or_else(|| PathBuf::from("postgresql.key"));
        (cert, key)
    });
    Ok(Plan {
        mode,
        verify,
        roots: roots.filter(|_| verify != Verify::Nothing),
        client: client.filter(|_| mode != SslMode::Disable),
        sni: info.sslsni,
    })
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|error| TlsError::Unreadable {
        key,
        path: path.to_path_buf(),
        error,
    })
}

/// The TLS connector for `plan` (`None` for `sslmode=disable`): reads the root certificates
/// and the client certificate.
pub fn connector(plan: &Plan) -> Result<Option<TlsConnector>, TlsError> {
    if plan.mode == SslMode::Disable {
        return Ok(None);
    }
    let mut b = TlsConnector::builder();
    b.use_sni(plan.sni);
    match plan.verify {
        Verify::Nothing => {
            b.danger_accept_invalid_certs(true);
        }
        Verify::Chain => {
            b.danger_accept_invalid_hostnames(true);
        }
        Verify::ChainAndHost => {}
    }
    if let Some(Roots::File { path, .. }) = &plan.roots {
        let bad = |what: String| TlsError::BadFile {
            key: "sslrootcert",
            path: path.clone(),
            what,
        };
        let certs = Certificate::stack_from_pem(&read("sslrootcert", path)?)
            .map_err(|e| bad(format!("not a PEM file of certificates: {e}")))?;
        if certs.is_empty() {
            return Err(bad("holds no PEM certificate".into()));
        }
        b.disable_built_in_roots(true);
        for c in certs {
            b.add_root_certificate(c);
        }
    }
    if let Some((cert, key)) = &plan.client {
        let cert_pem = read("sslcert", cert)?;
        let key_pem = read("sslkey", key)?;
        if !key_pem.starts_with(b"-----BEGIN PRIVATE KEY-----") {
            return Err(TlsError::BadFile {
                key: "sslkey",
                path: key.clone(),
                what: "not an unencrypted PKCS#8 PEM key (-----BEGIN PRIVATE KEY-----); \
                       convert it with `openssl pkcs8 -topk8 -nocrypt`"
                    .into(),
            });
        }
        let identity =
            Identity::from_pkcs8(&cert_pem, &key_pem).map_err(|e| TlsError::BadFile {
                key: "sslcert",
                path: cert.clone(),
                what: format!("not a PEM certificate matching sslkey: {e}"),
            })?;
        b.identity(identity);
    }
    b.build().map(Some).map_err(TlsError::Setup)
}

/// Connects as `plan` says (`allow`: plaintext first, TLS when the server refuses it). A
/// failed certificate check is said in words naming the check and the root certificates.
pub fn connect(config: &Config, plan: &Plan) -> Result<Client> {
    let tls = connector(plan)?;
    let mut config = config.clone();
    let result = match (plan.mode, tls) {
        (SslMode::Allow, Some(tls)) => {
            config.ssl_mode(PgSslMode::Disable);
            match config.connect(NoTls) {
                // The server answered and refused: libpq then tries TLS.
                Err(e) if e.as_db_error().is_some() => {
                    config.ssl_mode(PgSslMode::Require);
                    config.connect(MakeTlsConnector::new(tls))
                }
                other => other,
            }
        }
        (_, None) => {
            config.ssl_mode(PgSslMode::Disable);
            config.connect(NoTls)
        }
        (mode, Some(tls)) => {
            config.ssl_mode(if mode == SslMode::Prefer {
                PgSslMode::Prefer
            } else {
                PgSslMode::Require
            });
            config.connect(MakeTlsConnector::new(tls))
        }
    };
    result.map_err(|e| match explain(&e, plan, &config) {
        Some(words) => anyhow!(words),
        None => anyhow::Error::new(e),
    })
}

/// The words for a failed certificate check, or `None` when `error` is something else.
fn explain(error: &postgres::Error, plan: &Plan, config: &Config) -> Option<String> {
    let mut chain = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = next {
        chain.push(e.to_string());
        next = e.source();
    }
    let all = chain.join(": ");
    let at = all.find("certificate verify failed")?;
    // OpenSSL's verify result, in parentheses after its error stack.
    let tail = all.get(at..).unwrap_or_default();
    let reason = tail
        .rfind('(')
        .and_then(|open| {
            let inside = tail.get(open + 1..)?;
            inside.find(')').and_then(|close| inside.get(..close))
        })
        .unwrap_or("no reason given");
    let failed = format!("certificate verify failed ({reason})");
    let roots = plan
        .roots
        .as_ref()
        .map_or_else(|| "the root certificates".to_string(), Roots::to_string);
    let r = reason.to_ascii_lowercase();
    Some(
        if r.contains("hostname mismatch") || r.contains("ip address mismatch") {
            let host = config
                .get_hosts()
                .iter()
                .map(|h| match h {
                    Host::Tcp(name) => name.clone(),
                    Host::Unix(path) => path.display().to_string(),
                })
                .collect::<Vec<_>>()
                .join(",");
            format!(
                "the server's certificate is not issued for the host name {host} \
             (sslmode=verify-full checks it; verify-ca does not): {failed}"
            )
        } else if [
            "issuer certificate",
            "self-signed",
            "self signed",
            "verify the first certificate",
        ]
        .iter()
        .any(|w| r.contains(w))
        {
            format!("the server's certificate is not signed by a CA in {roots}: {failed}")
        } else {
            format!("the server's certificate was refused (checked against {roots}): {failed}")
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conninfo;

    fn planned(text: &str, home: Option<&Path>) -> Result<Plan, TlsError> {
        plan(&conninfo::parse(text).unwrap(), home)
    }

    /// A home with `~/.postgresql/` holding `files`.
    fn home_with(name: &str, files: &[&str]) -> PathBuf {
        let home = std::env::temp_dir().join(format!("hostdb-tls-{name}-{}", std::process::id()));
        let dir = home.join(".postgresql");
        std::fs::create_dir_all(&dir).unwrap();
        for f in files {
            std::fs::write(dir.join(f), "").unwrap();
        }
        home
    }

    #[test]
    fn what_each_mode_checks() {
        let empty = home_with("empty", &[]);
        let ca = empty.join("ca.pem");
        std::fs::write(&ca, "").unwrap();
        let ca = ca.display().to_string();
        let check = |text: String| {
            let p = planned(&text, Some(&empty)).unwrap();
            (p.mode, p.verify, p.roots)
        };
        let file = Some(Roots::File {
            path: PathBuf::from(&ca),
            default: false,
        });
        assert_eq!(
            check("host=h".into()),
            (SslMode::Prefer, Verify::Nothing, None)
        );
        for mode in ["disable", "allow", "prefer", "require"] {
            let p = check(format!("host=h sslmode={mode}"));
            assert_eq!(p.1, Verify::Nothing, "{mode}");
        }
        // sslrootcert is not read where nothing is checked; require with one is verify-ca.
        assert_eq!(
            check(format!("host=h sslmode=prefer sslrootcert={ca}")),
            (SslMode::Prefer, Verify::Nothing, None)
        );
        assert_eq!(
            check(format!("host=h sslmode=require sslrootcert={ca}")),
            (SslMode::Require, Verify::Chain, file.clone())
        );
        assert_eq!(
            check(format!(
                "postgresql://h/d?sslmode=verify-ca&sslrootcert={ca}"
            )),
            (SslMode::VerifyCa, Verify::Chain, file.clone())
        );
        assert_eq!(
            check(format!(
                "postgresql://h/d?sslmode=verify-full&sslrootcert={ca}"
            )),
            (SslMode::VerifyFull, Verify::ChainAndHost, file)
        );
        // sslrootcert=system: verify-full by default, nothing weaker.
        assert_eq!(
            check("host=h sslrootcert=system".into()),
            (
                SslMode::VerifyFull,
                Verify::ChainAndHost,
                Some(Roots::System)
            )
        );
        let e = planned("host=h sslrootcert=system sslmode=verify-ca", None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "sslrootcert=system needs sslmode=verify-full (as in libpq), not sslmode=verify-ca"
        );
        std::fs::remove_dir_all(empty).ok();
    }

    #[test]
    fn libpq_default_root_certificate_and_missing_files() {
        let with = home_with("root", &["root.crt"]);
        let default = Some(Roots::File {
            path: with.join(".postgresql/root.crt"),
            default: true,
        });
        let p = planned("host=h sslmode=verify-full", Some(&with)).unwrap();
        assert_eq!(p.roots, default);
        // require with a root certificate present behaves as verify-ca (libpq).
        let p = planned("host=h sslmode=require", Some(&with)).unwrap();
        assert_eq!((p.verify, p.roots), (Verify::Chain, default));

        let without = home_with("noroot", &[]);
        let e = planned("host=h sslmode=verify-ca", Some(&without)).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "sslmode=verify-ca needs root certificates: sslrootcert is not given and \
                 libpq's default {} does not exist (give sslrootcert=FILE, or \
                 sslrootcert=system for the system's store, or a weaker sslmode)",
                without.join(".postgresql/root.crt").display()
            )
        );
        let e = planned(
            "postgresql://h/d?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            Some(&without),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "sslrootcert=/nonexistent/ca.pem: the root certificate file does not exist"
        );
        assert!(planned("host=h sslmode=verify-full", None).is_err());
        std::fs::remove_dir_all(with).ok();
        std::fs::remove_dir_all(without).ok();
    }

    #[test]
    fn client_certificate_given_or_by_default() {
        let none = home_with("nocert", &[]);
        assert_eq!(planned("host=h", Some(&none)).unwrap().client, None);
        let p = planned("host=h sslcert=/c.pem sslkey=/k.pem", Some(&none)).unwrap();
        assert_eq!(p.client, Some(("/c.pem".into(), "/k.pem".into())));
        let with = home_with("cert", &["postgresql.crt"]);
        let p = planned("host=h", Some(&with)).unwrap();
        assert_eq!(
            p.client,
            Some((
                with.join(".postgresql/postgresql.crt"),
                with.join(".postgresql/postgresql.key")
            ))
        );
        assert_eq!(
            planned("host=h sslmode=disable", Some(&with))
                .unwrap()
                .client,
            None
        );
        std::fs::remove_dir_all(none).ok();
        std::fs::remove_dir_all(with).ok();
    }

    #[test]
    fn files_that_do_not_hold_what_they_must_are_refused_by_name() {
        let home = home_with("bad", &[]);
        let garbage = home.join("garbage.pem");
        std::fs::write(&garbage, "not a certificate\n").unwrap();
        let text = format!("host=h sslmode=verify-ca sslrootcert={}", garbage.display());
        let e = connector(&planned(&text, Some(&home)).unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "sslrootcert={}: holds no PEM certificate",
                garbage.display()
            )
        );
        let key = home.join("rsa.key");
        std::fs::write(&key, "-----BEGIN RSA PRIVATE KEY-----\n").unwrap();
        let text = format!(
            "host=h sslcert={} sslkey={}",
            garbage.display(),
            key.display()
        );
        let e = connector(&planned(&text, Some(&home)).unwrap()).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "sslkey={}: not an unencrypted PKCS#8 PEM key",
                key.display()
            )),
            "{e}"
        );
        let text = "host=h sslcert=/nonexistent/c.pem sslkey=/nonexistent/k.pem";
        let e = connector(&planned(text, Some(&home)).unwrap()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("sslcert=/nonexistent/c.pem: cannot read it: "),
            "{e}"
        );
        std::fs::remove_dir_all(home).ok();
    }
}
