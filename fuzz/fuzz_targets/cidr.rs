//! `Prefix::parse` on arbitrary text: no panic, and what it accepts is a network that prints
//! and parses back to itself and holds its own address; `Filter::parse` likewise (its
//! canonical form parses back to the same filter).
//!
//! Input: the text (invalid UTF-8 is cut at the first bad byte).
#![no_main]

use core::net::IpAddr;

use core_nostd::cidr::{Filter, Prefix, PrefixError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match Prefix::parse(text) {
        Ok(p) => check_prefix(p, text),
        Err(e) => {
            let _ = e.to_string();
            match e {
                PrefixError::Syntax { at } => {
                    assert!(
                        at <= text.trim().len(),
                        "Syntax at {at} past the text {text:?}"
                    )
                }
                PrefixError::LengthTooLong { len, max } => {
                    assert!(max == 32 || max == 128);
                    assert!(
                        len > u16::from(max),
                        "{len} is not longer than {max}: {text:?}"
                    );
                }
                // The network that was probably meant is itself a valid prefix.
                PrefixError::HostBitsSet { network } => check_prefix(network, text),
                PrefixError::BadAddress => {}
                _ => {}
            }
        }
    }
    // `FromStr` is the same parser.
    assert_eq!(text.parse::<Prefix>(), Prefix::parse(text));
    // The scope syntax: what it accepts prints canonically and parses back to itself.
    if let Ok(f) = Filter::parse(text) {
        let canonical = f.to_string();
        assert_eq!(Filter::parse(&canonical), Ok(f), "{text:?} -> {canonical:?}");
    }
});

fn check_prefix(p: Prefix, text: &str) {
    let max = if p.addr().is_ipv4() { 32 } else { 128 };
    assert!(p.prefix_len() <= max, "{p:?} from {text:?}");
    let printed = p.to_string();
    assert_eq!(
        Prefix::parse(&printed),
        Ok(p),
        "{p:?} printed as {printed:?} from {text:?}"
    );
    assert_eq!(
        Prefix::new(p.addr(), p.prefix_len()),
        Ok(p),
        "{p:?} from {text:?}"
    );
    assert!(
        p.contains(p.addr()),
        "{p:?} does not contain its own address ({text:?})"
    );
    assert_eq!(p.is_default_route(), p.prefix_len() == 0);
    // The last address of the network is inside it, the one after it (if any) is not.
    let (last, after) = match p.addr() {
        IpAddr::V4(a) => {
            let host = u32::MAX.checked_shr(u32::from(p.prefix_len())).unwrap_or(0);
            let last = a.to_bits() | host;
            (
                IpAddr::V4(last.into()),
                last.checked_add(1).map(|n| IpAddr::V4(n.into())),
            )
        }
        IpAddr::V6(a) => {
            let host = u128::MAX
                .checked_shr(u32::from(p.prefix_len()))
                .unwrap_or(0);
            let last = a.to_bits() | host;
            (
                IpAddr::V6(last.into()),
                last.checked_add(1).map(|n| IpAddr::V6(n.into())),
            )
        }
    };
    assert!(
        p.contains(last),
        "{p:?} does not contain its last address {last}"
    );
    if let Some(after) = after {
        assert!(!p.contains(after), "{p:?} contains {after}, past its end");
    }
    // Never across families (IPv4-mapped addresses included).
    let other: IpAddr = match p.addr() {
        IpAddr::V4(a) => IpAddr::V6(a.to_ipv6_mapped()),
        IpAddr::V6(_) => IpAddr::V4(0.into()),
    };
    assert!(
        !p.contains(other),
        "{p:?} contains {other} of the other family"
    );
    // A filter made of it lets its own address through in every position.
    let f = Filter {
        source: Some(p),
        destination: Some(p),
        either: Some(p),
    };
    assert!(f.matches(p.addr(), p.addr()));
    let _ = f.to_string();
}
