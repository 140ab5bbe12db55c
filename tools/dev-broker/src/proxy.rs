//! A TCP proxy that injects outages without ever giving up its listening port.
//!
//! Invariant: the listening socket is bound once, in [`FaultProxy::start`], and held until the
//! proxy is dropped. "Down" never closes it: connections in flight are cut and new ones are
//! accepted and closed at once, so a client sees its broker (or database) vanish exactly as
//! when a server dies, but the port stays ours. Why it matters: a server that closes its
//! listener and binds the same ephemeral port again later can find it taken (any socket on the
//! machine may be handed that port as its local port meanwhile, a reconnecting client's
//! self-connect being the classic case); librdkafka's mock cluster aborts the whole process
//! when that happens. Behind this proxy the real server is never taken down at all.
//!
//! Every connection is counted: `accepted` (forwarded), `refused` (arrived while down) and
//! `cut` (forwarded, then cut by [`FaultProxy::set_down`]), so a test can wait for proof that
//! a client really met the outage instead of sleeping and hoping.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What a proxy has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections forwarded to the upstream server.
    pub accepted: u64,
    /// Connections that arrived while the proxy was down (closed at once).
    pub refused: u64,
    /// Forwarded connections cut when the proxy went down.
    pub cut: u64,
}

impl std::fmt::Display for ProxyStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "accepted={} refused={} cut={}",
            self.accepted, self.refused, self.cut
        )
    }
}

/// The state the accept loop and the controller share.
#[derive(Default)]
struct Shared {
    /// Down, and the open connections (both halves), under one lock: a connection is either
    /// registered before `set_down(true)` takes the lock (and is then cut) or sees `down`.
    state: Mutex<State>,
    stopping: AtomicBool,
    accepted: AtomicU64,
    refused: AtomicU64,
    cut: AtomicU64,
}

#[derive(Default)]
struct State {
    down: bool,
    next_id: u64,
    open: Vec<(u64, TcpStream, TcpStream)>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking copy thread cannot leave the list half-written: every change is one push
        // or one retain. Going on with the data is right.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A TCP proxy on 127.0.0.1 in front of one upstream address, with an outage switch.
pub struct FaultProxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Binds 127.0.0.1 on a port of the system's choosing (held for the proxy's lifetime) and
    /// forwards every connection to `upstream`.
    pub fn start(upstream: SocketAddr) -> io::Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let loop_shared = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name(format!("proxy-{}", address.port()))
            .spawn(move || accept_loop(&listener, upstream, &loop_shared))?;
        Ok(FaultProxy {
            address,
            shared,
            accept: Some(accept),
        })
    }

    /// The address clients connect to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Down: cuts every forwarded connection and closes new ones at once. Up: forwards again.
    pub fn set_down(&self, down: bool) {
        let mut state = self.shared.lock();
        state.down = down;
        if down {
            let cut = state.open.len() as u64;
            for (_, client, server) in state.open.drain(..) {
                let _ = client.shutdown(Shutdown::Both);
                let _ = server.shutdown(Shutdown::Both);
            }
            self.shared.cut.fetch_add(cut, Ordering::Relaxed);
        }
    }

    /// Whether the proxy is down.
    pub fn is_down(&self) -> bool {
        self.shared.lock().down
    }

    /// Forwarded connections open now (a closed one leaves once its copying threads see it).
    pub fn open_connections(&self) -> usize {
        self.shared.lock().open.len()
    }

    /// The counts so far.
    pub fn stats(&self) -> ProxyStats {
        ProxyStats {
            accepted: self.shared.accepted.load(Ordering::Relaxed),
            refused: self.shared.refused.load(Ordering::Relaxed),
            cut: self.shared.cut.load(Ordering::Relaxed),
        }
    }

    /// Waits until `done(stats)` holds, checking every 10 ms; `false` if `limit` passed first.
    pub fn wait_for(&self, limit: Duration, done: impl Fn(ProxyStats) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if done(self.stats()) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.set_down(true);
        // Wake the blocking accept so the loop sees `stopping` and drops the listener.
        let _ = TcpStream::connect(self.address);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn accept_loop(listener: &TcpListener, upstream: SocketAddr, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        if shared.lock().down {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            continue; // dropped: closed at once
        }
        // Connect outside the lock (the upstream is on this machine: quick either way).
        let Ok(server) = TcpStream::connect(upstream) else {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        if let Err(e) = forward(client, server, shared) {
            eprintln!("dev-broker: proxy: cannot forward a connection: {e}");
        }
    }
}

/// Registers the pair (or closes it, if the proxy went down meanwhile) and starts the two
/// copying threads.
fn forward(client: TcpStream, server: TcpStream, shared: &Arc<Shared>) -> io::Result<()> {
    let id = {
        let mut state = shared.lock();
        if state.down {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        state.next_id += 1;
        let id = state.next_id;
        state
            .open
            .push((id, client.try_clone()?, server.try_clone()?));
        id
    };
    shared.accepted.fetch_add(1, Ordering::Relaxed);
    let (client_in, server_in) = (client.try_clone()?, server.try_clone()?);
    let up = Arc::clone(shared);
    std::thread::Builder::new()
        .name("proxy-up".into())
        .spawn(move || pipe(client_in, server, id, &up))?;
    let down = Arc::clone(shared);
    std::thread::Builder::new()
        .name("proxy-down".into())
        .spawn(move || pipe(server_in, client, id, &down))?;
    Ok(())
}

/// Copies `from` to `to` until either side ends, then closes both and forgets the pair.
fn pipe(mut from: TcpStream, mut to: TcpStream, id: u64, shared: &Shared) {
    let _ = io::copy(&mut from, &mut to);
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
    shared.lock().open.retain(|(i, _, _)| *i != id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// An echo server on a port it keeps; serves each connection on a thread.
    fn echo() -> SocketAddr {
        let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let a = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming().map_while(Result::ok) {
                std::thread::spawn(move || {
                    let mut r = s.try_clone().unwrap();
                    let mut w = s;
                    let _ = io::copy(&mut r, &mut w);
                });
            }
        });
        a
    }

    fn round_trip(a: SocketAddr, msg: &[u8]) -> io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(a)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(msg)?;
        let mut got = vec![0; msg.len()];
        s.read_exact(&mut got)?;
        Ok(got)
    }

    #[test]
    fn forwards_cuts_refuses_and_keeps_its_port() {
        let proxy = FaultProxy::start(echo()).unwrap();
        let port = proxy.address().port();
        assert_eq!(round_trip(proxy.address(), b"hello").unwrap(), b"hello");

        // An open connection is cut by down.
        let mut open = TcpStream::connect(proxy.address()).unwrap();
        open.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        open.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        open.read_exact(&mut one).unwrap();
        // The first connection, closed by its client, leaves the list once its threads see it.
        let deadline = Instant::now() + Duration::from_secs(10);
        while proxy.open_connections() != 1 {
            assert!(
                Instant::now() < deadline,
                "the closed connection is still listed"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        proxy.set_down(true);
        let mut rest = Vec::new();
        // The cut shows as an end of stream or a reset, never as data.
        let ended = matches!(open.read_to_end(&mut rest), Ok(0) | Err(_));
        assert!(ended && rest.is_empty());
        assert_eq!(proxy.stats().cut, 1);

        // While down, a new connection is closed at once, and counted.
        assert!(round_trip(proxy.address(), b"nope").is_err());
        assert!(proxy.wait_for(Duration::from_secs(10), |s| s.refused == 1));

        // Up again, on the same port.
        proxy.set_down(false);
        assert_eq!(proxy.address().port(), port);
        assert_eq!(round_trip(proxy.address(), b"again").unwrap(), b"again");
        assert_eq!(
            proxy.stats(),
            ProxyStats {
                accepted: 3,
                refused: 1,
                cut: 1
            }
        );
    }
}
