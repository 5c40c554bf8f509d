//! The ruler table (issue 20): each of our runs beside the ideal component's
//! run on the same runtime and store, as ratios, and the sweep's sustained
//! rate as the median over passes.
//!
//! Pairing is by label: the ideal's label is `ideal-` followed by ours
//! without a leading `ours-` (`ours-flash-sale` ↔ `ideal-flash-sale`,
//! `spin-flash-sale` ↔ `ideal-spin-flash-sale`, `ours-sweep` ↔
//! `ideal-sweep`).

use std::fmt::Write as _;

use crate::report::{RunFile, SweepFile};
use crate::stats::Figures;

/// The ideal component's label for our run `label`.
pub fn ideal_label(label: &str) -> String {
    format!("ideal-{}", label.strip_prefix("ours-").unwrap_or(label))
}

/// The median of `values` (the lower middle for an even count); `None` when
/// empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len().saturating_sub(1) / 2).copied()
}

/// Sustained rate per sweep label: the median over passes (each pass one
/// merged sweep of that label; a pass that sustained no rate counts as 0).
pub fn sustained_medians(passes: &[Vec<SweepFile>]) -> Vec<(String, f64, usize)> {
    let mut labels: Vec<String> = passes.iter().flatten().map(|s| s.label.clone()).collect();
    labels.sort();
    labels.dedup();
    labels
        .into_iter()
        .filter_map(|label| {
            let mut rates: Vec<f64> = passes
                .iter()
                .filter_map(|pass| pass.iter().find(|s| s.label == label))
                .map(|s| s.sustained_rate_per_second.unwrap_or(0.0))
                .collect();
            let count = rates.len();
            median(&mut rates).map(|m| (label, m, count))
        })
        .collect()
}

fn ratio(ours: Option<f64>, ideal: Option<f64>) -> String {
    match (ours, ideal) {
        (Some(o), Some(i)) if i > 0.0 => format!("{:.2}", o / i),
        _ => "–".to_owned(),
    }
}

fn cell(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.decimals$}"))
}

/// One figure of a run, by name.
type Pick = fn(&Figures) -> Option<f64>;

const FIGURES: [(&str, Pick, usize); 4] = [
    ("requests/s", |f| Some(f.requests_per_second), 0),
    ("sell-out s", |f| f.sell_out_seconds, 2),
    (
        "hold p50 ms per buyer",
        |f| f.buyer_latency(None).map(|l| l.p50_ms),
        1,
    ),
    ("hold p99 ms per buyer", Figures::buyer_hold_p99_ms, 1),
];

/// The markdown table: every run of ours with an ideal twin, then the
/// sweeps. `floor_cas_per_second`: the storage floor (one hot key), for the
/// queueing bound of the default store's rows.
pub fn table(runs: &[RunFile], sustained: &[(String, f64, usize)], floor: Option<f64>) -> String {
    let mut md =
        String::from("| run | figure | ours | ideal | ours / ideal |\n|---|---|---:|---:|---:|\n");
    for ours in runs {
        let wanted = ideal_label(&ours.figures.label);
        let Some(ideal) = runs.iter().find(|r| r.figures.label == wanted) else {
            continue;
        };
        for (name, pick, decimals) in FIGURES {
            let (o, i) = (pick(&ours.figures), pick(&ideal.figures));
            let _ = writeln!(
                md,
                "| {} | {name} | {} | {} | {} |",
                ours.figures.label,
                cell(o, decimals),
                cell(i, decimals),
                ratio(o, i)
            );
        }
        let on_default_store = !wanted.contains("redis");
        if let (Some(floor), true) = (floor, on_default_store) {
            let bound = ideal.figures.writes_ok as f64 / floor;
            let _ = writeln!(
                md,
                "| {} | queueing bound: the ideal's {} writes ÷ floor {floor:.0}/s | | {bound:.2} s | |",
                ours.figures.label, ideal.figures.writes_ok
            );
        }
    }
    for (label, rate, passes) in sustained {
        let wanted = ideal_label(label);
        let Some((_, ideal, _)) = sustained.iter().find(|(l, ..)| *l == wanted) else {
            continue;
        };
        let _ = writeln!(
            md,
            "| {label} | sustained buyers/s (median of {passes}) | {rate:.0} | {ideal:.0} | {} |",
            ratio(Some(*rate), Some(*ideal))
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_pair_with_their_ideal() {
        assert_eq!(ideal_label("ours-flash-sale"), "ideal-flash-sale");
        assert_eq!(ideal_label("spin-flash-sale"), "ideal-spin-flash-sale");
        assert_eq!(ideal_label("ours-redis3-sweep"), "ideal-redis3-sweep");
    }

    #[test]
    fn the_median_of_passes() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [300.0]), Some(300.0));
        assert_eq!(median(&mut [500.0, 200.0, 300.0]), Some(300.0));
        assert_eq!(median(&mut [500.0, 200.0]), Some(200.0));
    }

    #[test]
    fn ratios_need_a_positive_ideal() {
        assert_eq!(ratio(Some(50.0), Some(100.0)), "0.50");
        assert_eq!(ratio(Some(50.0), Some(0.0)), "–");
        assert_eq!(ratio(None, Some(1.0)), "–");
    }
}
