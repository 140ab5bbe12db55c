//! Pictures of windows against limits: the windows judged, drawn as one standalone SVG
//! (`--plot FILE.svg`).
//!
//! - **What is drawn.** One bar per window on a time axis (UTC), its height the bytes counted;
//!   its colour the verdict (`ok`, `below_min`, `above_max`, `no_limits`, `invalid_limits`);
//!   a `no_data` window is a hatched grey band over the whole height instead (its bytes are a
//!   lower bound, not a measurement). The minimum and maximum in force at each window's end are
//!   steps over the windows (no step where there is no limit). Every window mark has a
//!   `<title>` (the tooltip: window, bytes, packets, verdict, limits) and machine-readable
//!   attributes: `class="window"`, `data-start`, `data-end`, `data-bytes`, `data-packets`,
//!   `data-verdict`, `data-complete`, and `data-min`/`data-max` when in force; each limit step
//!   is a `class="limit-min"` (`limit-max`) path with `data-min` (`data-max`), `data-start`
//!   and `data-end` (the run of adjacent windows it covers).
//! - **Scale.** Logarithmic (decades) when the largest value drawn (bytes and limits) is at
//!   least 100 times the smallest non-zero one, as it is when a 240 B window and a 1 GB
//!   maximum share one picture: a linear scale would flatten everything but the largest bar.
//!   Otherwise linear from 0. The axis says which. On the log scale a window of 0 bytes sits on
//!   the bottom line.
//! - **Air-gapped.** No script, no external font, stylesheet or image: attributes only, the
//!   generic `sans-serif` family.
//! - **Memory.** [`Windows`] keeps the latest [`CAP`] windows; older ones drop out and the
//!   title says how many were left out.
//!
//! [`render`] is pure: window summaries in, a `String` out. [`render_framed`] draws the same
//! chart for inclusion in an HTML page ([`Frame::Inline`]: the `<svg>` element alone, without
//! the XML declaration and the namespace, which HTML's parser supplies); the status page
//! (`status.rs`) uses it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use core_nostd::windows::Millis;
use host_db::time_text;

use crate::alert::human_bytes;
use crate::verdict::Verdict;

/// The most windows a chart keeps: 10,000 (about 35 days of 5-minute windows; under 1 MB in
/// memory, an SVG of a few MB). A fixed cap rather than a span, so that a short `--window`
/// cannot make it large.
pub const CAP: usize = 10_000;

/// One judged window, as the chart draws it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    /// First millisecond.
    pub start: Millis,
    /// First millisecond after it.
    pub end: Millis,
    /// Bytes counted.
    pub bytes: u64,
    /// Packets counted.
    pub packets: u64,
    /// The verdict.
    pub verdict: Verdict,
    /// The minimum in force at its end (for `invalid_limits`: the minimum above the maximum).
    pub min: Option<u64>,
    /// The maximum in force at its end.
    pub max: Option<u64>,
    /// Whether its input is known to be complete.
    pub complete: bool,
    /// Judged again with late records.
    pub revised: bool,
}

/// The windows judged so far, the latest [`CAP`] of them, in order of their start; a revised
/// window replaces its first judgement.
#[derive(Clone, Debug)]
pub struct Windows {
    points: BTreeMap<Millis, Point>,
    cap: usize,
    dropped: u64,
}

impl Default for Windows {
    fn default() -> Windows {
        Windows::with_cap(CAP)
    }
}

impl Windows {
    /// An empty chart that keeps the latest `cap` windows (at least one).
    pub fn with_cap(cap: usize) -> Windows {
        Windows {
            points: BTreeMap::new(),
            cap: cap.max(1),
            dropped: 0,
        }
    }

    /// Adds a judged window, or replaces it when it was judged before (a revision).
    pub fn record(&mut self, p: Point) {
        let known = self.points.contains_key(&p.start);
        // A revision of a window that already dropped out stays out (it was counted once).
        if !known
            && self.points.len() >= self.cap
            && self
                .points
                .first_key_value()
                .is_some_and(|(&k, _)| p.start < k)
        {
            return;
        }
        self.points.insert(p.start, p);
        while self.points.len() > self.cap {
            self.points.pop_first();
            self.dropped += 1;
        }
    }

    /// Windows kept.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Windows that dropped out (beyond the cap).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Forgets the windows that end before `end` (a view of a recent span only, as the status
    /// page's last 24 hours); they are not counted as [`Windows::dropped`].
    pub fn forget_ended_before(&mut self, end: Millis) {
        self.points.retain(|_, p| p.end >= end);
    }

    /// The end of the latest window kept.
    pub fn latest_end(&self) -> Option<Millis> {
        self.points.values().map(|p| p.end).max()
    }

    /// The chart of the windows kept, for traffic counted with `filter` (its text).
    pub fn render(&self, filter: &str) -> String {
        let points: Vec<Point> = self.points.values().cloned().collect();
        render(&points, filter, self.dropped)
    }

    /// [`Windows::render`], framed as `frame` says.
    pub fn render_framed(&self, filter: &str, frame: Frame) -> String {
        let points: Vec<Point> = self.points.values().cloned().collect();
        render_framed(&points, filter, self.dropped, frame)
    }
}

/// How the chart is wrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A standalone SVG file: the XML declaration, the `svg` element with its namespace.
    Standalone,
    /// An `svg` element inside an HTML document: no declaration, no namespace (HTML's parser
    /// puts `svg` in it; the page then names no URL at all).
    Inline,
}

/// Writes `svg` to `path` atomically (`path` + `.tmp`, then renamed over it), so that a reader
/// never sees half a chart; the error names the file.
pub fn write(path: &Path, svg: &str) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let written = std::fs::write(&tmp, svg).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        // Best effort: a failed write leaves no stray temporary file behind.
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("writing the chart to {}", path.display()))
}

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 500.0;
/// The plot area.
const LEFT: f64 = 90.0;
const RIGHT: f64 = 940.0;
const TOP: f64 = 64.0;
const BOTTOM: f64 = 380.0;

const MIN_COLOUR: &str = "#1f5fb4";
const MAX_COLOUR: &str = "#8c1c13";

/// The fill of a verdict's bar.
fn colour(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "#4c9f50",
        Verdict::BelowMin => "#f28e2b",
        Verdict::AboveMax => "#d62728",
        Verdict::NoLimits => "#9e9e9e",
        Verdict::InvalidLimits => "#9467bd",
        Verdict::NoData => "url(#no-data)",
    }
}

/// Text safe in XML (and HTML) content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn when(ms: Millis) -> String {
    time_text::format(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// The vertical scale.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scale {
    /// Decades `10^lo ..= 10^hi`, `lo < hi`.
    Log { lo: u32, hi: u32 },
    /// `0 ..= top` in ticks of `step`.
    Linear { top: u128, step: u128 },
}

/// The exponent of the largest power of ten at most `v` (`v > 0`).
fn floor_exp(v: u64) -> u32 {
    let mut e = 0;
    let mut p: u128 = 10;
    while p <= u128::from(v) {
        p *= 10;
        e += 1;
    }
    e
}

/// The exponent of the smallest power of ten at least `v` (`v > 0`).
fn ceil_exp(v: u64) -> u32 {
    let e = floor_exp(v);
    if 10u128.pow(e) == u128::from(v) {
        e
    } else {
        e + 1
    }
}

impl Scale {
    /// The scale for `values` (bytes and limits): log when they span two decades or more.
    fn of(values: impl Iterator<Item = u64> + Clone) -> Scale {
        let largest = values.clone().max().unwrap_or(0);
        let smallest = values.filter(|&v| v > 0).min();
        match smallest {
            Some(s) if largest / s >= 100 => {
                let lo = floor_exp(s);
                Scale::Log {
                    lo,
                    hi: ceil_exp(largest).max(lo + 1),
                }
            }
            _ => {
                // A step of 1, 2 or 5 times a power of ten giving at most 5 ticks above 0.
                let largest = u128::from(largest.max(1));
                let mut step: u128 = 1;
                'search: loop {
                    for m in [1, 2, 5] {
                        if largest <= m * step * 5 {
                            step *= m;
                            break 'search;
                        }
                    }
                    step *= 10;
                }
                Scale::Linear {
                    top: largest.div_ceil(step) * step,
                    step,
                }
            }
        }
    }

    /// The y coordinate of `v` bytes.
    fn y(self, v: u64) -> f64 {
        let frac = match self {
            Scale::Log { lo, hi } => {
                if v == 0 {
                    0.0
                } else {
                    ((v as f64).log10() - f64::from(lo)) / f64::from(hi - lo)
                }
            }
            Scale::Linear { top, .. } => v as f64 / top as f64,
        };
        BOTTOM - frac.clamp(0.0, 1.0) * (BOTTOM - TOP)
    }

    /// The ticks: (value, y, label).
    fn ticks(self) -> Vec<(u128, f64, String)> {
        match self {
            Scale::Log { lo, hi } => {
                // Every decade, or every other one when there are many.
                let every = if hi - lo > 10 { 2 } else { 1 };
                (lo..=hi)
                    .step_by(every)
                    .map(|e| {
                        let frac = f64::from(e - lo) / f64::from(hi - lo);
                        (
                            10u128.pow(e),
                            BOTTOM - frac * (BOTTOM - TOP),
                            decade_label(e),
                        )
                    })
                    .collect()
            }
            Scale::Linear { top, step } => (0..=top / step)
                .map(|i| {
                    let v = i * step;
                    let label = human_bytes(u64::try_from(v).unwrap_or(u64::MAX));
                    (v, BOTTOM - (v as f64 / top as f64) * (BOTTOM - TOP), label)
                })
                .collect(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scale::Log { .. } => "log scale",
            Scale::Linear { .. } => "linear scale",
        }
    }
}

/// `1 B`, `10 B`, `100 B`, `1 kB`, … for `10^e`.
fn decade_label(e: u32) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let unit = usize::try_from(e / 3).unwrap_or(usize::MAX);
    match UNITS.get(unit) {
        Some(u) => format!("{} {u}", 10u32.pow(e % 3)),
        None => format!("1e{e} B"),
    }
}

/// Time ticks: multiples of a round step (UTC), at most about 8 in `[t0, t1]`.
fn time_ticks(t0: Millis, t1: Millis) -> (Vec<Millis>, Millis) {
    const STEPS: [Millis; 20] = [
        1_000,
        5_000,
        10_000,
        30_000,
        60_000,
        300_000,
        600_000,
        900_000,
        1_800_000,
        3_600_000,
        7_200_000,
        10_800_000,
        21_600_000,
        43_200_000,
        86_400_000,
        172_800_000,
        604_800_000,
        1_209_600_000,
        2_592_000_000,
        31_536_000_000,
    ];
    let span = t1.saturating_sub(t0).max(1);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 8)
        .unwrap_or_else(|| span.div_ceil(8).max(1));
    let first = t0.div_ceil(step).saturating_mul(step);
    let ticks = (0..=8u64)
        .map_while(|i| first.checked_add(i.checked_mul(step)?))
        .take_while(|&t| t <= t1)
        .collect();
    (ticks, step)
}

/// A tick's label: `HH:MM` (`HH:MM:SS` for steps under a minute), with the date when the
/// chart spans more than a day.
fn time_label(t: Millis, step: Millis, span: Millis) -> String {
    let full = when(t);
    let part = |r: std::ops::Range<usize>| full.get(r).unwrap_or(&full).to_string();
    if step >= 86_400_000 {
        part(0..10)
    } else if span > 86_400_000 {
        format!("{} {}", part(5..10), part(11..16))
    } else if step < 60_000 {
        part(11..19)
    } else {
        part(11..16)
    }
}

/// The chart of `points` (in order of their start), for traffic counted with `filter`;
/// `dropped` windows before them were left out (beyond [`CAP`]). Zero points: a valid SVG
/// saying "no windows".
pub fn render(points: &[Point], filter: &str, dropped: u64) -> String {
    render_framed(points, filter, dropped, Frame::Standalone)
}

/// [`render`], framed as `frame` says.
pub fn render_framed(points: &[Point], filter: &str, dropped: u64, frame: Frame) -> String {
    let mut s = String::new();
    if frame == Frame::Standalone {
        s.push_str(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"",
        );
    } else {
        s.push_str("<svg");
    }
    // Writing to a String cannot fail: the results of write! are ignored below.
    let _ = write!(
        s,
        " width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\" \
         data-windows=\"{}\" data-dropped=\"{dropped}\">\n\
         <defs><pattern id=\"no-data\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"8\" height=\"8\" fill=\"#eeeeee\"/>\
         <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"8\" stroke=\"#aaaaaa\" stroke-width=\"3\"/>\
         </pattern></defs>\n\
         <rect width=\"{WIDTH}\" height=\"{HEIGHT}\" fill=\"#ffffff\"/>\n",
        points.len()
    );
    let (Some(t0), Some(t1)) = (
        points.iter().map(|p| p.start).min(),
        points.iter().map(|p| p.end).max(),
    ) else {
        let _ = write!(
            s,
            "<title>host-stream: bytes per window, filter {f}: no windows</title>\n\
             <text x=\"{}\" y=\"30\" font-size=\"16\" text-anchor=\"middle\">Bytes per window, \
             filter {f}</text>\n\
             <text class=\"empty\" x=\"{}\" y=\"{}\" font-size=\"14\" text-anchor=\"middle\">\
             no windows</text>\n</svg>\n",
            WIDTH / 2.0,
            WIDTH / 2.0,
            HEIGHT / 2.0,
            f = esc(filter),
        );
        return s;
    };
    let span = t1.saturating_sub(t0).max(1);
    let x = |t: Millis| LEFT + (t.saturating_sub(t0) as f64 / span as f64) * (RIGHT - LEFT);
    let scale = Scale::of(
        points
            .iter()
            .flat_map(|p| [Some(p.bytes), p.min, p.max])
            .flatten(),
    );

    // Title.
    let left_out = if dropped > 0 {
        format!(" (the latest {}; {dropped} older not shown)", points.len())
    } else {
        String::new()
    };
    let heading = format!(
        "Bytes per window, filter {filter}: {} to {}, {}{left_out}",
        when(t0),
        when(t1),
        core_nostd::units::Count(u64::try_from(points.len()).unwrap_or(u64::MAX), "window"),
    );
    let _ = write!(
        s,
        "<title>host-stream: {h}</title>\n\
         <text class=\"title\" x=\"{}\" y=\"28\" font-size=\"16\" text-anchor=\"middle\">{h}</text>\n",
        WIDTH / 2.0,
        h = esc(&heading),
    );

    // Axes and grid.
    let _ = writeln!(s, "<g class=\"axis-y\" data-scale=\"{}\">", scale.name());
    for (v, y, label) in scale.ticks() {
        let _ = writeln!(
            s,
            "<line x1=\"{LEFT}\" x2=\"{RIGHT}\" y1=\"{y:.2}\" y2=\"{y:.2}\" stroke=\"#e4e4e4\"/>\
             <text x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"end\" data-value=\"{v}\">{}</text>",
            LEFT - 6.0,
            y + 4.0,
            esc(&label)
        );
    }
    let _ = write!(
        s,
        "<text x=\"18\" y=\"{mid:.2}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {mid:.2})\">\
         bytes per window ({})</text>\n</g>\n",
        scale.name(),
        mid = (TOP + BOTTOM) / 2.0,
    );
    let (ticks, step) = time_ticks(t0, t1);
    s.push_str("<g class=\"axis-x\">\n");
    for t in ticks {
        let _ = writeln!(
            s,
            "<line x1=\"{xt:.2}\" x2=\"{xt:.2}\" y1=\"{BOTTOM}\" y2=\"{:.2}\" stroke=\"#444444\"/>\
             <text x=\"{xt:.2}\" y=\"{:.2}\" text-anchor=\"middle\" data-time=\"{}\">{}</text>",
            BOTTOM + 5.0,
            BOTTOM + 18.0,
            when(t),
            esc(&time_label(t, step, span)),
            xt = x(t),
        );
    }
    let _ = write!(
        s,
        "<text x=\"{:.2}\" y=\"{:.2}\" text-anchor=\"middle\">time (UTC)</text>\n</g>\n\
         <path d=\"M{LEFT} {TOP} V{BOTTOM} H{RIGHT}\" fill=\"none\" stroke=\"#444444\"/>\n",
        (LEFT + RIGHT) / 2.0,
        BOTTOM + 36.0,
    );

    // The windows.
    s.push_str("<g class=\"windows\">\n");
    for p in points {
        let (x0, x1) = (x(p.start), x(p.end));
        let width = x1 - x0;
        // A gap between adjacent bars when there is room for one.
        let inset = if width > 4.0 { width * 0.08 } else { 0.0 };
        let (y, height) = if p.verdict == Verdict::NoData {
            (TOP, BOTTOM - TOP)
        } else {
            let y = scale.y(p.bytes);
            // At least a sliver, so that a window of (nearly) nothing still shows its colour.
            let y = y.min(BOTTOM - 2.0);
            (y, BOTTOM - y)
        };
        let mut attrs = format!(
            "data-start=\"{}\" data-end=\"{}\" data-bytes=\"{}\" data-packets=\"{}\" \
             data-verdict=\"{}\" data-complete=\"{}\"",
            when(p.start),
            when(p.end),
            p.bytes,
            p.packets,
            p.verdict,
            p.complete
        );
        if let Some(m) = p.min {
            let _ = write!(attrs, " data-min=\"{m}\"");
        }
        if let Some(m) = p.max {
            let _ = write!(attrs, " data-max=\"{m}\"");
        }
        if p.revised {
            attrs.push_str(" data-revised=\"true\"");
        }
        let stroke = match p.verdict {
            Verdict::NoData => " stroke=\"#999999\"",
            Verdict::InvalidLimits => " stroke=\"#5b3a8c\" stroke-dasharray=\"3 2\"",
            _ if !p.complete => " stroke=\"#333333\" stroke-dasharray=\"2 2\"",
            _ => "",
        };
        let limit = |m: Option<u64>| m.map_or_else(|| "-".to_string(), |v| v.to_string());
        let tip = format!(
            "{} to {}: {} ({}, {}), {}{}{}; min {}, max {}",
            when(p.start),
            when(p.end),
            human_bytes(p.bytes),
            core_nostd::units::Count(p.bytes, "byte"),
            core_nostd::units::Count(p.packets, "packet"),
            p.verdict,
            if p.complete { "" } else { ", incomplete" },
            if p.revised { ", revised" } else { "" },
            limit(p.min),
            limit(p.max),
        );
        let _ = writeln!(
            s,
            "<rect class=\"window\" {attrs} x=\"{:.2}\" y=\"{y:.2}\" width=\"{:.2}\" \
             height=\"{height:.2}\" fill=\"{}\"{stroke}><title>{}</title></rect>",
            x0 + inset,
            (width - 2.0 * inset).max(0.5),
            colour(p.verdict),
            esc(&tip)
        );
        if p.verdict.is_alert() {
            // A marker above the bar: an alert stays visible where bars are thin.
            let _ = writeln!(
                s,
                "<circle class=\"alert-mark\" data-start=\"{}\" cx=\"{:.2}\" cy=\"{:.2}\" r=\"4\" \
                 fill=\"{}\" stroke=\"#ffffff\"><title>{}</title></circle>",
                when(p.start),
                (x0 + x1) / 2.0,
                (y - 8.0).max(TOP - 6.0),
                colour(p.verdict),
                esc(&tip)
            );
        }
    }
    s.push_str("</g>\n");

    // The limits, as steps: one path per run of adjacent windows with the same value.
    s.push_str("<g class=\"limits\">\n");
    steps(
        &mut s,
        points,
        "min",
        |p| p.min,
        MIN_COLOUR,
        "6 3",
        &x,
        scale,
    );
    steps(
        &mut s,
        points,
        "max",
        |p| p.max,
        MAX_COLOUR,
        "2 2",
        &x,
        scale,
    );
    s.push_str("</g>\n");

    legend(&mut s);
    s.push_str("</svg>\n");
    s
}

/// The step paths of one limit (`name`: `min` or `max`), and the risers between adjacent runs.
#[allow(clippy::too_many_arguments)]
fn steps(
    s: &mut String,
    points: &[Point],
    name: &str,
    value: impl Fn(&Point) -> Option<u64>,
    colour: &str,
    dash: &str,
    x: &impl Fn(Millis) -> f64,
    scale: Scale,
) {
    // (start, end, value) of each run.
    let mut runs: Vec<(Millis, Millis, u64)> = Vec::new();
    for p in points {
        let Some(v) = value(p) else { continue };
        match runs.last_mut() {
            Some(run) if run.1 == p.start && run.2 == v => run.1 = p.end,
            _ => runs.push((p.start, p.end, v)),
        }
    }
    let mut previous: Option<(Millis, u64)> = None;
    for (start, end, v) in runs {
        let y = scale.y(v);
        if let Some((prev_end, prev_v)) = previous
            && prev_end == start
        {
            let _ = writeln!(
                s,
                "<path class=\"limit-riser\" d=\"M{:.2} {:.2} V{y:.2}\" stroke=\"{colour}\" \
                 stroke-width=\"2\" fill=\"none\"/>",
                x(start),
                scale.y(prev_v),
            );
        }
        let _ = writeln!(
            s,
            "<path class=\"limit-{name}\" data-{name}=\"{v}\" data-start=\"{}\" data-end=\"{}\" \
             d=\"M{:.2} {y:.2} H{:.2}\" stroke=\"{colour}\" stroke-width=\"2\" \
             stroke-dasharray=\"{dash}\" fill=\"none\"><title>{name} {} ({v} bytes) from {} to {}\
             </title></path>",
            when(start),
            when(end),
            x(start),
            x(end),
            esc(&human_bytes(v)),
            when(start),
            when(end),
        );
        previous = Some((end, v));
    }
}

fn legend(s: &mut String) {
    let y = BOTTOM + 70.0;
    s.push_str("<g class=\"legend\">\n");
    let mut at = LEFT;
    for v in [
        Verdict::Ok,
        Verdict::BelowMin,
        Verdict::AboveMax,
        Verdict::NoLimits,
        Verdict::InvalidLimits,
        Verdict::NoData,
    ] {
        let _ = writeln!(
            s,
            "<rect x=\"{at:.2}\" y=\"{:.2}\" width=\"14\" height=\"14\" fill=\"{}\" \
             stroke=\"#666666\"/><text x=\"{:.2}\" y=\"{y:.2}\">{}</text>",
            y - 11.0,
            colour(v),
            at + 19.0,
            v
        );
        at += 104.0;
    }
    for (name, colour, dash) in [("min", MIN_COLOUR, "6 3"), ("max", MAX_COLOUR, "2 2")] {
        let _ = writeln!(
            s,
            "<path d=\"M{at:.2} {:.2} h24\" stroke=\"{colour}\" stroke-width=\"2\" \
             stroke-dasharray=\"{dash}\"/><text x=\"{:.2}\" y=\"{y:.2}\">{name}</text>",
            y - 4.0,
            at + 29.0,
        );
        at += 72.0;
    }
    let _ = writeln!(
        s,
        "<text x=\"{LEFT}\" y=\"{:.2}\" fill=\"#555555\">bars: bytes per window; circles: \
         alerts; hatched: no_data (a sensor did not cover the window); dashed outline: input \
         not known to be complete</text>",
        y + 22.0
    );
    s.push_str("</g>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(i: u64, bytes: u64, verdict: Verdict) -> Point {
        Point {
            start: 1_795_694_400_000 + i * 300_000,
            end: 1_795_694_400_000 + (i + 1) * 300_000,
            bytes,
            packets: bytes / 100,
            verdict,
            min: Some(1024),
            max: Some(1_073_741_824),
            complete: verdict != Verdict::NoData,
            revised: false,
        }
    }

    /// Parses the SVG (it must be well-formed XML) and returns the attributes of the elements
    /// whose class is `class`.
    fn marks(svg: &str, class: &str) -> Vec<BTreeMap<String, String>> {
        let doc = roxmltree::Document::parse(svg).expect("well-formed XML");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .map(|n| {
                n.attributes()
                    .map(|a| (a.name().to_string(), a.value().to_string()))
                    .collect()
            })
            .collect()
    }

    fn get<'a>(m: &'a BTreeMap<String, String>, k: &str) -> &'a str {
        m.get(k).map_or("", String::as_str)
    }

    #[test]
    fn the_demo_windows_on_a_log_scale_with_their_limits() {
        let points = [
            point(0, 258_940, Verdict::Ok),
            point(1, 1_170_300_000, Verdict::AboveMax),
            point(2, 400, Verdict::BelowMin),
            point(3, 2_583_080, Verdict::Ok),
        ];
        let svg = render(&points, "all", 0);
        let w = marks(&svg, "window");
        let got: Vec<_> = w
            .iter()
            .map(|m| {
                (
                    get(m, "data-start"),
                    get(m, "data-bytes"),
                    get(m, "data-verdict"),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("2026-11-26T12:00:00Z", "258940", "ok"),
                ("2026-11-26T12:05:00Z", "1170300000", "above_max"),
                ("2026-11-26T12:10:00Z", "400", "below_min"),
                ("2026-11-26T12:15:00Z", "2583080", "ok"),
            ]
        );
        assert_eq!(get(&w[0], "data-end"), "2026-11-26T12:05:00Z");
        assert_eq!(get(&w[0], "data-min"), "1024");
        assert_eq!(get(&w[0], "data-max"), "1073741824");
        assert_eq!(get(&w[1], "fill"), "#d62728");
        assert_eq!(get(&w[2], "fill"), "#f28e2b");
        assert_eq!(marks(&svg, "alert-mark").len(), 2);
        // One step per limit over all four windows, no risers.
        let min = marks(&svg, "limit-min");
        assert_eq!(min.len(), 1);
        assert_eq!(get(&min[0], "data-min"), "1024");
        assert_eq!(get(&min[0], "data-start"), "2026-11-26T12:00:00Z");
        assert_eq!(get(&min[0], "data-end"), "2026-11-26T12:20:00Z");
        let max = marks(&svg, "limit-max");
        assert_eq!(max.len(), 1);
        assert_eq!(get(&max[0], "data-max"), "1073741824");
        assert!(marks(&svg, "limit-riser").is_empty());
        assert_eq!(get(&marks(&svg, "axis-y")[0], "data-scale"), "log scale");
        // 400 B to 1.17 GB: the decades from 100 B to 10 GB.
        assert!(
            svg.contains(">100 B</text>") && svg.contains(">10 GB</text>"),
            "{svg}"
        );
        assert!(svg.contains(">12:00</text>"), "{svg}");
        assert!(svg.contains(
            "Bytes per window, filter all: 2026-11-26T12:00:00Z to 2026-11-26T12:20:00Z, 4 windows"
        ));
        // The tooltip says the window, the bytes and the verdict.
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let tip = doc
            .descendants()
            .find(|n| n.attribute("data-verdict") == Some("above_max"))
            .and_then(|n| n.children().find(|c| c.has_tag_name("title")))
            .and_then(|t| t.text())
            .unwrap();
        assert_eq!(
            tip,
            "2026-11-26T12:05:00Z to 2026-11-26T12:10:00Z: 1.2 GB (1170300000 bytes, \
             11703000 packets), above_max; min 1024, max 1073741824"
        );
        // Nothing external, nothing executable.
        for bad in ["<script", "href", "@import", "url(http", "<style"] {
            assert!(!svg.contains(bad), "{bad}");
        }
    }

    #[test]
    fn no_data_no_limits_and_invalid_limits_are_told_apart_and_absent_limits_have_no_step() {
        let mut gap = point(1, 70, Verdict::NoData);
        gap.min = Some(2048);
        let mut none = point(2, 500, Verdict::NoLimits);
        none.min = None;
        none.max = None;
        let mut invalid = point(3, 500, Verdict::InvalidLimits);
        invalid.min = Some(5_000);
        invalid.max = Some(100);
        let points = [point(0, 300, Verdict::Ok), gap, none, invalid];
        let svg = render(&points, "src=10.0.0.0/8", 0);
        let w = marks(&svg, "window");
        assert_eq!(w.len(), 4);
        let fills: Vec<_> = w.iter().map(|m| get(m, "fill")).collect();
        assert_eq!(fills, ["#4c9f50", "url(#no-data)", "#9e9e9e", "#9467bd"]);
        // The gap is a band over the whole height, marked incomplete.
        assert_eq!(get(&w[1], "y"), format!("{TOP:.2}"));
        assert_eq!(get(&w[1], "data-complete"), "false");
        assert!(!w[2].contains_key("data-min") && !w[2].contains_key("data-max"));
        // min: 1024 (window 0), a riser, 2048 (window 1); none at window 2; 5000 (window 3).
        let min: Vec<_> = marks(&svg, "limit-min")
            .iter()
            .map(|m| {
                (
                    get(m, "data-min").to_string(),
                    get(m, "data-start").to_string(),
                )
            })
            .collect();
        assert_eq!(
            min,
            [
                ("1024".into(), "2026-11-26T12:00:00Z".into()),
                ("2048".into(), "2026-11-26T12:05:00Z".into()),
                ("5000".into(), "2026-11-26T12:15:00Z".into()),
            ]
        );
        let max: Vec<_> = marks(&svg, "limit-max")
            .iter()
            .map(|m| {
                (
                    get(m, "data-max").to_string(),
                    get(m, "data-end").to_string(),
                )
            })
            .collect();
        assert_eq!(
            max,
            [
                ("1073741824".into(), "2026-11-26T12:10:00Z".into()),
                ("100".into(), "2026-11-26T12:20:00Z".into()),
            ]
        );
        assert_eq!(marks(&svg, "limit-riser").len(), 1);
        assert!(marks(&svg, "alert-mark").is_empty());
        assert!(svg.contains("filter src=10.0.0.0/8"));
    }

    #[test]
    fn inline_is_the_standalone_chart_without_declaration_and_namespace() {
        let points = [point(0, 300, Verdict::Ok), point(1, 70, Verdict::NoData)];
        let standalone = render(&points, "all", 0);
        let inline = render_framed(&points, "all", 0, Frame::Inline);
        assert_eq!(
            standalone,
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"{}",
                inline.strip_prefix("<svg").unwrap()
            )
        );
        assert!(!inline.contains("http"));
        assert_eq!(marks(&inline, "window").len(), 2);
        let mut w = Windows::default();
        for p in points {
            w.record(p);
        }
        assert_eq!(w.render_framed("all", Frame::Standalone), standalone);
        assert_eq!(w.latest_end(), Some(1_795_694_400_000 + 600_000));
        w.forget_ended_before(1_795_694_400_000 + 300_001);
        assert_eq!((w.len(), w.dropped()), (1, 0));
    }

    #[test]
    fn zero_windows_is_a_valid_svg_saying_so() {
        let svg = render(&[], "all", 0);
        assert!(marks(&svg, "window").is_empty());
        assert_eq!(marks(&svg, "empty").len(), 1);
        assert!(svg.contains(">no windows</text>"));
        let svg = Windows::default().render("dst 192.0.2.7/32 & <x>");
        roxmltree::Document::parse(&svg).unwrap();
        assert!(svg.contains("&amp; &lt;x&gt;"));
    }

    #[test]
    fn a_narrow_range_is_linear_and_zero_bytes_sit_on_the_axis() {
        let mut a = point(0, 0, Verdict::BelowMin);
        a.min = Some(100);
        a.max = Some(900);
        let mut b = point(1, 450, Verdict::Ok);
        b.min = Some(100);
        b.max = Some(900);
        let svg = render(&[a, b], "all", 0);
        assert_eq!(get(&marks(&svg, "axis-y")[0], "data-scale"), "linear scale");
        assert_eq!(
            Scale::of([0u64, 450, 100, 900].into_iter()),
            Scale::Linear {
                top: 1000,
                step: 200
            }
        );
        let w = marks(&svg, "window");
        assert_eq!(get(&w[0], "height"), "2.00");
        assert_eq!(
            Scale::of([240u64, 1_073_741_824].into_iter()),
            Scale::Log { lo: 2, hi: 10 }
        );
        assert_eq!(
            Scale::of([0u64].into_iter()),
            Scale::Linear { top: 1, step: 1 }
        );
        assert_eq!(
            Scale::of([u64::MAX, 1].into_iter()),
            Scale::Log { lo: 0, hi: 20 }
        );
        assert_eq!(decade_label(0), "1 B");
        assert_eq!(decade_label(4), "10 kB");
        assert_eq!(decade_label(9), "1 GB");
        assert_eq!(decade_label(20), "100 EB");
    }

    #[test]
    fn the_ring_keeps_the_latest_windows_and_a_revision_replaces_its_window() {
        let mut w = Windows::with_cap(3);
        for i in 0..5 {
            w.record(point(i, 2000 + i, Verdict::Ok));
        }
        assert_eq!((w.len(), w.dropped()), (3, 2));
        let mut revised = point(4, 999, Verdict::BelowMin);
        revised.revised = true;
        w.record(revised);
        // Too old to be kept: stays out.
        w.record(point(0, 5, Verdict::BelowMin));
        assert_eq!((w.len(), w.dropped()), (3, 2));
        let svg = w.render("all");
        let marks = marks(&svg, "window");
        let got: Vec<_> = marks
            .iter()
            .map(|m| (get(m, "data-bytes"), get(m, "data-verdict")))
            .collect();
        assert_eq!(got, [("2002", "ok"), ("2003", "ok"), ("999", "below_min")]);
        assert_eq!(get(&marks[2], "data-revised"), "true");
        assert!(svg.contains("(the latest 3; 2 older not shown)"));
    }

    #[test]
    fn time_ticks_are_round_and_bounded() {
        let t0 = 1_795_694_400_000;
        let (ticks, step) = time_ticks(t0, t0 + 1_200_000);
        assert_eq!(step, 300_000);
        assert_eq!(ticks.len(), 5);
        assert_eq!(time_label(ticks[1], step, 1_200_000), "12:05");
        let (ticks, step) = time_ticks(t0, t0 + 3 * 86_400_000);
        assert_eq!(step, 43_200_000);
        assert!(ticks.len() <= 9);
        assert_eq!(time_label(t0, step, 3 * 86_400_000), "11-26 12:00");
        let (ticks, _) = time_ticks(0, u64::MAX);
        assert!(!ticks.is_empty() && ticks.len() <= 9);
        assert_eq!(time_ticks(5, 6).0, Vec::<Millis>::new());
    }
}
