//! Every stored document type decoded from arbitrary bytes, as the core
//! decodes what it reads from the store; what decodes is put through the
//! pure rules on it (capacity, room, occupancy, summary and customer
//! counts). Properties: no panic, no overflow; a decoded document encodes
//! and decodes back to itself; room never exceeds capacity.
#![no_main]

use booking_core::model::{
    CustomerDoc, EventDoc, EventMeta, InventoryDoc, LedgerPage, Register, SectionSummary,
};
use libfuzzer_sys::fuzz_target;
use serde::Serialize;
use serde::de::DeserializeOwned;

const NOW_MS: [u64; 3] = [0, 1_800_000_000_000, u64::MAX];

fuzz_target!(|data: &[u8]| {
    if let Some(register) = Register::decode(data) {
        assert_eq!(Register::decode(&register.encode()), Some(register));
    }
    if let Some(doc) = round_trip::<InventoryDoc>(data) {
        for now_ms in NOW_MS {
            assert!(doc.room(now_ms) <= doc.capacity());
            let _ = (doc.full_until(now_ms), doc.unresolved_units(now_ms));
            for part in &doc.parts {
                let _ = (part.occupancy(now_ms), part.hold_status(now_ms));
                let _ = (part.units(), part.total_quantity(), part.all_seats());
            }
        }
    }
    if let Some(page) = round_trip::<LedgerPage>(data) {
        for part in &page.parts {
            let _ = (part.units(), part.total_quantity());
        }
    }
    if let Some(summary) = round_trip::<SectionSummary>(data) {
        for doc in 0..summary.shards.len() + 1 {
            let _ = summary.may_have_room(doc, NOW_MS[1]);
        }
    }
    if let Some(doc) = round_trip::<CustomerDoc>(data) {
        for entry in doc.customers.values() {
            let _ = entry.units();
        }
    }
    if let Some(meta) = round_trip::<EventMeta>(data) {
        let _ = meta.section_index("floor");
    }
    let _ = round_trip::<EventDoc>(data);
});

/// The document `data` decodes to, after checking that it encodes and
/// decodes back to itself.
fn round_trip<D: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(
    data: &[u8],
) -> Option<D> {
    let doc: D = serde_json::from_slice(data).ok()?;
    let encoded = serde_json::to_vec(&doc).ok()?;
    let again: D = match serde_json::from_slice(&encoded) {
        Ok(again) => again,
        Err(error) => panic!("a decoded document does not decode once encoded: {error}"),
    };
    assert_eq!(again, doc, "a document changed through encode and decode");
    Some(doc)
}
