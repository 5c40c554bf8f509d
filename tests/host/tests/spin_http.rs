//! The runtime's HTTP front against Spin 4.0.2's behaviour, on the fixture component:
//! what a component sees, what Spin answers without running one, and what happens when the
//! instance pool is exhausted (Spin's empty 500 by default; a 503 only with `--shed-load`).
//! Needs the fixture built for wasm32-wasip2 (`scripts/test` does it).

mod fixture;

use std::thread;

/// Spin's HTTP server fails a request whose header value is not UTF-8 before any component
/// runs, and answers a bare 500 (checked against `spin up` 4.0.2).
#[test]
fn a_header_value_that_is_not_utf8_gets_a_bare_500() {
    let served = fixture::serve("non-utf8", |_| {});
    let answer = fixture::exchange(
        &served.address(),
        b"GET /x/headers HTTP/1.1\r\nHost: localhost\r\nX-Key: key-\xff\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(answer.status, 500, "{answer:?}");
    assert_eq!(answer.body, "", "{answer:?}");
    assert_eq!(answer.header("content-length").as_deref(), Some("0"));
    // The same request with a UTF-8 value reaches the component.
    let answer = fixture::exchange(
        &served.address(),
        b"GET /x/headers HTTP/1.1\r\nHost: localhost\r\nX-Key: key-\xc3\xa9\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(answer.body.contains("x-key: key-\u{e9}\n"), "{answer:?}");
}

/// Spin cannot work out the authority of a request whose `Host` is not UTF-8, or that has no
/// `Host` at all: its service fails and the connection closes without an answer (checked
/// against `spin up` 4.0.2).
#[test]
fn no_usable_host_closes_the_connection_without_an_answer() {
    let served = fixture::serve("host", |_| {});
    for request in [
        &b"GET /x HTTP/1.1\r\nHost: local\xffhost\r\nConnection: close\r\n\r\n"[..],
        &b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n"[..],
    ] {
        let answer = fixture::exchange(&served.address(), request);
        assert_eq!(answer.status, 0, "{answer:?}");
    }
    assert_eq!(fixture::get(&served.address(), "/x").status, 200);
}

/// The component sees the client's headers first, then Spin's `spin-*` headers appended:
/// a client-sent `spin-path-info` is kept, ahead of Spin's own.
#[test]
fn spin_headers_are_appended_after_the_clients() {
    let served = fixture::serve("headers", |_| {});
    let answer = fixture::exchange(
        &served.address(),
        b"GET /p/alpha/rest/headers?q=1 HTTP/1.1\r\nHost: localhost\r\n\
          Spin-Path-Info: /forged\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(answer.status, 200, "{answer:?}");
    let lines: Vec<&str> = answer.body.lines().collect();
    let position = |line: &str| {
        lines
            .iter()
            .position(|l| *l == line)
            .unwrap_or_else(|| panic!("no line {line:?} in {lines:#?}"))
    };
    let forged = position("spin-path-info: /forged");
    let own = position("spin-path-info: /rest/headers");
    assert!(forged < own, "{lines:#?}");
    for line in [
        "spin-full-url: http://localhost/p/alpha/rest/headers?q=1",
        "spin-matched-route: /p/:name/...",
        "spin-base-path: /",
        "spin-raw-component-route: /p/:name/...",
        "spin-component-route: /p/:name",
        "spin-path-match-name: alpha",
    ] {
        position(line);
    }
}

/// `/.well-known/spin/health` and `/.well-known/spin/info` are answered by the runtime.
#[test]
fn well_known_paths_are_answered_by_the_runtime() {
    let served = fixture::serve("well-known", |_| {});
    let health = fixture::get(&served.address(), "/.well-known/spin/health");
    assert_eq!((health.status, health.body.as_str()), (200, "OK"));
    let info = fixture::get(&served.address(), "/.well-known/spin/info");
    assert_eq!(info.status, 200, "{info:?}");
    assert_eq!(
        info.body,
        "{\n  \"name\": \"fixture\",\n  \"version\": \"1.2.3\"\n}"
    );
    assert_eq!(
        info.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        fixture::get(&served.address(), "/.well-known/spin/other").status,
        404
    );
}

/// Sends `count` concurrent requests to the sleeping endpoint; returns the answers.
fn concurrent_sleepers(address: &str, count: usize) -> Vec<fixture::Answer> {
    let threads: Vec<_> = (0..count)
        .map(|_| {
            let address = address.to_owned();
            thread::spawn(move || fixture::get(&address, "/x/sleep"))
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("a request thread"))
        .collect()
}

/// With Spin's pool of `SPIN_MAX_INSTANCE_COUNT` instances full, a request fails to
/// instantiate and gets Spin's empty 500; the runtime keeps serving afterwards.
#[test]
fn an_exhausted_instance_pool_answers_an_empty_500_as_spin_does() {
    let served = fixture::serve("pool", |options| {
        options
            .env
            .insert("SPIN_MAX_INSTANCE_COUNT".to_owned(), "2".to_owned());
    });
    let answers = concurrent_sleepers(&served.address(), 8);
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let failed: Vec<_> = answers.iter().filter(|a| a.status == 500).collect();
    assert!((1..=2).contains(&ok), "{answers:#?}");
    assert_eq!(ok + failed.len(), answers.len(), "{answers:#?}");
    assert!(!failed.is_empty(), "{answers:#?}");
    for answer in failed {
        assert_eq!(answer.body, "", "{answer:?}");
        assert_eq!(answer.header("retry-after"), None, "{answer:?}");
    }
    assert!(
        served.runtime.stderr_tail().contains("cannot instantiate"),
        "{}",
        served.runtime.stderr_tail()
    );
    assert_eq!(fixture::get(&served.address(), "/x").status, 200);
}

/// `--shed-load` (not Spin's behaviour) admits 90% of the pool and answers the rest with a
/// problem+json 503, `Retry-After: 1`, and the app's `cors_origin` as the allowed origin;
/// it says at start that this is not Spin's behaviour.
#[test]
fn shed_load_answers_a_503_with_the_apps_cors_origin() {
    let served = fixture::serve("shed", |options| {
        options.shed_load = true;
        options
            .env
            .insert("SPIN_MAX_INSTANCE_COUNT".to_owned(), "2".to_owned());
        options
            .variables
            .insert("cors_origin".to_owned(), "https://shop.example".to_owned());
    });
    let answers = concurrent_sleepers(&served.address(), 6);
    let shed: Vec<_> = answers.iter().filter(|a| a.status == 503).collect();
    assert_eq!(
        answers.iter().filter(|a| a.status == 200).count(),
        1,
        "one slot (90% of 2): {answers:#?}"
    );
    assert_eq!(shed.len(), answers.len() - 1, "{answers:#?}");
    for answer in shed {
        assert_eq!(answer.header("retry-after").as_deref(), Some("1"));
        assert_eq!(
            answer.header("content-type").as_deref(),
            Some("application/problem+json")
        );
        assert_eq!(
            answer.header("access-control-allow-origin").as_deref(),
            Some("https://shop.example")
        );
        assert!(answer.body.contains("\"status\":503"), "{answer:?}");
    }
    assert!(
        served
            .runtime
            .stderr_tail()
            .contains("NOT Spin's behaviour"),
        "{}",
        served.runtime.stderr_tail()
    );
}
