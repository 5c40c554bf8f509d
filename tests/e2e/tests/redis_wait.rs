//! `redis_wait_replicas`: a primary and one replica (`redis-server --replicaof`) on
//! loopback. With `redis_wait_replicas=1` every write waits for the replica, and what the
//! app acknowledged is on the replica; with `2` (more replicas than there are) a write
//! answers 503 with `Retry-After` after `WAIT`'s timeout, although it landed on the
//! primary, and a retry with the same `Idempotency-Key` finds it (one hold, not two). Also
//! prints the cost of `WAIT`: sequential holds with and without it.
//!
//! Runs with `BOOKING_E2E_STORE=redis` (scripts/test's Redis leg); otherwise it prints one
//! line saying it is skipped, and passes.

use std::time::{Duration, Instant};

use booking_e2e::random_hex;
use booking_e2e::redis_nodes::{App, RedisNode, Resp, nodes};

/// Sequential holds timed with and without `WAIT`.
const TIMED_HOLDS: usize = 300;

fn info_field(node: &RedisNode, field: &str) -> Option<String> {
    let Ok(Resp::Bulk(info)) = node.command(&["INFO", "replication"]) else {
        return None;
    };
    String::from_utf8_lossy(&info)
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")).map(str::to_owned))
}

async fn timed_holds(app: &App, id: &str) -> Vec<Duration> {
    let mut times = Vec::new();
    for buyer in 0..TIMED_HOLDS {
        let started = Instant::now();
        let hold = app.hold(id, 1, &format!("t-{buyer}")).await;
        times.push(started.elapsed());
        assert_eq!(hold.status, 201, "{hold:?}");
    }
    times.sort();
    times
}

#[tokio::test]
async fn wait_replicas_holds_writes_until_the_replica_has_them() {
    const TEST: &str = "wait_replicas_holds_writes_until_the_replica_has_them";
    let Some(mut primaries) = nodes(TEST, 1, &[]) else {
        return;
    };
    let primary = primaries.pop().expect("a primary");
    let port = primary.port().to_string();
    let replica = RedisNode::start(&["--replicaof", "127.0.0.1", &port])
        .unwrap_or_else(|error| panic!("{error}"))
        .expect("redis-server");
    let mut waited = 0;
    while info_field(&replica, "master_link_status").as_deref() != Some("up")
        || info_field(&primary, "connected_slaves").as_deref() != Some("1")
    {
        waited += 1;
        assert!(waited < 1000, "the replica never connected");
        std::thread::sleep(Duration::from_millis(20));
    }

    let waiting = App::start(&[&primary], &[("redis_wait_replicas", "1")]);
    let id = format!("w-{}", random_hex());
    assert_eq!(waiting.create_event(&id, 1000).await, 201);
    let hold = waiting.hold(&id, 2, "c-1").await;
    assert_eq!(hold.status, 201, "{hold:?}");
    let confirm = waiting.confirm(&hold.hold_id(), "pay-1").await;
    assert_eq!(confirm.status, 200, "{confirm:?}");
    // Acknowledged, so on the replica: the same documents as on the primary.
    let keys = primary.keys(&format!("e/{id}*"));
    assert!(!keys.is_empty());
    for key in &keys {
        assert_eq!(
            replica.command(&["GET", key]),
            primary.command(&["GET", key]),
            "{key} on the replica"
        );
    }

    // Two replicas asked for, one there: WAIT times out, the hold answers 503.
    let too_many = App::start(&[&primary], &[("redis_wait_replicas", "2")]);
    let key = format!("wait-{}", random_hex());
    let refused = too_many.hold_keyed(&id, 3, "c-2", &key).await;
    assert!(refused.is_unavailable(), "{refused:?}");
    assert!(
        refused.elapsed < Duration::from_secs(15),
        "answered after {:?}",
        refused.elapsed
    );
    // It landed on the primary all the same, and the retry finds it: one hold of 3.
    let retried = waiting.hold_keyed(&id, 3, "c-2", &key).await;
    assert_eq!(retried.status, 201, "{retried:?}");
    assert_eq!(
        waiting.floor(&id).await,
        (3, 2, 995),
        "held, sold, available"
    );

    // The cost of WAIT: sequential holds, one replica on loopback, appendfsync always.
    let plain = App::start(&[&primary], &[]);
    let without = timed_holds(&plain, &id).await;
    let with = timed_holds(&waiting, &id).await;
    let summary = |times: &[Duration]| {
        let total: Duration = times.iter().sum();
        format!(
            "mean {:.2} ms, p50 {:.2} ms, p90 {:.2} ms",
            total.as_secs_f64() * 1000.0 / times.len() as f64,
            times[times.len() / 2].as_secs_f64() * 1000.0,
            times[times.len() * 9 / 10].as_secs_f64() * 1000.0
        )
    };
    println!(
        "{TIMED_HOLDS} sequential holds: without WAIT {}; with WAIT 1 {}",
        summary(&without),
        summary(&with)
    );
}
