//! A Kafka record's headers read from their wire bytes: the header section of a record (a
//! zig-zag varint count, then per header a varint name length, the name, a varint value length,
//! -1 for a null value, and the value), as librdkafka keeps it, unparsed, with each fetched
//! message. Reading it here costs a few dozen instructions; librdkafka's own reading
//! (`rd_kafka_message_headers`) allocates a parse buffer, a list and a copy of each header, and
//! was over a third of host-stream's consuming thread (see [`super::batch`]).
//!
//! The reading is librdkafka's (`rd_kafka_msg_headers_parse`, 2.12.1), so that what host-stream
//! sees does not depend on the path: a count of zero or less means no headers; malformed bytes
//! (a length past the end, a negative name length, a count over 100,000, a varint that does not
//! end) mean no headers at all; bytes after the last counted header are ignored; a name is cut
//! at its first NUL byte (librdkafka hands names out as C strings).

/// librdkafka refuses a header section that says it holds more headers.
const MAX_HEADERS: i64 = 100_000;

/// The headers of one record, in order: (name, value), the value `None` when null.
#[derive(Clone, Debug)]
pub struct RecordHeaders<'a> {
    /// The bytes after the headers handed out so far.
    rest: &'a [u8],
    /// How many headers are left.
    left: i64,
}

impl<'a> RecordHeaders<'a> {
    /// The headers encoded in `section` (none when it is empty or malformed). The whole
    /// section is checked here, so that iterating never meets an error halfway.
    pub fn new(section: &'a [u8]) -> RecordHeaders<'a> {
        let none = RecordHeaders { rest: &[], left: 0 };
        let mut rest = section;
        let Some(count) = varint(&mut rest) else {
            return none;
        };
        if count <= 0 || count > MAX_HEADERS {
            return none;
        }
        let headers = RecordHeaders { rest, left: count };
        if headers.clone().all_well_formed() {
            headers
        } else {
            none
        }
    }

    /// Whether every header left can be read.
    fn all_well_formed(mut self) -> bool {
        while self.left > 0 {
            if header(&mut self.rest).is_none() {
                return false;
            }
            self.left -= 1;
        }
        true
    }
}

impl<'a> Iterator for RecordHeaders<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left <= 0 {
            return None;
        }
        self.left -= 1;
        header(&mut self.rest)
    }
}

/// One header from the start of `bytes` (which move past it): its name (up to a NUL byte) and
/// value; `None` when malformed.
fn header<'a>(bytes: &mut &'a [u8]) -> Option<(&'a [u8], Option<&'a [u8]>)> {
    let name_len = usize::try_from(varint(bytes)?).ok()?;
    let name = take(bytes, name_len)?;
    let name = name
        .iter()
        .position(|b| *b == 0)
        .map_or(name, |nul| &name[..nul]);
    let value = match varint(bytes)? {
        -1 => None,
        len => Some(take(bytes, usize::try_from(len).ok()?)?),
    };
    Some((name, value))
}

/// The first `len` bytes of `bytes` (which move past them), `None` when there are fewer.
fn take<'a>(bytes: &mut &'a [u8], len: usize) -> Option<&'a [u8]> {
    let (head, tail) = bytes.split_at_checked(len)?;
    *bytes = tail;
    Some(head)
}

/// A zig-zag varint from the start of `bytes` (which move past it); `None` when it does not
/// end within the bytes or within 10 bytes (64 bits).
#[inline]
fn varint(bytes: &mut &[u8]) -> Option<i64> {
    let (&first, rest) = bytes.split_first()?;
    // The usual case (lengths and counts below 64): one byte.
    if first & 0x80 == 0 {
        *bytes = rest;
        return Some(zig_zag(u64::from(first)));
    }
    let mut n = 0u64;
    for (i, b) in bytes.iter().take(10).enumerate() {
        n |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *bytes = bytes.get(i + 1..)?;
            return Some(zig_zag(n));
        }
    }
    None
}

/// Zig-zag decoding: 0, -1, 1, -2, … (the casts are the bit patterns).
#[inline]
#[allow(clippy::cast_possible_wrap)]
fn zig_zag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A zig-zag varint.
    fn zz(n: i64) -> Vec<u8> {
        #[allow(clippy::cast_sign_loss)]
        let mut u = ((n << 1) ^ (n >> 63)) as u64;
        let mut out = Vec::new();
        loop {
            let b = (u & 0x7f) as u8;
            u >>= 7;
            if u == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    /// A header section: the count, then each header as librdkafka's producer writes it.
    fn section(headers: &[(&[u8], Option<&[u8]>)]) -> Vec<u8> {
        let mut out = zz(i64::try_from(headers.len()).unwrap());
        for (name, value) in headers {
            out.extend(zz(i64::try_from(name.len()).unwrap()));
            out.extend(*name);
            match value {
                None => out.extend(zz(-1)),
                Some(v) => {
                    out.extend(zz(i64::try_from(v.len()).unwrap()));
                    out.extend(*v);
                }
            }
        }
        out
    }

    fn read(bytes: &[u8]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        RecordHeaders::new(bytes)
            .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
            .collect()
    }

    fn owned(headers: &[(&[u8], Option<&[u8]>)]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        headers
            .iter()
            .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
            .collect()
    }

    #[test]
    fn headers_come_back_in_order_with_null_and_empty_values() {
        let long = vec![b'x'; 300];
        let headers: [(&[u8], Option<&[u8]>); 5] = [
            (b"packets", Some(b"3")),
            (b"empty", Some(b"")),
            (b"null", None),
            (b"", Some(&long)),
            (b"packets", Some(b"4")),
        ];
        assert_eq!(read(&section(&headers)), owned(&headers));
        // The last header's value empty, at the very end of the bytes.
        let last: [(&[u8], Option<&[u8]>); 1] = [(b"heartbeat", Some(b""))];
        assert_eq!(read(&section(&last)), owned(&last));
    }

    #[test]
    fn no_count_a_zero_or_negative_count_or_too_many_mean_none() {
        assert!(read(&[]).is_empty());
        assert!(read(&zz(0)).is_empty());
        let mut negative = zz(-1);
        negative.extend(&section(&[(b"a", Some(b"1"))])[1..]);
        assert!(read(&negative).is_empty());
        assert!(read(&zz(100_001)).is_empty());
    }

    #[test]
    fn malformed_bytes_mean_no_headers_at_all() {
        let good = section(&[(b"packets", Some(b"3")), (b"other", Some(b"12"))]);
        // Cut anywhere inside the second header: the first is not handed out either.
        for cut in 1..good.len() {
            assert!(read(&good[..cut]).is_empty(), "cut at {cut}");
        }
        // A negative name length; a value length below -1; a count larger than what follows.
        let mut bad = zz(1);
        bad.extend(zz(-1));
        assert!(read(&bad).is_empty());
        let mut bad = zz(1);
        bad.extend(zz(1));
        bad.push(b'a');
        bad.extend(zz(-2));
        assert!(read(&bad).is_empty());
        let mut bad = zz(2);
        bad.extend(&good[1..good.len() / 2]);
        assert!(read(&bad).is_empty());
        // A varint that never ends (eleven continuation bytes).
        assert!(read(&[0xff; 11]).is_empty());
    }

    #[test]
    fn bytes_after_the_counted_headers_are_ignored_and_names_end_at_nul() {
        let mut bytes = section(&[(b"pack\0ets", Some(b"3"))]);
        bytes.extend(b"trailing");
        assert_eq!(read(&bytes), owned(&[(b"pack", Some(b"3"))]));
    }

    #[test]
    fn varints_decode_zig_zag_up_to_64_bits() {
        for n in [0, -1, 1, 63, -64, 64, 300, i64::MAX, i64::MIN] {
            let bytes = zz(n);
            let mut rest = &bytes[..];
            assert_eq!(varint(&mut rest), Some(n));
            assert!(rest.is_empty());
        }
    }
}
