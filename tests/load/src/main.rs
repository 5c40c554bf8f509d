//! booking-load: flash-sale load generator with invariant checking.
//! `booking-load --help` lists the commands; results/README.md shows the benchmark runs.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::Context;
use booking_load::{
    floor,
    report::{self, RunFile, SweepFile, ViolationRecord},
    restart::{self, KillPlan, ServerProcess, ServerSpec},
    scenario::{self, Killer, LoadModel, RunConfig, RunResult, Scenario},
    server::{self, LocalRuntime, RuntimeOptions},
};
use clap::{Args, Parser, Subcommand};

/// Consecutive sweep steps over the p99 limit after which higher rates are skipped.
const SWEEP_STOP_AFTER_FAILED_STEPS: usize = 3;

#[derive(Parser, Debug)]
#[command(
    version,
    about = "Flash-sale load generator for the booking API, with an invariant checker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// One general section (default 500 units), buyers of 1–4: hold, then confirm 90% / release 10%.
    FlashSale(RunArgs),
    /// A seated section; every buyer wants 1–2 of the same hot seats.
    HotSeats(RunArgs),
    /// 10 events: 80% availability reads, holds, confirms, releases, holds left to expire.
    Mixed(RunArgs),
    /// Open-loop rate sweep: one run per rate; reports the highest rate with per-buyer hold p99 < 100 ms and < 1% shed.
    Sweep(SweepArgs),
    /// Storage floor: raw SQLite CAS round trips/s with Spin's settings (one hot key, many keys).
    Floor(FloorArgs),
    /// Side-by-side markdown (and a sweep chart) from result JSON files.
    Table(TableArgs),
    /// Our runs beside the ideal component's (issue 20): ratios, and the sweeps' median sustained rate
    Ruler(RulerArgs),
}

#[derive(Args, Debug, Clone)]
struct TargetArgs {
    /// A running server (e.g. `spin up`); default: start target/release/booking-host on a fresh SQLite state dir.
    #[arg(long)]
    base_url: Option<String>,
    /// Admin token of `--base-url` (to create the events); default: $BOOKING_ADMIN_TOKEN.
    #[arg(long, default_value_t = std::env::var("BOOKING_ADMIN_TOKEN").unwrap_or_default())]
    admin_token: String,
    /// Confirm token of `--base-url` (sent on confirms); default: $BOOKING_CONFIRM_TOKEN.
    #[arg(long, requires = "base_url")]
    confirm_token: Option<String>,
    /// Start the local runtime with `--sqlite-wal` (faster, NOT Spin's default: label such runs).
    #[arg(long)]
    sqlite_wal: bool,
    /// Start the local runtime with `--in-memory` (no disk: isolates compute from storage; label such runs).
    #[arg(long, conflicts_with = "sqlite_wal")]
    in_memory: bool,
    /// Start the local runtime with `--shed-load` (503 + Retry-After when every instance is
    /// busy, instead of Spin's empty 500; NOT Spin's behaviour: label such runs).
    #[arg(long)]
    shed_load: bool,
    /// Read booking-host's key-value call counts around the run from `--base-url` (a
    /// `booking-host up --kv-calls-endpoint`): the figure `kv_calls` of the result. Always on
    /// for the runtime booking-load starts itself.
    #[arg(long, requires = "base_url")]
    kv_calls: bool,
    /// Add this process's peak RSS (VmHWM) to the memory figure (repeatable; e.g. the peer's pid).
    #[arg(long = "rss-pid")]
    rss_pids: Vec<u32>,
    /// Serve this manifest on the local runtime (default: the workspace's spin.toml;
    /// component sources are relative to the manifest's folder).
    #[arg(long, conflicts_with = "base_url")]
    manifest: Option<PathBuf>,
    /// With `--kills` on the local runtime: its state directory (default: a
    /// fresh one under the temp dir, removed after the run).
    #[arg(long, conflicts_with = "base_url")]
    state_dir: Option<PathBuf>,
    /// Start this server (`sh -c`, its own process group) before the run and
    /// stop it after; it must serve `--base-url`. With `--kills` it is killed
    /// and run again, so it must keep its state across starts (e.g. `spin up
    /// --listen 127.0.0.1:PORT --state-dir DIR`).
    #[arg(long, requires = "base_url")]
    server_command: Option<String>,
    /// The output of `--server-command` or of the restarted local runtime
    /// (default: `<out-dir>/server.log`, appended).
    #[arg(long)]
    server_log: Option<PathBuf>,
    /// Name of the run in the results (default: system and scenario).
    #[arg(long)]
    label: Option<String>,
    /// Folder for `<label>.json`, `.md` and `.png` (default: a scratch
    /// folder under target/; the committed results/ only when asked).
    #[arg(long, default_value = "target/booking-load")]
    out_dir: PathBuf,
    /// No progress bar.
    #[arg(long)]
    no_progress: bool,
}

#[derive(Args, Debug, Clone)]
struct LoadArgs {
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of buyers (default: 20,000 flash-sale, 2,000 hot-seats, 5,000 mixed).
    #[arg(long)]
    buyers: Option<u64>,
    /// Units of the general section (flash-sale, mixed) or seats of the section (hot-seats).
    #[arg(long)]
    capacity: Option<u64>,
    /// `shards` of general sections (default: the service's default).
    #[arg(long)]
    shards: Option<u64>,
    /// The seats everyone wants (hot-seats).
    #[arg(long, default_value_t = 8)]
    hot_seats: u64,
    /// Hold lifetime (default: 300 s; mixed: 3 s so holds expire during the run).
    #[arg(long)]
    hold_ttl_seconds: Option<u64>,
    /// Percent of granted holds replayed with their Idempotency-Key.
    #[arg(long, default_value_t = 5)]
    replay_percent: u32,
    /// Percent of granted holds whose buyer sends confirm and release at once.
    #[arg(long, default_value_t = 3)]
    race_percent: u32,
    /// Percent of buyers who send their hold twice at once with one Idempotency-Key.
    #[arg(long, default_value_t = 3)]
    concurrent_replay_percent: u32,
    /// A request unanswered after this many seconds counts as a failure.
    #[arg(long, default_value_t = booking_load::client::DEFAULT_REQUEST_TIMEOUT_SECONDS)]
    request_timeout_seconds: u64,
    /// Holds without Idempotency-Key (to measure what idempotency costs).
    #[arg(long)]
    no_idempotency_key: bool,
    /// Before the checks at rest, wait until every hold the run may have
    /// placed has expired (on with `--kills`; use a short `--hold-ttl-seconds`).
    #[arg(long)]
    rest_past_expiry: bool,
    /// Do not follow and check the change feed and stats (for a server
    /// without them, e.g. the PostgreSQL peer).
    #[arg(long)]
    no_feed_check: bool,
    /// Follow the change feed as a slow consumer: one poll (read until the
    /// feed runs dry) every this many seconds instead of a page every
    /// 50 ms. The feed rules are checked the same: nothing may be missed.
    #[arg(long)]
    feed_poll_seconds: Option<u64>,
}

impl LoadArgs {
    fn config(&self, scenario: Scenario, load: LoadModel, progress: bool) -> RunConfig {
        let mut c = RunConfig::defaults(scenario);
        c.seed = self.seed;
        c.load = load;
        c.progress = progress;
        c.shards = self.shards;
        c.hot_seats = self.hot_seats;
        c.replay_percent = self.replay_percent.min(100);
        c.race_percent = self.race_percent.min(100);
        c.concurrent_replay_percent = self.concurrent_replay_percent.min(100);
        c.idempotency_keys = !self.no_idempotency_key;
        c.request_timeout_seconds = self.request_timeout_seconds;
        c.rest_past_expiry = self.rest_past_expiry;
        c.check_feed = !self.no_feed_check;
        c.feed_poll_seconds = self.feed_poll_seconds;
        if let Some(b) = self.buyers {
            c.buyers = b;
        }
        if let Some(cap) = self.capacity {
            c.capacity = cap;
        }
        if let Some(ttl) = self.hold_ttl_seconds {
            c.hold_ttl_seconds = ttl;
        }
        c
    }
}

#[derive(Args, Debug)]
struct RunArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    load: LoadArgs,
    /// Closed loop: buyers in flight at once.
    #[arg(long, default_value_t = 500, conflicts_with = "rate")]
    concurrency: u64,
    /// Open loop: buyers arriving per second (latency counted from each arrival).
    #[arg(long)]
    rate: Option<f64>,
    /// Process faults: SIGKILL the server this many times during the load, at
    /// seeded random moments, restarting it on the same state directory and
    /// port each time (the local runtime, or `--server-command`). Requests
    /// left unanswered are sent again with the same Idempotency-Key or
    /// payment_ref; the run fails if fewer kills happened.
    #[arg(long, default_value_t = 0)]
    kills: u32,
    /// Serving time before each kill, drawn between MIN,MAX (ms).
    #[arg(long, value_delimiter = ',', default_values_t = [300, 1500])]
    kill_gap_ms: Vec<u64>,
}

#[derive(Args, Debug)]
struct SweepArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    load: LoadArgs,
    #[arg(long, value_enum, default_value = "flash-sale")]
    scenario: Scenario,
    /// Offered rates, buyers/s, in increasing order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "250,500,1000,1500,2000,3000"
    )]
    rates: Vec<f64>,
    /// Length of each step; buyers = rate × seconds.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
}

#[derive(Args, Debug)]
struct FloorArgs {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Key counts to measure (1 = one hot key).
    #[arg(long, value_delimiter = ',', default_value = "1,1000")]
    keys: Vec<u64>,
    #[arg(long, default_value_t = floor::DEFAULT_VALUE_BYTES)]
    value_bytes: usize,
    /// Also measure WAL + synchronous=NORMAL (labelled; not Spin's default).
    #[arg(long)]
    with_wal: bool,
    /// Where the database lives (default: the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Folder for floor.json and floor.md (default: a scratch folder).
    #[arg(long, default_value = "target/booking-load")]
    out_dir: PathBuf,
}

#[derive(Args, Debug)]
struct TableArgs {
    /// Run or sweep JSON files written by booking-load.
    files: Vec<PathBuf>,
    /// Also write the table here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write the sweep chart (PNG) here.
    #[arg(long)]
    chart: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct RulerArgs {
    /// Run JSON files (ours and the ideal component's, paired by label; other files are passed over).
    files: Vec<PathBuf>,
    /// A folder of one sweep pass (`<rate>/<label>.json` below it); repeat per pass.
    #[arg(long = "sweep-pass")]
    sweep_passes: Vec<PathBuf>,
    /// The storage floor's JSON (`floor-before.json`): the queueing bound.
    #[arg(long)]
    floor: Option<PathBuf>,
    /// Also write the table here.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `Ok(false)`: the run finished but an invariant was violated.
async fn run(cli: Cli) -> anyhow::Result<bool> {
    match cli.command {
        Command::FlashSale(a) => scenario_command(Scenario::FlashSale, a).await,
        Command::HotSeats(a) => scenario_command(Scenario::HotSeats, a).await,
        Command::Mixed(a) => scenario_command(Scenario::Mixed, a).await,
        Command::Sweep(a) => sweep_command(a).await,
        Command::Floor(a) => floor_command(&a),
        Command::Table(a) => table_command(&a),
        Command::Ruler(a) => ruler_command(&a),
    }
}

/// The system under test: a server we started, or one given by URL.
struct Target {
    local: Option<LocalRuntime>,
    /// A server this run started and may kill (`--server-command`, or the
    /// local runtime with `--kills`).
    process: Option<ServerProcess>,
    /// A state directory made for the run, removed after it.
    made_state_dir: Option<PathBuf>,
    base_url: String,
    admin_token: String,
    rss_pids: Vec<u32>,
    system: String,
    /// Read the server's key-value call counts (`RunConfig::kv_calls`).
    kv_calls: bool,
}

async fn start_target(args: &TargetArgs, kills: bool) -> anyhow::Result<Target> {
    let server_log = args
        .server_log
        .clone()
        .unwrap_or_else(|| args.out_dir.join("server.log"));
    if let Some(dir) = server_log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    if let Some(url) = &args.base_url {
        if let Some(token) = &args.confirm_token {
            booking_load::client::register_confirm_token(url, token);
        }
        let process = match &args.server_command {
            Some(command) => {
                Some(ServerProcess::start(ServerSpec::shell(command, url, server_log)).await?)
            }
            None => None,
        };
        return Ok(Target {
            local: None,
            process,
            made_state_dir: None,
            base_url: url.clone(),
            admin_token: args.admin_token.clone(),
            rss_pids: args.rss_pids.clone(),
            system: "server".to_owned(),
            kv_calls: args.kv_calls,
        });
    }
    let mut options = RuntimeOptions::from_workspace();
    if let Some(manifest) = &args.manifest {
        options.manifest = manifest.clone();
    }
    options.sqlite_wal = args.sqlite_wal;
    options.in_memory = args.in_memory;
    options.shed_load = args.shed_load;
    if kills {
        return start_restartable_local(args, &options, server_log).await;
    }
    let local = LocalRuntime::start(&options)?;
    let mut rss_pids = args.rss_pids.clone();
    rss_pids.push(local.pid);
    Ok(Target {
        base_url: local.base_url.clone(),
        admin_token: local.admin_token.clone(),
        local: Some(local),
        rss_pids,
        process: None,
        made_state_dir: None,
        system: if args.sqlite_wal {
            "booking-host-wal"
        } else {
            "booking-host"
        }
        .to_owned(),
        kv_calls: true,
    })
}

/// The local runtime on a fixed port and state directory, so that it can be
/// killed and started again on the same state (`--kills`).
async fn start_restartable_local(
    args: &TargetArgs,
    options: &RuntimeOptions,
    server_log: PathBuf,
) -> anyhow::Result<Target> {
    if options.in_memory {
        anyhow::bail!("--kills needs a store on disk: drop --in-memory");
    }
    let (state_dir, made_state_dir) = match &args.state_dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let dir = std::env::temp_dir().join(format!(
                "booking-load-kills-{}-{:08x}",
                std::process::id(),
                fastrand::u32(..)
            ));
            (dir.clone(), Some(dir))
        }
    };
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("create {}", state_dir.display()))?;
    let port = restart::free_local_port()?;
    let base_url = format!("http://127.0.0.1:{port}");
    let admin_token = format!("load-{:016x}", fastrand::u64(..));
    let confirm_token = format!(
        "load-confirm-{:016x}{:016x}",
        fastrand::u64(..),
        fastrand::u64(..)
    );
    let mut spawn_args: Vec<std::ffi::OsString> = vec!["up".into(), "--exit-on-stdin-eof".into()];
    spawn_args.extend(["--from".into(), options.manifest.clone().into_os_string()]);
    spawn_args.extend(["--listen".into(), format!("127.0.0.1:{port}").into()]);
    spawn_args.extend(["--state-dir".into(), state_dir.clone().into_os_string()]);
    if options.sqlite_wal {
        spawn_args.push("--sqlite-wal".into());
    }
    if options.shed_load {
        spawn_args.push("--shed-load".into());
    }
    let spec = ServerSpec {
        program: options.host_bin.clone(),
        args: spawn_args,
        env: vec![
            ("SPIN_VARIABLE_ADMIN_TOKEN".to_owned(), admin_token.clone()),
            (
                "SPIN_VARIABLE_CONFIRM_TOKEN".to_owned(),
                confirm_token.clone(),
            ),
        ],
        base_url: base_url.clone(),
        log_path: server_log,
        hold_stdin: true,
    };
    let process = ServerProcess::start(spec).await?;
    booking_load::client::register_confirm_token(&base_url, &confirm_token);
    Ok(Target {
        local: None,
        process: Some(process),
        made_state_dir,
        base_url,
        admin_token,
        rss_pids: args.rss_pids.clone(),
        system: "booking-host".to_owned(),
        // Counts start again at every restart: not a figure of the run.
        kv_calls: false,
    })
}

impl Target {
    /// Stops what the run started and removes the state directory it made.
    fn finish(self) -> Option<String> {
        if let Some(process) = self.process {
            process.stop();
        }
        if let Some(dir) = &self.made_state_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        self.local.and_then(LocalRuntime::stop)
    }
}

fn peak_rss_mib(pids: &[u32]) -> Option<f64> {
    let kib: Vec<u64> = pids
        .iter()
        .filter_map(|&p| server::peak_rss_kib(p))
        .collect();
    (!kib.is_empty()).then(|| kib.iter().sum::<u64>() as f64 / 1024.0)
}

fn run_file(result: &RunResult) -> RunFile {
    RunFile {
        figures: result.figures.clone(),
        violations: result
            .check
            .violations
            .iter()
            .map(ViolationRecord::from)
            .collect(),
        violation_counts: result
            .check
            .counts
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect(),
    }
}

fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    std::fs::write(path, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("write {}", path.display()))
}

/// Prints the violations, and keeps the runtime's stderr beside the results.
fn report_violations(file: &RunFile, target: &Target, out_dir: &Path) {
    if file.figures.violations > 0 {
        if let Some(local) = &target.local {
            let path = out_dir.join(format!("{}.runtime-stderr.txt", file.figures.label));
            let written = std::fs::create_dir_all(out_dir)
                .and_then(|()| std::fs::write(&path, local.stderr_tail()));
            if let Err(e) = written {
                eprintln!("cannot write {}: {e}", path.display());
            }
        }
        eprintln!(
            "INVARIANT VIOLATIONS in {}: {:?}",
            file.figures.label, file.violation_counts
        );
        for v in &file.violations {
            eprintln!("  [{}] {}", v.rule, v.evidence);
        }
    }
}

async fn scenario_command(scenario: Scenario, args: RunArgs) -> anyhow::Result<bool> {
    let load = match args.rate {
        Some(rate) => LoadModel::Open {
            rate_per_second: rate,
        },
        None => LoadModel::Closed {
            concurrency: args.concurrency,
        },
    };
    let mut config = args.load.config(scenario, load, !args.target.no_progress);
    let kills = args.kills > 0;
    let mut target = start_target(&args.target, kills).await?;
    config.kv_calls = target.kv_calls;
    let killer = if kills {
        let Some(server) = target.process.take() else {
            anyhow::bail!(
                "--kills needs a server this run starts: the local runtime, or --server-command"
            );
        };
        config.retry_unanswered = true;
        config.rest_past_expiry = true;
        let (gap_min_ms, gap_max_ms) = match args.kill_gap_ms.as_slice() {
            [low, high] if low <= high => (*low, *high),
            _ => anyhow::bail!("--kill-gap-ms wants MIN,MAX with MIN <= MAX"),
        };
        Some(Killer {
            server,
            plan: KillPlan {
                kills: args.kills,
                seed: config.seed,
                gap_min_ms,
                gap_max_ms,
            },
        })
    } else {
        None
    };
    let (result, server) =
        scenario::run_with_kills(&target.base_url, &target.admin_token, &config, killer).await?;
    target.process = target.process.or(server);
    let mut file = run_file(&result);
    file.figures.peak_rss_mib = peak_rss_mib(&target.rss_pids);
    file.figures.label = args
        .target
        .label
        .clone()
        .unwrap_or_else(|| format!("{}-{}", target.system, scenario.name()));
    report_violations(&file, &target, &args.target.out_dir);
    let runtime_exit = target.finish();
    if let Some(kv_calls) = file.figures.kv_calls.as_mut() {
        kv_calls.runtime_exit = runtime_exit;
    }
    let kills_short = file
        .figures
        .kills
        .as_ref()
        .filter(|k| k.kills < u64::from(args.kills));
    if let Some(k) = kills_short {
        eprintln!(
            "KILLS: {} of the {} planned happened before the load ended (make the run longer or the gaps shorter)",
            k.kills, args.kills
        );
    }
    let enough_kills = kills_short.is_none();
    let markdown = report::run_markdown(&file);
    println!("{markdown}");
    let stem = args.target.out_dir.join(&file.figures.label);
    write_json(&stem.with_extension("json"), &file)?;
    std::fs::write(stem.with_extension("md"), &markdown)?;
    if let Err(e) = report::run_chart(&file, &stem.with_extension("png")) {
        eprintln!("chart not written: {e}");
    }
    Ok(file.figures.violations == 0 && enough_kills)
}

async fn sweep_command(args: SweepArgs) -> anyhow::Result<bool> {
    let target = start_target(&args.target, false).await?;
    let label = args
        .target
        .label
        .clone()
        .unwrap_or_else(|| format!("{}-sweep-{}", target.system, args.scenario.name()));
    let mut sweep = SweepFile {
        label: label.clone(),
        scenario: args.scenario.name().to_owned(),
        steps: Vec::new(),
        sustained_rate_per_second: None,
    };
    let mut failed_in_a_row = 0;
    let mut clean = true;
    for &rate in &args.rates {
        let mut config = args.load.config(
            args.scenario,
            LoadModel::Open {
                rate_per_second: rate,
            },
            !args.target.no_progress,
        );
        config.buyers = ((rate * args.seconds).round() as u64).max(1);
        config.kv_calls = target.kv_calls;
        let result = scenario::run(&target.base_url, &target.admin_token, &config).await?;
        let mut file = run_file(&result);
        file.figures.label = format!("{label}@{rate:.0}");
        file.figures.peak_rss_mib = peak_rss_mib(&target.rss_pids);
        report_violations(&file, &target, &args.target.out_dir);
        clean &= file.figures.violations == 0;
        let per_attempt = file
            .figures
            .route(booking_load::log::Route::Hold)
            .map(|r| r.p99_ms);
        let ms = |p: Option<f64>| p.map_or_else(|| "–".to_owned(), |p| format!("{p:.1}"));
        let sustained = report::step_sustained(&file.figures);
        eprintln!(
            "{label}: {rate:.0} buyers/s -> hold p99 {} ms per buyer, {} ms per attempt, \
             {:.2}% of buyers shed, {:.0} requests/s{}",
            ms(file.figures.buyer_hold_p99_ms()),
            ms(per_attempt),
            file.figures.shed_percent(),
            file.figures.requests_per_second,
            if sustained { "" } else { "  (over the limit)" }
        );
        if sustained {
            sweep.sustained_rate_per_second = Some(rate);
            failed_in_a_row = 0;
        } else {
            failed_in_a_row += 1;
        }
        sweep.steps.push(file);
        if failed_in_a_row >= SWEEP_STOP_AFTER_FAILED_STEPS {
            break;
        }
    }
    let runtime_exit = target.finish();
    if let Some(kv_calls) = sweep
        .steps
        .last_mut()
        .and_then(|step| step.figures.kv_calls.as_mut())
    {
        kv_calls.runtime_exit = runtime_exit;
    }
    let markdown = report::side_by_side(&[], std::slice::from_ref(&sweep));
    println!("{markdown}");
    let stem = args.target.out_dir.join(&label);
    write_json(&stem.with_extension("json"), &sweep)?;
    // One step (a sweep run rate by rate) makes no line: `table` draws the joined sweeps.
    if sweep.steps.len() > 1
        && let Err(e) =
            report::sweep_chart(std::slice::from_ref(&sweep), &stem.with_extension("png"))
    {
        eprintln!("chart not written: {e}");
    }
    Ok(clean)
}

fn floor_command(args: &FloorArgs) -> anyhow::Result<bool> {
    let dir = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let mut runs = Vec::new();
    let modes: &[bool] = if args.with_wal {
        &[false, true]
    } else {
        &[false]
    };
    for &wal in modes {
        for &keys in &args.keys {
            let run = floor::run(&dir, keys, args.seconds, args.value_bytes, wal)?;
            eprintln!(
                "floor: {} key(s), {}: {:.0} CAS round trips/s (p50 {:.2} ms, p99 {:.2} ms)",
                run.keys, run.journal, run.round_trips_per_second, run.p50_ms, run.p99_ms
            );
            runs.push(run);
        }
    }
    let mut md = String::from(
        "| keys | journal | CAS round trips/s | p50 ms | p99 ms |\n|---:|---|---:|---:|---:|\n",
    );
    for r in &runs {
        md.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} |\n",
            r.keys, r.journal, r.round_trips_per_second, r.p50_ms, r.p99_ms
        ));
    }
    println!("{md}");
    write_json(&args.out_dir.join("floor.json"), &runs)?;
    std::fs::write(args.out_dir.join("floor.md"), md)?;
    Ok(true)
}

fn table_command(args: &TableArgs) -> anyhow::Result<bool> {
    let mut runs = Vec::new();
    let mut sweeps = Vec::new();
    for path in &args.files {
        let text = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
        if let Ok(sweep) = serde_json::from_slice::<SweepFile>(&text) {
            sweeps.push(sweep);
        } else {
            let run: RunFile = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not a booking-load result", path.display()))?;
            runs.push(run);
        }
    }
    let sweeps = report::merge_sweeps(sweeps);
    let md = report::side_by_side(&runs, &sweeps);
    println!("{md}");
    if let Some(out) = &args.out {
        std::fs::write(out, &md)?;
    }
    if let Some(chart) = &args.chart
        && let Err(e) = report::sweep_chart(&sweeps, chart)
    {
        eprintln!("chart not written: {e}");
    }
    Ok(runs.iter().all(|r| r.figures.violations == 0)
        && sweeps
            .iter()
            .all(|s| s.steps.iter().all(|st| st.figures.violations == 0)))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> anyhow::Result<T> {
    let text = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_slice(&text).with_context(|| format!("parse {}", path.display()))
}

/// The sweeps of one pass: every `<rate>/<label>.json` below `dir`.
fn sweep_pass(dir: &std::path::Path) -> anyhow::Result<Vec<SweepFile>> {
    let mut sweeps = Vec::new();
    for rate in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
        for file in std::fs::read_dir(rate?.path())? {
            let path = file?.path();
            if path.extension().is_some_and(|e| e == "json")
                && let Ok(sweep) = read_json::<SweepFile>(&path)
            {
                sweeps.push(sweep);
            }
        }
    }
    Ok(report::merge_sweeps(sweeps))
}

fn ruler_command(args: &RulerArgs) -> anyhow::Result<bool> {
    // Files that are not runs (the floor's, say) are passed over: the
    // bench hands every JSON of its folder.
    let runs: Vec<RunFile> = args
        .files
        .iter()
        .filter_map(|path| read_json::<RunFile>(path).ok())
        .collect();
    let passes = args
        .sweep_passes
        .iter()
        .map(|dir| sweep_pass(dir))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let floor = match &args.floor {
        Some(path) => {
            let rows: Vec<serde_json::Value> = read_json(path)?;
            rows.first()
                .and_then(|row| row["round_trips_per_second"].as_f64())
        }
        None => None,
    };
    let sustained = booking_load::ruler::sustained_medians(&passes);
    let md = booking_load::ruler::table(&runs, &sustained, floor);
    println!("{md}");
    if let Some(out) = &args.out {
        std::fs::write(out, &md)?;
    }
    Ok(true)
}
