//! Address prefixes (`10.0.0.0/8`, `192.0.2.7`, `2001:db8::/32`) and the traffic filter built
//! from them.
//!
//! The text grammar is parsed with nom; the address itself is read by `core::net`'s own
//! parser, which already knows every RFC 4291 / RFC 5952 spelling.

use core::fmt;
use core::net::IpAddr;
use core::str::FromStr;

use nom::Parser;
use nom::bytes::complete::take_while1;
use nom::character::complete::{char, digit1};
use nom::combinator::{all_consuming, opt};
use nom::sequence::preceded;

/// An IPv4 or IPv6 network: an address with its host bits zero, and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Prefix {
    addr: IpAddr,
    len: u8,
}

/// Why a prefix could not be built or parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrefixError {
    /// The text is not `ADDRESS` or `ADDRESS/LENGTH`; `at` is the byte offset where it stops
    /// making sense.
    Syntax {
        /// Byte offset into the (trimmed) text.
        at: usize,
    },
    /// The address part is not an IPv4 or IPv6 address.
    BadAddress,
    /// The prefix length is longer than the address.
    LengthTooLong {
        /// The length given.
        len: u16,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// The address has bits set beyond the prefix length (`10.1.2.3/8`): it names a host, not
    /// a network. `network` is the prefix that was probably meant.
    HostBitsSet {
        /// The same length with the host bits cleared.
        network: Prefix,
    },
}

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrefixError::Syntax { at } => write!(
                f,
                "expected ADDRESS or ADDRESS/LENGTH, stopped at byte {at}"
            ),
            PrefixError::BadAddress => f.write_str("not an IPv4 or IPv6 address"),
            PrefixError::LengthTooLong { len, max } => {
                write!(
                    f,
                    "prefix length {len} is longer than the address ({max} bits)"
                )
            }
            PrefixError::HostBitsSet { network } => {
                write!(
                    f,
                    "host bits are set beyond the prefix length (did you mean {network}?)"
                )
            }
        }
    }
}

impl core::error::Error for PrefixError {}

impl Prefix {
    /// A prefix of `len` bits; the address must have no bits set past `len`.
    pub fn new(addr: IpAddr, len: u8) -> Result<Prefix, PrefixError> {
        let max = max_len(addr);
        if len > max {
            return Err(PrefixError::LengthTooLong {
                len: u16::from(len),
                max,
            });
        }
        let network = Prefix {
            addr: mask(addr, len),
            len,
        };
        if network.addr != addr {
            return Err(PrefixError::HostBitsSet { network });
        }
        Ok(network)
    }

    /// The prefix that holds exactly one address.
    pub fn host(addr: IpAddr) -> Prefix {
        Prefix {
            addr,
            len: max_len(addr),
        }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// True for `0.0.0.0/0` and `::/0`.
    pub fn is_default_route(&self) -> bool {
        self.len == 0
    }

    /// True when `ip` is inside this network. An IPv4 prefix never holds an IPv6 address
    /// (IPv4-mapped ones included) and the other way round.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let m = u32::MAX.checked_shl(32 - u32::from(self.len)).unwrap_or(0);
                ip.to_bits() & m == net.to_bits()
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let m = u128::MAX
                    .checked_shl(128 - u32::from(self.len))
                    .unwrap_or(0);
                ip.to_bits() & m == net.to_bits()
            }
            _ => false,
        }
    }

    /// Parses `ADDRESS` or `ADDRESS/LENGTH`, surrounding whitespace allowed.
    pub fn parse(text: &str) -> Result<Prefix, PrefixError> {
        let trimmed = text.trim();
        let mut grammar = all_consuming((
            take_while1(|c: char| c.is_ascii_hexdigit() || c == ':' || c == '.'),
            opt(preceded(char::<&str, nom::error::Error<&str>>('/'), digit1)),
        ));
        let (addr, len) = match grammar.parse(trimmed) {
            Ok((_, parsed)) => parsed,
            Err(e) => {
                let rest = match e {
                    nom::Err::Error(e) | nom::Err::Failure(e) => e.input,
                    nom::Err::Incomplete(_) => "",
                };
                return Err(PrefixError::Syntax {
                    at: trimmed.len().saturating_sub(rest.len()),
                });
            }
        };
        let addr = IpAddr::from_str(addr).map_err(|_| PrefixError::BadAddress)?;
        let len = match len {
            None => max_len(addr),
            Some(digits) => {
                // More than three digits can only be too long (or a typo): report it as such.
                let len = u16::from_str(digits).unwrap_or(u16::MAX);
                u8::try_from(len)
                    .ok()
                    .filter(|l| *l <= max_len(addr))
                    .ok_or(PrefixError::LengthTooLong {
                        len,
                        max: max_len(addr),
                    })?
            }
        };
        Prefix::new(addr, len)
    }
}

fn max_len(addr: IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            IpAddr::V4((a.to_bits() & m).into())
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            IpAddr::V6((a.to_bits() & m).into())
        }
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Prefix::parse(s)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// Which packets count: an optional source network, an optional destination network and an
/// optional network that either end must be in. All given conditions must hold; with none,
/// every packet counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Filter {
    /// The source must be in this network.
    pub source: Option<Prefix>,
    /// The destination must be in this network.
    pub destination: Option<Prefix>,
    /// The source or the destination must be in this network.
    pub either: Option<Prefix>,
}

impl Filter {
    /// The filter that lets everything through.
    pub const ALL: Filter = Filter {
        source: None,
        destination: None,
        either: None,
    };

    /// True when no condition is set.
    pub fn is_all(&self) -> bool {
        self.source.is_none() && self.destination.is_none() && self.either.is_none()
    }

    /// True when a packet from `src` to `dst` passes every condition.
    #[inline]
    pub fn matches(&self, src: IpAddr, dst: IpAddr) -> bool {
        self.source.is_none_or(|p| p.contains(src))
            && self.destination.is_none_or(|p| p.contains(dst))
            && self
                .either
                .is_none_or(|p| p.contains(src) || p.contains(dst))
    }
}

impl fmt::Display for Filter {
    /// `all`, or the conditions joined by spaces: `src 10.0.0.0/8 dst 192.0.2.7/32 ip ::/0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all");
        }
        let mut sep = "";
        for (name, p) in [
            ("src", self.source),
            ("dst", self.destination),
            ("ip", self.either),
        ] {
            if let Some(p) = p {
                write!(f, "{sep}{name} {p}")?;
                sep = " ";
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn parses_networks_and_hosts() {
        let p = Prefix::parse("10.0.0.0/8").unwrap();
        assert_eq!((p.addr(), p.prefix_len()), (v4(10, 0, 0, 0), 8));
        let p = Prefix::parse(" 192.0.2.7 ").unwrap();
        assert_eq!((p.addr(), p.prefix_len()), (v4(192, 0, 2, 7), 32));
        let p = Prefix::parse("2001:db8::/32").unwrap();
        assert_eq!(
            p.addr(),
            IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0))
        );
        assert_eq!(p.prefix_len(), 32);
        assert_eq!(Prefix::parse("::/0").unwrap().prefix_len(), 0);
        assert_eq!(Prefix::parse("::ffff:192.0.2.1").unwrap().prefix_len(), 128);
        assert_eq!(Prefix::parse("0.0.0.0/0").unwrap().to_string(), "0.0.0.0/0");
    }

    #[test]
    fn rejects_bad_text() {
        assert_eq!(Prefix::parse(""), Err(PrefixError::Syntax { at: 0 }));
        assert_eq!(
            Prefix::parse("10.0.0.0/"),
            Err(PrefixError::Syntax { at: 8 })
        );
        assert_eq!(
            Prefix::parse("10.0.0.0/8x"),
            Err(PrefixError::Syntax { at: 10 })
        );
        assert_eq!(
            Prefix::parse("host.example"),
            Err(PrefixError::Syntax { at: 0 })
        );
        assert_eq!(Prefix::parse("10.0.0.256"), Err(PrefixError::BadAddress));
        assert_eq!(Prefix::parse("1:2:3"), Err(PrefixError::BadAddress));
        assert_eq!(
            Prefix::parse("10.0.0.0/33"),
            Err(PrefixError::LengthTooLong { len: 33, max: 32 })
        );
        assert_eq!(
            Prefix::parse("::/129"),
            Err(PrefixError::LengthTooLong { len: 129, max: 128 })
        );
        assert_eq!(
            Prefix::parse("::/99999999"),
            Err(PrefixError::LengthTooLong {
                len: u16::MAX,
                max: 128
            })
        );
    }

    #[test]
    fn host_bits_are_an_error_that_names_the_network() {
        let err = Prefix::parse("10.1.2.3/8").unwrap_err();
        assert_eq!(
            err,
            PrefixError::HostBitsSet {
                network: Prefix::parse("10.0.0.0/8").unwrap()
            }
        );
    }

    #[test]
    fn contains_respects_family_and_length() {
        let p = Prefix::parse("10.0.0.0/8").unwrap();
        assert!(p.contains(v4(10, 255, 0, 1)));
        assert!(!p.contains(v4(11, 0, 0, 0)));
        assert!(!p.contains(IpAddr::V6(Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped())));
        assert!(Prefix::parse("0.0.0.0/0").unwrap().contains(v4(1, 2, 3, 4)));
        let p6 = Prefix::parse("2001:db8::/32").unwrap();
        assert!(p6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!p6.contains("2001:db9::1".parse().unwrap()));
        assert!(!p6.contains(v4(10, 0, 0, 1)));
        assert!(Prefix::host(v4(192, 0, 2, 7)).contains(v4(192, 0, 2, 7)));
        assert!(!Prefix::host(v4(192, 0, 2, 7)).contains(v4(192, 0, 2, 8)));
    }

    #[test]
    fn filter_conditions_all_hold() {
        let f = Filter {
            source: Some(Prefix::parse("10.0.0.0/8").unwrap()),
            destination: Some(Prefix::parse("192.0.2.0/24").unwrap()),
            either: None,
        };
        assert!(f.matches(v4(10, 1, 1, 1), v4(192, 0, 2, 9)));
        assert!(!f.matches(v4(192, 0, 2, 9), v4(10, 1, 1, 1)));
        assert!(!f.matches(v4(10, 1, 1, 1), v4(192, 0, 3, 9)));
        let either = Filter {
            either: Some(Prefix::parse("192.0.2.7").unwrap()),
            ..Filter::ALL
        };
        assert!(either.matches(v4(192, 0, 2, 7), v4(1, 1, 1, 1)));
        assert!(either.matches(v4(1, 1, 1, 1), v4(192, 0, 2, 7)));
        assert!(!either.matches(v4(1, 1, 1, 1), v4(2, 2, 2, 2)));
        assert!(Filter::ALL.matches(v4(1, 1, 1, 1), v4(2, 2, 2, 2)));
    }
}
