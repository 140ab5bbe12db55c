//! A fetched message's header section as librdkafka keeps it, unparsed: read from librdkafka's
//! private message struct, because its public API offers the headers only through
//! `rd_kafka_message_headers`, which parses them into an allocated list on first use (a parse
//! buffer, the list and a copy of each header per message, freed with it: over a third of the
//! consuming thread, for the one `packets` header). The bytes are then read by
//! [`super::super::record_headers`].
//!
//! The struct is not part of librdkafka's API, so its layout is mirrored from the source of one
//! release ([`LAYOUT_OF`]: `rd_kafka_msg_t` in `src/rdkafka_msg.h`), and used only when the
//! library linked is that release (rdkafka-sys builds it from its own copy of the source, so
//! the version is fixed by Cargo.lock); with any other, [`section`] says so and the caller
//! takes the public API. `the_linked_librdkafka_is_the_release_whose_layout_is_mirrored` fails
//! on an upgrade, as a reminder to check the layout against the new source.

use std::ffi::{c_int, c_void};

use rdkafka::bindings as rdsys;

/// The release whose `rd_kafka_msg_t` [`PrivateMsg`] mirrors (2.12.1, `rd_kafka_version()`).
const LAYOUT_OF: c_int = 0x020c_01ff;

/// `RD_KAFKA_MSG_F_PRODUCER` (rdkafka_msg.h): a producer's message, whose union holds no
/// header section.
const F_PRODUCER: c_int = 0x4_0000;

/// The start of librdkafka 2.12.1's `rd_kafka_msg_t`, up to the consumer's unparsed headers
/// (field for field; `#[repr(C)]` lays it out as the C compiler does). The public message is
/// its first field, so a message pointer is a pointer to it.
#[repr(C)]
struct PrivateMsg {
    rkm_rkmessage: rdsys::rd_kafka_message_t,
    /// `TAILQ_ENTRY(rd_kafka_msg_s) rkm_link`: `tqe_next`, `tqe_prev`.
    rkm_link: [*mut c_void; 2],
    rkm_flags: c_int,
    /// `rd_kafka_timestamp_type_t` (an `int`-sized enum).
    rkm_tstype: c_int,
    rkm_timestamp: i64,
    /// The parsed headers, once `rd_kafka_message_headers` was called (or set by hand).
    rkm_headers: *mut rdsys::rd_kafka_headers_t,
    /// `rd_kafka_msg_status_t` (an `int`-sized enum).
    rkm_status: c_int,
    rkm_broker_id: i32,
    rkm_u: PrivateMsgUnion,
}

/// `rkm_u`: the producer's fields or the consumer's; only the consumer's first is read.
#[repr(C)]
union PrivateMsgUnion {
    /// The producer arm begins with an `rd_ts_t` (`int64_t`): the union is aligned as it is.
    producer_ts_timeout: i64,
    consumer_binhdrs: KafkapBytes,
}

/// `rd_kafkap_bytes_t` (rdkafka_proto.h), up to its pointer: the header section's length (-1
/// null, 0 empty) and where it is (in the fetch response the message keeps alive).
#[repr(C)]
#[derive(Clone, Copy)]
struct KafkapBytes {
    len: i32,
    data: *const c_void,
}

/// Whether the linked librdkafka is the release [`PrivateMsg`] mirrors.
pub fn layout_known() -> bool {
    // SAFETY: a plain function of the library, no arguments.
    unsafe { rdsys::rd_kafka_version() == LAYOUT_OF }
}

/// The header section of record `m`, as fetched (empty: no headers), or `None` when the
/// public API must be asked instead: headers already parsed (the list is what librdkafka
/// hands out from then on), or not a fetched message.
///
/// # Safety
/// [`layout_known`] is true, and `m` is a message librdkafka returned to the consumer with no
/// error (a record: its struct is a fetched `rd_kafka_msg_t`), alive while it is borrowed.
pub unsafe fn section(m: &rdsys::rd_kafka_message_t) -> Option<&[u8]> {
    let p = std::ptr::from_ref(m).cast::<PrivateMsg>();
    // SAFETY: the caller's promise: `m` is the first field of a live `rd_kafka_msg_t` laid out
    // as `PrivateMsg` (embedded in librdkafka's op, which is larger), aligned as it is; the
    // fields are read, not referenced, and the consumer arm is the one a fetched message uses
    // (written when the record was read from the fetch response; zero for record formats
    // without headers: the op is allocated zeroed).
    let (flags, parsed, bytes) = unsafe {
        (
            (*p).rkm_flags,
            (*p).rkm_headers,
            (*p).rkm_u.consumer_binhdrs,
        )
    };
    if flags & F_PRODUCER != 0 || !parsed.is_null() {
        return None;
    }
    let Ok(len) = usize::try_from(bytes.len) else {
        return Some(&[]);
    };
    if len == 0 || bytes.data.is_null() {
        return Some(&[]);
    }
    // SAFETY: `data` points to `len` bytes of the fetch response, which the message holds a
    // reference to until it is destroyed (after the borrow).
    Some(unsafe { std::slice::from_raw_parts(bytes.data.cast::<u8>(), len) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linked_librdkafka_is_the_release_whose_layout_is_mirrored() {
        // On failure: compare `rd_kafka_msg_t` in the new release's src/rdkafka_msg.h (and
        // `rd_kafkap_bytes_t`, `TAILQ_ENTRY`) with `PrivateMsg`, then update `LAYOUT_OF`.
        // Until then host-stream reads headers through the public API (slower, correct).
        assert!(
            layout_known(),
            "librdkafka {:#x}, layout of {LAYOUT_OF:#x}",
            // SAFETY: as in `layout_known`.
            unsafe { rdsys::rd_kafka_version() }
        );
    }

    #[test]
    fn the_mirror_puts_the_header_section_where_the_c_compiler_does() {
        // x86-64 (the platform checked by hand against rdkafka_msg.h): the public message is
        // 72 bytes; link 16, flags and tstype 8, timestamp 8, headers 8, status and broker id
        // 8: the union starts at 120.
        if cfg!(target_arch = "x86_64") {
            assert_eq!(size_of::<rdsys::rd_kafka_message_t>(), 72);
            assert_eq!(std::mem::offset_of!(PrivateMsg, rkm_u), 120);
            assert_eq!(std::mem::offset_of!(KafkapBytes, data), 8);
        }
    }
}
