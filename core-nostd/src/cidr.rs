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
/// Ordered by family (IPv4 first), address, then length: the order scopes are listed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
///
/// Ordered by source, destination, then either (an absent condition first), so
/// [`Filter::ALL`] comes first: the order scopes are listed in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
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

/// One condition of a [`Filter`] in its text form: `src=`, `dst=` or `ip=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FilterKey {
    /// `src=` (also `source=`): [`Filter::source`].
    Src,
    /// `dst=` (also `destination=`): [`Filter::destination`].
    Dst,
    /// `ip=`: [`Filter::either`].
    Ip,
}

impl FilterKey {
    /// The key as the canonical form writes it: `src`, `dst` or `ip`.
    pub fn as_str(self) -> &'static str {
        match self {
            FilterKey::Src => "src",
            FilterKey::Dst => "dst",
            FilterKey::Ip => "ip",
        }
    }

    fn parse(word: &str) -> Option<FilterKey> {
        let is = |name: &str| word.eq_ignore_ascii_case(name);
        if is("src") || is("source") {
            Some(FilterKey::Src)
        } else if is("dst") || is("destination") {
            Some(FilterKey::Dst)
        } else if is("ip") {
            Some(FilterKey::Ip)
        } else {
            None
        }
    }
}

impl fmt::Display for FilterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a filter's text ([`Filter::parse`]) was refused. Every offset is a byte offset into the
/// text as given (not trimmed), so a caller can point at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterError {
    /// Expected `src=`, `dst=`, `ip=` (or the whole text `all`); found something else at `at`
    /// (`len` bytes, up to the next separator).
    ExpectedKey {
        /// Where the word starts.
        at: usize,
        /// How long it is.
        len: usize,
    },
    /// Expected `=` after the key at `at`; found another character or the end.
    ExpectedEquals {
        /// The key.
        key: FilterKey,
        /// Where `=` was expected.
        at: usize,
    },
    /// A key given a second time (at `at`): each condition at most once.
    DuplicateKey {
        /// The key.
        key: FilterKey,
        /// Where its second occurrence starts.
        at: usize,
    },
    /// The network after `key=` (at `at`) is not a prefix.
    BadPrefix {
        /// The key.
        key: FilterKey,
        /// Where the network starts.
        at: usize,
        /// Why it is not one.
        error: PrefixError,
    },
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterError::ExpectedKey { at, .. } => {
                write!(f, "expected src=, dst= or ip= (or all) at byte {at}")
            }
            FilterError::ExpectedEquals { key, at } => {
                write!(f, "expected `=` after {key} at byte {at}")
            }
            FilterError::DuplicateKey { key, at } => {
                write!(f, "{key}= is given twice (again at byte {at})")
            }
            FilterError::BadPrefix { key, at, error } => {
                write!(f, "{key}= at byte {at}: {error}")
            }
        }
    }
}

impl core::error::Error for FilterError {}

/// Separators between conditions: spaces, tabs and commas, in any number.
fn is_separator(c: char) -> bool {
    c == ',' || c.is_ascii_whitespace()
}

impl Filter {
    /// Parses the scope syntax: conditions `src=NET`, `dst=NET`, `ip=NET` (keys in any case,
    /// `source`/`destination` also), separated by spaces and/or commas, each key at most once;
    /// `NET` is read by [`Prefix::parse`] (the command line's `--source`/`--destination`/`--ip`
    /// parser), so a bare address is a /32 or /128 and an address with host bits set
    /// (`10.1.2.3/8`) is refused, naming the network meant. Empty text, or `all`, is
    /// [`Filter::ALL`].
    ///
    /// The canonical form ([`Filter`]'s `Display`) parses back to the same filter.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let mut filter = Filter::ALL;
        let trimmed = text.trim_matches(is_separator);
        if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("all") {
            return Ok(filter);
        }
        let mut pos = 0;
        while let Some(rest) = text.get(pos..) {
            let skipped = rest.len() - rest.trim_start_matches(is_separator).len();
            pos += skipped;
            let Some(rest) = text.get(pos..).filter(|r| !r.is_empty()) else {
                break;
            };
            let word_len = rest
                .find(|c: char| c == '=' || is_separator(c))
                .unwrap_or(rest.len());
            let word = rest.get(..word_len).unwrap_or(rest);
            let key = FilterKey::parse(word).ok_or(FilterError::ExpectedKey {
                at: pos,
                len: word_len,
            })?;
            let key_at = pos;
            pos += word_len;
            // Spaces around `=` are allowed: a value can only follow `=`.
            let after_key = text.get(pos..).unwrap_or("");
            pos += after_key.len() - after_key.trim_start().len();
            if !text.get(pos..).unwrap_or("").starts_with('=') {
                return Err(FilterError::ExpectedEquals { key, at: pos });
            }
            pos += 1;
            let after_eq = text.get(pos..).unwrap_or("");
            pos += after_eq.len() - after_eq.trim_start().len();
            let value = text.get(pos..).unwrap_or("");
            let value_len = value.find(is_separator).unwrap_or(value.len());
            let value = value.get(..value_len).unwrap_or(value);
            let prefix = if value.is_empty() {
                Err(PrefixError::Syntax { at: 0 })
            } else {
                Prefix::parse(value)
            }
            .map_err(|error| FilterError::BadPrefix {
                key,
                at: pos,
                error,
            })?;
            let slot = match key {
                FilterKey::Src => &mut filter.source,
                FilterKey::Dst => &mut filter.destination,
                FilterKey::Ip => &mut filter.either,
            };
            if slot.is_some() {
                return Err(FilterError::DuplicateKey { key, at: key_at });
            }
            *slot = Some(prefix);
            pos += value_len;
        }
        Ok(filter)
    }

    /// The conditions set, in canonical order (`src`, `dst`, `ip`).
    pub fn conditions(&self) -> impl Iterator<Item = (FilterKey, Prefix)> {
        [
            (FilterKey::Src, self.source),
            (FilterKey::Dst, self.destination),
            (FilterKey::Ip, self.either),
        ]
        .into_iter()
        .filter_map(|(k, p)| p.map(|p| (k, p)))
    }
}

impl FromStr for Filter {
    type Err = FilterError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

impl fmt::Display for Filter {
    /// The canonical text form, the one stored, used in alert keys and shown: `all`, or the
    /// conditions in the order `src`, `dst`, `ip`, joined by one space, every network with its
    /// length (`src=10.0.0.0/8 dst=192.0.2.7/32 ip=2001:db8::/32`, addresses as `core::net`
    /// prints them, RFC 5952 for IPv6). [`Filter::parse`] reads it back to the same filter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            return f.write_str("all");
        }
        let mut sep = "";
        for (key, p) in self.conditions() {
            write!(f, "{sep}{key}={p}")?;
            sep = " ";
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

    fn net(text: &str) -> Prefix {
        Prefix::parse(text).unwrap()
    }

    #[test]
    fn scope_text_parses_every_key_and_separator() {
        extern crate std;
        use std::string::ToString;
        let f = Filter::parse("src=10.0.0.0/8 dst=192.0.2.7").unwrap();
        assert_eq!(
            f,
            Filter {
                source: Some(net("10.0.0.0/8")),
                destination: Some(net("192.0.2.7/32")),
                either: None,
            }
        );
        assert_eq!(f.to_string(), "src=10.0.0.0/8 dst=192.0.2.7/32");
        // Commas, several separators, spaces around `=`, keys in any case, long names.
        let same = Filter::parse(" ,DST = 192.0.2.7 ,, Source=10.0.0.0/8,").unwrap();
        assert_eq!(same, f);
        let v6 = Filter::parse("ip=2001:db8::/32").unwrap();
        assert_eq!(v6.either, Some(net("2001:db8::/32")));
        assert_eq!(v6.to_string(), "ip=2001:db8::/32");
        let host6 = Filter::parse("destination=2001:DB8::1").unwrap();
        assert_eq!(host6.to_string(), "dst=2001:db8::1/128");
        let three = Filter::parse("ip=::/0,dst=0.0.0.0/0 src=10.1.0.0/16").unwrap();
        assert_eq!(three.to_string(), "src=10.1.0.0/16 dst=0.0.0.0/0 ip=::/0");
        for all in ["", "  ", "all", "ALL", " all ", ","] {
            assert_eq!(Filter::parse(all), Ok(Filter::ALL), "{all:?}");
        }
        assert_eq!(Filter::ALL.to_string(), "all");
        assert_eq!(
            "src=10.0.0.0/8".parse::<Filter>().unwrap().source,
            Some(net("10.0.0.0/8"))
        );
    }

    #[test]
    fn the_canonical_form_parses_back_to_the_same_filter() {
        extern crate std;
        use std::string::ToString;
        let nets = [
            None,
            Some(net("10.0.0.0/8")),
            Some(net("192.0.2.7")),
            Some(net("2001:db8::/32")),
            Some(net("::/0")),
        ];
        let mut n = 0;
        for source in nets {
            for destination in nets {
                for either in nets {
                    let f = Filter {
                        source,
                        destination,
                        either,
                    };
                    let text = f.to_string();
                    assert_eq!(Filter::parse(&text), Ok(f), "{text}");
                    n += 1;
                }
            }
        }
        assert_eq!(n, 125);
    }

    #[test]
    fn scope_text_errors_say_what_was_expected_and_where() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(
            Filter::parse("src=10.0.0.0/8 port=80"),
            Err(FilterError::ExpectedKey { at: 15, len: 4 })
        );
        assert_eq!(
            Filter::parse("all src=10.0.0.0/8"),
            Err(FilterError::ExpectedKey { at: 0, len: 3 })
        );
        assert_eq!(
            Filter::parse("src 10.0.0.0/8"),
            Err(FilterError::ExpectedEquals {
                key: FilterKey::Src,
                at: 4
            })
        );
        assert_eq!(
            Filter::parse("src=10.0.0.0/8 src=11.0.0.0/8"),
            Err(FilterError::DuplicateKey {
                key: FilterKey::Src,
                at: 15
            })
        );
        assert_eq!(
            Filter::parse("source=10.0.0.0/8,SRC=11.0.0.0/8"),
            Err(FilterError::DuplicateKey {
                key: FilterKey::Src,
                at: 18
            })
        );
        // Host bits are refused, as on the command line, naming the network meant.
        let e = Filter::parse("dst=10.1.2.3/8").unwrap_err();
        assert_eq!(
            e,
            FilterError::BadPrefix {
                key: FilterKey::Dst,
                at: 4,
                error: PrefixError::HostBitsSet {
                    network: net("10.0.0.0/8")
                }
            }
        );
        assert_eq!(
            e.to_string(),
            "dst= at byte 4: host bits are set beyond the prefix length (did you mean 10.0.0.0/8?)"
        );
        assert_eq!(
            Filter::parse("ip="),
            Err(FilterError::BadPrefix {
                key: FilterKey::Ip,
                at: 3,
                error: PrefixError::Syntax { at: 0 }
            })
        );
        assert_eq!(
            Filter::parse("ip=10.0.0.0/33"),
            Err(FilterError::BadPrefix {
                key: FilterKey::Ip,
                at: 3,
                error: PrefixError::LengthTooLong { len: 33, max: 32 }
            })
        );
        assert_eq!(
            Filter::parse("src=;"),
            Err(FilterError::BadPrefix {
                key: FilterKey::Src,
                at: 4,
                error: PrefixError::Syntax { at: 0 }
            })
        );
        assert_eq!(
            Filter::parse("port=80").unwrap_err().to_string(),
            "expected src=, dst= or ip= (or all) at byte 0"
        );
        assert_eq!(
            Filter::parse("dst").unwrap_err().to_string(),
            "expected `=` after dst at byte 3"
        );
        // Multi-byte text never splits a character.
        assert_eq!(
            Filter::parse("é=1"),
            Err(FilterError::ExpectedKey { at: 0, len: 2 })
        );
        assert_eq!(
            Filter::parse("src=é"),
            Err(FilterError::BadPrefix {
                key: FilterKey::Src,
                at: 4,
                error: PrefixError::Syntax { at: 0 }
            })
        );
    }

    #[test]
    fn scopes_sort_with_all_first() {
        let mut v = [
            Filter::parse("src=10.0.0.0/8").unwrap(),
            Filter::parse("ip=2001:db8::/32").unwrap(),
            Filter::ALL,
            Filter::parse("src=2001:db8::/32").unwrap(),
            Filter::parse("src=10.0.0.0/16").unwrap(),
        ];
        v.sort();
        assert_eq!(v[0], Filter::ALL);
        assert_eq!(v[1], Filter::parse("ip=2001:db8::/32").unwrap());
        assert_eq!(v[2], Filter::parse("src=10.0.0.0/8").unwrap());
        assert_eq!(v[3], Filter::parse("src=10.0.0.0/16").unwrap());
        assert_eq!(v[4], Filter::parse("src=2001:db8::/32").unwrap());
    }
}
