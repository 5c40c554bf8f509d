//! Results on disk: JSON (everything), markdown tables, PNG charts.

use std::{fmt::Write as _, path::Path, sync::OnceLock};

use plotters::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{
    check::Violation,
    log::Route,
    scenario::LoadModel,
    stats::{Figures, Outcome, OutcomeLatency},
};

/// Where the chart font is looked for unless `BOOKING_LOAD_FONT` names one
/// (Debian's fonts-dejavu-core). Without a font the charts are skipped.
const DEFAULT_FONT_PATH: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";
const CHART_WIDTH_PX: u32 = 1_000;
const CHART_HEIGHT_PX: u32 = 700;
/// Orange: stands apart from the grid and from the systems' colours.
const LIMIT_LINE_COLOR: RGBColor = RGBColor(255, 140, 0);
/// The latency bound of the "highest sustained rate" figure (per buyer).
pub const SUSTAINED_P99_LIMIT_MS: f64 = 100.0;
/// A sustained rate sheds fewer than this percent of the buyers.
pub const SUSTAINED_SHED_LIMIT_PERCENT: f64 = 1.0;

/// What a scenario run writes: its figures, and the verdict with evidence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunFile {
    pub figures: Figures,
    pub violations: Vec<ViolationRecord>,
    pub violation_counts: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ViolationRecord {
    pub rule: String,
    pub evidence: String,
}

impl From<&Violation> for ViolationRecord {
    fn from(v: &Violation) -> Self {
        Self {
            rule: v.rule.to_owned(),
            evidence: v.evidence.clone(),
        }
    }
}

/// An open-loop rate sweep of one system.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepFile {
    pub label: String,
    pub scenario: String,
    pub steps: Vec<RunFile>,
    /// The highest offered rate whose per-buyer hold p99 stayed under the
    /// limit, with fewer than 1% of buyers shed, no violation and no
    /// unanswered request.
    pub sustained_rate_per_second: Option<f64>,
}

/// The hold p99 a sweep is judged by: per buyer, from arrival to a definite
/// answer across retries (files written before it existed: per attempt).
pub fn sustain_p99_ms(f: &Figures) -> Option<f64> {
    f.buyer_hold_p99_ms()
        .or_else(|| f.route(Route::Hold).map(|r| r.p99_ms))
}

/// A sweep step counts as sustained when the per-buyer hold p99 stayed under
/// the limit, fewer than 1% of buyers were shed, nothing broke an invariant,
/// and every request was answered.
pub fn step_sustained(f: &Figures) -> bool {
    sustain_p99_ms(f).is_some_and(|p| p < SUSTAINED_P99_LIMIT_MS)
        && f.shed_percent() < SUSTAINED_SHED_LIMIT_PERCENT
        && f.violations == 0
        && !f.outcomes.keys().any(|k| k.contains("no-answer"))
}

fn outcome_name(o: Option<Outcome>) -> &'static str {
    o.map_or("every buyer", Outcome::name)
}

fn latency_table(md: &mut String, title: &str, rows: &[OutcomeLatency]) {
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n| {title} | count | p50 ms | p95 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            outcome_name(r.outcome),
            r.count,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.max_ms
        );
    }
}

/// Joins sweeps of one label (a benchmark may run each rate apart, for every
/// system in turn, so that noise on the shared machine hits all of them alike).
pub fn merge_sweeps(sweeps: Vec<SweepFile>) -> Vec<SweepFile> {
    let mut merged: Vec<SweepFile> = Vec::new();
    for sweep in sweeps {
        match merged.iter_mut().find(|m| m.label == sweep.label) {
            Some(m) => m.steps.extend(sweep.steps),
            None => merged.push(sweep),
        }
    }
    for m in &mut merged {
        m.steps.sort_by(|a, b| {
            offered_rate(&a.figures)
                .unwrap_or(0.0)
                .total_cmp(&offered_rate(&b.figures).unwrap_or(0.0))
        });
        m.sustained_rate_per_second = m
            .steps
            .iter()
            .filter(|st| step_sustained(&st.figures))
            .filter_map(|st| offered_rate(&st.figures))
            .reduce(f64::max);
    }
    merged
}

pub fn load_text(load: &LoadModel) -> String {
    match load {
        LoadModel::Closed { concurrency } => format!("closed, {concurrency} concurrent"),
        LoadModel::Open { rate_per_second } => format!("open, {rate_per_second:.0} buyers/s"),
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}

/// A one-run markdown report.
pub fn run_markdown(run: &RunFile) -> String {
    let f = &run.figures;
    let mut md = String::new();
    let _ = writeln!(
        md,
        "### {} — {} ({}), seed {}\n",
        f.label,
        f.scenario,
        load_text(&f.load),
        f.seed
    );
    let _ = writeln!(md, "| figure | value |\n|---|---|");
    let rows = [
        ("buyers", f.buyers.to_string()),
        ("capacity (units)", f.capacity.to_string()),
        (
            "shards",
            f.shards
                .map_or_else(|| "default".to_owned(), |s| s.to_string()),
        ),
        ("load phase (s)", format!("{:.2}", f.elapsed_seconds)),
        ("requests", f.requests.to_string()),
        ("requests/s", format!("{:.0}", f.requests_per_second)),
        ("holds granted", f.holds_granted.to_string()),
        ("buyers who sent a hold", f.hold_buyers.to_string()),
        (
            "buyers shed (still \"retry later\" after their last attempt)",
            format!("{} ({:.2}%)", f.buyers_shed, f.shed_percent()),
        ),
        (
            "hold retries (after a 503 or 409 request-in-progress)",
            f.hold_retries.to_string(),
        ),
        (
            "confirm/release races injected",
            f.confirm_release_races.to_string(),
        ),
        (
            "concurrent Idempotency-Key replays injected",
            f.concurrent_replays.to_string(),
        ),
        ("successful holds/s", format!("{:.1}", f.holds_per_second)),
        (
            "successful writes/s (holds+confirms+releases)",
            format!("{:.1}", f.writes_per_second),
        ),
        (
            "CAS retries per successful write",
            format!("{:.3}", f.conflict_rate),
        ),
        (
            "CAS retries per request",
            format!("{:.3}", f.cas_retries_per_request),
        ),
        (
            "successful writes/s until sell-out",
            opt(f.sale_writes_per_second, 1),
        ),
        ("sold (confirmed units)", f.sold.to_string()),
        (
            "sell-out: last granted hold (s)",
            opt(f.sell_out_seconds, 2),
        ),
        (
            "first sold-out answer (s)",
            opt(f.first_sold_out_seconds, 2),
        ),
        (
            "peak RSS of the service (MiB)",
            f.peak_rss_mib.map_or_else(
                || "not measured: pass --rss-pid <pid of the server>".to_owned(),
                |mib| format!("{mib:.1}"),
            ),
        ),
        (
            "machine load avg before / after",
            format!("{} / {}", opt(f.loadavg_before, 2), opt(f.loadavg_after, 2)),
        ),
        ("invariant violations", f.violations.to_string()),
        (
            "change records followed (feed checked)",
            f.feed_records
                .map_or("not followed".into(), |n| n.to_string()),
        ),
    ];
    for (name, value) in rows {
        let _ = writeln!(md, "| {name} | {value} |");
    }
    if let Some(k) = &f.kills {
        let _ = writeln!(
            md,
            "| kills (SIGKILL, restarted on the same state) | {} of {} planned |\n\
             | down per kill: mean / max (ms) | {:.0} / {} |\n\
             | requests the kills left unanswered (counted, not violations) | {} |\n\
             | attempts sent again after no answer (same key / payment_ref) | {} |",
            k.kills,
            k.plan.kills,
            k.mean_down_ms,
            k.max_down_ms,
            k.unanswered_in_kills,
            k.unanswered_retries
        );
    }
    latency_table(
        &mut md,
        "hold, per buyer: arrival to definite answer, across retries",
        &f.buyer_hold_latency,
    );
    latency_table(
        &mut md,
        "hold, per attempt, by the attempt's answer",
        &f.hold_attempt_latency,
    );
    let _ = writeln!(
        md,
        "\n| route (per attempt) | count | p50 ms | p95 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|---:|"
    );
    for r in &f.latency {
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            r.route.name(),
            r.count,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.max_ms
        );
    }
    let _ = writeln!(md, "\n| answer | count |\n|---|---:|");
    for (k, v) in &f.outcomes {
        let _ = writeln!(md, "| {k} | {v} |");
    }
    if !run.violations.is_empty() {
        let _ = writeln!(md, "\n**Invariant violations:**\n");
        for v in &run.violations {
            let _ = writeln!(md, "- `{}`: {}", v.rule, v.evidence.replace('\n', " "));
        }
    }
    md
}

/// Side by side: one column per run.
pub fn side_by_side(runs: &[RunFile], sweeps: &[SweepFile]) -> String {
    let mut md = String::new();
    if !runs.is_empty() {
        let _ = write!(md, "| figure |");
        for r in runs {
            let _ = write!(md, " {} |", r.figures.label);
        }
        let _ = write!(md, "\n|---|");
        for _ in runs {
            let _ = write!(md, "---:|");
        }
        md.push('\n');
        let route = |f: &Figures, route: Route, pick: fn(&crate::stats::RouteLatency) -> f64| {
            f.route(route)
                .map_or_else(|| "–".to_owned(), |r| format!("{:.1}", pick(r)))
        };
        type Row = (&'static str, Box<dyn Fn(&Figures) -> String>);
        let rows: Vec<Row> = vec![
            ("scenario", Box::new(|f| f.scenario.clone())),
            ("load", Box::new(|f| load_text(&f.load))),
            ("buyers", Box::new(|f| f.buyers.to_string())),
            (
                "capacity / shards",
                Box::new(|f| {
                    format!(
                        "{} / {}",
                        f.capacity,
                        f.shards
                            .map_or_else(|| "default".to_owned(), |s| s.to_string())
                    )
                }),
            ),
            (
                "load phase (s)",
                Box::new(|f| format!("{:.2}", f.elapsed_seconds)),
            ),
            (
                "requests/s",
                Box::new(|f| format!("{:.0}", f.requests_per_second)),
            ),
            (
                "successful holds/s",
                Box::new(|f| format!("{:.1}", f.holds_per_second)),
            ),
            (
                "successful writes/s",
                Box::new(|f| format!("{:.1}", f.writes_per_second)),
            ),
            (
                "writes/s until sell-out",
                Box::new(|f| opt(f.sale_writes_per_second, 1)),
            ),
            (
                "CAS retries / write",
                Box::new(|f| format!("{:.3}", f.conflict_rate)),
            ),
            (
                "CAS retries / request",
                Box::new(|f| format!("{:.3}", f.cas_retries_per_request)),
            ),
            (
                "sold / capacity",
                Box::new(|f| format!("{} / {}", f.sold, f.capacity)),
            ),
            ("sell-out (s)", Box::new(|f| opt(f.sell_out_seconds, 2))),
            (
                "hold p50 / p99 ms per buyer (arrival to answer)",
                Box::new(|f| {
                    f.buyer_latency(None).map_or_else(
                        || "–".to_owned(),
                        |l| format!("{:.1} / {:.1}", l.p50_ms, l.p99_ms),
                    )
                }),
            ),
            (
                "hold p99 ms per buyer: granted / refused",
                Box::new(|f| {
                    let p = |o| opt(f.buyer_latency(Some(o)).map(|l| l.p99_ms), 1);
                    format!("{} / {}", p(Outcome::Granted), p(Outcome::Refused))
                }),
            ),
            (
                "buyers shed",
                Box::new(|f| format!("{} ({:.2}%)", f.buyers_shed, f.shed_percent())),
            ),
            (
                "hold p50 ms per attempt",
                Box::new(move |f| route(f, Route::Hold, |r| r.p50_ms)),
            ),
            (
                "hold p95 ms per attempt",
                Box::new(move |f| route(f, Route::Hold, |r| r.p95_ms)),
            ),
            (
                "hold p99 ms per attempt",
                Box::new(move |f| route(f, Route::Hold, |r| r.p99_ms)),
            ),
            (
                "hold max ms per attempt",
                Box::new(move |f| route(f, Route::Hold, |r| r.max_ms)),
            ),
            (
                "confirm p99 ms",
                Box::new(move |f| route(f, Route::Confirm, |r| r.p99_ms)),
            ),
            (
                "release p99 ms",
                Box::new(move |f| route(f, Route::Release, |r| r.p99_ms)),
            ),
            (
                "availability p99 ms",
                Box::new(move |f| route(f, Route::Availability, |r| r.p99_ms)),
            ),
            ("peak RSS (MiB)", Box::new(|f| opt(f.peak_rss_mib, 1))),
            (
                "load avg before / after",
                Box::new(|f| format!("{} / {}", opt(f.loadavg_before, 1), opt(f.loadavg_after, 1))),
            ),
            (
                "invariant violations",
                Box::new(|f| f.violations.to_string()),
            ),
        ];
        for (name, value) in &rows {
            let _ = write!(md, "| {name} |");
            for r in runs {
                let _ = write!(md, " {} |", value(&r.figures));
            }
            md.push('\n');
        }
    }
    if !sweeps.is_empty() {
        let _ = writeln!(
            md,
            "\nOpen-loop sweep, hold p99 in ms per offered rate: per buyer (from its arrival to a \
             definite answer, across retries) / per attempt; sustained: per-buyer p99 < \
             {SUSTAINED_P99_LIMIT_MS:.0} ms and fewer than {SUSTAINED_SHED_LIMIT_PERCENT:.0}% of \
             buyers shed:\n"
        );
        let mut rates: Vec<f64> = sweeps
            .iter()
            .flat_map(|s| s.steps.iter().filter_map(|st| offered_rate(&st.figures)))
            .collect();
        rates.sort_by(f64::total_cmp);
        rates.dedup();
        let _ = write!(md, "| system | highest sustained rate |");
        for rate in &rates {
            let _ = write!(md, " {rate:.0}/s |");
        }
        let _ = write!(md, "\n|---|---:|");
        for _ in &rates {
            let _ = write!(md, "---:|");
        }
        md.push('\n');
        for s in sweeps {
            let _ = write!(
                md,
                "| {} | {} |",
                s.label,
                opt(s.sustained_rate_per_second, 0)
            );
            for rate in &rates {
                let step = s
                    .steps
                    .iter()
                    .find(|st| offered_rate(&st.figures) == Some(*rate));
                let text = step.map_or_else(|| "–".to_owned(), |st| sweep_cell(&st.figures));
                let _ = write!(md, " {text} |");
            }
            md.push('\n');
        }
    }
    md
}

/// One sweep step: per-buyer / per-attempt hold p99, then what went wrong.
fn sweep_cell(f: &Figures) -> String {
    let mut text = format!(
        "{} / {}",
        opt(f.buyer_hold_p99_ms(), 1),
        opt(f.route(Route::Hold).map(|r| r.p99_ms), 1)
    );
    if f.buyers_shed > 0 {
        let _ = write!(text, " ({:.1}% shed)", f.shed_percent());
    }
    if f.violations > 0 {
        let _ = write!(text, " ({} violations)", f.violations);
    }
    text
}

pub fn offered_rate(f: &Figures) -> Option<f64> {
    match f.load {
        LoadModel::Open { rate_per_second } => Some(rate_per_second),
        LoadModel::Closed { .. } => None,
    }
}

/// Registers the chart font once; `false` when no font file could be read.
fn font_ready() -> bool {
    static READY: OnceLock<bool> = OnceLock::new();
    *READY.get_or_init(|| {
        let path =
            std::env::var("BOOKING_LOAD_FONT").unwrap_or_else(|_| DEFAULT_FONT_PATH.to_owned());
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!("no chart font at {path} (set BOOKING_LOAD_FONT): PNG charts skipped");
            return false;
        };
        // plotters keeps fonts for the whole process, so the bytes live as long.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
    })
}

type ChartResult = Result<(), Box<dyn std::error::Error>>;

/// Draws into an RGB buffer and writes it as a PNG file.
fn render_png(
    path: &Path,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> ChartResult,
) -> ChartResult {
    let mut rgb = vec![0u8; CHART_WIDTH_PX as usize * CHART_HEIGHT_PX as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (CHART_WIDTH_PX, CHART_HEIGHT_PX))
            .into_drawing_area();
        draw(&root)?;
        root.present()?;
    }
    write_png_rgb(path, &rgb, CHART_WIDTH_PX, CHART_HEIGHT_PX)?;
    Ok(())
}

/// Writes 8-bit RGB pixels as a PNG file (the `png` crate). Build
/// booking-load in its own cargo invocation, apart from booking-host: `png`
/// turns on crc32fast's `default` feature, which wasmtime's tree uses too
/// (see tests/load/README.md).
fn write_png_rgb(path: &Path, rgb: &[u8], width: u32, height: u32) -> ChartResult {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(())
}

/// Requests/s and hold p99 over the run, one point per second.
pub fn run_chart(run: &RunFile, path: &Path) -> ChartResult {
    if !font_ready() {
        return Ok(());
    }
    render_png(path, |root| draw_run(run, root))
}

fn draw_run(
    run: &RunFile,
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
) -> ChartResult {
    let f = &run.figures;
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(CHART_HEIGHT_PX / 2);
    let x_max = f
        .timeline
        .iter()
        .map(|p| p.second + 1.0)
        .fold(1.0, f64::max);
    let rps_max = f
        .timeline
        .iter()
        .map(|p| p.requests_per_second)
        .fold(1.0, f64::max)
        * 1.1;
    let p99_max = f
        .timeline
        .iter()
        .map(|p| p.hold_p99_ms.max(p.buyer_hold_p99_ms))
        .fold(1.0, f64::max)
        * 1.1;
    let title = format!("{} — {} ({})", f.label, f.scenario, load_text(&f.load));
    let mut chart = ChartBuilder::on(&top)
        .caption(format!("{title}: requests/s"), ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..rps_max)?;
    chart.configure_mesh().x_desc("seconds").draw()?;
    chart.draw_series(LineSeries::new(
        f.timeline.iter().map(|p| (p.second, p.requests_per_second)),
        &BLUE,
    ))?;
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            "hold latency p99 (ms), per second: per buyer (from arrival) and per attempt",
            ("sans-serif", 18),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..p99_max)?;
    chart.configure_mesh().x_desc("seconds").draw()?;
    chart
        .draw_series(LineSeries::new(
            f.timeline
                .iter()
                .filter(|p| p.buyer_hold_p99_ms > 0.0)
                .map(|p| (p.second, p.buyer_hold_p99_ms)),
            BLUE.stroke_width(2),
        ))?
        .label("per buyer")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            f.timeline
                .iter()
                .filter(|p| p.hold_p99_ms > 0.0)
                .map(|p| (p.second, p.hold_p99_ms)),
            &RED,
        ))?
        .label("per attempt")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Hold p99 against offered rate, one line per system.
pub fn sweep_chart(sweeps: &[SweepFile], path: &Path) -> ChartResult {
    if !font_ready() || sweeps.is_empty() {
        return Ok(());
    }
    let points: Vec<Vec<(f64, f64)>> = sweeps
        .iter()
        .map(|s| {
            s.steps
                .iter()
                .filter_map(|st| Some((offered_rate(&st.figures)?, sustain_p99_ms(&st.figures)?)))
                .collect()
        })
        .collect();
    render_png(path, |root| draw_sweep(sweeps, &points, root))
}

fn draw_sweep(
    sweeps: &[SweepFile],
    points: &[Vec<(f64, f64)>],
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
) -> ChartResult {
    let x_max = points.iter().flatten().map(|p| p.0).fold(1.0, f64::max) * 1.05;
    let y_max = points
        .iter()
        .flatten()
        .map(|p| p.1)
        .fold(SUSTAINED_P99_LIMIT_MS, f64::max)
        * 1.2;
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption(
            "flash sale, open loop: hold p99 per buyer (ms, log) vs offered buyers/s",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, (0.5..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("offered buyers/s")
        .y_desc("hold p99 ms, per buyer")
        .draw()?;
    chart
        .draw_series(LineSeries::new(
            [
                (0.0, SUSTAINED_P99_LIMIT_MS),
                (x_max, SUSTAINED_P99_LIMIT_MS),
            ],
            LIMIT_LINE_COLOR.stroke_width(3),
        ))?
        .label(format!("p99 limit, {SUSTAINED_P99_LIMIT_MS:.0} ms"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], LIMIT_LINE_COLOR.stroke_width(3)));
    let palette = [BLUE, RED, GREEN, MAGENTA, CYAN];
    for (i, (sweep, line)) in sweeps.iter().zip(points).enumerate() {
        let color = palette[i % palette.len()];
        chart
            .draw_series(LineSeries::new(
                line.iter().map(|p| (p.0, p.1.max(0.5))),
                color.stroke_width(2),
            ))?
            .label(sweep.label.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(
            line.iter()
                .map(|p| Circle::new((p.0, p.1.max(0.5)), 4, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_png_written_reads_back_pixel_for_pixel() {
        let (width, height) = (3u32, 2u32);
        let rgb: Vec<u8> = (0..width * height * 3).map(|i| (i * 13) as u8).collect();
        let path =
            std::env::temp_dir().join(format!("booking-load-png-{}.png", std::process::id()));
        write_png_rgb(&path, &rgb, width, height).expect("write");
        let decoder = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(&path).expect("open"),
        ));
        let mut reader = decoder.read_info().expect("a PNG header");
        let mut pixels = vec![0; reader.output_buffer_size().expect("size")];
        let frame = reader.next_frame(&mut pixels).expect("a frame");
        let _ = std::fs::remove_file(&path);
        assert_eq!((frame.width, frame.height), (width, height));
        assert_eq!(frame.color_type, png::ColorType::Rgb);
        assert_eq!(&pixels[..frame.buffer_size()], &rgb[..]);
    }
}
