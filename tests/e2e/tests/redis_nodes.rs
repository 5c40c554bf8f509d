//! The app on three Redis primaries (`redis_address` lists three loopback servers, each
//! with `appendonly yes`, `appendfsync always`): events spread over the three by the
//! FNV-1a hash of their id, each event's keys only on its own primary, and holds and
//! confirms work on each. On the local runtime, or on real `spin up` when
//! `BOOKING_E2E_SPIN_BIN` names a Spin CLI. Runs with `BOOKING_E2E_STORE=redis` (scripts/test's Redis
//! leg); otherwise it prints one line saying it is skipped, and passes.

use std::collections::{BTreeMap, BTreeSet};

use booking_e2e::random_hex;
use booking_e2e::redis_nodes::{App, nodes, primary_of};

const PRIMARIES: usize = 3;
/// Events per primary: the ids are drawn until each primary has this many.
const EVENTS_PER_PRIMARY: usize = 2;

#[tokio::test]
async fn events_spread_over_three_primaries_each_on_one() {
    let Some(nodes) = nodes(
        "events_spread_over_three_primaries_each_on_one",
        PRIMARIES,
        &[],
    ) else {
        return;
    };
    let app = App::start(&nodes.iter().collect::<Vec<_>>(), &[]);
    let on = if app.is_spin() {
        "real Spin"
    } else {
        "the local runtime"
    };
    println!("three primaries, on {on}");

    // Draw ids until every primary should hold EVENTS_PER_PRIMARY events (by the test's
    // own copy of the hash), so the spread is certain, not likely.
    let mut expected: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    while expected.len() < PRIMARIES || expected.values().any(|ids| ids.len() < EVENTS_PER_PRIMARY)
    {
        let id = format!("n3-{}", random_hex());
        let primary = primary_of(&id, PRIMARIES);
        let ids = expected.entry(primary).or_default();
        if ids.len() < EVENTS_PER_PRIMARY {
            ids.insert(id);
        }
    }

    for id in expected.values().flatten() {
        assert_eq!(app.create_event(id, 5).await, 201, "creating {id}");
        let first = app.hold(id, 2, "c-1").await;
        assert_eq!(first.status, 201, "{first:?}");
        let second = app.hold(id, 3, "c-2").await;
        assert_eq!(second.status, 201, "{second:?}");
        let sold_out = app.hold(id, 1, "c-3").await;
        assert_eq!(sold_out.status, 409, "{sold_out:?}");
        let confirmed = app.confirm(&first.hold_id(), "pay-1").await;
        assert_eq!(confirmed.status, 200, "{confirmed:?}");
        assert_eq!(confirmed.body["status"], "confirmed", "{confirmed:?}");
        let status = app.get_hold(&first.hold_id()).await;
        assert_eq!(status.body["status"], "confirmed", "{status:?}");
        assert_eq!(
            app.floor(id).await,
            (3, 2, 0),
            "held, sold, available of {id}"
        );
    }

    // Each primary holds exactly its events' keys: every key of an event on one server.
    for (index, node) in nodes.iter().enumerate() {
        let events: BTreeSet<String> = node
            .keys("e/*")
            .iter()
            .filter_map(|key| key.strip_prefix("e/"))
            .map(|rest| rest.split('/').next().unwrap_or_default().to_owned())
            .collect();
        let want = expected.get(&index).cloned().unwrap_or_default();
        assert_eq!(events, want, "the events with keys on primary {index}");
    }
    // And each event has its full set of documents there (creation register, meta, …).
    for (index, ids) in &expected {
        for id in ids {
            let keys = nodes[*index].keys(&format!("e/{id}*"));
            assert!(
                keys.contains(&format!("e/{id}/gen")) && keys.contains(&format!("e/{id}")),
                "keys of {id} on primary {index}: {keys:?}"
            );
        }
    }
}
