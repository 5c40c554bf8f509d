//! The CI-sized run: every scenario, tiny, against the local runtime (the real
//! components on the default SQLite store), with zero invariant violations.
//! Figures are printed, never asserted: this machine's speed is not a test.

use booking_load::{
    report::load_text,
    scenario::{self, LoadModel, RunConfig, Scenario},
    server::{LocalRuntime, RuntimeOptions},
};

fn tiny(scenario: Scenario, load: LoadModel) -> RunConfig {
    let mut config = RunConfig::defaults(scenario);
    config.load = load;
    config.seed = 7;
    match scenario {
        Scenario::FlashSale => {
            config.buyers = 200;
            config.capacity = 40;
        }
        Scenario::HotSeats => {
            config.buyers = 150;
            config.capacity = 16;
        }
        Scenario::Mixed => {
            config.buyers = 200;
            config.capacity = 30;
            // Short holds, so some expire during the run and the checker sees expiry.
            config.hold_ttl_seconds = 1;
        }
    }
    // Replays on every fourth hold, and more races than by default: the rules
    // that watch them get something to judge even in a small run.
    config.replay_percent = 25;
    config.race_percent = 25;
    config.concurrent_replay_percent = 15;
    // This machine's disk is shared, and an fsync can take tens of milliseconds
    // when other work writes: a generous bound, so only a hang fails the run.
    config.request_timeout_seconds = 60;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_keeps_every_invariant() {
    let runtime =
        LocalRuntime::start(&RuntimeOptions::from_workspace()).expect("start booking-host");
    let closed = LoadModel::Closed { concurrency: 16 };
    let runs = [
        tiny(Scenario::FlashSale, closed),
        {
            let mut c = tiny(Scenario::FlashSale, closed);
            c.shards = Some(1);
            c
        },
        tiny(
            Scenario::FlashSale,
            LoadModel::Open {
                rate_per_second: 100.0,
            },
        ),
        tiny(Scenario::HotSeats, closed),
        tiny(Scenario::Mixed, closed),
    ];
    let mut failures = Vec::new();
    let (mut races, mut concurrent_replays) = (0, 0);
    for config in &runs {
        let what = format!(
            "{} ({}, shards {:?})",
            config.scenario.name(),
            load_text(&config.load),
            config.shards
        );
        let result = scenario::run(&runtime.base_url, &runtime.admin_token, config)
            .await
            .expect("the run completes");
        let f = &result.figures;
        println!(
            "{what}: {} requests, {} holds granted, sold {}, {:.0} requests/s, {} violations; \
             hold p99 per buyer {:?} ms, {} buyers shed of {}, {} races, {} concurrent replays",
            f.requests,
            f.holds_granted,
            f.sold,
            f.requests_per_second,
            f.violations,
            f.buyer_hold_p99_ms(),
            f.buyers_shed,
            f.hold_buyers,
            f.confirm_release_races,
            f.concurrent_replays
        );
        races += f.confirm_release_races;
        concurrent_replays += f.concurrent_replays;
        if !result.check.is_clean() {
            failures.push(format!("{what}: {:#?}", result.check));
        }
        // The run must have exercised the contract, not just survived it.
        if f.holds_granted == 0 || f.requests < config.buyers {
            failures.push(format!("{what}: too little happened: {:?}", f.outcomes));
        }
        if config.scenario == Scenario::FlashSale
            && !f.outcomes.keys().any(|k| k.contains("sold-out"))
        {
            failures.push(format!(
                "{what}: demand exceeds capacity, yet nobody heard sold-out: {:?}",
                f.outcomes
            ));
        }
        if config.scenario == Scenario::Mixed && !f.outcomes.contains_key("availability 200") {
            failures.push(format!("{what}: no browsing: {:?}", f.outcomes));
        }
        // Every buyer who sent a hold has a latency from arrival to answer.
        let timed_buyers = f.buyer_latency(None).map_or(0, |l| l.count);
        if f.hold_buyers == 0 || timed_buyers != f.hold_buyers {
            failures.push(format!(
                "{what}: {} buyers sent a hold, {timed_buyers} have a per-buyer latency",
                f.hold_buyers
            ));
        }
    }
    if races == 0 || concurrent_replays == 0 {
        failures.push(format!(
            "the injected races did not happen: {races} confirm/release races, \
             {concurrent_replays} concurrent replays"
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
