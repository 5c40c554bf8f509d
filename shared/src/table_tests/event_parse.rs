//! Test vectors for the event parse step: definition body → normalised
//! definition (defaults filled in), or the problem status and slug.

use super::parse;
use crate::error::{BookingError, PROBLEM_TYPE_PREFIX};
use crate::limits::*;
use crate::model::{EventDefinition, SectionDefinition};
use serde_json::{Value, json};

const EVENT: &str = "gala";
const TTL_DEFAULT: u32 = 300;

fn slug(error: &BookingError) -> String {
    let body = error.body();
    let kind = body["type"].as_str().unwrap_or_default();
    kind.strip_prefix(PROBLEM_TYPE_PREFIX)
        .unwrap_or(kind)
        .to_owned()
}

fn ga(id: &str, capacity: u32, shards: u32) -> SectionDefinition {
    SectionDefinition {
        id: id.to_owned(),
        capacity: Some(capacity),
        shards: Some(shards),
        seats: None,
    }
}

fn seated(id: &str, seats: Vec<String>) -> SectionDefinition {
    SectionDefinition {
        id: id.to_owned(),
        capacity: None,
        shards: None,
        seats: Some(seats),
    }
}

fn event(
    name: &str,
    ttl: u32,
    max_per_customer: Option<u32>,
    sections: Vec<SectionDefinition>,
) -> EventDefinition {
    EventDefinition {
        event_id: EVENT.to_owned(),
        name: name.to_owned(),
        hold_ttl_seconds: ttl,
        max_per_customer,
        sections,
    }
}

/// A one-section body with the given section.
fn body_with(section: Value) -> Vec<u8> {
    json!({"name": "Gala", "sections": [section]})
        .to_string()
        .into_bytes()
}

/// A body with the given top-level fields merged over a valid minimal one.
fn body_over(fields: Value) -> Vec<u8> {
    let mut body = json!({"name": "Gala", "sections": [{"id": "ga", "capacity": 10}]});
    if let (Some(body), Some(fields)) = (body.as_object_mut(), fields.as_object()) {
        for (key, value) in fields {
            body.insert(key.clone(), value.clone());
        }
    }
    body.to_string().into_bytes()
}

fn seat_ids(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("S{i}")).collect()
}

type Outcome = Result<EventDefinition, (u16, String)>;

fn refused(status: u16, slug: &str) -> Outcome {
    Err((status, slug.to_owned()))
}

fn minimal(sections: Vec<SectionDefinition>) -> Outcome {
    Ok(event("Gala", TTL_DEFAULT, None, sections))
}

#[test]
fn event_definitions() {
    let invalid = || refused(422, "invalid-event");
    let bad = || refused(400, "bad-request");
    let name_max = "n".repeat(EVENT_NAME_LENGTH_MAX);
    let name_max_wide = "é".repeat(EVENT_NAME_LENGTH_MAX);
    let name_over = "n".repeat(EVENT_NAME_LENGTH_MAX + 1);
    let sections_of = |n: usize| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"id": format!("s{i}"), "capacity": 1}))
            .collect()
    };
    let big = SECTION_CAPACITY_MAX;
    // (name, body, ttl default, expected)
    let cases: Vec<(&str, Vec<u8>, u32, Outcome)> = vec![
        // Capacity and the default shard count.
        (
            "capacity 0",
            body_with(json!({"id": "ga", "capacity": 0})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "capacity 1 (min) gets one shard",
            body_with(json!({"id": "ga", "capacity": 1})),
            TTL_DEFAULT,
            minimal(vec![ga("ga", 1, 1)]),
        ),
        (
            "capacity of one shard target gets one shard",
            body_with(json!({"id": "ga", "capacity": SHARD_UNITS_TARGET})),
            TTL_DEFAULT,
            minimal(vec![ga("ga", SHARD_UNITS_TARGET, 1)]),
        ),
        (
            "one unit past the shard target gets two shards",
            body_with(json!({"id": "ga", "capacity": SHARD_UNITS_TARGET + 1})),
            TTL_DEFAULT,
            minimal(vec![ga("ga", SHARD_UNITS_TARGET + 1, 2)]),
        ),
        (
            "default shards stop at SHARDS_DEFAULT_MAX",
            body_with(json!({"id": "ga", "capacity": 10_000})),
            TTL_DEFAULT,
            minimal(vec![ga("ga", 10_000, SHARDS_DEFAULT_MAX)]),
        ),
        (
            "default shards rise past SHARDS_DEFAULT_MAX to keep shards <= SHARD_UNITS_MAX",
            body_with(json!({"id": "ga", "capacity": 16_001})),
            TTL_DEFAULT,
            minimal(vec![ga("ga", 16_001, 17)]),
        ),
        (
            "capacity max",
            body_with(json!({"id": "ga", "capacity": big})),
            TTL_DEFAULT,
            minimal(vec![ga("ga", big, big / SHARD_UNITS_MAX)]),
        ),
        (
            "capacity max+1",
            body_with(json!({"id": "ga", "capacity": big + 1})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "capacity negative",
            body_with(json!({"id": "ga", "capacity": -1})),
            TTL_DEFAULT,
            bad(),
        ),
        (
            "capacity past u32",
            body_with(json!({"id": "ga", "capacity": 4_294_967_296_u64})),
            TTL_DEFAULT,
            bad(),
        ),
        (
            "capacity as a string",
            body_with(json!({"id": "ga", "capacity": "10"})),
            TTL_DEFAULT,
            bad(),
        ),
        // Explicit shards: capacity/SHARD_UNITS_MAX ..= min(capacity, SHARDS_PER_SECTION_MAX).
        (
            "shards 0",
            body_with(json!({"id": "ga", "capacity": 10, "shards": 0})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "shards equal to capacity",
            body_with(json!({"id": "ga", "capacity": 10, "shards": 10})),
            TTL_DEFAULT,
            minimal(vec![ga("ga", 10, 10)]),
        ),
        (
            "shards above capacity",
            body_with(json!({"id": "ga", "capacity": 10, "shards": 11})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "shards too few for SHARD_UNITS_MAX",
            body_with(json!({"id": "ga", "capacity": 2 * SHARD_UNITS_MAX + 1, "shards": 2})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "shards just enough for SHARD_UNITS_MAX",
            body_with(json!({"id": "ga", "capacity": 2 * SHARD_UNITS_MAX + 1, "shards": 3})),
            TTL_DEFAULT,
            minimal(vec![ga("ga", 2 * SHARD_UNITS_MAX + 1, 3)]),
        ),
        (
            "shards max",
            body_with(json!({"id": "ga", "capacity": 5_000, "shards": SHARDS_PER_SECTION_MAX})),
            TTL_DEFAULT,
            minimal(vec![ga("ga", 5_000, SHARDS_PER_SECTION_MAX)]),
        ),
        (
            "shards max+1",
            body_with(json!({"id": "ga", "capacity": 5_000, "shards": SHARDS_PER_SECTION_MAX + 1})),
            TTL_DEFAULT,
            invalid(),
        ),
        // Seats.
        (
            "one seat",
            body_with(json!({"id": "floor", "seats": ["A1"]})),
            TTL_DEFAULT,
            minimal(vec![seated("floor", vec!["A1".into()])]),
        ),
        (
            "seats max",
            body_with(json!({"id": "floor", "seats": seat_ids(SECTION_SEATS_MAX)})),
            TTL_DEFAULT,
            minimal(vec![seated("floor", seat_ids(SECTION_SEATS_MAX))]),
        ),
        (
            "seats max+1",
            body_with(json!({"id": "floor", "seats": seat_ids(SECTION_SEATS_MAX + 1)})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "no seats",
            body_with(json!({"id": "floor", "seats": []})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "duplicate seat",
            body_with(json!({"id": "floor", "seats": ["A1", "A2", "A1"]})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "invalid seat id",
            body_with(json!({"id": "floor", "seats": ["A1", "A 2"]})),
            TTL_DEFAULT,
            bad(),
        ),
        (
            "seats with shards",
            body_with(json!({"id": "floor", "seats": ["A1"], "shards": 1})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "capacity and seats",
            body_with(json!({"id": "floor", "capacity": 1, "seats": ["A1"]})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "neither capacity nor seats",
            body_with(json!({"id": "floor"})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "seat order is kept",
            body_with(json!({"id": "floor", "seats": ["B2", "A1"]})),
            TTL_DEFAULT,
            minimal(vec![seated("floor", vec!["B2".into(), "A1".into()])]),
        ),
        // Sections.
        (
            "no sections",
            json!({"name": "Gala", "sections": []})
                .to_string()
                .into_bytes(),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "sections max",
            json!({"name": "Gala", "sections": sections_of(SECTIONS_PER_EVENT_MAX)})
                .to_string()
                .into_bytes(),
            TTL_DEFAULT,
            minimal(
                (0..SECTIONS_PER_EVENT_MAX)
                    .map(|i| ga(&format!("s{i}"), 1, 1))
                    .collect(),
            ),
        ),
        (
            "sections max+1",
            json!({"name": "Gala", "sections": sections_of(SECTIONS_PER_EVENT_MAX + 1)})
                .to_string()
                .into_bytes(),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "duplicate section id",
            json!({"name": "Gala", "sections": [
                {"id": "ga", "capacity": 1}, {"id": "ga", "seats": ["A1"]}
            ]})
            .to_string()
            .into_bytes(),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "invalid section id",
            body_with(json!({"id": "g/a", "capacity": 1})),
            TTL_DEFAULT,
            bad(),
        ),
        (
            "section id of max length",
            body_with(json!({"id": "s".repeat(ID_LENGTH_MAX), "capacity": 1})),
            TTL_DEFAULT,
            minimal(vec![ga(&"s".repeat(ID_LENGTH_MAX), 1, 1)]),
        ),
        (
            "section id of max+1 length",
            body_with(json!({"id": "s".repeat(ID_LENGTH_MAX + 1), "capacity": 1})),
            TTL_DEFAULT,
            bad(),
        ),
        (
            "section order is kept",
            json!({"name": "Gala", "sections": [
                {"id": "z", "capacity": 2}, {"id": "a", "seats": ["A1"]}
            ]})
            .to_string()
            .into_bytes(),
            TTL_DEFAULT,
            minimal(vec![ga("z", 2, 1), seated("a", vec!["A1".into()])]),
        ),
        // Inventory documents per event: at most EVENT_DOCUMENTS_MAX.
        (
            "documents exactly max",
            json!({"name": "Gala", "sections": [
                {"id": "a", "capacity": 1000, "shards": 1000},
                {"id": "b", "capacity": 1000, "shards": 1000},
                {"id": "c", "capacity": 1000, "shards": 1000},
                {"id": "d", "capacity": 1000, "shards": 1000},
                {"id": "e", "capacity": 96, "shards": 96},
            ]})
            .to_string()
            .into_bytes(),
            TTL_DEFAULT,
            minimal(vec![
                ga("a", 1000, 1000),
                ga("b", 1000, 1000),
                ga("c", 1000, 1000),
                ga("d", 1000, 1000),
                ga("e", 96, 96),
            ]),
        ),
        (
            "documents max+1",
            json!({"name": "Gala", "sections": [
                {"id": "a", "capacity": 1000, "shards": 1000},
                {"id": "b", "capacity": 1000, "shards": 1000},
                {"id": "c", "capacity": 1000, "shards": 1000},
                {"id": "d", "capacity": 1000, "shards": 1000},
                {"id": "e", "capacity": 97, "shards": 97},
            ]})
            .to_string()
            .into_bytes(),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "seat blocks count as documents",
            json!({"name": "Gala", "sections": [
                {"id": "a", "capacity": 1000, "shards": 1000},
                {"id": "b", "capacity": 1000, "shards": 1000},
                {"id": "c", "capacity": 1000, "shards": 1000},
                {"id": "d", "capacity": 1000, "shards": 1000},
                // 96 blocks of 64 seats: 4096 documents.
                {"id": "e", "seats": seat_ids(96 * SEAT_BLOCK_SEATS_TARGET)},
                {"id": "f", "capacity": 1},
            ]})
            .to_string()
            .into_bytes(),
            TTL_DEFAULT,
            invalid(),
        ),
        // Name.
        (
            "name of max length",
            body_over(json!({"name": name_max})),
            TTL_DEFAULT,
            Ok(event(&name_max, TTL_DEFAULT, None, vec![ga("ga", 10, 1)])),
        ),
        (
            "name of max length counts characters, not bytes",
            body_over(json!({"name": name_max_wide})),
            TTL_DEFAULT,
            Ok(event(
                &name_max_wide,
                TTL_DEFAULT,
                None,
                vec![ga("ga", 10, 1)],
            )),
        ),
        (
            "name of max+1 length",
            body_over(json!({"name": name_over})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "empty name",
            body_over(json!({"name": ""})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "blank name",
            body_over(json!({"name": " \t "})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "name with a newline",
            body_over(json!({"name": "Gala\nNight"})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "name with a right-to-left override",
            body_over(json!({"name": "Gala\u{202E}thgiN"})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "name with a zero-width space",
            body_over(json!({"name": "Ga\u{200B}la"})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "name with a byte-order mark",
            body_over(json!({"name": "\u{FEFF}Gala"})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "name in Arabic script is fine",
            body_over(json!({"name": "حفلة"})),
            TTL_DEFAULT,
            Ok(event("حفلة", TTL_DEFAULT, None, vec![ga("ga", 10, 1)])),
        ),
        (
            "name is stored untrimmed",
            body_over(json!({"name": " Gala "})),
            TTL_DEFAULT,
            Ok(event(" Gala ", TTL_DEFAULT, None, vec![ga("ga", 10, 1)])),
        ),
        (
            "missing name",
            json!({"sections": [{"id": "ga", "capacity": 10}]})
                .to_string()
                .into_bytes(),
            TTL_DEFAULT,
            bad(),
        ),
        // Hold lifetime: HOLD_TTL_SECONDS_MIN..=HOLD_TTL_SECONDS_MAX.
        (
            "ttl absent takes the default given",
            body_over(json!({})),
            600,
            Ok(event("Gala", 600, None, vec![ga("ga", 10, 1)])),
        ),
        (
            "ttl 0",
            body_over(json!({"hold_ttl_seconds": 0})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "ttl min",
            body_over(json!({"hold_ttl_seconds": HOLD_TTL_SECONDS_MIN})),
            TTL_DEFAULT,
            Ok(event(
                "Gala",
                HOLD_TTL_SECONDS_MIN,
                None,
                vec![ga("ga", 10, 1)],
            )),
        ),
        (
            "ttl max",
            body_over(json!({"hold_ttl_seconds": HOLD_TTL_SECONDS_MAX})),
            TTL_DEFAULT,
            Ok(event(
                "Gala",
                HOLD_TTL_SECONDS_MAX,
                None,
                vec![ga("ga", 10, 1)],
            )),
        ),
        (
            "ttl max+1",
            body_over(json!({"hold_ttl_seconds": HOLD_TTL_SECONDS_MAX + 1})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "explicit ttl wins over the default",
            body_over(json!({"hold_ttl_seconds": 60})),
            0,
            Ok(event("Gala", 60, None, vec![ga("ga", 10, 1)])),
        ),
        (
            "ttl absent and the default out of range",
            body_over(json!({})),
            0,
            invalid(),
        ),
        (
            "ttl negative",
            body_over(json!({"hold_ttl_seconds": -5})),
            TTL_DEFAULT,
            bad(),
        ),
        // Per-customer limit: 1..=CUSTOMER_UNITS_MAX.
        (
            "max_per_customer 0",
            body_over(json!({"max_per_customer": 0})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "max_per_customer 1",
            body_over(json!({"max_per_customer": 1})),
            TTL_DEFAULT,
            Ok(event("Gala", TTL_DEFAULT, Some(1), vec![ga("ga", 10, 1)])),
        ),
        (
            "max_per_customer max",
            body_over(json!({"max_per_customer": CUSTOMER_UNITS_MAX})),
            TTL_DEFAULT,
            Ok(event(
                "Gala",
                TTL_DEFAULT,
                Some(CUSTOMER_UNITS_MAX),
                vec![ga("ga", 10, 1)],
            )),
        ),
        (
            "max_per_customer max+1",
            body_over(json!({"max_per_customer": CUSTOMER_UNITS_MAX + 1})),
            TTL_DEFAULT,
            invalid(),
        ),
        (
            "max_per_customer null is no limit",
            body_over(json!({"max_per_customer": null})),
            TTL_DEFAULT,
            Ok(event("Gala", TTL_DEFAULT, None, vec![ga("ga", 10, 1)])),
        ),
        // Malformed bodies.
        ("empty body", Vec::new(), TTL_DEFAULT, bad()),
        ("not JSON", b"name=Gala".to_vec(), TTL_DEFAULT, bad()),
        ("JSON array", b"[]".to_vec(), TTL_DEFAULT, bad()),
        // Unknown fields are ignored (forward compatibility).
        (
            "unknown top-level field",
            body_over(json!({"venue": "hall"})),
            TTL_DEFAULT,
            Ok(event("Gala", TTL_DEFAULT, None, vec![ga("ga", 10, 1)])),
        ),
        (
            "unknown section field",
            body_with(json!({"id": "ga", "capacity": 1, "price": 5})),
            TTL_DEFAULT,
            Ok(event("Gala", TTL_DEFAULT, None, vec![ga("ga", 1, 1)])),
        ),
        (
            "missing sections",
            json!({"name": "Gala"}).to_string().into_bytes(),
            TTL_DEFAULT,
            bad(),
        ),
        (
            "sections not a list",
            json!({"name": "Gala", "sections": {"id": "ga"}})
                .to_string()
                .into_bytes(),
            TTL_DEFAULT,
            bad(),
        ),
    ];
    for (name, body, ttl_default, expect) in &cases {
        let actual = parse(EVENT, body, *ttl_default).map_err(|e| (e.status(), slug(&e)));
        assert_eq!(&actual, expect, "case {name:?}");
    }
}
