//! The app on Redis (its `redis_address` set) in the local runtime, against a real
//! `redis-server` this file starts on loopback (`appendonly yes`, `appendfsync always`).
//! Where `redis-server` is not installed, each test prints one line saying it is skipped,
//! and passes. (The whole HTTP suite runs on Redis with `BOOKING_E2E_STORE=redis`.)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use booking_e2e::{json, random_hex};
use booking_host_spawn::{LocalRuntime, RedisServer, RuntimeOptions};

const ADMIN: &str = "redis-admin-token-0001";

fn redis(test: &str) -> Option<RedisServer> {
    match RedisServer::start() {
        Ok(Some(server)) => Some(server),
        Ok(None) => {
            println!("{test}: skipped: redis-server is not installed");
            None
        }
        Err(error) => panic!("{error}"),
    }
}

fn runtime(options: RuntimeOptions) -> LocalRuntime {
    LocalRuntime::start(&options.variable("admin_token", ADMIN)).unwrap_or_else(|e| panic!("{e}"))
}

/// `GET key` over RESP: the raw value, or `None`.
fn redis_get(server: &RedisServer, key: &str) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connects");
    let request = format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len());
    stream.write_all(request.as_bytes()).expect("writes");
    let mut reader = BufReader::new(stream);
    let mut header = String::new();
    reader.read_line(&mut header).expect("reads");
    let length: i64 = header
        .trim_end()
        .strip_prefix('$')
        .unwrap_or_else(|| panic!("unexpected reply {header:?}"))
        .parse()
        .expect("a length");
    if length < 0 {
        return None;
    }
    let mut value = vec![0u8; usize::try_from(length).expect("length") + 2];
    reader.read_exact(&mut value).expect("reads");
    value.truncate(value.len() - 2);
    Some(value)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("a client")
}

async fn create_event(base: &str, id: &str, capacity: u32) -> reqwest::StatusCode {
    client()
        .put(format!("{base}/events/{id}"))
        .bearer_auth(ADMIN)
        .json(&json!({
            "name": "On Redis",
            "hold_ttl_seconds": 300,
            "sections": [{ "id": "floor", "capacity": capacity }],
        }))
        .send()
        .await
        .expect("answered")
        .status()
}

#[tokio::test]
async fn the_app_on_redis_keeps_the_default_stores_keys_and_values() {
    let Some(server) = redis("the_app_on_redis_keeps_the_default_stores_keys_and_values") else {
        return;
    };
    let app = runtime(RuntimeOptions::for_workspace().redis(&server));
    let id = format!("r-{}", random_hex());
    assert_eq!(create_event(app.base_url(), &id, 10).await, 201);
    // The creation register: the 8-byte little-endian integer Spin's store keeps for a
    // counter (generation 1, ready: 3), written by the increment script and a swap.
    assert_eq!(
        redis_get(&server, &format!("e/{id}/gen")),
        Some(3i64.to_le_bytes().to_vec())
    );
    assert_eq!(
        redis_get(&server, &format!("e/{id}/claim")),
        Some(1i64.to_le_bytes().to_vec())
    );
    let reply = client()
        .get(format!("{}/events/{id}", app.base_url()))
        .send()
        .await
        .expect("answered");
    assert_eq!(reply.status(), 200);
}

#[tokio::test]
async fn a_redis_host_not_in_allowed_outbound_hosts_is_refused() {
    let Some(server) = redis("a_redis_host_not_in_allowed_outbound_hosts_is_refused") else {
        return;
    };
    // redis_host grants another port: `open` answers invalid-address, the app a 503.
    let app = runtime(
        RuntimeOptions::for_workspace()
            .variable("redis_address", server.address())
            .variable("redis_host", format!("127.0.0.1:{}", server.port() ^ 1)),
    );
    let id = format!("r-{}", random_hex());
    assert_eq!(create_event(app.base_url(), &id, 10).await, 503);
    assert_eq!(redis_get(&server, &format!("e/{id}/claim")), None);
}

#[tokio::test]
async fn a_flash_sale_on_redis_sells_exactly_the_capacity() {
    let Some(server) = redis("a_flash_sale_on_redis_sells_exactly_the_capacity") else {
        return;
    };
    let app = runtime(RuntimeOptions::for_workspace().redis(&server));
    let base = app.base_url().to_owned();
    let id = format!("r-{}", random_hex());
    const CAPACITY: usize = 40;
    const BUYERS: usize = 160;
    assert_eq!(create_event(&base, &id, CAPACITY as u32).await, 201);
    let client = client();
    let mut tasks = Vec::new();
    for buyer in 0..BUYERS {
        let (client, base, id) = (client.clone(), base.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            // Retry 503 + Retry-After (contention) until a definite answer.
            for _ in 0..50 {
                let reply = client
                    .post(format!("{base}/events/{id}/holds"))
                    .json(&json!({ "section": "floor", "quantity": 1, "customer_id": format!("b-{buyer}") }))
                    .send()
                    .await
                    .expect("answered");
                let status = reply.status().as_u16();
                if status == 503 && reply.headers().contains_key("retry-after") {
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
                return status;
            }
            panic!("buyer {buyer}: no definite answer after 50 attempts");
        }));
    }
    let mut held = 0;
    for task in tasks {
        match task.await.expect("joined") {
            201 => held += 1,
            409 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(held, CAPACITY);
    let availability: serde_json::Value = client
        .get(format!("{base}/events/{id}/availability"))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("json");
    let floor = &availability["sections"][0];
    assert_eq!(floor["held"], CAPACITY);
    assert_eq!(floor["available"], 0);
}

/// One Redis command over RESP (bulk-string arguments): the first line of the reply.
fn redis_line(server: &RedisServer, args: &[&str]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connects");
    let mut request = format!("*{}\r\n", args.len());
    for arg in args {
        request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(request.as_bytes()).expect("writes");
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).expect("reads");
    line.trim_end().to_owned()
}

async fn hold_one(base: &str, id: &str) -> u16 {
    client()
        .post(format!("{base}/events/{id}/holds"))
        .json(&json!({ "section": "floor", "quantity": 1 }))
        .send()
        .await
        .expect("answered")
        .status()
        .as_u16()
}

/// Writers of a document take turns (`redis_turns`, on by default): a hold takes the
/// shard's turn and gives it back, so one turn waits in the list; a turn lost with a
/// crashed request (list gone, mint marker still there) only costs a wait, never the hold;
/// with `redis_turns = "0"` no turn is taken.
#[tokio::test]
async fn writers_take_turns_and_a_lost_turn_costs_only_time() {
    let Some(server) = redis("writers_take_turns_and_a_lost_turn_costs_only_time") else {
        return;
    };
    let app = runtime(RuntimeOptions::for_workspace().redis(&server));
    let id = format!("r-{}", random_hex());
    // 10 units: one shard (e/<id>/1/s/0/0).
    assert_eq!(create_event(app.base_url(), &id, 10).await, 201);
    let turns = format!("e/{id}/1/s/0/0/turn");
    assert_eq!(hold_one(app.base_url(), &id).await, 201);
    assert_eq!(
        redis_line(&server, &["LLEN", &turns]),
        ":1",
        "one turn, given back"
    );
    assert_eq!(hold_one(app.base_url(), &id).await, 201);
    assert_eq!(
        redis_line(&server, &["LLEN", &turns]),
        ":1",
        "still one turn"
    );
    // The turn lost with a crashed holder, and no new one may be minted yet.
    redis_line(&server, &["DEL", &turns]);
    redis_line(
        &server,
        &["SET", &format!("{turns}-mint"), "1", "PX", "60000"],
    );
    assert_eq!(hold_one(app.base_url(), &id).await, 201);
    assert_eq!(redis_line(&server, &["LLEN", &turns]), ":0");
    drop(app);
    let off = runtime(
        RuntimeOptions::for_workspace()
            .redis(&server)
            .variable("redis_turns", "0"),
    );
    let other = format!("r-{}", random_hex());
    assert_eq!(create_event(off.base_url(), &other, 10).await, 201);
    assert_eq!(hold_one(off.base_url(), &other).await, 201);
    let marker = format!("e/{other}/1/s/0/0/turn-mint");
    assert_eq!(
        redis_line(&server, &["EXISTS", &marker]),
        ":0",
        "no turn taken"
    );
}
