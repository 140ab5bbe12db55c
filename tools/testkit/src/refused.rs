//! A TCP port on 127.0.0.1 that refuses every connection (a server that is down): a socket of
//! the test's, bound but never listening, holds the port for as long as the test runs, so no
//! other process can take it and start answering there.

use std::net::SocketAddr;

use socket2::{Domain, Socket, Type};

/// The port, held until dropped.
pub struct RefusedPort {
    _socket: Socket,
    addr: SocketAddr,
}

impl RefusedPort {
    /// Binds a free port on 127.0.0.1 (the kernel picks it) without listening on it.
    pub fn new() -> RefusedPort {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a TCP socket");
        let any: SocketAddr = "127.0.0.1:0".parse().expect("an address");
        socket.bind(&any.into()).expect("bind 127.0.0.1:0");
        let addr = socket
            .local_addr()
            .expect("the bound address")
            .as_socket()
            .expect("an IP address");
        RefusedPort {
            _socket: socket,
            addr,
        }
    }

    /// Where connections are refused.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Default for RefusedPort {
    fn default() -> RefusedPort {
        RefusedPort::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_refused_while_it_is_held() {
        let port = RefusedPort::new();
        let e = std::net::TcpStream::connect(port.addr()).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
    }
}
