//! Test vectors for the hold parse step: request body → `HoldRequest`, or
//! the problem status and slug it is refused with.

use super::parse;
use crate::error::{BookingError, PROBLEM_TYPE_PREFIX};
use crate::limits::{HOLD_UNITS_MAX, ID_LENGTH_MAX};
use crate::model::{EventMeta, SectionKind, SectionLayout};
use crate::placement::{Amount, HoldRequest};

/// Section 0 `ga` is general admission, section 1 `floor` has seats.
fn meta() -> EventMeta {
    let section = |id: &str, kind, capacity, docs| SectionLayout {
        id: id.to_owned(),
        kind,
        capacity,
        docs,
    };
    EventMeta {
        event_id: "gala".to_owned(),
        generation: 1,
        fingerprint: 0,
        hold_ttl_seconds: 300,
        max_per_customer: None,
        sections: vec![
            section("ga", SectionKind::General, 100, 2),
            section("floor", SectionKind::Seated, 40, 1),
        ],
        feed_pages: false,
    }
}

#[derive(Debug)]
enum Expect {
    /// Section index, units, customer.
    Units(usize, u32, Option<String>),
    /// Section index, seats in request order, customer.
    Seats(usize, &'static [&'static str], Option<String>),
    /// Status and problem slug.
    Refused(u16, &'static str),
}

fn slug(error: &BookingError) -> String {
    let body = error.body();
    let kind = body["type"].as_str().unwrap_or_default();
    kind.strip_prefix(PROBLEM_TYPE_PREFIX)
        .unwrap_or(kind)
        .to_owned()
}

fn expected(expect: &Expect) -> Result<HoldRequest, (u16, String)> {
    match expect {
        Expect::Units(section, units, customer_id) => Ok(HoldRequest {
            section: *section,
            amount: Amount::Units(*units),
            customer_id: customer_id.clone(),
        }),
        Expect::Seats(section, seats, customer_id) => Ok(HoldRequest {
            section: *section,
            amount: Amount::Seats(seats.iter().map(|s| (*s).to_owned()).collect()),
            customer_id: customer_id.clone(),
        }),
        Expect::Refused(status, slug) => Err((*status, (*slug).to_owned())),
    }
}

#[test]
fn hold_bodies() {
    use Expect::{Refused, Seats, Units};
    let max = HOLD_UNITS_MAX;
    let long_id = "c".repeat(ID_LENGTH_MAX);
    let too_long_id = "c".repeat(ID_LENGTH_MAX + 1);
    let seats = |n: u32| {
        let list: Vec<String> = (1..=n).map(|i| format!("\"S{i}\"")).collect();
        format!(r#"{{"section":"floor","seats":[{}]}}"#, list.join(","))
    };
    let ten_seats: &[&str] = &["S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10"];
    assert_eq!(ten_seats.len(), max as usize);
    let cases: Vec<(&str, String, Expect)> = vec![
        // General admission: quantity 1..=HOLD_UNITS_MAX.
        (
            "ga quantity 1 (min)",
            r#"{"section":"ga","quantity":1}"#.into(),
            Units(0, 1, None),
        ),
        (
            "ga quantity max",
            format!(r#"{{"section":"ga","quantity":{max}}}"#),
            Units(0, max, None),
        ),
        (
            "ga quantity 0",
            r#"{"section":"ga","quantity":0}"#.into(),
            Refused(422, "quantity-out-of-range"),
        ),
        (
            "ga quantity max+1",
            format!(r#"{{"section":"ga","quantity":{}}}"#, max + 1),
            Refused(422, "quantity-out-of-range"),
        ),
        (
            "ga quantity negative",
            r#"{"section":"ga","quantity":-1}"#.into(),
            Refused(422, "quantity-out-of-range"),
        ),
        (
            "ga quantity fractional",
            r#"{"section":"ga","quantity":1.5}"#.into(),
            Refused(422, "quantity-out-of-range"),
        ),
        (
            "ga quantity 2.0 is not an integer",
            r#"{"section":"ga","quantity":2.0}"#.into(),
            Refused(422, "quantity-out-of-range"),
        ),
        (
            "ga quantity as a string",
            r#"{"section":"ga","quantity":"2"}"#.into(),
            Refused(422, "quantity-out-of-range"),
        ),
        (
            "ga quantity past u32",
            r#"{"section":"ga","quantity":4294967297}"#.into(),
            Refused(422, "quantity-out-of-range"),
        ),
        (
            "ga quantity null reads as absent",
            r#"{"section":"ga","quantity":null}"#.into(),
            Refused(422, "wrong-section-kind"),
        ),
        (
            "ga neither quantity nor seats",
            r#"{"section":"ga"}"#.into(),
            Refused(422, "wrong-section-kind"),
        ),
        (
            "ga with seats",
            r#"{"section":"ga","seats":["S1"]}"#.into(),
            Refused(422, "wrong-section-kind"),
        ),
        (
            "ga with quantity and seats",
            r#"{"section":"ga","quantity":1,"seats":["S1"]}"#.into(),
            Refused(422, "wrong-section-kind"),
        ),
        // Seated: 1..=HOLD_UNITS_MAX distinct seats, kept in request order.
        (
            "seated one seat",
            r#"{"section":"floor","seats":["S1"]}"#.into(),
            Seats(1, &["S1"], None),
        ),
        (
            "seated keeps request order",
            r#"{"section":"floor","seats":["S9","S1"]}"#.into(),
            Seats(1, &["S9", "S1"], None),
        ),
        ("seated max seats", seats(max), Seats(1, ten_seats, None)),
        (
            "seated max+1 seats",
            seats(max + 1),
            Refused(422, "quantity-out-of-range"),
        ),
        (
            "seated empty seat list",
            r#"{"section":"floor","seats":[]}"#.into(),
            Refused(422, "quantity-out-of-range"),
        ),
        (
            "seated duplicate seat",
            r#"{"section":"floor","seats":["S1","S2","S1"]}"#.into(),
            Refused(422, "duplicate-seats"),
        ),
        (
            "seated with quantity",
            r#"{"section":"floor","quantity":1}"#.into(),
            Refused(422, "wrong-section-kind"),
        ),
        (
            "seated with neither",
            r#"{"section":"floor"}"#.into(),
            Refused(422, "wrong-section-kind"),
        ),
        (
            "seated seat not in the section passes parse (placement refuses it)",
            r#"{"section":"floor","seats":["Z99"]}"#.into(),
            Seats(1, &["Z99"], None),
        ),
        (
            "seated invalid seat id",
            r#"{"section":"floor","seats":["S 1"]}"#.into(),
            Refused(400, "bad-request"),
        ),
        (
            "invalid seat id is a 400 even in a ga section",
            r#"{"section":"ga","quantity":1,"seats":["/x"]}"#.into(),
            Refused(400, "bad-request"),
        ),
        (
            "seats null reads as absent",
            r#"{"section":"floor","seats":null}"#.into(),
            Refused(422, "wrong-section-kind"),
        ),
        // Customer ids follow the id rule.
        (
            "customer id",
            r#"{"section":"ga","quantity":2,"customer_id":"alice"}"#.into(),
            Units(0, 2, Some("alice".into())),
        ),
        (
            "customer id of max length",
            format!(r#"{{"section":"ga","quantity":1,"customer_id":"{long_id}"}}"#),
            Units(0, 1, Some(long_id.clone())),
        ),
        (
            "customer id of max+1 length",
            format!(r#"{{"section":"ga","quantity":1,"customer_id":"{too_long_id}"}}"#),
            Refused(400, "bad-request"),
        ),
        (
            "customer id empty",
            r#"{"section":"ga","quantity":1,"customer_id":""}"#.into(),
            Refused(400, "bad-request"),
        ),
        (
            "customer id with a space",
            r#"{"section":"ga","quantity":1,"customer_id":"a b"}"#.into(),
            Refused(400, "bad-request"),
        ),
        (
            "customer id checked before the section kind",
            r#"{"section":"floor","quantity":1,"customer_id":"-x"}"#.into(),
            Refused(400, "bad-request"),
        ),
        (
            "customer id on seats",
            r#"{"section":"floor","seats":["S3"],"customer_id":"bob"}"#.into(),
            Seats(1, &["S3"], Some("bob".into())),
        ),
        // Sections.
        (
            "unknown section",
            r#"{"section":"balcony","quantity":1}"#.into(),
            Refused(422, "unknown-section"),
        ),
        (
            "section ids are case-sensitive",
            r#"{"section":"GA","quantity":1}"#.into(),
            Refused(422, "unknown-section"),
        ),
        (
            "invalid section id",
            r#"{"section":"g a","quantity":1}"#.into(),
            Refused(400, "bad-request"),
        ),
        (
            "empty section id",
            r#"{"section":"","quantity":1}"#.into(),
            Refused(400, "bad-request"),
        ),
        (
            "section id of max+1 length",
            format!(r#"{{"section":"{too_long_id}","quantity":1}}"#),
            Refused(400, "bad-request"),
        ),
        (
            "missing section",
            r#"{"quantity":1}"#.into(),
            Refused(400, "bad-request"),
        ),
        // Malformed bodies.
        ("empty body", String::new(), Refused(400, "bad-request")),
        ("not JSON", "quantity=1".into(), Refused(400, "bad-request")),
        (
            "truncated JSON",
            r#"{"section":"ga","quantity":1"#.into(),
            Refused(400, "bad-request"),
        ),
        ("JSON array", "[]".into(), Refused(400, "bad-request")),
        ("JSON null", "null".into(), Refused(400, "bad-request")),
        // Unknown fields are ignored (forward compatibility).
        (
            "unknown field",
            r#"{"section":"ga","quantity":1,"price":5}"#.into(),
            Units(0, 1, None),
        ),
        (
            "section not a string",
            r#"{"section":0,"quantity":1}"#.into(),
            Refused(400, "bad-request"),
        ),
        (
            "seats not a list",
            r#"{"section":"floor","seats":"S1"}"#.into(),
            Refused(400, "bad-request"),
        ),
        (
            "trailing garbage",
            r#"{"section":"ga","quantity":1} x"#.into(),
            Refused(400, "bad-request"),
        ),
    ];
    let meta = meta();
    for (name, body, expect) in &cases {
        let expect = expected(expect);
        let actual = parse(&meta, body.as_bytes()).map_err(|e| (e.status(), slug(&e)));
        assert_eq!(actual, expect, "case {name:?}: body {body}");
    }
}
