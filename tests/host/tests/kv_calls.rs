//! The runtime prints its key-value call counts as one `kv-calls: ...` line when it stops,
//! whichever way it stops, and answers them while it serves with `--kv-calls-endpoint` only.
//! Needs the fixture built for wasm32-wasip2 (`scripts/test` does it).

mod fixture;

use std::process::Command;

use booking_host::spawn::{KV_CALLS_PATH, KvCalls};

/// The `kv-calls:` lines in a runtime's standard error.
fn kv_calls_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.starts_with("kv-calls:"))
        .collect()
}

#[test]
fn the_counts_are_the_last_line_when_stdin_closes() {
    let served = fixture::serve("kv-calls-stdin", |_| {});
    assert_eq!(fixture::get(&served.address(), "/fine").status, 200);
    let stderr = served.stop();
    let lines = kv_calls_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert_eq!(stderr.lines().last(), Some(lines[0]), "{stderr}");
    // The fixture makes no key-value calls.
    assert_eq!(
        KvCalls::parse(lines[0]),
        Some(KvCalls::default()),
        "{stderr}"
    );
}

#[test]
fn the_counts_are_printed_on_sigterm() {
    let served = fixture::serve("kv-calls-sigterm", |_| {});
    let pid = served.runtime.pid().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success());
    let stderr = served.stop();
    assert_eq!(
        kv_calls_lines(&stderr).len(),
        1,
        "no kv-calls line after SIGTERM:\n{stderr}"
    );
    assert!(KvCalls::last_in(&stderr).is_some(), "{stderr}");
}

#[test]
fn the_endpoint_answers_only_when_asked_for() {
    let served = fixture::serve("kv-calls-endpoint", |options| {
        options.kv_calls_endpoint = true;
    });
    let answer = fixture::get(&served.address(), KV_CALLS_PATH);
    assert_eq!(answer.status, 200, "{answer:?}");
    let mut lines = answer.body.lines();
    assert_eq!(
        lines.next().and_then(KvCalls::parse),
        Some(KvCalls::default()),
        "{answer:?}"
    );
    // The fixture is served in memory: its one store, `default`.
    assert!(
        lines
            .next()
            .is_some_and(|line| line.starts_with("kv-calls store=default: ")),
        "{answer:?}"
    );

    // Without the flag the path is the application's, as on Spin (the fixture answers `ok`).
    let plain = fixture::serve("kv-calls-no-endpoint", |_| {});
    let answer = fixture::get(&plain.address(), KV_CALLS_PATH);
    assert_eq!((answer.status, answer.body.as_str()), (200, "ok"));
}
