//! The metrics listener: a plain `std::net::TcpListener` on a thread of its own, HTTP/1.x
//! `GET` (and `HEAD`) only, one request per connection, every connection answered and closed.
//!
//! Why not an HTTP crate: a scrape is one small request every few seconds, and the binaries
//! have no async runtime; a few hundred lines of std are easier to audit than a server stack.
//! Requests are served one at a time: a client that stalls holds the listener for at most
//! [`IO_TIMEOUT`], and a Prometheus server scrapes once per interval anyway.
//!
//! Bad input never panics: a request head that is not HTTP gets `400`, one too large `431`,
//! another method `405`, an unknown path `404`; a client that sends nothing is timed out.
//! The paths are in [`ROUTES`], one line each; a route reads the program's state through the
//! [`Registry`] it is given (the collectors, the readiness, the status page).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use super::{Format, Registry};
use crate::notify::Readiness;
use crate::ratelimit::RateLimit;

/// How long a client may take to send its request, or to take the answer.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long, and how much, unread input is taken after the answer before the close.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_DRAIN: u64 = 1 << 20;

/// The largest request head read (a scrape's is a few hundred bytes).
const MAX_HEAD: usize = 8 * 1024;

/// A request, as far as the routes need it.
pub struct Request<'a> {
    /// `GET` or `HEAD`.
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The `Accept` header, if any.
    pub accept: Option<&'a str>,
}

/// An answer.
pub struct Response {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Response {
    fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.as_bytes().to_vec(),
        }
    }

    fn html(body: String) -> Response {
        Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: body.into_bytes(),
        }
    }

    /// The bytes on the wire (`HEAD`: the head alone, with the body's length).
    fn to_bytes(&self, head_only: bool) -> Vec<u8> {
        let allow = if self.status == 405 {
            "Allow: GET, HEAD\r\n"
        } else {
            ""
        };
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        )
        .into_bytes();
        if !head_only {
            out.extend_from_slice(&self.body);
        }
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// A route's answer to a request.
pub type Handler = fn(&Request<'_>, &Registry) -> Response;

/// The paths served. To add one, add a line.
pub const ROUTES: &[(&str, Handler)] = &[
    ("/", page),
    ("/metrics", metrics),
    ("/healthz", healthz),
    ("/readyz", readyz),
];

fn metrics(request: &Request<'_>, registry: &Registry) -> Response {
    let format = Format::from_accept(request.accept);
    match registry.encode(format) {
        Ok(text) => Response {
            status: 200,
            content_type: format.content_type(),
            body: text.into_bytes(),
        },
        Err(_) => Response::text(500, "the metrics could not be encoded\n"),
    }
}

/// The program's status page; 404 when it has none (host-capture: its state is all in the
/// metrics, and a 404 keeps `/` what it was for anything that probes it).
fn page(_: &Request<'_>, registry: &Registry) -> Response {
    match registry.page() {
        Some(p) => Response::html(p.render()),
        None => not_found(),
    }
}

fn not_found() -> Response {
    Response::text(
        404,
        "not found: the paths are /metrics, /healthz and /readyz\n",
    )
}

fn healthz(_: &Request<'_>, _: &Registry) -> Response {
    Response::text(200, "ok\n")
}

/// 200 `ready`, or 503 and the reason on one line (the program's rules: docs/OBSERVABILITY.md).
fn readyz(_: &Request<'_>, registry: &Registry) -> Response {
    match registry.readiness().map(Readiness::get) {
        Some(Ok(())) => Response::text(200, "ready\n"),
        Some(Err(why)) => Response::text(503, &format!("{}\n", why.replace('\n', " "))),
        None => Response::text(503, "this program reports no readiness\n"),
    }
}

/// Listens on `address` (port 0: any free port) and serves `registry` from a thread until the
/// process ends; logs `metrics on http://ADDRESS/metrics` (an info event) and returns the
/// address bound (so that a test or an operator learns the port chosen).
pub fn serve(program: &str, address: SocketAddr, registry: Registry) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(address)?;
    let bound = listener.local_addr()?;
    let name = program.to_string();
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || accept_loop(&name, &listener, &registry))?;
    tracing::info!(program, "metrics on http://{bound}/metrics");
    Ok(bound)
}

fn accept_loop(program: &str, listener: &TcpListener, registry: &Registry) {
    let mut log = RateLimit::new(1, Duration::from_secs(60));
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => handle(stream, registry),
            Err(e) => {
                if log.allow() {
                    tracing::warn!(program, error = %e, "metrics: cannot accept a connection");
                }
                // Out of file descriptors, say: do not spin on an error that repeats at once.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Answers one connection and closes it. Errors of the client's connection are its own:
/// nothing is logged for them.
fn handle(mut stream: TcpStream, registry: &Registry) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let (response, head_only) = match read_head(&mut stream) {
        Ok(Some(head)) => answer(&head, registry),
        // Closed before a whole request: there is no one to answer.
        Ok(None) => return,
        Err(Bad::TooLarge) => (Response::text(431, "request head too large\n"), false),
        Err(Bad::Incomplete) => (Response::text(400, "incomplete request head\n"), false),
        Err(Bad::Timeout) => (Response::text(408, "request timed out\n"), false),
        Err(Bad::Io) => return,
    };
    let _ = stream.write_all(&response.to_bytes(head_only));
    let _ = stream.flush();
    // Close our side, then take what the client still sends until it closes: closing with
    // unread input would reset the connection and could destroy the answer in flight.
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(DRAIN_TIMEOUT));
    let _ = io::copy(&mut (&mut stream).take(MAX_DRAIN), &mut io::sink());
}

enum Bad {
    TooLarge,
    /// The client stopped sending in the middle of the head.
    Incomplete,
    Timeout,
    Io,
}

/// Reads up to the blank line that ends the head; `None` if the client closed before sending
/// anything.
fn read_head(stream: &mut impl Read) -> Result<Option<Vec<u8>>, Bad> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = head_end(&head) {
            head.truncate(end);
            return Ok(Some(head));
        }
        if head.len() > MAX_HEAD {
            return Err(Bad::TooLarge);
        }
        match stream.read(&mut chunk) {
            Ok(0) if head.is_empty() => return Ok(None),
            Ok(0) => return Err(Bad::Incomplete),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Bad::Timeout);
            }
            Err(_) => return Err(Bad::Io),
        }
    }
}

/// Where the head ends (`\r\n\r\n`, or `\n\n` from a lenient client).
fn head_end(bytes: &[u8]) -> Option<usize> {
    let crlf = bytes.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = bytes.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The answer to a whole head, and whether it is to a `HEAD` request.
fn answer(head: &[u8], registry: &Registry) -> (Response, bool) {
    let bad = |why: &str| (Response::text(400, &format!("{why}\n")), false);
    let Ok(text) = std::str::from_utf8(head) else {
        return bad("the request is not text");
    };
    let mut lines = text.lines();
    let mut parts = lines.next().unwrap_or_default().split_ascii_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return bad("not an HTTP request line");
    };
    if !version.starts_with("HTTP/") {
        return bad("not an HTTP request line");
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return (Response::text(505, "HTTP/1.0 and HTTP/1.1 only\n"), false);
    }
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return (Response::text(405, "GET or HEAD only\n"), false);
    }
    let accept = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("accept")
            .then(|| value.trim())
    });
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let request = Request {
        method,
        path,
        accept,
    };
    let response = match ROUTES.iter().find(|(p, _)| *p == path) {
        Some((_, handler)) => handler(&request, registry),
        None => not_found(),
    };
    (response, head_only)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Collect, Out};
    use std::fmt;
    use std::net::{Ipv4Addr, TcpStream};
    use std::sync::Arc;

    struct One;

    impl Collect for One {
        fn collect(&self, out: &mut Out<'_>) -> fmt::Result {
            out.counter("t_things_total", "Things.", 7)
        }
    }

    fn server() -> SocketAddr {
        let mut r = Registry::new();
        r.register(Arc::new(One));
        serve("test", SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), r).unwrap()
    }

    /// Sends `request` as is and reads the answer to its end (the server closes).
    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(request).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn metrics_and_health_are_served_and_everything_else_answered() {
        let addr = server();
        let got = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            got.starts_with(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            ),
            "{got}"
        );
        assert!(
            got.ends_with("\r\n\r\n# HELP t_things_total Things.\n# TYPE t_things_total counter\nt_things_total 7\n"),
            "{got}"
        );
        let om = exchange(
            addr,
            b"GET /metrics?x=1 HTTP/1.1\r\naccept: application/openmetrics-text; version=1.0.0\r\n\r\n",
        );
        assert!(
            om.contains(
                "Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"
            ),
            "{om}"
        );
        assert!(om.ends_with("t_things_total 7\n# EOF\n"), "{om}");
        let ok = exchange(addr, b"GET /healthz HTTP/1.0\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.ends_with("Content-Length: 3\r\nConnection: close\r\n\r\nok\n"),
            "{ok}"
        );
        let head = exchange(addr, b"HEAD /healthz HTTP/1.1\r\n\r\n");
        assert!(
            head.ends_with("Content-Length: 3\r\nConnection: close\r\n\r\n"),
            "{head}"
        );
        let status = |req: &[u8]| {
            exchange(addr, req)
                .lines()
                .next()
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), "HTTP/1.1 404 Not Found");
        assert_eq!(
            status(b"POST /metrics HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 405 Method Not Allowed"
        );
        assert_eq!(
            status(b"GET /metrics HTTP/2.0\r\n\r\n"),
            "HTTP/1.1 505 HTTP Version Not Supported"
        );
        assert_eq!(status(b"hello\r\n\r\n"), "HTTP/1.1 400 Bad Request");
        assert_eq!(
            status(b"GET /a b HTTP/1.1\r\n\r\n"),
            "HTTP/1.1 400 Bad Request"
        );
        assert_eq!(status(b"\xff\xfe GET\r\n\r\n"), "HTTP/1.1 400 Bad Request");
        let mut huge = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        huge.extend(std::iter::repeat_n(b'a', 3 * MAX_HEAD));
        assert_eq!(
            status(&huge),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
        // A head cut short by the client's close is answered too.
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut cut = String::new();
        s.read_to_string(&mut cut).unwrap();
        assert!(cut.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{cut}");
        // A client that goes away without a request is no error; the next is served.
        drop(TcpStream::connect(addr).unwrap());
        assert_eq!(status(b"GET /healthz HTTP/1.1\r\n\r\n"), "HTTP/1.1 200 OK");
        // No readiness given: not ready, and says why.
        let not = exchange(addr, b"GET /readyz HTTP/1.1\r\n\r\n");
        assert!(
            not.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{not}"
        );
    }

    struct Hello;

    impl crate::metrics::Page for Hello {
        fn render(&self) -> String {
            "<!DOCTYPE html><title>hi</title>\n".into()
        }
    }

    #[test]
    fn the_status_page_is_served_as_html_when_the_program_has_one() {
        let mut r = Registry::new();
        r.set_page(Arc::new(Hello));
        let addr = serve("test", SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), r).unwrap();
        let got = exchange(addr, b"GET /?refresh=1 HTTP/1.1\r\n\r\n");
        assert_eq!(
            got,
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
             Content-Length: 33\r\nConnection: close\r\n\r\n<!DOCTYPE html><title>hi</title>\n"
        );
        let head = exchange(addr, b"HEAD / HTTP/1.0\r\n\r\n");
        assert!(
            head.ends_with("Content-Length: 33\r\nConnection: close\r\n\r\n"),
            "{head}"
        );
        assert!(
            exchange(addr, b"POST / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405 "),
            "POST"
        );
    }

    #[test]
    fn readyz_follows_the_programs_health() {
        let mut health = crate::notify::Health::new(crate::notify::Notifier::disabled("test"));
        let mut r = Registry::new();
        r.set_readiness(health.readiness());
        let addr = serve("test", SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), r).unwrap();
        let get = || exchange(addr, b"GET /readyz HTTP/1.1\r\n\r\n");
        let starting = get();
        assert!(
            starting.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
            "{starting}"
        );
        assert!(starting.ends_with("\r\n\r\nstarting\n"), "{starting}");
        health.update(Ok(()), "reading");
        let ready = get();
        assert!(ready.starts_with("HTTP/1.1 200 OK\r\n"), "{ready}");
        assert!(ready.ends_with("\r\n\r\nready\n"), "{ready}");
        health.stopping("signal received");
        let stopping = get();
        assert!(stopping.starts_with("HTTP/1.1 503 "), "{stopping}");
        assert!(
            stopping.ends_with("\r\n\r\nstopping: signal received\n"),
            "{stopping}"
        );
    }
}
