//! TLS for the tests: a throw-away certificate authority made with the `openssl` command, and a
//! TLS-terminating proxy in front of a plaintext endpoint (a dev-broker's proxy), whose
//! listening socket is bound once and kept, like every other test listener.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use native_tls::{Identity, TlsAcceptor};

/// A CA made for one test, and a server certificate it signed for 127.0.0.1 and localhost.
pub struct TestCa {
    /// The CA's certificate (what a client trusts: `ssl.ca.location`, `sslrootcert`).
    pub ca_pem: PathBuf,
    /// The server's certificate, signed by the CA.
    pub cert_pem: PathBuf,
    /// The server's private key (PKCS#8, no passphrase).
    pub key_pem: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestCa {
    /// Makes a CA called `name` and its server certificate in `dir`.
    pub fn make(dir: &Path, name: &str) -> TestCa {
        std::fs::create_dir_all(dir).expect("the CA's directory");
        let file = |what: &str| format!("{name}-{what}");
        let subject = format!("/CN=StreamChecker test CA {name}");
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &subject,
                "-keyout",
                &file("ca.key"),
                "-out",
                &file("ca.pem"),
            ],
        );
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                &file("server.key"),
                "-out",
                &file("server.csr"),
            ],
        );
        std::fs::write(
            dir.join(file("san.cnf")),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .expect("the SAN extension file");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-days",
                "2",
                "-in",
                &file("server.csr"),
                "-CA",
                &file("ca.pem"),
                "-CAkey",
                &file("ca.key"),
                "-CAcreateserial",
                "-extfile",
                &file("san.cnf"),
                "-out",
                &file("server.pem"),
            ],
        );
        TestCa {
            ca_pem: dir.join(file("ca.pem")),
            cert_pem: dir.join(file("server.pem")),
            key_pem: dir.join(file("server.key")),
        }
    }

    /// The server's identity, for a TLS acceptor.
    pub fn identity(&self) -> Identity {
        let cert = std::fs::read(&self.cert_pem).expect("the server certificate");
        let key = std::fs::read(&self.key_pem).expect("the server key");
        Identity::from_pkcs8(&cert, &key).expect("a PKCS#8 identity")
    }
}

/// Accepts TLS on a port of its own and forwards the plaintext to `upstream`.
pub struct TlsProxy {
    address: SocketAddr,
}

impl TlsProxy {
    /// Binds 127.0.0.1 (a port of its own, kept) and serves every connection on a thread.
    pub fn start(upstream: SocketAddr, identity: Identity) -> io::Result<TlsProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let acceptor = TlsAcceptor::new(identity).map_err(io::Error::other)?;
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let acceptor = acceptor.clone();
                std::thread::spawn(move || serve(&acceptor, conn, upstream));
            }
        });
        Ok(TlsProxy { address })
    }

    /// Where clients connect (what the broker must advertise).
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

/// One connection: the handshake (a client that refuses the certificate ends it), then bytes
/// both ways. Both sockets poll with a short read timeout, so one thread serves both
/// directions of the TLS stream, which cannot be split.
fn serve(acceptor: &TlsAcceptor, conn: TcpStream, upstream: SocketAddr) {
    let Ok(mut tls) = acceptor.accept(conn) else {
        return;
    };
    let Ok(mut up) = TcpStream::connect(upstream) else {
        return;
    };
    let tick = Some(Duration::from_millis(2));
    if tls.get_ref().set_read_timeout(tick).is_err() || up.set_read_timeout(tick).is_err() {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let waiting = |e: &io::Error| {
        matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        )
    };
    loop {
        match tls.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if up.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if waiting(&e) => {}
            Err(_) => return,
        }
        match up.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() {
                    return;
                }
            }
            Err(e) if waiting(&e) => {}
            Err(_) => return,
        }
    }
}
