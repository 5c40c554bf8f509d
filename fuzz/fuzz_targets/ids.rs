//! Pure parsers a client reaches before any store call: the route of a
//! path (with its percent-decoded ids), a hold id, and the CORS origin
//! rule. Properties: no panic; a hold id that parses has exactly one
//! spelling (it prints back as sent) and stays within its length limit;
//! an echoed origin is one the configuration lists.
#![no_main]

use booking_core::limits::HOLD_ID_LENGTH_MAX;
use booking_core::{HoldRef, Route, allowed_origin};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    let _ = Route::component(data);
    if let Route::Hold(id) | Route::Confirm(id) | Route::Release(id) = Route::parse(data) {
        check_hold_id(&id);
    }
    check_hold_id(data);
    let (configured, origin) = data.split_once('\n').unwrap_or((data, ""));
    if let Some(allowed) = allowed_origin(configured, Some(origin)) {
        let listed = configured
            .split([',', ' '])
            .any(|o| o.trim().eq_ignore_ascii_case(allowed.trim()));
        assert!(
            allowed == "*" || listed && allowed == origin.trim(),
            "origin {origin:?} allowed as {allowed:?} by {configured:?}"
        );
    }
});

fn check_hold_id(id: &str) {
    let Some(hold) = HoldRef::parse(id) else {
        return;
    };
    assert_eq!(hold.id(), id, "a hold id with two spellings");
    assert!(id.len() <= HOLD_ID_LENGTH_MAX);
    assert!(!hold.booking_id().is_empty());
}
