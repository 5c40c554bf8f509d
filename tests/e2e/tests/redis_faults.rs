//! Faults of the app's Redis (one primary on loopback, `appendonly yes`, `appendfsync
//! always`), on the local runtime:
//!
//! - killed with SIGKILL in the middle of a sale: requests answer 503 with `Retry-After`
//!   and a problem document, promptly (the connection is refused); restarted from its
//!   append-only file, the sale goes on, every confirm answered 200 (before the kill or
//!   after) is still confirmed, and the counts add up (nothing half-written);
//! - paused (`CLIENT PAUSE`): answers wait for the pause, then succeed;
//! - busy (a script that runs past `busy-reply-threshold`): Redis answers `BUSY`, the app
//!   503 with `Retry-After`, promptly; once the script is killed, the sale goes on.
//!
//! They run with `BOOKING_E2E_STORE=redis` (scripts/test's Redis leg); otherwise each
//! prints one line saying it is skipped, and passes. The only time bounds are generous "answered within" bounds.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use booking_e2e::random_hex;
use booking_e2e::redis_nodes::{Answer, App, RedisNode, Resp, nodes};

/// Every answer, also while Redis is down, busy or paused, comes within this.
const ANSWER_BOUND: Duration = Duration::from_secs(15);
/// A careful client's pause before retrying a 503.
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// Attempts of one request before the test gives up on a definite answer.
const ATTEMPTS: usize = 600;

fn node(test: &str) -> Option<RedisNode> {
    nodes(test, 1, &[]).and_then(|mut started| started.pop())
}

fn bounded(answer: &Answer, what: &str) {
    assert!(
        answer.elapsed < ANSWER_BOUND,
        "{what} answered after {:?}: {answer:?}",
        answer.elapsed
    );
}

/// What the buyers saw.
#[derive(Default)]
struct Seen {
    /// Holds whose confirm answered 200.
    confirmed: Vec<String>,
    /// 503 answers (all with Retry-After and a problem document).
    unavailable: usize,
    /// The slowest of those.
    slowest_unavailable: Duration,
}

impl Seen {
    fn saw(&mut self, unavailable: &Answer) {
        self.unavailable += 1;
        self.slowest_unavailable = self.slowest_unavailable.max(unavailable.elapsed);
    }
}

#[tokio::test]
async fn redis_killed_mid_sale_answers_503_then_loses_no_confirmed_booking() {
    const TEST: &str = "redis_killed_mid_sale_answers_503_then_loses_no_confirmed_booking";
    let Some(mut redis) = node(TEST) else {
        return;
    };
    let app = App::start(&[&redis], &[]);
    let id = format!("f-{}", random_hex());
    const CAPACITY: u64 = 30;
    const BUYERS: usize = 6;
    assert_eq!(app.create_event(&id, CAPACITY as u32).await, 201);

    let seen = Arc::new(Mutex::new(Seen::default()));
    let confirms = Arc::new(AtomicUsize::new(0));
    let mut buyers = Vec::new();
    for buyer in 0..BUYERS {
        let (app, id, seen, confirms) = (app.api(), id.clone(), seen.clone(), confirms.clone());
        buyers.push(tokio::spawn(async move {
            for purchase in 0.. {
                // One key per purchase: a retry after a 503 (which may have written before
                // Redis died) gets the hold that attempt placed, not a second one.
                let key = format!("buyer-{buyer}-{purchase}-{}", random_hex());
                let customer = format!("c-{buyer}");
                let mut hold = None;
                for _ in 0..ATTEMPTS {
                    let answer = app.hold_keyed(&id, 1, &customer, &key).await;
                    bounded(&answer, "a hold");
                    if answer.status == 503 {
                        assert!(answer.is_unavailable(), "{answer:?}");
                        seen.lock().expect("seen").saw(&answer);
                        tokio::time::sleep(RETRY_PAUSE).await;
                        continue;
                    }
                    hold = Some(answer);
                    break;
                }
                let hold = hold.expect("a definite answer to a hold");
                match hold.status {
                    201 => {}
                    409 if hold.body["type"]
                        .as_str()
                        .unwrap_or("")
                        .ends_with("/sold-out") =>
                    {
                        return;
                    }
                    _ => panic!("a hold answered {hold:?}"),
                }
                let hold_id = hold.hold_id();
                let mut confirmed = false;
                for _ in 0..ATTEMPTS {
                    let answer = app.confirm(&hold_id, &format!("pay-{key}")).await;
                    bounded(&answer, "a confirm");
                    if answer.status == 503 {
                        assert!(answer.is_unavailable(), "{answer:?}");
                        seen.lock().expect("seen").saw(&answer);
                        tokio::time::sleep(RETRY_PAUSE).await;
                        continue;
                    }
                    assert_eq!(answer.status, 200, "a confirm answered {answer:?}");
                    confirmed = true;
                    break;
                }
                assert!(confirmed, "no definite answer to confirming {hold_id}");
                seen.lock().expect("seen").confirmed.push(hold_id);
                confirms.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }

    // Mid-sale: once a third is sold, kill Redis (SIGKILL: no shutdown, no last fsync).
    while confirms.load(Ordering::SeqCst) < (CAPACITY / 3) as usize {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    redis.kill();
    let confirmed_before: Vec<String> = seen.lock().expect("seen").confirmed.clone();
    // Down: a request is refused with the store-unavailable answer, promptly.
    let probe = app.hold(&id, 1, "probe").await;
    assert!(probe.is_unavailable(), "with Redis down: {probe:?}");
    bounded(&probe, "a hold with Redis down");
    tokio::time::sleep(Duration::from_millis(700)).await;
    redis
        .restart()
        .unwrap_or_else(|error| panic!("restarting Redis from its AOF: {error}"));

    for buyer in buyers {
        buyer.await.expect("a buyer finished");
    }
    let seen = std::mem::take(&mut *seen.lock().expect("seen"));
    assert!(
        seen.unavailable > 0,
        "no buyer saw Redis down (the kill missed the sale)"
    );
    println!(
        "Redis down: the probe answered 503 in {:?}; buyers saw {} answers 503, the slowest in {:?}",
        probe.elapsed, seen.unavailable, seen.slowest_unavailable
    );
    // Every booking confirmed before the kill is still confirmed after the restart, and so
    // is every later one.
    for hold_id in &confirmed_before {
        let status = app.get_hold(hold_id).await;
        assert_eq!(
            status.body["status"], "confirmed",
            "confirmed before the kill: {status:?}"
        );
    }
    for hold_id in &seen.confirmed {
        let status = app.get_hold(hold_id).await;
        assert_eq!(status.body["status"], "confirmed", "{status:?}");
    }
    // Sold out exactly: every unit sold to a buyer who saw 200, none held by a lost
    // attempt (each retried its key to a definite answer), the counts adding up.
    let (held, sold, available) = app.floor(&id).await;
    assert_eq!(
        (held, sold, available),
        (0, CAPACITY, 0),
        "held, sold, available"
    );
    assert_eq!(seen.confirmed.len() as u64, CAPACITY);
}

#[tokio::test]
async fn a_paused_redis_delays_answers_only_by_the_pause() {
    let Some(redis) = node("a_paused_redis_delays_answers_only_by_the_pause") else {
        return;
    };
    let app = App::start(&[&redis], &[]);
    let id = format!("p-{}", random_hex());
    assert_eq!(app.create_event(&id, 10).await, 201);
    assert_eq!(
        redis.command(&["CLIENT", "PAUSE", "2000", "ALL"]),
        Ok(Resp::Status("OK".into()))
    );
    let hold = app.hold(&id, 2, "c-1").await;
    bounded(&hold, "a hold with Redis paused for 2 s");
    assert_eq!(hold.status, 201, "{hold:?}");
    let confirm = app.confirm(&hold.hold_id(), "pay-1").await;
    assert_eq!(confirm.status, 200, "{confirm:?}");
    assert_eq!(app.floor(&id).await, (0, 2, 8));
}

#[tokio::test]
async fn a_busy_redis_answers_503_promptly_then_recovers() {
    let Some(redis) = node("a_busy_redis_answers_503_promptly_then_recovers") else {
        return;
    };
    let app = App::start(&[&redis], &[]);
    let id = format!("b-{}", random_hex());
    assert_eq!(app.create_event(&id, 10).await, 201);
    // Past 100 ms a running script makes Redis answer everyone else BUSY.
    assert_eq!(
        redis.command(&["CONFIG", "SET", "busy-reply-threshold", "100"]),
        Ok(Resp::Status("OK".into()))
    );
    // A read-only script that never ends (until SCRIPT KILL), on its own connection.
    let mut busy = TcpStream::connect(("127.0.0.1", redis.port())).expect("connects");
    let script = "while true do end";
    busy.write_all(
        format!(
            "*3\r\n$4\r\nEVAL\r\n${}\r\n{script}\r\n$1\r\n0\r\n",
            script.len()
        )
        .as_bytes(),
    )
    .expect("writes");
    // Wait until Redis says it is busy.
    let mut waited = 0;
    while !matches!(redis.command(&["PING"]), Ok(Resp::Error(ref e)) if e.starts_with("BUSY")) {
        waited += 1;
        assert!(waited < 500, "Redis never became busy");
        std::thread::sleep(Duration::from_millis(10));
    }
    let hold = app.hold(&id, 1, "c-1").await;
    bounded(&hold, "a hold with Redis busy");
    assert!(hold.is_unavailable(), "with Redis busy: {hold:?}");
    let availability = app
        .client
        .get(format!("{}/events/{id}/availability", app.base_url()))
        .send()
        .await
        .expect("answered");
    assert_eq!(availability.status(), 503);

    assert_eq!(
        redis.command(&["SCRIPT", "KILL"]),
        Ok(Resp::Status("OK".into()))
    );
    let mut reply = [0u8; 64];
    let read = busy.read(&mut reply).expect("the killed script's answer");
    assert!(
        reply[..read].starts_with(b"-"),
        "{:?}",
        String::from_utf8_lossy(&reply[..read])
    );
    let hold = app.hold(&id, 3, "c-1").await;
    assert_eq!(hold.status, 201, "{hold:?}");
    // The refused hold left nothing behind.
    assert_eq!(app.floor(&id).await, (3, 0, 7));
}
