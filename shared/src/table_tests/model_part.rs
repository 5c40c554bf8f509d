//! Test vectors for the pure rules on a hold part: what it does to its
//! document's units at a time (`occupancy`), the status a client sees
//! (`hold_status`), and the units it takes.

use super::{HoldStatus, Occupancy, Part, PartStatus};

const EXPIRES: u64 = 1_000_000;

fn part(status: PartStatus, primary_doc: Option<u32>, quantity: u32, seats: &[&str]) -> Part {
    let mut part = Part::new("n", status, EXPIRES, EXPIRES - 300_000);
    part.quantity = quantity;
    part.seats = seats.iter().map(|s| (*s).to_owned()).collect();
    part.primary_doc = primary_doc;
    part
}

#[test]
fn occupancy_and_hold_status() {
    use HoldStatus as S;
    use Occupancy as O;
    use PartStatus::{Confirmed, Expired, Held, Released};
    const PRIMARY: Option<u32> = None;
    const SECONDARY: Option<u32> = Some(0);
    /// Name, status, primary_doc, now, occupancy, client status.
    type Case = (
        &'static str,
        PartStatus,
        Option<u32>,
        u64,
        Occupancy,
        HoldStatus,
    );
    let cases: [Case; 24] = [
        // Held primary: held strictly before its expiry, then free/expired.
        ("held primary at 0", Held, PRIMARY, 0, O::Held, S::Held),
        (
            "held primary 1 ms before expiry",
            Held,
            PRIMARY,
            EXPIRES - 1,
            O::Held,
            S::Held,
        ),
        (
            "held primary at expiry",
            Held,
            PRIMARY,
            EXPIRES,
            O::Free,
            S::Expired,
        ),
        (
            "held primary 1 ms after expiry",
            Held,
            PRIMARY,
            EXPIRES + 1,
            O::Free,
            S::Expired,
        ),
        (
            "held primary at the end of time",
            Held,
            PRIMARY,
            u64::MAX,
            O::Free,
            S::Expired,
        ),
        // Held secondary: held, then unresolved (its primary decides).
        (
            "held secondary 1 ms before expiry",
            Held,
            SECONDARY,
            EXPIRES - 1,
            O::Held,
            S::Held,
        ),
        (
            "held secondary at expiry",
            Held,
            SECONDARY,
            EXPIRES,
            O::Unresolved,
            S::Expired,
        ),
        (
            "held secondary long after expiry",
            Held,
            SECONDARY,
            u64::MAX,
            O::Unresolved,
            S::Expired,
        ),
        // Confirmed: sold whatever the clock says.
        (
            "confirmed primary before expiry",
            Confirmed,
            PRIMARY,
            EXPIRES - 1,
            O::Sold,
            S::Confirmed,
        ),
        (
            "confirmed primary after expiry",
            Confirmed,
            PRIMARY,
            EXPIRES + 1,
            O::Sold,
            S::Confirmed,
        ),
        (
            "confirmed secondary before expiry",
            Confirmed,
            SECONDARY,
            0,
            O::Sold,
            S::Confirmed,
        ),
        (
            "confirmed secondary after expiry",
            Confirmed,
            SECONDARY,
            EXPIRES,
            O::Sold,
            S::Confirmed,
        ),
        // Released: free at once, before its expiry too.
        (
            "released primary before expiry",
            Released,
            PRIMARY,
            0,
            O::Free,
            S::Released,
        ),
        (
            "released primary after expiry",
            Released,
            PRIMARY,
            EXPIRES,
            O::Free,
            S::Released,
        ),
        (
            "released secondary before expiry",
            Released,
            SECONDARY,
            0,
            O::Free,
            S::Released,
        ),
        (
            "released secondary after expiry",
            Released,
            SECONDARY,
            EXPIRES,
            O::Free,
            S::Released,
        ),
        // Recorded expired: free, and stays expired even if the clock steps back.
        (
            "expired primary after expiry",
            Expired,
            PRIMARY,
            EXPIRES,
            O::Free,
            S::Expired,
        ),
        (
            "expired primary, clock stepped back",
            Expired,
            PRIMARY,
            0,
            O::Free,
            S::Expired,
        ),
        (
            "expired secondary after expiry",
            Expired,
            SECONDARY,
            EXPIRES,
            O::Free,
            S::Expired,
        ),
        (
            "expired secondary, clock stepped back",
            Expired,
            SECONDARY,
            0,
            O::Free,
            S::Expired,
        ),
        // Primary index 0 is a secondary marker, not "no primary".
        (
            "secondary of primary 0 at expiry",
            Held,
            Some(0),
            EXPIRES,
            O::Unresolved,
            S::Expired,
        ),
        (
            "secondary of primary u32::MAX at expiry",
            Held,
            Some(u32::MAX),
            EXPIRES,
            O::Unresolved,
            S::Expired,
        ),
        (
            "secondary of primary 7 before expiry",
            Held,
            Some(7),
            EXPIRES - 1,
            O::Held,
            S::Held,
        ),
        (
            "confirmed secondary of primary 7",
            Confirmed,
            Some(7),
            u64::MAX,
            O::Sold,
            S::Confirmed,
        ),
    ];
    for (name, status, primary_doc, now, occupancy, hold_status) in cases {
        let part = part(status, primary_doc, 1, &[]);
        assert_eq!(
            part.is_primary(),
            primary_doc.is_none(),
            "case {name:?}: is_primary"
        );
        assert_eq!(part.occupancy(now), occupancy, "case {name:?}: occupancy");
        assert_eq!(
            part.hold_status(now),
            hold_status,
            "case {name:?}: hold_status"
        );
    }
}

#[test]
fn expiry_at_zero() {
    // A part that expires at 0 is expired from the first millisecond.
    let mut primary = part(PartStatus::Held, None, 1, &[]);
    primary.expires_ms = 0;
    let mut secondary = primary.clone();
    secondary.primary_doc = Some(1);
    // (name, part, now, occupancy, client status)
    let cases = [
        (
            "primary expiring at 0, now 0",
            &primary,
            0,
            Occupancy::Free,
            HoldStatus::Expired,
        ),
        (
            "secondary expiring at 0, now 0",
            &secondary,
            0,
            Occupancy::Unresolved,
            HoldStatus::Expired,
        ),
    ];
    for (name, part, now, occupancy, status) in cases {
        assert_eq!(part.occupancy(now), occupancy, "case {name:?}");
        assert_eq!(part.hold_status(now), status, "case {name:?}");
    }
}

#[test]
fn units_of_a_part() {
    // (name, quantity, seats, hold_quantity, hold_seats, units, total_quantity, all_seats)
    type Case = (
        &'static str,
        u32,
        &'static [&'static str],
        Option<u32>,
        &'static [&'static str],
        u32,
        u32,
        &'static [&'static str],
    );
    const CASES: [Case; 7] = [
        ("no units", 0, &[], None, &[], 0, 0, &[]),
        ("one unit", 1, &[], None, &[], 1, 1, &[]),
        (
            "quantity of a general part",
            10,
            &[],
            None,
            &[],
            10,
            10,
            &[],
        ),
        (
            "one seat counts one unit",
            0,
            &["A1"],
            None,
            &[],
            1,
            0,
            &["A1"],
        ),
        (
            "seats count one each",
            0,
            &["A1", "A2", "A3"],
            None,
            &[],
            3,
            0,
            &["A1", "A2", "A3"],
        ),
        (
            "spread general primary: own share vs whole hold",
            4,
            &[],
            Some(10),
            &[],
            4,
            10,
            &[],
        ),
        (
            "spread seated primary: own seats vs all seats",
            0,
            &["A1"],
            None,
            &["A1", "B7"],
            1,
            0,
            &["A1", "B7"],
        ),
    ];
    for (name, quantity, seats, hold_quantity, hold_seats, units, total, all) in CASES {
        let mut part = part(PartStatus::Held, None, quantity, seats);
        part.hold_quantity = hold_quantity;
        part.hold_seats = hold_seats.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(part.units(), units, "case {name:?}: units");
        assert_eq!(
            part.total_quantity(),
            total,
            "case {name:?}: total_quantity"
        );
        let all: Vec<String> = all.iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(part.all_seats(), all.as_slice(), "case {name:?}: all_seats");
    }
}
