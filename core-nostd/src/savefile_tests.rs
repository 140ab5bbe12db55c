//! The capture-file reader over files built here byte by byte: each pcap variant, pcapng blocks
//! and interfaces, byte orders, timestamp units, damage and every cut point.

use std::vec::Vec;

use super::*;

/// Byte order of a file being built.
#[derive(Clone, Copy, Debug)]
enum E {
    Le,
    Be,
}

impl E {
    fn u16(self, v: u16) -> [u8; 2] {
        match self {
            E::Le => v.to_le_bytes(),
            E::Be => v.to_be_bytes(),
        }
    }
    fn u32(self, v: u32) -> [u8; 4] {
        match self {
            E::Le => v.to_le_bytes(),
            E::Be => v.to_be_bytes(),
        }
    }
    fn u64(self, v: u64) -> [u8; 8] {
        match self {
            E::Le => v.to_le_bytes(),
            E::Be => v.to_be_bytes(),
        }
    }
}

/// A file being built, with the end offset of its header and of every record or block (and
/// of those that hold a packet), so that a test knows where each one starts and ends.
#[derive(Default)]
struct File {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    packet_ends: Vec<usize>,
}

impl File {
    /// The file header, or a record or block with no packet.
    fn push(mut self, part: &[u8]) -> File {
        self.bytes.extend_from_slice(part);
        self.ends.push(self.bytes.len());
        self
    }
    /// A record or block that holds a packet.
    fn packet(self, part: &[u8]) -> File {
        let mut f = self.push(part);
        f.packet_ends.push(f.bytes.len());
        f
    }
}

/// `n`-th test frame of `len` bytes: distinct contents, so a misplaced slice shows.
fn frame(n: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| n.wrapping_mul(37).wrapping_add(i as u8))
        .collect()
}

fn ts(secs: i64, nanos: u32) -> Timestamp {
    Timestamp { secs, nanos }
}

fn packet(
    link_type: u32,
    interface: u32,
    t: Timestamp,
    original_len: u32,
    data: &[u8],
) -> Packet<'_> {
    Packet {
        link_type,
        interface,
        timestamp: t,
        original_len,
        data,
    }
}

/// Every packet of `data` and the error that ended it, if any.
fn read(data: &[u8]) -> (Vec<Packet<'_>>, Option<ReadError>) {
    let mut out = Vec::new();
    let packets = match packets(data) {
        Ok(p) => p,
        Err(e) => return (out, Some(e)),
    };
    let mut error = None;
    for p in packets {
        match p {
            Ok(p) => out.push(p),
            Err(e) => {
                assert!(error.is_none(), "the iterator goes on after an error");
                error = Some(e);
            }
        }
    }
    (out, error)
}

/// Every packet of a file that must read without error.
#[track_caller]
fn read_ok(data: &[u8]) -> Vec<Packet<'_>> {
    let (p, e) = read(data);
    assert_eq!(e, None);
    p
}

// ---- classic pcap --------------------------------------------------------------------------

/// A pcap file header: `magic` written in `e`'s order, version, snap length, link-type field.
fn pcap_header(e: E, magic: u32, version: (u16, u16), snap_len: u32, link: u32) -> Vec<u8> {
    [
        &e.u32(magic)[..],
        &e.u16(version.0),
        &e.u16(version.1),
        &e.u32(0), // thiszone
        &e.u32(0), // sigfigs
        &e.u32(snap_len),
        &e.u32(link),
    ]
    .concat()
}

/// A pcap record: seconds, fraction, the two length fields in file order, `extra` header
/// bytes (the longer layouts), then `data`.
fn pcap_record(
    e: E,
    secs: u32,
    fraction: u32,
    lens: (u32, u32),
    extra: &[u8],
    data: &[u8],
) -> Vec<u8> {
    [
        &e.u32(secs)[..],
        &e.u32(fraction),
        &e.u32(lens.0),
        &e.u32(lens.1),
        extra,
        data,
    ]
    .concat()
}

/// A microsecond pcap of link type 1 with three records in order `e`.
fn classic(e: E) -> (File, [Vec<u8>; 3]) {
    let f = [frame(1, 60), frame(2, 1), frame(3, 0)];
    let file = File::default()
        .push(&pcap_header(e, magic::PCAP_MICRO, (2, 4), 65_535, 1))
        .packet(&pcap_record(
            e,
            1_700_000_000,
            123_456,
            (60, 60),
            &[],
            &f[0],
        ))
        .packet(&pcap_record(
            e,
            1_700_000_001,
            999_999,
            (1, 1514),
            &[],
            &f[1],
        ))
        .packet(&pcap_record(e, u32::MAX, 0, (0, 0), &[], &f[2]));
    (file, f)
}

#[test]
fn pcap_microseconds_little_and_big_endian() {
    for (e, big_endian) in [(E::Le, false), (E::Be, true)] {
        let (file, f) = classic(e);
        let (reader, used) = Reader::start(&file.bytes).unwrap();
        assert_eq!(used, 24);
        assert_eq!(
            reader.format(),
            Format::Pcap {
                nanos: false,
                big_endian
            }
        );
        assert_eq!(reader.link_type(), Some(1));
        assert_eq!(
            read_ok(&file.bytes),
            [
                packet(1, 0, ts(1_700_000_000, 123_456_000), 60, &f[0]),
                packet(1, 0, ts(1_700_000_001, 999_999_000), 1514, &f[1]),
                packet(1, 0, ts(4_294_967_295, 0), 0, &f[2]),
            ],
            "{e:?}"
        );
    }
}

#[test]
fn pcap_nanoseconds_little_and_big_endian() {
    for (e, big_endian) in [(E::Le, false), (E::Be, true)] {
        let f = [frame(1, 40), frame(2, 41)];
        let file = [
            pcap_header(e, magic::PCAP_NANO, (2, 4), 262_144, 101),
            pcap_record(e, 1_700_000_000, 999_999_999, (40, 40), &[], &f[0]),
            pcap_record(e, 0, 1, (41, 100), &[], &f[1]),
        ]
        .concat();
        let (reader, _) = Reader::start(&file).unwrap();
        assert_eq!(
            reader.format(),
            Format::Pcap {
                nanos: true,
                big_endian
            }
        );
        assert_eq!(
            read_ok(&file),
            [
                packet(101, 0, ts(1_700_000_000, 999_999_999), 40, &f[0]),
                packet(101, 0, ts(0, 1), 100, &f[1]),
            ]
        );
    }
}

#[test]
fn pcap_fraction_of_a_second_or_more_carries_into_the_seconds() {
    // Not a valid file, but read as tshark does: 1.5 s of microseconds is 1.5 s.
    let file = [
        pcap_header(E::Le, magic::PCAP_MICRO, (2, 4), 65_535, 1),
        pcap_record(E::Le, 10, 1_500_000, (1, 1), &[], &[7]),
    ]
    .concat();
    assert_eq!(read_ok(&file), [packet(1, 0, ts(11, 500_000_000), 1, &[7])]);
    assert_eq!(ts(11, 500_000_000).as_millis(), 11_500);
}

#[test]
fn pcap_link_type_field_keeps_the_fcs_bits_out_and_refuses_reserved_bits() {
    // Bits 26–31 are the FCS length: not part of the link type.
    let file = [
        pcap_header(E::Le, magic::PCAP_MICRO, (2, 4), 65_535, 0x1000_0001),
        pcap_record(E::Le, 1, 2, (1, 1), &[], &[9]),
    ]
    .concat();
    assert_eq!(read_ok(&file), [packet(1, 0, ts(1, 2000), 1, &[9])]);
    let reserved = pcap_header(E::Be, magic::PCAP_MICRO, (2, 4), 65_535, 0x0030_0001);
    assert_eq!(
        Reader::start(&reserved).err(),
        Some(FileError::ReservedLinkTypeBits { field: 0x0030_0001 })
    );
}

#[test]
fn pcap_versions_before_2_3_swap_the_lengths() {
    // 2.0–2.2 (and the odd major 543) wrote the original length first.
    for version in [(2, 0), (2, 1), (2, 2), (543, 0)] {
        let f = frame(4, 30);
        let file = [
            pcap_header(E::Le, magic::PCAP_MICRO, version, 65_535, 1),
            pcap_record(E::Le, 5, 6, (90, 30), &[], &f),
        ]
        .concat();
        assert_eq!(
            read_ok(&file),
            [packet(1, 0, ts(5, 6000), 90, &f)],
            "{version:?}"
        );
    }
    // 2.3 exists in both layouts: a captured length above the original one gives the old one
    // away, record by record.
    let (a, b) = (frame(5, 30), frame(6, 20));
    let file = [
        pcap_header(E::Be, magic::PCAP_MICRO, (2, 3), 65_535, 1),
        pcap_record(E::Be, 5, 6, (90, 30), &[], &a),
        pcap_record(E::Be, 7, 8, (20, 80), &[], &b),
    ]
    .concat();
    assert_eq!(
        read_ok(&file),
        [
            packet(1, 0, ts(5, 6000), 90, &a),
            packet(1, 0, ts(7, 8000), 80, &b),
        ]
    );
    // Major version 1 is not a pcap this reader knows.
    let old = pcap_header(E::Le, magic::PCAP_MICRO, (1, 0), 65_535, 1);
    assert_eq!(
        Reader::start(&old).err(),
        Some(FileError::UnsupportedVersion { major: 1, minor: 0 })
    );
}

#[test]
fn pcap_aix_wrote_interface_types_and_nanoseconds_under_the_standard_magic() {
    // Version 2.2 (so lengths swapped), ifType 6 = Ethernet, nanosecond fractions.
    let f = frame(7, 20);
    let file = [
        pcap_header(E::Be, magic::PCAP_MICRO, (2, 2), 65_535, 6),
        pcap_record(E::Be, 3, 123_456_789, (64, 20), &[], &f),
    ]
    .concat();
    let (reader, _) = Reader::start(&file).unwrap();
    assert_eq!(
        reader.format(),
        Format::Pcap {
            nanos: true,
            big_endian: true
        }
    );
    assert_eq!(read_ok(&file), [packet(1, 0, ts(3, 123_456_789), 64, &f)]);
    for (if_type, link) in [(9, 6), (15, 10), (24, 0)] {
        let h = pcap_header(E::Be, magic::PCAP_MICRO, (2, 2), 65_535, if_type);
        assert_eq!(Reader::start(&h).unwrap().0.link_type(), Some(link));
    }
}

#[test]
fn pcap_modified_and_other_record_layouts() {
    let f = [frame(1, 50), frame(2, 51), frame(3, 52)];
    // Kuznetsov's modified pcap: 8 more bytes per record (ifindex, protocol, type, pad); and
    // the 1999 patched libpcaps' 24- and 20-byte record headers under the standard magic, and
    // the 28-byte one under the modified magic. Told apart by the records, as tshark does.
    let extra8 = [0, 0, 0, 2, 0x08, 0x00, 4, 0];
    let layouts: [(u32, &[u8]); 4] = [
        (magic::PCAP_MODIFIED, &extra8),
        (magic::PCAP_MICRO, &extra8),
        (magic::PCAP_MICRO, &[0, 0, 0, 0]),
        (
            magic::PCAP_MODIFIED,
            &[0, 0, 0, 2, 0x08, 0x00, 4, 0, 0, 0, 0, 0],
        ),
    ];
    for (m, extra) in layouts {
        for e in [E::Le, E::Be] {
            let mut file = pcap_header(e, m, (2, 4), 65_535, 1);
            for (i, data) in f.iter().enumerate() {
                let secs = 1_700_000_000 + i as u32;
                let len = data.len() as u32;
                file.extend(pcap_record(e, secs, 250_000, (len, len + 4), extra, data));
            }
            assert_eq!(
                read_ok(&file),
                [
                    packet(1, 0, ts(1_700_000_000, 250_000_000), 54, &f[0]),
                    packet(1, 0, ts(1_700_000_001, 250_000_000), 55, &f[1]),
                    packet(1, 0, ts(1_700_000_002, 250_000_000), 56, &f[2]),
                ],
                "magic {m:08x}, {} extra header bytes, {e:?}",
                extra.len()
            );
        }
    }
}

#[test]
fn pcap_ixia_adds_a_file_size_to_the_header() {
    for m in [magic::IXIA_HW, magic::IXIA_SW] {
        let f = frame(8, 33);
        let mut file = pcap_header(E::Le, m, (2, 4), 65_535, 1);
        file.extend_from_slice(&E::Le.u32(1234)); // the file size
        file.extend(pcap_record(E::Le, 9, 10, (33, 33), &[], &f));
        let (reader, used) = Reader::start(&file).unwrap();
        assert_eq!(used, 28);
        assert_eq!(
            reader.format(),
            Format::Pcap {
                nanos: false,
                big_endian: false
            }
        );
        assert_eq!(read_ok(&file), [packet(1, 0, ts(9, 10_000), 33, &f)]);
    }
}

#[test]
fn not_a_capture() {
    assert_eq!(
        Reader::start(b"GIF89a, not a capture").err(),
        Some(FileError::NotACapture { magic: 0x4749_4638 })
    );
    assert_eq!(
        packets(b"GIF89a, not a capture").err(),
        Some(ReadError {
            offset: 0,
            error: FileError::NotACapture { magic: 0x4749_4638 }
        })
    );
    assert_eq!(
        Reader::start(&[]).err(),
        Some(FileError::Incomplete { needed: 4 })
    );
}

#[test]
fn captured_length_above_the_snap_length() {
    // Today's behaviour, noted rather than judged: a record claiming more captured bytes than
    // the header's snap length is read whole (the snap length only guides the record-layout
    // detection); only a length above MAX_CAPTURED_LEN is damage.
    let f = frame(9, 100);
    let file = [
        pcap_header(E::Le, magic::PCAP_MICRO, (2, 4), 64, 1),
        pcap_record(E::Le, 1, 0, (100, 100), &[], &f),
    ]
    .concat();
    assert_eq!(read_ok(&file), [packet(1, 0, ts(1, 0), 100, &f)]);
    // The same in pcapng: an Enhanced Packet Block above its interface's snap length is read
    // whole; a Simple Packet Block holds min(original length, snap length) bytes.
    let ng = [
        shb(E::Le, &[]),
        idb(E::Le, 1, 64, &[]),
        epb(E::Le, 0, 5, &f, 100, &[]),
        spb(E::Le, 100, &f[..64]),
    ]
    .concat();
    assert_eq!(
        read_ok(&ng),
        [
            packet(1, 0, ts(0, 5000), 100, &f),
            packet(1, 0, Timestamp::default(), 100, &f[..64]),
        ]
    );
    // Above MAX_CAPTURED_LEN: damage, at the record, after the records before it.
    let big = MAX_CAPTURED_LEN + 1;
    let too_large = |m, good: u32| {
        let mut file = pcap_header(E::Be, m, (2, 4), 65_535, 1);
        for i in 0..good {
            file.extend(pcap_record(E::Be, i, 0, (3, 3), &[], &[1, 2, 3]));
        }
        file.extend(pcap_record(E::Be, 9, 0, (big, big), &[], &[0; 64]));
        file
    };
    let error = |good: usize| ReadError {
        offset: 24 + 19 * good,
        error: FileError::RecordTooLarge {
            captured: big,
            max: MAX_CAPTURED_LEN,
        },
    };
    let nano = too_large(magic::PCAP_NANO, 1);
    assert_eq!(
        read(&nano),
        (vec![packet(1, 0, ts(0, 0), 3, &[1, 2, 3])], Some(error(1)))
    );
    let micro = too_large(magic::PCAP_MICRO, 3);
    let (got, e) = read(&micro);
    assert_eq!((got.len(), e), (3, Some(error(3))));
    // Among the first three records of a microsecond file, too: damage is never a reason to
    // read the file with another record layout (tshark's guess would pick a 24-byte record
    // header here and misread the file without an error).
    let early = too_large(magic::PCAP_MICRO, 1);
    assert_eq!(
        read(&early),
        (vec![packet(1, 0, ts(0, 0), 3, &[1, 2, 3])], Some(error(1)))
    );
}

#[test]
fn a_record_past_the_snap_length_and_any_ip_packet_is_damage_not_another_layout() {
    // Snap length 64: a good 54-byte frame, then a record claiming 100,000 bytes, which are
    // there (zeros). Read with 24-byte record headers, the zeros would be 4,167 empty frames.
    let good = frame(1, 54);
    let mut file = pcap_header(E::Le, magic::PCAP_MICRO, (2, 4), 64, 1);
    file.extend(pcap_record(E::Le, 1, 5, (54, 54), &[], &good));
    let damaged_at = file.len();
    let zeros = std::vec![0u8; 100_000];
    file.extend(pcap_record(E::Le, 2, 0, (100_000, 100_000), &[], &zeros));
    let error = ReadError {
        offset: damaged_at,
        error: FileError::BeyondSnapLen {
            captured: 100_000,
            snap_len: 64,
        },
    };
    assert_eq!(
        read(&file),
        (vec![packet(1, 0, ts(1, 5000), 54, &good)], Some(error))
    );
    // As the first record: nothing read, the damage reported at once.
    let mut first = pcap_header(E::Le, magic::PCAP_MICRO, (2, 4), 64, 1);
    first.extend(pcap_record(E::Le, 2, 0, (100_000, 100_000), &[], &zeros));
    let (got, e) = read(&first);
    assert_eq!(
        (got.len(), e.map(|e| (e.offset, e.error))),
        (0, Some((24, error.error)))
    );
    // Past the snap length but within one IP packet and its headers: read, as tshark reads
    // it (a 65,549-byte Ethernet frame under a snap length of 65,535).
    let jumbo = frame(3, 65_549);
    let mut tolerated = pcap_header(E::Le, magic::PCAP_MICRO, (2, 4), 65_535, 1);
    tolerated.extend(pcap_record(E::Le, 1, 5, (54, 54), &[], &good));
    tolerated.extend(pcap_record(E::Le, 2, 0, (65_549, 65_549), &[], &jumbo));
    assert_eq!(
        read_ok(&tolerated),
        [
            packet(1, 0, ts(1, 5000), 54, &good),
            packet(1, 0, ts(2, 0), 65_549, &jumbo)
        ]
    );
    assert_eq!(
        error.error.to_string(),
        "record claims 100000 captured bytes, more than the file's snap length of 64 and more \
         than one IP packet with its headers (65791): the file is damaged"
    );
}

// ---- pcapng --------------------------------------------------------------------------------

/// `body` padded to a multiple of 4.
fn padded(body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    b.resize(body.len().div_ceil(4) * 4, 0);
    b
}

/// A pcapng block of type `ty` around `body` (padded).
fn block(e: E, ty: u32, body: &[u8]) -> Vec<u8> {
    let body = padded(body);
    let total = (12 + body.len()) as u32;
    [&e.u32(ty)[..], &e.u32(total), &body, &e.u32(total)].concat()
}

/// One option (code, value), padded.
fn opt(e: E, code: u16, value: &[u8]) -> Vec<u8> {
    [&e.u16(code)[..], &e.u16(value.len() as u16), &padded(value)].concat()
}

/// Options then opt_endofopt (nothing when there are none).
fn opts(list: &[Vec<u8>]) -> Vec<u8> {
    if list.is_empty() {
        return Vec::new();
    }
    let mut out = list.concat();
    out.extend_from_slice(&[0; 4]);
    out
}

fn shb(e: E, options: &[Vec<u8>]) -> Vec<u8> {
    let body = [
        &e.u32(magic::PCAPNG_BYTE_ORDER)[..],
        &e.u16(1),
        &e.u16(0),
        &e.u64(u64::MAX), // section length unknown
        &opts(options),
    ]
    .concat();
    block(e, magic::PCAPNG_SECTION, &body)
}

fn idb(e: E, link: u16, snap_len: u32, options: &[Vec<u8>]) -> Vec<u8> {
    let body = [&e.u16(link)[..], &[0, 0], &e.u32(snap_len), &opts(options)].concat();
    block(e, block::INTERFACE, &body)
}

fn epb(
    e: E,
    interface: u32,
    units: u64,
    data: &[u8],
    original: u32,
    options: &[Vec<u8>],
) -> Vec<u8> {
    let body = [
        &e.u32(interface)[..],
        &e.u32((units >> 32) as u32),
        &e.u32(units as u32),
        &e.u32(data.len() as u32),
        &e.u32(original),
        &padded(data),
        &opts(options),
    ]
    .concat();
    block(e, block::ENHANCED_PACKET, &body)
}

fn spb(e: E, original: u32, data: &[u8]) -> Vec<u8> {
    block(
        e,
        block::SIMPLE_PACKET,
        &[&e.u32(original)[..], data].concat(),
    )
}

/// The obsolete Packet Block: 16-bit interface id and drop count.
fn pb(e: E, interface: u16, units: u64, data: &[u8], original: u32) -> Vec<u8> {
    let body = [
        &e.u16(interface)[..],
        &e.u16(0), // drops
        &e.u32((units >> 32) as u32),
        &e.u32(units as u32),
        &e.u32(data.len() as u32),
        &e.u32(original),
        data,
    ]
    .concat();
    block(e, block::PACKET_OBSOLETE, &body)
}

/// SHB, IDB, EPB, SPB, PB and blocks without packets in order `e`, one interface of
/// microseconds.
fn pcapng_blocks(e: E) -> (File, [Vec<u8>; 3]) {
    let f = [frame(1, 61), frame(2, 62), frame(3, 63)];
    let file = File::default()
        .push(&shb(e, &[opt(e, 4, b"a test")])) // shb_userappl
        .push(&idb(e, 1, 0, &[opt(e, 2, b"eth0")])) // if_name
        .packet(&epb(
            e,
            0,
            1_700_000_000_123_456,
            &f[0],
            1514,
            &[opt(e, 1, b"c")],
        ))
        .push(&block(e, 4, &[0; 4])) // name resolution: no packet
        .packet(&spb(e, 62, &f[1]))
        .push(&block(e, 5, &[0; 20])) // interface statistics
        .packet(&pb(e, 0, 1_700_000_001_000_001, &f[2], 63))
        .push(&block(e, 0x0bad_cafe, &[1, 2, 3])); // unknown: skipped
    (file, f)
}

#[test]
fn pcapng_section_interface_enhanced_simple_and_obsolete_packet_blocks() {
    for e in [E::Le, E::Be] {
        let (file, f) = pcapng_blocks(e);
        let (reader, used) = Reader::start(&file.bytes).unwrap();
        assert_eq!(used, file.ends[0]);
        assert_eq!(reader.format(), Format::Pcapng);
        assert_eq!(reader.link_type(), None, "no interface read yet");
        assert_eq!(
            read_ok(&file.bytes),
            [
                packet(1, 0, ts(1_700_000_000, 123_456_000), 1514, &f[0]),
                // A simple packet block has no timestamp.
                packet(1, 0, Timestamp::default(), 62, &f[1]),
                packet(1, 0, ts(1_700_000_001, 1_000), 63, &f[2]),
            ],
            "{e:?}"
        );
        // Entry by entry: blocks without a packet are Entry::Other.
        let (mut reader, mut at) = Reader::start(&file.bytes).unwrap();
        let mut kinds = Vec::new();
        while at < file.bytes.len() {
            let (entry, used) = reader.next(&file.bytes[at..]).unwrap();
            kinds.push(matches!(entry, Entry::Packet(_)));
            at += used;
            assert!(file.ends.contains(&at));
        }
        assert_eq!(kinds, [false, true, false, true, false, true, false]);
        assert_eq!(reader.link_type(), Some(1));
    }
}

#[test]
fn pcapng_interfaces_of_different_link_types_and_timestamp_units() {
    for e in [E::Le, E::Be] {
        let f = [
            frame(1, 20),
            frame(2, 21),
            frame(3, 22),
            frame(4, 23),
            frame(5, 24),
        ];
        let file = [
            shb(e, &[]),
            // 0: Ethernet, nanoseconds.
            idb(e, 1, 65_535, &[opt(e, 9, &[9])]),
            // 1: Linux cooked, 2^-3 s, and 100 s added (if_tsoffset).
            idb(
                e,
                113,
                65_535,
                &[opt(e, 9, &[0x83]), opt(e, 14, &e.u64(100))],
            ),
            // 2: raw IP, milliseconds, 10 s before the epoch offset.
            idb(
                e,
                101,
                0,
                &[opt(e, 9, &[3]), opt(e, 14, &e.u64(-10i64 as u64))],
            ),
            // 3: IPv4, picoseconds (below the nanosecond: dropped).
            idb(e, 228, 0, &[opt(e, 9, &[12])]),
            epb(e, 0, 1_700_000_000_999_999_999, &f[0], 20, &[]),
            epb(e, 1, 8 * 1_700_000_000 + 5, &f[1], 21, &[]),
            epb(e, 2, 1_700_000_000_001, &f[2], 22, &[]),
            epb(e, 3, 12_345_678_901_234_567, &f[3], 23, &[]),
            // The obsolete block names interfaces too.
            pb(e, 1, 8 * 10 + 1, &f[4], 24),
        ]
        .concat();
        let (mut reader, used) = Reader::start(&file).unwrap();
        let _ = reader.next(&file[used..]).unwrap();
        assert_eq!(reader.link_type(), Some(1), "the first interface's");
        assert_eq!(
            read_ok(&file),
            [
                packet(1, 0, ts(1_700_000_000, 999_999_999), 20, &f[0]),
                packet(113, 1, ts(1_700_000_100, 625_000_000), 21, &f[1]),
                packet(101, 2, ts(1_699_999_990, 1_000_000), 22, &f[2]),
                packet(228, 3, ts(12_345, 678_901_234), 23, &f[3]),
                packet(113, 1, ts(110, 125_000_000), 24, &f[4]),
            ],
            "{e:?}"
        );
    }
}

#[test]
fn pcapng_sections_of_either_byte_order_each_describe_their_interfaces() {
    let (a, b) = (frame(1, 30), frame(2, 31));
    let two = [
        shb(E::Le, &[]),
        idb(E::Le, 1, 0, &[]),
        epb(E::Le, 0, 7, &a, 30, &[]),
        shb(E::Be, &[]),
        idb(E::Be, 229, 0, &[opt(E::Be, 9, &[0])]),
        epb(E::Be, 0, 7, &b, 31, &[]),
    ]
    .concat();
    assert_eq!(
        read_ok(&two),
        [
            packet(1, 0, ts(0, 7_000), 30, &a),
            packet(229, 0, ts(7, 0), 31, &b),
        ]
    );
    // A new section forgets the interfaces of the one before.
    let first = [
        shb(E::Be, &[]),
        idb(E::Be, 1, 0, &[]),
        idb(E::Be, 1, 0, &[]),
    ]
    .concat();
    let file = [
        first.clone(),
        shb(E::Be, &[]),
        epb(E::Be, 1, 7, &a, 30, &[]),
    ]
    .concat();
    let offset = first.len() + 28;
    assert_eq!(
        read(&file),
        (
            vec![],
            Some(ReadError {
                offset,
                error: FileError::UnknownInterface { id: 1, known: 0 }
            })
        )
    );
}

#[test]
fn pcapng_damage_is_a_typed_error_after_the_packets_before_it() {
    let a = frame(1, 10);
    let head = [
        shb(E::Le, &[]),
        idb(E::Le, 1, 0, &[]),
        epb(E::Le, 0, 1, &a, 10, &[]),
    ]
    .concat();
    let first = packet(1, 0, ts(0, 1_000), 10, &a);
    let bad = |block_type, what| FileError::BadBlock { block_type, what };
    let mut trailer_differs = epb(E::Le, 0, 2, &a, 10, &[]);
    let n = trailer_differs.len();
    trailer_differs[n - 4] ^= 4;
    let mut not_multiple = epb(E::Le, 0, 2, &a, 10, &[]);
    not_multiple[4] += 1;
    let short = block(E::Le, 6, &[0; 16]);
    let mut long_option = idb(E::Le, 1, 0, &[opt(E::Le, 2, b"eth0")]);
    long_option[18] = 200; // the option's length, far past the block
    let cases: [(Vec<u8>, FileError); 6] = [
        (
            trailer_differs,
            bad(6, "leading and trailing block lengths differ"),
        ),
        (not_multiple, bad(6, "block length not a multiple of 4")),
        (short, bad(6, "packet block shorter than its fixed fields")),
        (long_option, bad(1, "option runs past the end of its block")),
        (
            epb(E::Le, 3, 2, &a, 10, &[]),
            FileError::UnknownInterface { id: 3, known: 1 },
        ),
        (
            [&E::Le.u32(6)[..], &E::Le.u32(8)].concat(),
            bad(6, "block length below the minimum"),
        ),
    ];
    for (damaged, error) in cases {
        let file = [head.clone(), damaged].concat();
        assert_eq!(
            read(&file),
            (
                vec![first],
                Some(ReadError {
                    offset: head.len(),
                    error
                })
            )
        );
    }
    // A captured length beyond its block.
    let mut beyond = epb(E::Le, 0, 2, &a, 10, &[]);
    beyond[20] = 200;
    let file = [head.clone(), beyond].concat();
    assert_eq!(
        read(&file).1.map(|e| e.error),
        Some(bad(6, "block too short for its captured length"))
    );
    // Section header: unknown byte-order magic, version 1.1.
    let mut bom = shb(E::Le, &[]);
    bom[8] = 0;
    assert_eq!(
        Reader::start(&bom).err(),
        Some(bad(magic::PCAPNG_SECTION, "unknown byte-order magic"))
    );
    let mut v11 = shb(E::Be, &[]);
    v11[15] = 1;
    assert_eq!(
        Reader::start(&v11).err(),
        Some(FileError::UnsupportedVersion { major: 1, minor: 1 })
    );
    // A simple packet block with no interface described.
    let file = [shb(E::Le, &[]), spb(E::Le, 1, &[1])].concat();
    assert_eq!(
        read(&file).1.map(|e| e.error),
        Some(FileError::UnknownInterface { id: 0, known: 0 })
    );
}

// ---- cut short -----------------------------------------------------------------------------

/// Cuts `file` at every byte: never a panic; the packets of the records wholly before the cut
/// are read exactly; a cut inside a record is `Incomplete` at that record's offset, needing
/// more than remains and no more than the record; a cut between records is a clean end. The
/// streaming reader agrees at every prefix. Returns the cut points where the whole-file reader
/// did something else (see the callers).
fn cut_everywhere(file: &File) -> Vec<usize> {
    let all = read_ok(&file.bytes);
    let header = file.ends[0];
    let mut odd = Vec::new();
    for cut in 0..=file.bytes.len() {
        let data = &file.bytes[..cut];
        let (got, error) = read(data);
        if cut < header {
            // Inside the file header.
            assert!(got.is_empty());
            let e = error.unwrap_or_else(|| panic!("cut at {cut}: no error"));
            assert_eq!(e.offset, 0);
            match e.error {
                FileError::Incomplete { needed } => {
                    assert!(
                        cut < needed && needed <= header,
                        "cut at {cut}: needs {needed}"
                    );
                }
                other => panic!("cut at {cut}: {other}"),
            }
            continue;
        }
        // Records wholly before the cut, and the one the cut is in.
        let whole = file.ends.iter().filter(|&&end| end <= cut).count() - 1;
        let start = file.ends[whole];
        let packets_before = file.packet_ends.iter().filter(|&&end| end <= cut).count();
        let expected_error = (cut != start).then(|| {
            let record_len = file.ends[whole + 1] - start;
            (start, cut - start, record_len)
        });
        let ok = got.as_slice() == &all[..packets_before]
            && match (error, expected_error) {
                (None, None) => true,
                (Some(e), Some((offset, have, len))) => {
                    e.offset == offset
                        && matches!(e.error, FileError::Incomplete { needed } if have < needed && needed <= len)
                }
                _ => false,
            };
        if !ok {
            odd.push(cut);
        }
        // The streaming reader over the same prefix, from a fresh start.
        let (mut reader, mut at) = Reader::start(data).unwrap();
        loop {
            match reader.next(&data[at..]) {
                Ok((_, used)) => at += used,
                Err(FileError::Incomplete { needed }) => {
                    assert!(needed > data.len() - at, "cut at {cut}: needs {needed}");
                    break;
                }
                Err(e) => panic!("cut at {cut}: {e}"),
            }
        }
    }
    odd
}

#[test]
fn pcapng_cut_at_every_byte() {
    for e in [E::Le, E::Be] {
        let (file, _) = pcapng_blocks(e);
        assert_eq!(cut_everywhere(&file), [] as [usize; 0], "{e:?}");
    }
}

#[test]
fn pcap_cut_at_every_byte() {
    for e in [E::Le, E::Be] {
        let (file, _) = classic(e);
        // Known, and kept as it is: in a file cut within its first records, the record
        // layout is guessed from what is there (as tshark does). A cut exactly 8 (or 4) bytes
        // into the second record's header makes the first record fit a 24-byte (20-byte)
        // header exactly with nothing after it, so that layout wins: the first record is read
        // with its data shifted and the cut goes unreported.
        let first = file.ends[1];
        assert_eq!(cut_everywhere(&file), [first + 4, first + 8], "{e:?}");
        let shifted = read(&file.bytes[..first + 8]);
        assert_eq!(shifted.1, None);
        assert_eq!(shifted.0.len(), 1);
        assert_eq!(shifted.0[0].data, &file.bytes[24 + 24..first + 8]);
    }
    // Nanosecond and modified files are cut cleanly everywhere.
    let f = [frame(1, 9), frame(2, 10)];
    let nano = File::default()
        .push(&pcap_header(E::Be, magic::PCAP_NANO, (2, 4), 65_535, 1))
        .packet(&pcap_record(E::Be, 1, 2, (9, 9), &[], &f[0]))
        .packet(&pcap_record(E::Be, 3, 4, (10, 10), &[], &f[1]));
    assert_eq!(cut_everywhere(&nano), [] as [usize; 0]);
}

/// Values that cross every boundary of the fast paths: zero, a unit under and at a second,
/// the 32-bit seconds' end, and the widest.
const UNITS: [u64; 10] = [
    0,
    1,
    999_999,
    1_000_000,
    999_999_999,
    1_000_000_000,
    1_700_000_000_123_456,
    u32::MAX as u64 * 1_000_000_000 + 999_999_999,
    u64::MAX - 1,
    u64::MAX,
];

#[test]
fn pcapng_fast_timestamps_equal_the_general_rule() {
    let mut checked = 0;
    for resolution in [6, 9] {
        for offset_secs in [0, 1, -1, 1_700_000_000, i64::MAX, i64::MIN] {
            let iface = Interface {
                link_type: 1,
                snap_len: 0,
                resolution,
                binary: false,
                offset_secs,
            };
            for units in UNITS {
                assert_eq!(
                    iface.timestamp(units),
                    iface.timestamp_general(units),
                    "resolution {resolution}, offset {offset_secs}, units {units}"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 120);
}

#[test]
fn pcap_fast_timestamps_equal_the_general_rule() {
    for secs in [0, 1, 1_700_000_000, i64::from(u32::MAX)] {
        for unit_ns in [1, 1000] {
            for fraction in [0, 1, 999_999, 1_000_000, 999_999_999, 1_000_000_000] {
                let fraction = u64::from(u32::try_from(fraction).unwrap());
                let general = Timestamp::from_nanos(
                    i128::from(secs) * 1_000_000_000 + i128::from(fraction) * i128::from(unit_ns),
                );
                assert_eq!(Timestamp::from_parts(secs, fraction, unit_ns), general);
            }
        }
    }
    // A fraction of a second or more carries into the seconds, as it always did.
    assert_eq!(
        Timestamp::from_parts(5, 1_500_000, 1000),
        Timestamp {
            secs: 6,
            nanos: 500_000_000
        }
    );
}
