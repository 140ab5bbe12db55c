//! pcap and pcapng capture files, read from byte slices without allocating.
//!
//! [`Reader`] is a push parser: [`Reader::start`] reads the file header from the front of a
//! buffer and [`Reader::next`] one [`Entry`] (a pcap record or a pcapng block), each saying
//! how many bytes it used or how many it still needs ([`FileError::Incomplete`]), so a caller
//! can stream a file of any size through a small buffer, stdin included. [`packets`] wraps it
//! for a file that is all in memory.
//!
//! Accepted: pcap in either byte order with microsecond or nanosecond timestamps (and the
//! older 2.0–2.3 record layouts), the Kuznetsov "modified" pcap, and pcapng with any number of
//! sections and interfaces of different link types. Damage is an error at the record where
//! it is found; the records before it stay good.

use core::fmt;

use heapless::Vec;

/// The largest captured length accepted for one record (Wireshark's and libpcap's limit for
/// the link types the parser decodes): anything larger means a damaged file.
pub const MAX_CAPTURED_LEN: u32 = 262_144;

/// How far a pcap record may run past its file's snap length. Writers do write such records
/// (a 65,549-byte Ethernet frame under a snap length of 65,535, fuzzed files of tcpdump's
/// suite) and tshark reads them, so we do too, as long as the record could be one whole IP
/// packet (65,535 bytes) with its link-layer headers (256 bytes are room for any stack of
/// them). A record beyond both the snap length and this is damage ([`FileError::BeyondSnapLen`]),
/// never a reason to read the file another way.
pub const MAX_BEYOND_SNAP_LEN: u32 = 65_535 + 256;

/// How many interfaces one pcapng section may describe.
pub const MAX_INTERFACES: usize = 256;

/// Why a capture file could not be read (further).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileError {
    /// The buffer ends inside a header or record: `needed` bytes from its start are required.
    /// At the real end of a file this means the file was cut short.
    Incomplete {
        /// Bytes needed from the start of the buffer that was passed.
        needed: usize,
    },
    /// The file starts with neither a pcap nor a pcapng magic number.
    NotACapture {
        /// The first four bytes, big-endian.
        magic: u32,
    },
    /// A pcap or pcapng version this reader does not know.
    UnsupportedVersion {
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
    /// The pcap header's link-type field has reserved bits set.
    ReservedLinkTypeBits {
        /// The whole field.
        field: u32,
    },
    /// A record claims more captured bytes than any real capture holds.
    RecordTooLarge {
        /// Captured length claimed.
        captured: u32,
        /// The limit, [`MAX_CAPTURED_LEN`].
        max: u32,
    },
    /// A pcap record claims more captured bytes than its file's snap length, and more than
    /// one IP packet with its link-layer headers ([`MAX_BEYOND_SNAP_LEN`]).
    BeyondSnapLen {
        /// Captured length claimed.
        captured: u32,
        /// The file's snap length.
        snap_len: u32,
    },
    /// A pcapng block is inconsistent (`what` says how).
    BadBlock {
        /// The block type.
        block_type: u32,
        /// What is wrong with it.
        what: &'static str,
    },
    /// A packet names an interface that its section has not described.
    UnknownInterface {
        /// The interface id in the packet.
        id: u32,
        /// How many interfaces the section described.
        known: usize,
    },
    /// A pcapng section describes more than [`MAX_INTERFACES`] interfaces.
    TooManyInterfaces,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FileError::Incomplete { needed } => {
                write!(
                    f,
                    "file cut short: a record needs {needed} more bytes than remain"
                )
            }
            FileError::NotACapture { magic } => {
                write!(f, "not a pcap or pcapng file (magic number 0x{magic:08x})")
            }
            FileError::UnsupportedVersion { major, minor } => {
                write!(f, "unsupported file format version {major}.{minor}")
            }
            FileError::ReservedLinkTypeBits { field } => {
                write!(f, "link-type field 0x{field:08x} has reserved bits set")
            }
            FileError::RecordTooLarge { captured, max } => write!(
                f,
                "record claims {captured} captured bytes, more than the maximum of {max}: the file is damaged"
            ),
            FileError::BeyondSnapLen { captured, snap_len } => write!(
                f,
                "record claims {captured} captured bytes, more than the file's snap length of \
                 {snap_len} and more than one IP packet with its headers \
                 ({MAX_BEYOND_SNAP_LEN}): the file is damaged"
            ),
            FileError::BadBlock { block_type, what } => {
                write!(f, "damaged pcapng block of type 0x{block_type:08x}: {what}")
            }
            FileError::UnknownInterface { id, known } => write!(
                f,
                "packet names interface {id} but its section describes only {known}"
            ),
            FileError::TooManyInterfaces => write!(
                f,
                "a pcapng section describes more than {MAX_INTERFACES} interfaces"
            ),
        }
    }
}

impl core::error::Error for FileError {}

/// A point in time as the capture recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Whole seconds since the Unix epoch.
    pub secs: i64,
    /// Nanoseconds within the second (0..1e9).
    pub nanos: u32,
}

impl Timestamp {
    /// Milliseconds since the Unix epoch (negative before 1970).
    pub fn as_millis(&self) -> i64 {
        self.secs
            .saturating_mul(1000)
            .saturating_add(i64::from(self.nanos / 1_000_000))
    }

    /// `secs` seconds and `fraction` units of `unit_ns` nanoseconds each. The common case (a
    /// fraction under a second) needs no 128-bit division, which took a tenth of a replay's
    /// time; the rest (a fraction of a second or more, which some writers leave) is
    /// [`Timestamp::from_nanos`]'s.
    #[inline]
    fn from_parts(secs: i64, fraction: u64, unit_ns: u64) -> Timestamp {
        match fraction.checked_mul(unit_ns) {
            Some(nanos) if nanos < 1_000_000_000 => Timestamp {
                secs,
                nanos: nanos as u32,
            },
            _ => Timestamp::from_nanos(
                i128::from(secs) * 1_000_000_000 + i128::from(fraction) * i128::from(unit_ns),
            ),
        }
    }

    fn from_nanos(total: i128) -> Timestamp {
        let secs = total.div_euclid(1_000_000_000);
        Timestamp {
            secs: i64::try_from(secs).unwrap_or(if secs < 0 { i64::MIN } else { i64::MAX }),
            nanos: u32::try_from(total.rem_euclid(1_000_000_000)).unwrap_or(0),
        }
    }
}

/// One captured frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The pcap LINKTYPE of the interface it was captured on.
    pub link_type: u32,
    /// The interface (0 for pcap files).
    pub interface: u32,
    /// When it was captured.
    pub timestamp: Timestamp,
    /// Its length on the wire.
    pub original_len: u32,
    /// The bytes that were captured (at most the snap length).
    pub data: &'a [u8],
}

/// One entry of the file (a pcap record or a pcapng block): a packet, or a block that carries
/// none (interface descriptions, statistics, name resolution, …). Not a traffic record
/// ([`crate::wire::Record`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry<'a> {
    /// A captured frame.
    Packet(Packet<'a>),
    /// A block with no packet in it.
    Other,
}

/// The container format, as found in the file header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Classic pcap.
    Pcap {
        /// Nanosecond timestamps (magic `a1b23c4d`).
        nanos: bool,
        /// Written on a big-endian machine.
        big_endian: bool,
    },
    /// pcapng.
    Pcapng,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Little,
    Big,
}

impl Order {
    fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Order::Little => u16::from_le_bytes(b),
            Order::Big => u16::from_be_bytes(b),
        }
    }
    fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Order::Little => u32::from_le_bytes(b),
            Order::Big => u32::from_be_bytes(b),
        }
    }
}

/// Reads fixed-size fields at known offsets of a buffer whose length was checked already;
/// a short buffer reads as zeros rather than panicking.
#[derive(Clone, Copy)]
struct Fields<'a> {
    bytes: &'a [u8],
    order: Order,
}

impl Fields<'_> {
    fn array<const N: usize>(&self, at: usize) -> [u8; N] {
        self.bytes
            .get(at..)
            .and_then(|b| b.first_chunk::<N>())
            .copied()
            .unwrap_or([0; N])
    }
    fn u16(&self, at: usize) -> u16 {
        self.order.u16(self.array(at))
    }
    fn u32(&self, at: usize) -> u32 {
        self.order.u32(self.array(at))
    }
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    link_type: u32,
    snap_len: u32,
    /// Timestamp units: `Some(n)` for 10^-n seconds, or 2^-n when `binary`.
    resolution: u8,
    binary: bool,
    offset_secs: i64,
}

impl Interface {
    fn timestamp(&self, units: u64) -> Timestamp {
        // The two resolutions writers use, by constant divisions (no 128-bit arithmetic); the
        // same result as the general rule below, which the tests check.
        match (self.binary, self.resolution) {
            (false, 6) => return self.split(units, 1_000_000, 1_000),
            (false, 9) => return self.split(units, 1_000_000_000, 1),
            _ => {}
        }
        self.timestamp_general(units)
    }

    /// `units` of `1 / per_sec` seconds, each `unit_ns` nanoseconds, after the offset.
    #[inline]
    fn split(&self, units: u64, per_sec: u64, unit_ns: u64) -> Timestamp {
        // units / per_sec < 2^64 / 10^6 < i64::MAX.
        let secs = (units / per_sec) as i64;
        Timestamp {
            secs: secs.saturating_add(self.offset_secs),
            nanos: ((units % per_sec) * unit_ns) as u32,
        }
    }

    fn timestamp_general(&self, units: u64) -> Timestamp {
        let units = i128::from(units);
        let nanos = if self.binary {
            units
                .checked_mul(1_000_000_000)
                .and_then(|n| n.checked_shr(u32::from(self.resolution)))
                .unwrap_or(0)
        } else if self.resolution <= 9 {
            units.saturating_mul(10i128.pow(9 - u32::from(self.resolution)))
        } else {
            units / 10i128.pow(u32::from(self.resolution.min(38)) - 9)
        };
        Timestamp::from_nanos(nanos.saturating_add(i128::from(self.offset_secs) * 1_000_000_000))
    }
}

// One reader per file: the pcapng interface table is inline so that nothing allocates.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum State {
    Pcap {
        order: Order,
        nanos: bool,
        link_type: u32,
        /// Record header size: 16, or 24 for the modified format.
        header_len: usize,
        /// The file header's snap length.
        snap_len: u32,
        /// Versions before 2.3 wrote the two lengths the other way round.
        lengths_swapped: LengthOrder,
    },
    Pcapng {
        order: Order,
        interfaces: Vec<Interface, MAX_INTERFACES>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LengthOrder {
    Normal,
    Swapped,
    /// Version 2.3 files exist in both layouts: a captured length above the original one
    /// gives the old layout away.
    Maybe,
}

/// A capture-file parser that is fed the file piece by piece.
#[derive(Debug)]
pub struct Reader {
    state: State,
}

mod magic {
    pub const PCAP_MICRO: u32 = 0xa1b2_c3d4;
    pub const PCAP_NANO: u32 = 0xa1b2_3c4d;
    pub const PCAP_MODIFIED: u32 = 0xa1b2_cd34;
    pub const IXIA_HW: u32 = 0x1c00_01ac;
    pub const IXIA_SW: u32 = 0x1c00_01ab;
    pub const PCAPNG_SECTION: u32 = 0x0a0d_0d0a;
    pub const PCAPNG_BYTE_ORDER: u32 = 0x1a2b_3c4d;
}

mod block {
    pub const INTERFACE: u32 = 1;
    pub const PACKET_OBSOLETE: u32 = 2;
    pub const SIMPLE_PACKET: u32 = 3;
    pub const ENHANCED_PACKET: u32 = 6;
    /// Block header (type, length) plus trailing length.
    pub const OVERHEAD: usize = 12;
    /// The largest block accepted (Wireshark's limit: a maximal packet plus options).
    pub const MAX_LEN: u32 = 128 * 1024 * 1024 + 32 + 131_072;
}

impl Reader {
    /// Reads the file header at the start of `buf`; returns the reader and how many bytes of
    /// `buf` it used.
    pub fn start(buf: &[u8]) -> Result<(Reader, usize), FileError> {
        let Some(first) = buf.first_chunk::<4>() else {
            return Err(FileError::Incomplete { needed: 4 });
        };
        let be = u32::from_be_bytes(*first);
        let le = u32::from_le_bytes(*first);
        if be == magic::PCAPNG_SECTION {
            let mut reader = Reader {
                state: State::Pcapng {
                    order: Order::Little,
                    interfaces: Vec::new(),
                },
            };
            let used = reader.section_header(buf)?;
            return Ok((reader, used));
        }
        let pcap_magics = [
            magic::PCAP_MICRO,
            magic::PCAP_NANO,
            magic::PCAP_MODIFIED,
            magic::IXIA_HW,
            magic::IXIA_SW,
        ];
        let (order, m) = if pcap_magics.contains(&le) {
            (Order::Little, le)
        } else if pcap_magics.contains(&be) {
            (Order::Big, be)
        } else {
            return Err(FileError::NotACapture { magic: be });
        };
        // Ixia's writers add 4 bytes (a file size) after the standard header.
        let header_len = if matches!(m, magic::IXIA_HW | magic::IXIA_SW) {
            28
        } else {
            24
        };
        if buf.len() < header_len {
            return Err(FileError::Incomplete { needed: header_len });
        }
        let f = Fields { bytes: buf, order };
        let (major, minor) = (f.u16(4), f.u16(6));
        if major < 2 {
            return Err(FileError::UnsupportedVersion { major, minor });
        }
        let snap_len = f.u32(16);
        let mut field = f.u32(20);
        let mut nanos = m == magic::PCAP_NANO;
        // AIX wrote RFC 1573 ifType values (and nanoseconds) under the standard magic, 2.2.
        if m == magic::PCAP_MICRO && (major, minor) == (2, 2) {
            let aix = match field {
                6 => Some(1),
                9 => Some(6),
                15 => Some(10),
                24 => Some(0),
                _ => None,
            };
            if let Some(link_type) = aix {
                field = link_type;
                nanos = true;
            }
        }
        if field & 0x03ff_0000 != 0 {
            return Err(FileError::ReservedLinkTypeBits { field });
        }
        let lengths_swapped = match (major, minor) {
            (2, 0..=2) | (543, _) => LengthOrder::Swapped,
            (2, 3) => LengthOrder::Maybe,
            _ => LengthOrder::Normal,
        };
        // Patched libpcaps of 1999 wrote longer record headers, some under the standard
        // magic: try each layout on the first records and keep the one that makes sense.
        let records = buf.get(header_len..).unwrap_or(&[]);
        let record_header_len = match m {
            magic::PCAP_MICRO if !nanos => {
                best_layout(records, order, lengths_swapped, snap_len, &[16, 24, 20])
            }
            magic::PCAP_MODIFIED => {
                best_layout(records, order, lengths_swapped, snap_len, &[24, 28])
            }
            _ => 16,
        };
        let reader = Reader {
            state: State::Pcap {
                order,
                nanos,
                link_type: field & 0xffff,
                header_len: record_header_len,
                snap_len,
                lengths_swapped,
            },
        };
        Ok((reader, header_len))
    }

    /// The container format.
    pub fn format(&self) -> Format {
        match &self.state {
            State::Pcap { order, nanos, .. } => Format::Pcap {
                nanos: *nanos,
                big_endian: *order == Order::Big,
            },
            State::Pcapng { .. } => Format::Pcapng,
        }
    }

    /// The link type of a pcap file, or of a pcapng file's first interface once it has been
    /// read (`None` before that).
    pub fn link_type(&self) -> Option<u32> {
        match &self.state {
            State::Pcap { link_type, .. } => Some(*link_type),
            State::Pcapng { interfaces, .. } => interfaces.first().map(|i| i.link_type),
        }
    }

    /// Reads the entry at the start of `buf`; returns it and how many bytes it used. An
    /// empty `buf` is [`FileError::Incomplete`] with `needed` 1… at the end of a file, that
    /// is the normal end, which the caller recognises by having no bytes left.
    pub fn next<'b>(&mut self, buf: &'b [u8]) -> Result<(Entry<'b>, usize), FileError> {
        match &mut self.state {
            State::Pcap {
                order,
                nanos,
                link_type,
                header_len,
                snap_len,
                lengths_swapped,
            } => {
                let header_len = *header_len;
                if buf.len() < header_len {
                    return Err(FileError::Incomplete { needed: header_len });
                }
                let f = Fields {
                    bytes: buf,
                    order: *order,
                };
                let (mut captured, mut original) = (f.u32(8), f.u32(12));
                let swap = match lengths_swapped {
                    LengthOrder::Swapped => true,
                    LengthOrder::Maybe => captured > original,
                    LengthOrder::Normal => false,
                };
                if swap {
                    core::mem::swap(&mut captured, &mut original);
                }
                if captured > MAX_CAPTURED_LEN {
                    return Err(FileError::RecordTooLarge {
                        captured,
                        max: MAX_CAPTURED_LEN,
                    });
                }
                if beyond_snap_len(captured, *snap_len) {
                    return Err(FileError::BeyondSnapLen {
                        captured,
                        snap_len: *snap_len,
                    });
                }
                let end = header_len + captured as usize;
                let data = buf
                    .get(header_len..end)
                    .ok_or(FileError::Incomplete { needed: end })?;
                let fraction = f.u32(4);
                let timestamp = Timestamp::from_parts(
                    i64::from(f.u32(0)),
                    u64::from(fraction),
                    if *nanos { 1 } else { 1000 },
                );
                Ok((
                    Entry::Packet(Packet {
                        link_type: *link_type,
                        interface: 0,
                        timestamp,
                        original_len: original,
                        data,
                    }),
                    end,
                ))
            }
            State::Pcapng { .. } => self.pcapng_block(buf),
        }
    }

    /// Reads a Section Header Block at the start of `buf`, resetting the interfaces.
    fn section_header(&mut self, buf: &[u8]) -> Result<usize, FileError> {
        if buf.len() < 12 {
            return Err(FileError::Incomplete { needed: 12 });
        }
        let byte_order = Fields {
            bytes: buf,
            order: Order::Little,
        }
        .u32(8);
        let order = if byte_order == magic::PCAPNG_BYTE_ORDER {
            Order::Little
        } else if byte_order.swap_bytes() == magic::PCAPNG_BYTE_ORDER {
            Order::Big
        } else {
            return Err(FileError::BadBlock {
                block_type: magic::PCAPNG_SECTION,
                what: "unknown byte-order magic",
            });
        };
        let (body, used) = block_body(buf, order, magic::PCAPNG_SECTION, 28)?;
        let f = Fields { bytes: body, order };
        let (major, minor) = (f.u16(4), f.u16(6));
        if !(major == 1 && (minor == 0 || minor == 2)) {
            return Err(FileError::UnsupportedVersion { major, minor });
        }
        options(
            body.get(16..).unwrap_or(&[]),
            order,
            magic::PCAPNG_SECTION,
            |_, _| (),
        )?;
        self.state = State::Pcapng {
            order,
            interfaces: Vec::new(),
        };
        Ok(used)
    }

    fn pcapng_block<'b>(&mut self, buf: &'b [u8]) -> Result<(Entry<'b>, usize), FileError> {
        let State::Pcapng { order, .. } = &self.state else {
            return Err(FileError::NotACapture { magic: 0 });
        };
        let order = *order;
        if buf.len() < 8 {
            return Err(FileError::Incomplete { needed: 8 });
        }
        let block_type = Fields { bytes: buf, order }.u32(0);
        if block_type == magic::PCAPNG_SECTION {
            return self.section_header(buf).map(|used| (Entry::Other, used));
        }
        let (body, used) = block_body(buf, order, block_type, block::OVERHEAD)?;
        let State::Pcapng { interfaces, .. } = &mut self.state else {
            return Err(FileError::NotACapture { magic: 0 });
        };
        let f = Fields { bytes: body, order };
        let short = |what| FileError::BadBlock { block_type, what };
        let entry = match block_type {
            block::INTERFACE => {
                if body.len() < 8 {
                    return Err(short("interface description shorter than 8 bytes"));
                }
                let mut iface = Interface {
                    link_type: u32::from(f.u16(0)),
                    snap_len: f.u32(4),
                    resolution: 6,
                    binary: false,
                    offset_secs: 0,
                };
                options(
                    body.get(8..).unwrap_or(&[]),
                    order,
                    block_type,
                    |code, value| {
                        const IF_TSRESOL: u16 = 9;
                        const IF_TSOFFSET: u16 = 14;
                        match (code, value) {
                            (IF_TSRESOL, [r, ..]) => {
                                iface.binary = r & 0x80 != 0;
                                iface.resolution = r & 0x7f;
                            }
                            (IF_TSOFFSET, v) => {
                                if let Some(b) = v.first_chunk::<8>() {
                                    iface.offset_secs = match order {
                                        Order::Little => i64::from_le_bytes(*b),
                                        Order::Big => i64::from_be_bytes(*b),
                                    };
                                }
                            }
                            _ => {}
                        }
                    },
                )?;
                interfaces
                    .push(iface)
                    .map_err(|_| FileError::TooManyInterfaces)?;
                Entry::Other
            }
            block::ENHANCED_PACKET | block::PACKET_OBSOLETE => {
                if body.len() < 20 {
                    return Err(short("packet block shorter than its fixed fields"));
                }
                let (id, ts_high, ts_low, captured, original) =
                    if block_type == block::ENHANCED_PACKET {
                        (f.u32(0), f.u32(4), f.u32(8), f.u32(12), f.u32(16))
                    } else {
                        (
                            u32::from(f.u16(0)),
                            f.u32(4),
                            f.u32(8),
                            f.u32(12),
                            f.u32(16),
                        )
                    };
                let data = body
                    .get(20..)
                    .and_then(|d| d.get(..usize::try_from(captured).ok()?))
                    .ok_or(short("block too short for its captured length"))?;
                let iface = interfaces
                    .get(id as usize)
                    .ok_or(FileError::UnknownInterface {
                        id,
                        known: interfaces.len(),
                    })?;
                if captured > MAX_CAPTURED_LEN {
                    return Err(FileError::RecordTooLarge {
                        captured,
                        max: MAX_CAPTURED_LEN,
                    });
                }
                Entry::Packet(Packet {
                    link_type: iface.link_type,
                    interface: id,
                    timestamp: iface.timestamp((u64::from(ts_high) << 32) | u64::from(ts_low)),
                    original_len: original,
                    data,
                })
            }
            block::SIMPLE_PACKET => {
                let iface = interfaces
                    .first()
                    .ok_or(FileError::UnknownInterface { id: 0, known: 0 })?;
                let original = f.u32(0);
                let captured = match iface.snap_len {
                    0 => original,
                    snap => original.min(snap),
                };
                let data = body
                    .get(4..)
                    .and_then(|d| d.get(..usize::try_from(captured).ok()?))
                    .ok_or(short("block too short for its packet length"))?;
                if captured > MAX_CAPTURED_LEN {
                    return Err(FileError::RecordTooLarge {
                        captured,
                        max: MAX_CAPTURED_LEN,
                    });
                }
                Entry::Packet(Packet {
                    link_type: iface.link_type,
                    interface: 0,
                    timestamp: Timestamp::default(),
                    original_len: original,
                    data,
                })
            }
            _ => Entry::Other,
        };
        Ok((entry, used))
    }
}

/// Whether a pcap record of `captured` bytes is damage in a file of snap length `snap_len`
/// ([`MAX_BEYOND_SNAP_LEN`]; a snap length of 0 says nothing).
fn beyond_snap_len(captured: u32, snap_len: u32) -> bool {
    snap_len != 0 && captured > snap_len && captured > MAX_BEYOND_SNAP_LEN
}

/// The pcap record-header length (among `candidates`) under which the first three records of
/// `records` look most like real records: Wireshark's rule, so both read the same packets.
/// Each layout gets one demerit per implausible field of the first record that has any; the
/// first layout with none wins, else the one with the fewest.
///
/// One difference: under the layout the file header declares (the first candidate), a record
/// with a sane timestamp that is damaged by its length ([`FileError::RecordTooLarge`],
/// [`FileError::BeyondSnapLen`]) ends the vote with what the records before it showed. The reader reports that damage where it is;
/// Wireshark's vote would instead pick a layout that reads the rest of the file as other
/// records (a file of zeros after a bad length reads as thousands of empty frames).
fn best_layout(
    records: &[u8],
    order: Order,
    lengths_swapped: LengthOrder,
    snap_len: u32,
    candidates: &[usize],
) -> usize {
    const RECORDS_TO_TRY: usize = 3;
    const MAX_ORIGINAL_LEN: u32 = 128 * 1024 * 1024;
    let demerits = |header_len: usize| -> u32 {
        let mut at = 0usize;
        for _ in 0..RECORDS_TO_TRY {
            let Some(rest) = records.get(at..).filter(|r| !r.is_empty()) else {
                return 0;
            };
            if rest.len() < header_len {
                return 1;
            }
            let f = Fields { bytes: rest, order };
            let (mut captured, mut original) = (f.u32(8), f.u32(12));
            if lengths_swapped == LengthOrder::Swapped
                || (lengths_swapped == LengthOrder::Maybe && captured > original)
            {
                core::mem::swap(&mut captured, &mut original);
            }
            if header_len == candidates.first().copied().unwrap_or(16)
                && f.u32(4) < 1_000_000
                && (captured > MAX_CAPTURED_LEN || beyond_snap_len(captured, snap_len))
            {
                return 0;
            }
            let bad = u32::from(f.u32(4) >= 1_000_000)
                + u32::from(captured > MAX_CAPTURED_LEN)
                + u32::from(original > MAX_ORIGINAL_LEN)
                + u32::from(captured > snap_len)
                + u32::from(captured > original);
            if bad != 0 {
                return bad;
            }
            let end = header_len.saturating_add(captured as usize);
            if rest.len() < end {
                return 1;
            }
            at += end;
        }
        0
    };
    let mut best = (u32::MAX, 16);
    for &len in candidates {
        let d = demerits(len);
        if d == 0 {
            return len;
        }
        if d < best.0 {
            best = (d, len);
        }
    }
    best.1
}

/// Checks a pcapng block's framing at the start of `buf` and returns its body (between the
/// 8-byte header and the trailing length) and its total length.
fn block_body(
    buf: &[u8],
    order: Order,
    block_type: u32,
    min_len: usize,
) -> Result<(&[u8], usize), FileError> {
    let f = Fields { bytes: buf, order };
    let total = f.u32(4);
    let bad = |what| FileError::BadBlock { block_type, what };
    if (total as usize) < min_len {
        return Err(bad("block length below the minimum"));
    }
    if !total.is_multiple_of(4) {
        return Err(bad("block length not a multiple of 4"));
    }
    if total > block::MAX_LEN {
        return Err(bad("block length above the maximum"));
    }
    let total = total as usize;
    let whole = buf
        .get(..total)
        .ok_or(FileError::Incomplete { needed: total })?;
    let trailer = Fields {
        bytes: whole,
        order,
    }
    .u32(total - 4);
    if trailer as usize != total {
        return Err(bad("leading and trailing block lengths differ"));
    }
    Ok((whole.get(8..total - 4).unwrap_or(&[]), total))
}

/// Walks pcapng options (code, length, value padded to 4), calling `each` for every one.
fn options(
    mut bytes: &[u8],
    order: Order,
    block_type: u32,
    mut each: impl FnMut(u16, &[u8]),
) -> Result<(), FileError> {
    const END: u16 = 0;
    while bytes.len() >= 4 {
        let f = Fields { bytes, order };
        let (code, len) = (f.u16(0), usize::from(f.u16(2)));
        if code == END {
            break;
        }
        let padded = len.div_ceil(4) * 4;
        let value = bytes.get(4..4 + len).ok_or(FileError::BadBlock {
            block_type,
            what: "option runs past the end of its block",
        })?;
        each(code, value);
        bytes = bytes.get(4 + padded..).unwrap_or(&[]);
    }
    Ok(())
}

/// The packets of a capture file held in memory, in file order. After an error the iterator
/// ends.
pub struct Packets<'a> {
    reader: Reader,
    rest: &'a [u8],
    offset: usize,
    failed: bool,
}

/// A read error and where in the file it happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// Byte offset of the record that could not be read.
    pub offset: usize,
    /// What went wrong.
    pub error: FileError,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.error)
    }
}

impl core::error::Error for ReadError {}

/// Starts reading the capture file `data`.
pub fn packets(data: &[u8]) -> Result<Packets<'_>, ReadError> {
    let (reader, used) = Reader::start(data).map_err(|error| ReadError { offset: 0, error })?;
    Ok(Packets {
        reader,
        rest: data.get(used..).unwrap_or(&[]),
        offset: used,
        failed: false,
    })
}

impl<'a> Packets<'a> {
    /// The reader, for the file's format and link type.
    pub fn reader(&self) -> &Reader {
        &self.reader
    }
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<Packet<'a>, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed && !self.rest.is_empty() {
            match self.reader.next(self.rest) {
                Ok((entry, used)) => {
                    self.rest = self.rest.get(used..).unwrap_or(&[]);
                    self.offset += used;
                    if let Entry::Packet(p) = entry {
                        return Some(Ok(p));
                    }
                }
                Err(error) => {
                    self.failed = true;
                    return Some(Err(ReadError {
                        offset: self.offset,
                        error,
                    }));
                }
            }
        }
        None
    }
}

#[cfg(test)]
#[path = "savefile_tests.rs"]
mod tests;
