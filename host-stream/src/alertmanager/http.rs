//! One HTTP/1.1 `POST` over a plain TCP connection, with a deadline on every step: all that
//! posting alerts needs (`Connection: close`, the whole answer read to its end, its status
//! line parsed). A std `TcpStream` rather than an HTTP crate: one request shape, no TLS (see
//! [`super::target`]), and nothing of an async runtime on a thread that only waits.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::target::Target;

/// The most of an answer read (an Alertmanager's error body is a line).
const MAX_ANSWER: u64 = 64 * 1024;

/// Why a post failed.
#[derive(Debug)]
pub enum PostError {
    /// No address, or none that accepted a connection.
    Connect(io::Error),
    /// Sending the request or reading the answer.
    Io(io::Error),
    /// The answer does not start with `HTTP/1.x NNN`.
    BadAnswer,
    /// A status other than 2xx.
    Status {
        /// The status code.
        code: u16,
        /// The start of the body (what the Alertmanager says is wrong).
        body: String,
    },
}

impl PostError {
    /// Whether trying again may help: not for a request the server refused as such (4xx
    /// other than 408 and 429), which would be refused again.
    pub fn is_transient(&self) -> bool {
        match self {
            PostError::Status { code, .. } => {
                !(400..500).contains(code) || matches!(code, 408 | 429)
            }
            PostError::Connect(_) | PostError::Io(_) | PostError::BadAnswer => true,
        }
    }
}

impl fmt::Display for PostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostError::Connect(e) => write!(f, "cannot connect: {e}"),
            PostError::Io(e) => write!(f, "request failed: {e}"),
            PostError::BadAnswer => f.write_str("expected an HTTP/1.x status line, found none"),
            PostError::Status { code, body } => {
                write!(f, "expected a 2xx answer, found {code}: {}", body.trim())
            }
        }
    }
}

/// Posts `body` (JSON) to `target`, each of connecting, writing and reading bounded by
/// `timeout`.
pub fn post(target: &Target, body: &[u8], timeout: Duration) -> Result<(), PostError> {
    let mut stream = connect(&target.authority, timeout)?;
    let io = PostError::Io;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: host-stream/{}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        target.path,
        target.authority,
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    if let Some(auth) = &target.authorization {
        head.push_str("Authorization: ");
        head.push_str(auth);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(io)?;
    stream.write_all(body).map_err(io)?;
    stream.flush().map_err(io)?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .map_err(io)?;
    status(&answer)
}

fn connect(authority: &str, timeout: Duration) -> Result<TcpStream, PostError> {
    let addrs = authority.to_socket_addrs().map_err(PostError::Connect)?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(PostError::Connect(last))
}

/// The answer's status: `Ok` for 2xx.
fn status(answer: &[u8]) -> Result<(), PostError> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let code = match (parts.next(), parts.next()) {
        (Some(v), Some(c)) if v.starts_with("HTTP/1.") => {
            c.parse::<u16>().map_err(|_| PostError::BadAnswer)?
        }
        _ => return Err(PostError::BadAnswer),
    };
    if (200..300).contains(&code) {
        Ok(())
    } else {
        Err(PostError::Status {
            code,
            body: body.chars().take(200).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn answers_are_read_by_their_status_line() {
        assert!(status(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_ok());
        let e = status(b"HTTP/1.1 400 Bad Request\r\n\r\n{\"code\":400,\"message\":\"bad\"}")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "expected a 2xx answer, found 400: {\"code\":400,\"message\":\"bad\"}"
        );
        assert!(!e.is_transient());
        assert!(
            status(b"HTTP/1.1 503 x\r\n\r\n")
                .unwrap_err()
                .is_transient()
        );
        assert!(matches!(status(b"hello"), Err(PostError::BadAnswer)));
        assert!(matches!(status(b""), Err(PostError::BadAnswer)));
        assert!(matches!(
            status(b"HTTP/1.1 abc\r\n\r\n"),
            Err(PostError::BadAnswer)
        ));
    }

    #[test]
    fn the_request_carries_the_body_and_the_credentials() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            // Up to the body's last byte (its length is known to the test).
            while !got.ends_with(b"[1]") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "{}", String::from_utf8_lossy(&got));
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            String::from_utf8(got).unwrap()
        });
        let target = Target::parse(&format!("http://u:p@{addr}/am")).unwrap();
        post(&target, b"[1]", Duration::from_secs(10)).unwrap();
        let request = server.join().unwrap();
        assert!(
            request.starts_with(&format!(
                "POST /am/api/v2/alerts HTTP/1.1\r\nHost: {addr}\r\n"
            )),
            "{request}"
        );
        assert!(request.contains("\r\nContent-Length: 3\r\n"), "{request}");
        assert!(
            request.contains("\r\nAuthorization: Basic dTpw\r\n"),
            "{request}"
        );
        assert!(request.ends_with("\r\n\r\n[1]"), "{request}");
    }
}
