//! Latency percentile reports from the histograms `ingest run --stats-json` writes (one per
//! stage, in HdrHistogram's encoding): a text table, the HdrHistogram percentile distribution
//! (`.hgrm`, the format HdrHistogram's own plotter reads) per stage, JSON, and an SVG plot with
//! the "1 in N" axis HdrHistogram plots use.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use ingest::daemon::Percentiles;

/// One stage's histogram.
#[derive(Clone, Debug)]
pub struct StageHistogram {
    /// The stage's name (`xdp_to_pickup`, `parse`, ...).
    pub name: String,
    /// Its samples, nanoseconds.
    pub h: Histogram<u64>,
}

/// The stages in a stats report (`latency_ns.histograms`), in the order `ingest` lists them.
pub fn stages_of(stats: &serde_json::Value) -> anyhow::Result<Vec<StageHistogram>> {
    let encoded = stats["latency_ns"]["histograms"]
        .as_object()
        .context("no latency_ns.histograms in the stats (written by an older ingest?)")?;
    let mut stages = Vec::new();
    for stage in ingest::datapath::pipeline::Stage::ALL {
        let name = stage.name();
        let Some(text) = encoded.get(name).and_then(|v| v.as_str()) else {
            continue;
        };
        let h = ingest::daemon::decode_histogram(text)
            .with_context(|| format!("decoding the {name} histogram"))?;
        stages.push(StageHistogram {
            name: name.to_string(),
            h,
        });
    }
    Ok(stages)
}

/// Percentiles per stage.
pub fn percentiles(stages: &[StageHistogram]) -> Vec<(String, Percentiles)> {
    stages
        .iter()
        .map(|s| (s.name.clone(), Percentiles::of(&s.h)))
        .collect()
}

fn micros(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1000.0)
}

/// The text table: one row per stage, microseconds.
pub fn table(stages: &[StageHistogram]) -> String {
    let mut out = format!(
        "{:<16} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}\n",
        "stage (µs)", "samples", "p50", "p90", "p99", "p99.9", "p99.99", "max"
    );
    for (name, p) in percentiles(stages) {
        let _ = writeln!(
            out,
            "{:<16} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}",
            name,
            p.count,
            micros(p.p50),
            micros(p.p90),
            micros(p.p99),
            micros(p.p999),
            micros(p.p9999),
            micros(p.max)
        );
    }
    out
}

/// HdrHistogram's percentile distribution text (as `outputPercentileDistribution` writes it,
/// five ticks per half distance), values in microseconds.
pub fn hgrm(h: &Histogram<u64>) -> String {
    let mut out = format!(
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    if h.is_empty() {
        return out;
    }
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let value = v.value_iterated_to() as f64 / 1000.0;
        let q = v.quantile_iterated_to();
        if q < 1.0 {
            let _ = writeln!(
                out,
                "{value:12.3} {q:2.12} {total:10} {:14.2}",
                1.0 / (1.0 - q)
            );
        } else {
            let _ = writeln!(out, "{value:12.3} {q:2.12} {total:10}");
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        h.mean() / 1000.0,
        h.stdev() / 1000.0
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        h.max() as f64 / 1000.0,
        h.len()
    );
    let _ = writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        h.distinct_values()
    );
    out
}

/// An SVG percentile plot: "1 in N" (log scale) across, latency (log scale, microseconds) up,
/// one line per stage.
pub fn svg(stages: &[StageHistogram], title: &str) -> String {
    const W: f64 = 980.0;
    const H: f64 = 520.0;
    const LEFT: f64 = 80.0;
    const RIGHT: f64 = 270.0;
    const TOP: f64 = 50.0;
    const BOTTOM: f64 = 60.0;
    const COLORS: [&str; 6] = [
        "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
    ];
    // Axes: x from 1 to 10^6 ("1 in N"), y from the smallest to the largest value, by decades.
    let x_decades = 6.0;
    let values = stages.iter().filter(|s| !s.h.is_empty());
    let lo = values.clone().map(|s| s.h.min().max(1)).min().unwrap_or(1) as f64 / 1000.0;
    let hi = values.map(|s| s.h.max().max(1)).max().unwrap_or(1000) as f64 / 1000.0;
    let (y0, y1) = (
        lo.log10().floor(),
        hi.log10().ceil().max(lo.log10().floor() + 1.0),
    );
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x_of = |one_in: f64| LEFT + one_in.max(1.0).log10().min(x_decades) / x_decades * plot_w;
    let y_of = |us: f64| TOP + plot_h - (us.max(1e-3).log10() - y0) / (y1 - y0) * plot_h;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" font-size="16" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        escape(title)
    );
    // Grid and labels.
    let labels = ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%", "99.9999%"];
    for (d, label) in labels.iter().enumerate() {
        let x = x_of(10f64.powi(d as i32));
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#ddd"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0
        );
    }
    let mut d = y0;
    while d <= y1 {
        let y = y_of(10f64.powf(d));
        let us = 10f64.powf(d);
        let label = if us >= 1.0 {
            format!("{us:.0}")
        } else {
            format!("{us}")
        };
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0
        );
        d += 1.0;
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile (1 in N: log scale)</text>"#,
        LEFT + plot_w / 2.0,
        H - 14.0
    );
    let _ = writeln!(
        s,
        r#"<text transform="translate(20 {:.1}) rotate(-90)" text-anchor="middle">latency, µs (log scale)</text>"#,
        TOP + plot_h / 2.0
    );
    let _ = writeln!(
        s,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#444"/>"##
    );
    // One line per stage, from the same percentile iteration as the .hgrm files.
    for (i, st) in stages.iter().filter(|s| !s.h.is_empty()).enumerate() {
        let color = COLORS[i % COLORS.len()];
        let mut points = Vec::new();
        for v in st.h.iter_quantiles(5) {
            let q = v.quantile_iterated_to();
            let one_in = if q < 1.0 { 1.0 / (1.0 - q) } else { 1e6 };
            let us = v.value_iterated_to() as f64 / 1000.0;
            points.push(format!("{:.1},{:.1}", x_of(one_in), y_of(us)));
        }
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        let ly = TOP + 10.0 + i as f64 * 20.0;
        let lx = LEFT + plot_w + 14.0;
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="3"/><text x="{}" y="{}">{} ({} samples)</text>"#,
            lx + 20.0,
            lx + 26.0,
            ly + 4.0,
            escape(&st.name),
            st.h.len()
        );
    }
    s.push_str("</svg>\n");
    s
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Writes the table (`PREFIX.txt`), one `.hgrm` per stage, the JSON (`PREFIX.json`) and the SVG
/// plot (`PREFIX.svg`) into `dir`; returns their paths.
pub fn write(
    dir: &Path,
    prefix: &str,
    title: &str,
    stages: &[StageHistogram],
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut files = Vec::new();
    let mut put = |name: String, text: String| -> anyhow::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        files.push(path);
        Ok(())
    };
    put(format!("{prefix}.txt"), table(stages))?;
    for s in stages {
        put(format!("{prefix}-{}.hgrm", s.name), hgrm(&s.h))?;
    }
    let json: serde_json::Map<String, serde_json::Value> = percentiles(stages)
        .into_iter()
        .map(|(name, p)| (name, serde_json::to_value(p).unwrap_or_default()))
        .collect();
    put(
        format!("{prefix}.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    put(format!("{prefix}.svg"), svg(stages, title))?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, values: impl Iterator<Item = u64>) -> StageHistogram {
        let mut h = ingest::datapath::pipeline::latency_histogram();
        for v in values {
            h.record(v).unwrap();
        }
        StageHistogram {
            name: name.into(),
            h,
        }
    }

    #[test]
    fn the_reports_say_what_the_histograms_hold() {
        // 1..=10,000 µs: p50 5 ms, p99 9.9 ms, max 10 ms (within the histograms' 1 %).
        let s = stage("xdp_to_detected", (1..=10_000).map(|v| v * 1000));
        let table = table(std::slice::from_ref(&s));
        let row = table.lines().nth(1).unwrap();
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[0], "xdp_to_detected");
        assert_eq!(cols[1], "10000");
        let p50: f64 = cols[2].parse().unwrap();
        assert!((p50 - 5000.0).abs() < 5000.0 * 0.01, "{row}");
        let max: f64 = cols[7].parse().unwrap();
        assert!((max - 10_000.0).abs() < 10_000.0 * 0.01, "{row}");

        let text = hgrm(&s.h);
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(2)
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| l.split_whitespace().collect())
            .collect();
        // Percentiles rise to 1, counts to the total, values never fall.
        let last = rows.last().unwrap();
        assert_eq!(last[1].parse::<f64>().unwrap(), 1.0);
        assert_eq!(last[2], "10000");
        assert!(rows.windows(2).all(|w| {
            w[0][0].parse::<f64>().unwrap() <= w[1][0].parse::<f64>().unwrap()
                && w[0][2].parse::<u64>().unwrap() <= w[1][2].parse::<u64>().unwrap()
        }));
        assert!(text.contains("Total count    =        10000"), "{text}");

        let plot = svg(&[s, stage("parse", (1..=1000).map(|v| v * 10))], "t");
        assert!(plot.starts_with("<svg") && plot.trim_end().ends_with("</svg>"));
        assert_eq!(plot.matches("<polyline").count(), 2);
        assert!(plot.contains("99.99%") && plot.contains("parse (1000 samples)"));
    }

    #[test]
    fn stages_come_back_from_a_stats_report() {
        let s = stage("parse", [120, 130, 5000].into_iter());
        let stats = serde_json::json!({"latency_ns": {"histograms": {
            "parse": ingest::daemon::encode_histogram(&s.h),
        }}});
        let back = stages_of(&stats).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].name, "parse");
        assert_eq!(back[0].h, s.h);
        assert!(stages_of(&serde_json::json!({})).is_err());
    }
}

/// The arguments of `bench report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The stats file.
    #[arg(long)]
    pub(crate) stats: PathBuf,
    /// Where to write the files.
    #[arg(long, default_value = ".")]
    pub(crate) out: PathBuf,
    /// File name prefix.
    #[arg(long, default_value = "latency")]
    pub(crate) name: String,
}

/// `bench report`.
pub fn command(args: ReportArgs) -> anyhow::Result<()> {
    let ReportArgs { stats, out, name } = args;
    let text = std::fs::read(&stats).with_context(|| format!("reading {}", stats.display()))?;
    let value: serde_json::Value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not JSON", stats.display()))?;
    let stages = stages_of(&value)?;
    print!("{}", table(&stages));
    let files = write(
        &out,
        &name,
        &format!("ingest: {}", stats.display()),
        &stages,
    )?;
    for f in files {
        println!("{}", f.display());
    }
    Ok(())
}
