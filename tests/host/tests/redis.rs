//! The outbound Redis interface and the booking store's Redis scripts against a real
//! `redis-server` (started on loopback with `appendonly yes`, `appendfsync always`). Where
//! `redis-server` is not installed, each test prints one line saying it is skipped, and passes.
//!
//! The scripts are the files the spin adapter's `RedisStore` embeds; they run here through
//! the same host `execute` the component's calls reach, with the same reply mapping.

use booking_host::redis::{self, Param, RedisError, Reply};
use booking_host::spawn::RedisServer;

const CAS_SCRIPT: &str = include_str!("../../../functions/spin-adapter/src/redis_store/cas.lua");
const INCR_SCRIPT: &str = include_str!("../../../functions/spin-adapter/src/redis_store/incr.lua");
const ADAPTER_SOURCE: &str = include_str!("../../../functions/spin-adapter/src/redis_store.rs");

fn server(test: &str) -> Option<RedisServer> {
    match RedisServer::start() {
        Ok(Some(server)) => Some(server),
        Ok(None) => {
            println!("{test}: skipped: redis-server is not installed");
            None
        }
        Err(error) => panic!("{error}"),
    }
}

fn bin(bytes: &[u8]) -> Param {
    Param::Binary(bytes.to_vec())
}

fn text(reply: &[Reply]) -> String {
    match reply {
        [Reply::Binary(bytes)] => String::from_utf8_lossy(bytes).into_owned(),
        other => panic!("expected one binary reply, got {other:?}"),
    }
}

async fn cas(
    conn: &mut redis::Connection,
    key: &str,
    seen: Option<&[u8]>,
    new: &[u8],
) -> Vec<Reply> {
    conn.execute(
        "EVAL",
        vec![
            bin(CAS_SCRIPT.as_bytes()),
            Param::Int64(1),
            bin(key.as_bytes()),
            bin(if seen.is_some() { b"1" } else { b"0" }),
            bin(seen.unwrap_or_default()),
            bin(new),
        ],
    )
    .await
    .expect("the CAS script runs")
}

async fn incr(conn: &mut redis::Connection, key: &str, delta: i64) -> Result<i64, RedisError> {
    let reply = conn
        .execute(
            "EVAL",
            vec![
                bin(INCR_SCRIPT.as_bytes()),
                Param::Int64(1),
                bin(key.as_bytes()),
                Param::Int64(delta),
            ],
        )
        .await?;
    match reply.as_slice() {
        [Reply::Int64(value)] => Ok(*value),
        other => panic!("unexpected increment reply {other:?}"),
    }
}

#[tokio::test]
async fn server_is_durable_and_the_script_hashes_are_current() {
    let Some(server) = server("server_is_durable_and_the_script_hashes_are_current") else {
        return;
    };
    let mut conn = redis::open(&server.address()).await.expect("connects");
    let config = conn
        .execute("CONFIG", vec![bin(b"GET"), bin(b"append*")])
        .await
        .expect("CONFIG GET");
    let pairs: Vec<String> = config
        .iter()
        .map(|reply| match reply {
            Reply::Binary(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let value = |name: &str| {
        let at = pairs.iter().position(|p| p == name).expect("present");
        pairs[at + 1].clone()
    };
    assert_eq!(value("appendonly"), "yes");
    assert_eq!(value("appendfsync"), "always");

    // The adapter calls the scripts by these hashes first: they must be the scripts' own.
    for script in [CAS_SCRIPT, INCR_SCRIPT] {
        let sha = text(
            &conn
                .execute("SCRIPT", vec![bin(b"LOAD"), bin(script.as_bytes())])
                .await
                .expect("SCRIPT LOAD"),
        );
        assert!(
            ADAPTER_SOURCE.contains(&format!("\"{sha}\"")),
            "functions/spin-adapter/src/redis_store.rs does not name the script hash {sha}"
        );
    }
}

#[tokio::test]
async fn evalsha_of_an_unknown_script_is_a_noscript_error_the_adapter_recognises() {
    let Some(server) = server("evalsha_of_an_unknown_script_is_a_noscript_error") else {
        return;
    };
    let mut conn = redis::open(&server.address()).await.expect("connects");
    let error = conn
        .execute(
            "EVALSHA",
            vec![
                bin(b"0123456789012345678901234567890123456789"),
                Param::Int64(0),
            ],
        )
        .await
        .expect_err("no such script");
    match error {
        // The adapter falls back to EVAL when the message contains NOSCRIPT (any case).
        RedisError::Other(message) => assert!(
            message.to_ascii_uppercase().contains("NOSCRIPT"),
            "{message}"
        ),
        other => panic!("expected other(..), got {other:?}"),
    }
}

#[tokio::test]
async fn compare_and_swap_script() {
    let Some(server) = server("compare_and_swap_script") else {
        return;
    };
    let mut conn = redis::open(&server.address()).await.expect("connects");
    // Absent snapshot: create-if-absent, once.
    assert_eq!(
        cas(&mut conn, "k", None, b"v1").await,
        vec![Reply::Int64(1)]
    );
    assert_eq!(
        cas(&mut conn, "k", None, b"v2").await,
        vec![Reply::Int64(0), Reply::Binary(b"v1".to_vec())]
    );
    // Whole-value compare: a prefix or a longer value does not match.
    assert_eq!(
        cas(&mut conn, "k", Some(b"v"), b"x").await,
        vec![Reply::Int64(0), Reply::Binary(b"v1".to_vec())]
    );
    assert_eq!(
        cas(&mut conn, "k", Some(b"v10"), b"x").await,
        vec![Reply::Int64(0), Reply::Binary(b"v1".to_vec())]
    );
    assert_eq!(
        cas(&mut conn, "k", Some(b"v1"), b"v3").await,
        vec![Reply::Int64(1)]
    );
    assert_eq!(conn.get("k").await.expect("get"), Some(b"v3".to_vec()));
    // A present snapshot of a key now absent: conflict, no winner value, nothing written.
    assert_eq!(
        cas(&mut conn, "gone", Some(b"v"), b"x").await,
        vec![Reply::Int64(0)]
    );
    assert_eq!(conn.get("gone").await.expect("get"), None);
    // Binary values, empty values, and an empty snapshot value distinct from absent.
    let binary: Vec<u8> = (0..=255).collect();
    conn.set("b", &[]).await.expect("set");
    assert_eq!(
        cas(&mut conn, "b", None, &binary).await,
        vec![Reply::Int64(0), Reply::Binary(Vec::new())]
    );
    assert_eq!(
        cas(&mut conn, "b", Some(b""), &binary).await,
        vec![Reply::Int64(1)]
    );
    assert_eq!(
        cas(&mut conn, "b", Some(&binary[..255]), b"x").await,
        vec![Reply::Int64(0), Reply::Binary(binary.clone())]
    );
    assert_eq!(
        cas(&mut conn, "b", Some(&binary), b"x").await,
        vec![Reply::Int64(1)]
    );
}

#[tokio::test]
async fn compare_and_swap_script_lets_exactly_one_racer_win() {
    let Some(server) = server("compare_and_swap_script_lets_exactly_one_racer_win") else {
        return;
    };
    let mut setup = redis::open(&server.address()).await.expect("connects");
    setup.set("hot", b"0").await.expect("set");
    // Every round, 16 connections swap from the value they all read: one wins.
    for round in 0..20u32 {
        let seen = round.to_string();
        let mut tasks = Vec::new();
        for racer in 0..16u32 {
            let address = server.address();
            let seen = seen.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = redis::open(&address).await.expect("connects");
                let next = format!("{}", round + 1);
                let reply = cas(&mut conn, "hot", Some(seen.as_bytes()), next.as_bytes()).await;
                (racer, reply)
            }));
        }
        let mut winners = 0;
        for task in tasks {
            let (_, reply) = task.await.expect("joined");
            match reply.as_slice() {
                [Reply::Int64(1)] => winners += 1,
                [Reply::Int64(0), Reply::Binary(winner)] => {
                    assert_eq!(winner, (round + 1).to_string().as_bytes())
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
}

#[tokio::test]
async fn increment_script_keeps_spins_8_byte_little_endian_counter() {
    let Some(server) = server("increment_script_keeps_spins_8_byte_little_endian_counter") else {
        return;
    };
    let mut conn = redis::open(&server.address()).await.expect("connects");
    assert_eq!(incr(&mut conn, "c", 1).await, Ok(1));
    assert_eq!(
        conn.get("c").await.expect("get"),
        Some(1i64.to_le_bytes().to_vec())
    );
    assert_eq!(incr(&mut conn, "c", 300).await, Ok(301));
    assert_eq!(
        conn.get("c").await.expect("get"),
        Some(301i64.to_le_bytes().to_vec())
    );
    assert_eq!(incr(&mut conn, "c", -305).await, Ok(-4));
    assert_eq!(
        conn.get("c").await.expect("get"),
        Some((-4i64).to_le_bytes().to_vec())
    );
    assert_eq!(incr(&mut conn, "c", 0).await, Ok(-4));
    // A counter written by the core (an encoded register) is read back the same way.
    conn.set("r", &7_000_000_001i64.to_le_bytes())
        .await
        .expect("set");
    assert_eq!(incr(&mut conn, "r", 2).await, Ok(7_000_000_003));
    assert_eq!(
        conn.get("r").await.expect("get"),
        Some(7_000_000_003i64.to_le_bytes().to_vec())
    );
    // Not an 8-byte counter, or beyond what a double holds exactly: refused, unchanged.
    conn.set("s", b"12").await.expect("set");
    assert!(matches!(
        incr(&mut conn, "s", 1).await,
        Err(RedisError::Other(_))
    ));
    assert_eq!(conn.get("s").await.expect("get"), Some(b"12".to_vec()));
    assert!(matches!(
        incr(&mut conn, "big", 1 << 53).await,
        Err(RedisError::Other(_))
    ));
    assert_eq!(conn.get("big").await.expect("get"), None);
    // Racing increments all count.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let address = server.address();
        tasks.push(tokio::spawn(async move {
            let mut conn = redis::open(&address).await.expect("connects");
            for _ in 0..50 {
                incr(&mut conn, "n", 1).await.expect("increments");
            }
        }));
    }
    for task in tasks {
        task.await.expect("joined");
    }
    assert_eq!(incr(&mut conn, "n", 0).await, Ok(400));
}

#[tokio::test]
async fn replies_are_mapped_and_flattened_like_spin() {
    let Some(server) = server("replies_are_mapped_and_flattened_like_spin") else {
        return;
    };
    let mut conn = redis::open(&server.address()).await.expect("connects");
    assert_eq!(
        conn.execute("SET", vec![bin(b"a"), bin(b"1")]).await,
        Ok(vec![Reply::Status("OK".into())])
    );
    assert_eq!(
        conn.execute("PING", Vec::new()).await,
        Ok(vec![Reply::Status("PONG".into())])
    );
    assert_eq!(
        conn.execute("MGET", vec![bin(b"a"), bin(b"missing"), bin(b"a")])
            .await,
        Ok(vec![
            Reply::Binary(b"1".to_vec()),
            Reply::Nil,
            Reply::Binary(b"1".to_vec())
        ])
    );
    assert_eq!(
        conn.execute("INCRBY", vec![bin(b"i"), Param::Int64(5)])
            .await,
        Ok(vec![Reply::Int64(5)])
    );
    assert_eq!(
        conn.execute("GET", vec![bin(b"none")]).await,
        Ok(vec![Reply::Nil])
    );
    assert_eq!(conn.incr("i").await, Ok(6));
    assert_eq!(conn.del(&["a".into(), "x".into()]).await, Ok(1));
    assert_eq!(conn.sadd("set", &["m".into()]).await, Ok(1));
    // Spin maps only the client's own type errors to `type-error`; a WRONGTYPE reply from the
    // server is `other`, there as here.
    assert!(matches!(
        conn.sadd("i", &["m".into()]).await,
        Err(RedisError::Other(message)) if message.contains("WRONGTYPE")
    ));
    assert_eq!(conn.smembers("set").await, Ok(vec!["m".to_owned()]));
    assert_eq!(conn.srem("set", &["m".into()]).await, Ok(1));
    assert!(matches!(
        conn.execute("NOSUCHCOMMAND", Vec::new()).await,
        Err(RedisError::Other(_))
    ));
}

#[tokio::test]
async fn open_refuses_what_the_client_cannot_parse() {
    assert_eq!(
        redis::open("not a url").await.err(),
        Some(RedisError::InvalidAddress)
    );
}
