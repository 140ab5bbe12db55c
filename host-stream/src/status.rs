//! The status page host-stream serves at `/` on its metrics address: what it reads and sums,
//! whether it is ready, the chart of the last 24 hours of windows against their limits, the
//! limits in force and where they come from, the consumer's lag, and the last messages sent.
//!
//! - **Air-gapped.** One HTML document with inline CSS, the chart as inline SVG (chart.rs's
//!   renderer, [`chart::Frame::Inline`]); no script, no font, no image, no URL of any kind
//!   (links are relative: `metrics`, `readyz`). A `<meta http-equiv="refresh">` reloads it
//!   every 30 s, or every window when windows are shorter.
//! - **Cheap.** [`Board`] is the page's state: a small bounded structure behind one mutex,
//!   touched when a window is judged, a message is sent or acknowledged, and once per batch
//!   (the lag), never per record. A request copies the state under the lock and renders after
//!   it, on the listener's thread; the limits' status is read from the loader's own lock.
//! - **Bounded.** The windows whose end is within 24 hours (event time) of the newest one's
//!   end, at most [`chart::CAP`]; the newest [`SENT_KEPT`] messages.
//! - **Untrusted text.** Everything that is not the page's own words (the filter, the
//!   limits source, error texts, the topic, the host name) is HTML-escaped.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use core_nostd::windows::Millis;
use host_common::clock::now_ms;
use host_common::metrics::{Page, Published};
use host_common::notify::Readiness;
use host_db::loader::{Limits, Status};
use host_db::model::{InForce, InvalidLimits, LimitRow};
use host_db::time_text;

use crate::alert::human_bytes;
use crate::chart::{self, Point, esc};
use crate::driver::Lag;
use crate::judge::AlertKind;

/// The span of windows drawn: 24 hours of event time, back from the newest window's end.
pub const SPAN: Millis = 86_400_000;

/// The messages listed: the newest 20.
pub const SENT_KEPT: usize = 20;

/// The longest time between two reloads of the page.
const REFRESH: Duration = Duration::from_secs(30);

/// Where the records come from.
#[derive(Clone, Debug)]
pub enum Input {
    /// `--input -`.
    Stdin,
    /// A Kafka topic.
    Kafka {
        /// The records topic.
        topic: String,
        /// The consumer group.
        group: String,
        /// Live (follows the topic) rather than a replay to its end offsets (`--until-end`).
        live: bool,
    },
}

/// What the page says about the run, fixed at the start.
#[derive(Clone, Debug)]
pub struct Header {
    /// The host name (as alerts carry it).
    pub host: String,
    /// Where the records come from.
    pub input: Input,
    /// The filter's text (`all`, `src=10.0.0.0/8`, …).
    pub filter: String,
    /// The window length.
    pub window: Duration,
}

/// A message sent, as the page lists it.
#[derive(Clone, Debug)]
pub struct Sent {
    /// When it was sent (wall clock).
    pub at_ms: Millis,
    /// Its type.
    pub kind: AlertKind,
    /// The window it is about, as judged.
    pub window: Point,
    /// Acknowledged by the broker (on stdout: written).
    pub delivered: bool,
}

/// The state the page shows, copied out per request.
#[derive(Clone, Debug, Default)]
pub struct State {
    /// The windows judged, the last [`SPAN`] of them.
    pub windows: chart::Windows,
    /// The newest [`SENT_KEPT`] messages, oldest first.
    pub sent: VecDeque<Sent>,
    /// Where each partition's consumer stands (live Kafka only).
    pub lag: Vec<Lag>,
    /// Sources read (Kafka partitions owned; a pipe is one).
    pub sources: usize,
    /// When the loop last finished a batch (wall clock).
    pub updated_ms: Option<Millis>,
}

/// The limits as the page shows them, read at request time.
pub struct LimitsView {
    /// `file PATH` or `database URL` (its password redacted).
    pub source: String,
    /// In force now.
    pub in_force: Result<InForce, Box<InvalidLimits>>,
    /// What the loader has done.
    pub status: Status,
}

/// The status page's state, and the page itself ([`Page`]).
pub struct Board {
    header: Header,
    started_ms: Millis,
    limits: Option<(Limits, String)>,
    readiness: Arc<Readiness>,
    state: Published<State>,
}

impl Board {
    /// The page of a run described by `header`, judging against `limits` (with the text of
    /// their source; none: `--allow-no-limits`), ready as `readiness` says.
    pub fn new(
        header: Header,
        limits: Option<(Limits, String)>,
        readiness: Arc<Readiness>,
    ) -> Board {
        Board {
            header,
            started_ms: now_ms(),
            limits,
            readiness,
            state: Published::default(),
        }
    }

    /// A window judged (or judged again): drawn, and windows older than [`SPAN`] before the
    /// newest forgotten.
    pub fn window(&self, p: &Point) {
        let mut s = self.state.lock();
        s.windows.record(p.clone());
        if let Some(end) = s.windows.latest_end() {
            s.windows.forget_ended_before(end.saturating_sub(SPAN));
        }
    }

    /// A message sent for the window `p`; `delivered` when nothing is left to wait for.
    pub fn sent(&self, kind: AlertKind, p: &Point, delivered: bool) {
        let mut s = self.state.lock();
        s.sent.push_back(Sent {
            at_ms: now_ms(),
            kind,
            window: p.clone(),
            delivered,
        });
        while s.sent.len() > SENT_KEPT {
            s.sent.pop_front();
        }
    }

    /// Every message of these windows (their starts) was acknowledged.
    pub fn delivered(&self, windows: &[Millis]) {
        let mut s = self.state.lock();
        for m in s.sent.iter_mut() {
            if windows.contains(&m.window.start) {
                m.delivered = true;
            }
        }
    }

    /// A batch is done: where the consumer stands now.
    pub fn batch(&self, lag: Vec<Lag>, sources: usize) {
        let now = now_ms();
        let mut s = self.state.lock();
        s.lag = lag;
        s.sources = sources;
        s.updated_ms = Some(now);
    }
}

impl Page for Board {
    fn render(&self) -> String {
        // The copy is taken and the lock released before anything is rendered.
        let state = self.state.lock().clone();
        let now = now_ms();
        let limits = self.limits.as_ref().map(|(l, source)| LimitsView {
            source: source.clone(),
            in_force: l.timeline().in_force(signed(now)).and_then(|f| {
                f.per_window(u64::try_from(self.header.window.as_millis()).unwrap_or(u64::MAX))
            }),
            status: l.status(),
        });
        let view = View {
            header: &self.header,
            started_ms: self.started_ms,
            now_ms: now,
            ready: self.readiness.get(),
            limits: limits.as_ref(),
            state: &state,
        };
        html(&view)
    }
}

/// Everything a page shows, at one instant.
pub struct View<'a> {
    /// The run.
    pub header: &'a Header,
    /// When it started.
    pub started_ms: Millis,
    /// Now (the page's time).
    pub now_ms: Millis,
    /// Ready, or why not (`/readyz`'s reason).
    pub ready: Result<(), String>,
    /// The limits, if the run has any.
    pub limits: Option<&'a LimitsView>,
    /// The windows, messages and lag.
    pub state: &'a State,
}

fn signed(ms: Millis) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

fn when(ms: Millis) -> String {
    time_text::format(signed(ms))
}

/// The seconds between reloads: 30, or the window length when shorter (at least 1).
pub fn refresh_seconds(window: Duration) -> u64 {
    window.min(REFRESH).as_secs().max(1)
}

const STYLE: &str = "\
body{font-family:sans-serif;font-size:14px;margin:16px 24px;color:#222;background:#fafafa}\
h1{font-size:22px;margin:0 0 8px;display:inline-block;margin-right:16px}h2{font-size:17px;margin:20px 0 8px}\
table{border-collapse:collapse;background:#fff}\
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}\
td.num{text-align:right;font-variant-numeric:tabular-nums}\
code{font-size:12px}\
.facts th{background:#f0f0f0;font-weight:normal;color:#555}\
.state{display:inline-block;padding:3px 10px;border-radius:4px;font-weight:bold;color:#fff}\
.ready{background:#4c9f50}.not-ready{background:#d62728}\
.error{color:#8c1c13}.muted{color:#666}\
.cols{display:flex;flex-wrap:wrap;gap:0 40px}\
svg{max-width:100%;height:auto;border:1px solid #ddd}\
tr.v-above_max td.v,tr.v-below_min td.v{font-weight:bold;color:#8c1c13}\
.no{color:#8c1c13;font-weight:bold}";

/// The whole page.
pub fn html(v: &View<'_>) -> String {
    let mut s = String::with_capacity(64 * 1024);
    let h = v.header;
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"refresh\" content=\"{}\">\n\
         <title>host-stream on {} - status</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        refresh_seconds(h.window),
        esc(&h.host),
    );
    header(&mut s, v);
    windows(&mut s, v);
    s.push_str("<div class=\"cols\">\n");
    limits(&mut s, v.limits);
    consumer(&mut s, v);
    s.push_str("</div>\n");
    sent(&mut s, &v.state.sent);
    let _ = write!(
        s,
        "<p class=\"muted\">Rendered {} by host-stream {}; reloads every {} s. \
         Also: <a href=\"metrics\">metrics</a>, <a href=\"readyz\">readyz</a>.</p>\n\
         </body>\n</html>\n",
        when(v.now_ms),
        env!("CARGO_PKG_VERSION"),
        refresh_seconds(h.window),
    );
    s
}

fn header(s: &mut String, v: &View<'_>) {
    let h = v.header;
    let (class, state) = match &v.ready {
        Ok(()) => ("ready", "ready".to_string()),
        Err(why) => ("not-ready", format!("not ready: {why}")),
    };
    let input = match &h.input {
        Input::Stdin => "stdin (<code>--input -</code>)".to_string(),
        Input::Kafka { topic, group, live } => format!(
            "Kafka topic <code>{}</code>, consumer group <code>{}</code>, {}",
            esc(topic),
            esc(group),
            if *live {
                "live"
            } else {
                "a replay to the end offsets (--until-end)"
            }
        ),
    };
    let _ = write!(
        s,
        "<header>\n<h1>host-stream on {host}</h1>\
         <span id=\"state\" class=\"state {class}\" data-ready=\"{ready}\">{state}</span>\n\
         <table class=\"facts\">\n\
         <tr><th>input</th><td id=\"input\">{input}</td></tr>\n\
         <tr><th>sums</th><td>the bytes of every sensor's records passing the filter \
         <code id=\"filter\">{filter}</code>, per window of {window} s (event time)</td></tr>\n\
         <tr><th>started</th><td>{started}</td></tr>\n\
         <tr><th>last update</th><td id=\"updated\">{updated}</td></tr>\n\
         </table>\n</header>\n",
        host = esc(&h.host),
        ready = v.ready.is_ok(),
        state = esc(&state),
        filter = esc(&h.filter),
        window = h.window.as_secs(),
        started = when(v.started_ms),
        updated = v
            .state
            .updated_ms
            .map_or_else(|| "no batch read yet".to_string(), when),
    );
}

fn windows(s: &mut String, v: &View<'_>) {
    let w = &v.state.windows;
    let _ = write!(
        s,
        "<section id=\"windows\">\n<h2>Windows of the last 24 hours</h2>\n\
         <p class=\"muted\">{} judged, ending within 24 h (event time) of the newest one's \
         end; a circle marks a window that sent an alert.</p>\n",
        core_nostd::units::Count(u64::try_from(w.len()).unwrap_or(u64::MAX), "window"),
    );
    s.push_str(&w.render_framed(&v.header.filter, chart::Frame::Inline));
    s.push_str("</section>\n");
}

/// A limit's row: bytes, human units, since when, which row.
fn limit_row(s: &mut String, id: &str, name: &str, row: Option<&LimitRow>) {
    match row {
        Some(r) => {
            let _ = writeln!(
                s,
                "<tr id=\"{id}\" data-bytes=\"{}\"><th>{name}</th><td class=\"num\">{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td></tr>",
                r.value,
                r.value,
                // The limit as written too, when it is not the bytes (`40Mbit/s`, `1.5GiB`).
                esc(&if r.text == r.value.to_string() {
                    human_bytes(r.value)
                } else {
                    format!("{} ({})", human_bytes(r.value), r.text)
                }),
                time_text::format(r.effective_ms),
                esc(&r.origin.to_string()),
            );
        }
        None => {
            let _ = writeln!(
                s,
                "<tr id=\"{id}\"><th>{name}</th><td colspan=\"4\" class=\"muted\">none in force</td></tr>"
            );
        }
    }
}

fn limits(s: &mut String, view: Option<&LimitsView>) {
    s.push_str("<section id=\"limits\">\n<h2>Limits in force now</h2>\n");
    let Some(l) = view else {
        s.push_str(
            "<p>None (<code>--allow-no-limits</code>): every window is <code>no_limits</code>, \
             no alert is sent.</p>\n</section>\n",
        );
        return;
    };
    s.push_str(
        "<table>\n<tr><th></th><th>bytes per window</th><th></th><th>since</th><th>row</th></tr>\n",
    );
    let (min, max) = match &l.in_force {
        Ok(f) => (f.min.as_ref(), f.max.as_ref()),
        Err(e) => (Some(&e.min), Some(&e.max)),
    };
    limit_row(s, "limit-min", "minimum", min);
    limit_row(s, "limit-max", "maximum", max);
    s.push_str("</table>\n");
    if let Err(e) = &l.in_force {
        let _ = writeln!(
            s,
            "<p class=\"error\">Invalid: {} (windows are <code>invalid_limits</code>).</p>",
            esc(&e.to_string())
        );
    }
    let st = &l.status;
    let _ = writeln!(
        s,
        "<p>Source: <code id=\"limits-source\">{}</code><br>Last loaded: {} \
         ({} accepted, {} refused){}</p>",
        esc(&l.source),
        st.last_load_ms
            .map_or_else(|| "never".to_string(), time_text::format),
        core_nostd::units::Count(st.loads_ok.total(), "load"),
        st.loads_failed.total(),
        if st.connections > 0 || st.connection_failures > 0 {
            if st.connected {
                "; listening on the database"
            } else {
                "; <span class=\"no\">not connected to the database</span>"
            }
        } else {
            ""
        }
    );
    if let Some(e) = &st.last_error {
        let _ = writeln!(
            s,
            "<p class=\"error\" id=\"limits-error\">Last error ({}): {}</p>",
            st.last_error_ms
                .map_or_else(|| "-".to_string(), time_text::format),
            esc(e)
        );
    }
    s.push_str("</section>\n");
}

fn consumer(s: &mut String, v: &View<'_>) {
    s.push_str("<section id=\"consumer\">\n<h2>Consumer</h2>\n");
    let st = v.state;
    match &v.header.input {
        Input::Stdin => {
            s.push_str("<p>Reading stdin: one source, no consumer lag.</p>\n");
        }
        Input::Kafka { live, .. } => {
            let _ = writeln!(
                s,
                "<p>Partitions owned: <span id=\"partitions\">{}</span></p>",
                st.sources
            );
            if st.lag.is_empty() {
                s.push_str(if *live {
                    "<p class=\"muted\">No end offsets known yet.</p>\n"
                } else {
                    "<p class=\"muted\">A replay reads to the end offsets of its start: no lag \
                     is followed.</p>\n"
                });
            } else {
                s.push_str(
                    "<table id=\"lag\">\n<tr><th>partition</th><th>position</th>\
                     <th>high watermark</th><th>lag</th></tr>\n",
                );
                for l in &st.lag {
                    let _ = writeln!(
                        s,
                        "<tr data-partition=\"{p}\" data-lag=\"{lag}\"><td class=\"num\">{p}</td>\
                         <td class=\"num\">{}</td><td class=\"num\">{}</td>\
                         <td class=\"num\">{lag}</td></tr>",
                        l.position,
                        l.high,
                        p = l.partition,
                        lag = l.records(),
                    );
                }
                let total: i64 = st.lag.iter().map(Lag::records).sum();
                let _ = writeln!(
                    s,
                    "<tr id=\"lag-total\" data-lag=\"{total}\"><th colspan=\"3\">total</th>\
                     <td class=\"num\">{total}</td></tr>\n</table>"
                );
            }
        }
    }
    s.push_str("</section>\n");
}

fn bound(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn sent(s: &mut String, sent: &VecDeque<Sent>) {
    let _ = writeln!(
        s,
        "<section id=\"alerts\">\n<h2>Last messages sent</h2>\n<p class=\"muted\">The newest \
         {SENT_KEPT}, newest first: alerts, recoveries, gaps and revisions.</p>"
    );
    if sent.is_empty() {
        s.push_str("<p>None since the start.</p>\n</section>\n");
        return;
    }
    s.push_str(
        "<table>\n<tr><th>sent</th><th>type</th><th>window</th><th>verdict</th><th>bytes</th>\
         <th>min</th><th>max</th><th>delivered</th></tr>\n",
    );
    for m in sent.iter().rev() {
        let w = &m.window;
        let _ = writeln!(
            s,
            "<tr class=\"sent v-{verdict}\" data-type=\"{kind}\" data-start=\"{start}\" \
             data-verdict=\"{verdict}\" data-bytes=\"{bytes}\" data-delivered=\"{delivered}\">\
             <td>{at}</td><td>{kind}</td><td>{start} to {end}</td><td class=\"v\">{verdict}</td>\
             <td class=\"num\">{bytes} ({human})</td><td class=\"num\">{min}</td>\
             <td class=\"num\">{max}</td><td>{yes}</td></tr>",
            at = when(m.at_ms),
            kind = m.kind,
            start = when(w.start),
            end = when(w.end),
            verdict = w.verdict,
            bytes = w.bytes,
            human = esc(&human_bytes(w.bytes)),
            min = bound(w.min),
            max = bound(w.max),
            delivered = m.delivered,
            yes = if m.delivered {
                "yes"
            } else {
                "<span class=\"no\">not yet</span>"
            },
        );
    }
    s.push_str("</table>\n</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Verdict;
    use host_db::model::{LimitKind, RowId};

    fn point(i: u64, bytes: u64, verdict: Verdict) -> Point {
        Point {
            start: 1_800_000_000_000 + i * 300_000,
            end: 1_800_000_000_000 + (i + 1) * 300_000,
            bytes,
            packets: 1,
            verdict,
            min: Some(1000),
            max: Some(1_000_000),
            complete: verdict != Verdict::NoData,
            revised: false,
        }
    }

    fn row(kind: LimitKind, value: u64, entry: usize) -> LimitRow {
        LimitRow {
            origin: RowId::Entry(entry),
            name: format!("{kind:?}"),
            kind,
            value,
            text: value.to_string(),
            amount: core_nostd::units::amount(&value.to_string()).unwrap(),
            effective_ms: 0,
            scope: core_nostd::Filter::ALL,
        }
    }

    fn header(input: Input) -> Header {
        Header {
            host: "gw<b>1</b>&\"'".into(),
            input,
            filter: "dst=10.0.0.0/8".into(),
            window: Duration::from_secs(300),
        }
    }

    fn page(header: &Header, limits: Option<&LimitsView>, state: &State) -> String {
        html(&View {
            header,
            started_ms: 1_800_000_000_000,
            now_ms: 1_800_001_000_000,
            ready: Err("catching up: <not> yet".into()),
            limits,
            state,
        })
    }

    #[test]
    fn the_page_escapes_what_it_is_given_and_names_no_url() {
        let h = header(Input::Kafka {
            topic: "traffic<script>".into(),
            group: "g&1".into(),
            live: true,
        });
        let limits = LimitsView {
            source: "file /tmp/<i>&\"'/limits.json".into(),
            in_force: Ok(InForce {
                min: Some(row(LimitKind::Min, 1000, 1)),
                max: Some(row(LimitKind::Max, 1_000_000, 2)),
            }),
            status: Status {
                last_error: Some("bad row <tr> & more".into()),
                last_error_ms: Some(1_800_000_500_000),
                last_load_ms: Some(1_800_000_000_000),
                ..Status::default()
            },
        };
        let mut state = State::default();
        state.windows.record(point(0, 5000, Verdict::Ok));
        let page = page(&h, Some(&limits), &state);
        for raw in ["<b>1", "<script", "<i>", "<tr> &", "<not>", "g&1"] {
            assert!(!page.contains(raw), "{raw} unescaped:\n{page}");
        }
        for escaped in [
            "host-stream on gw&lt;b&gt;1&lt;/b&gt;&amp;&quot;&apos;</h1>",
            "<code>traffic&lt;script&gt;</code>",
            "<code id=\"limits-source\">file /tmp/&lt;i&gt;&amp;&quot;&apos;/limits.json</code>",
            "Last error (2027-01-15T08:08:20Z): bad row &lt;tr&gt; &amp; more</p>",
            "data-ready=\"false\">not ready: catching up: &lt;not&gt; yet</span>",
        ] {
            assert!(page.contains(escaped), "{escaped} missing:\n{page}");
        }
        for url in [
            "http:", "https:", "//", "src=", "<script", "url(h", "@import",
        ] {
            assert!(!page.contains(url), "{url} in:\n{page}");
        }
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"30\">"));
        assert!(page.contains(
            "<tr id=\"limit-min\" data-bytes=\"1000\"><th>minimum</th><td class=\"num\">1000</td>\
             <td>1.0 kB</td><td>1970-01-01T00:00:00Z</td><td>entry 1</td></tr>"
        ));
        assert!(page.contains("No end offsets known yet."));
        assert!(page.contains("Last loaded: 2027-01-15T08:00:00Z (0 loads accepted, 0 refused)"));
        // The inline chart: its marks, no XML declaration, no namespace.
        assert!(!page.contains("<?xml"));
        assert_eq!(page.matches("class=\"window\"").count(), 1);
    }

    #[test]
    fn the_consumer_table_has_each_partition_and_the_total() {
        let h = header(Input::Kafka {
            topic: "traffic".into(),
            group: "g".into(),
            live: true,
        });
        let state = State {
            lag: vec![
                Lag {
                    partition: 0,
                    position: 90,
                    high: 100,
                },
                Lag {
                    partition: 2,
                    position: 7,
                    high: 7,
                },
            ],
            sources: 2,
            updated_ms: Some(1_800_000_900_000),
            ..State::default()
        };
        let page = page(&h, None, &state);
        assert!(page.contains("Partitions owned: <span id=\"partitions\">2</span>"));
        assert!(page.contains(
            "<tr data-partition=\"0\" data-lag=\"10\"><td class=\"num\">0</td>\
             <td class=\"num\">90</td><td class=\"num\">100</td><td class=\"num\">10</td></tr>"
        ));
        assert!(page.contains("<tr data-partition=\"2\" data-lag=\"0\">"));
        assert!(page.contains("<tr id=\"lag-total\" data-lag=\"10\">"));
        assert!(page.contains("<td id=\"updated\">2027-01-15T08:15:00Z</td>"));
        assert!(page.contains("None (<code>--allow-no-limits</code>)"));
        assert!(page.contains("<h1>host-stream on gw&lt;b&gt;"));
        // stdin: no table, says so.
        let stdin = self::page(&header(Input::Stdin), None, &State::default());
        assert!(stdin.contains("Reading stdin: one source, no consumer lag."));
        assert!(!stdin.contains("id=\"lag\""));
        assert!(stdin.contains("no batch read yet"));
    }

    #[test]
    fn the_board_keeps_24_hours_of_windows_and_the_newest_messages() {
        let board = Board::new(header(Input::Stdin), None, Arc::new(Readiness::new()));
        // 300 windows of 5 minutes: 25 hours; the newest 288 end within 24 h of the last end
        // (the window ending exactly 24 h before it is kept too).
        for i in 0..300 {
            board.window(&point(i, 2000 + i, Verdict::Ok));
        }
        for i in 0..25 {
            let p = point(i, 10, Verdict::BelowMin);
            board.sent(AlertKind::Alert, &p, false);
        }
        board.delivered(&[point(24, 0, Verdict::Ok).start]);
        let state = board.state.lock().clone();
        assert_eq!(state.windows.len(), 289);
        assert_eq!(state.windows.dropped(), 0);
        let starts: Vec<Millis> = state.sent.iter().map(|m| m.window.start).collect();
        assert_eq!(starts.len(), SENT_KEPT);
        assert_eq!(starts[0], point(5, 0, Verdict::Ok).start);
        let delivered: Vec<bool> = state.sent.iter().map(|m| m.delivered).collect();
        assert_eq!(delivered.iter().filter(|d| **d).count(), 1);
        assert!(delivered[SENT_KEPT - 1]);
        let page = board.render();
        assert_eq!(page.matches("class=\"window\"").count(), 289);
        assert_eq!(page.matches("<tr class=\"sent ").count(), SENT_KEPT);
        // Newest first.
        let first = page
            .find("data-start=\"2027-01-15T10:00:00Z\" data-verdict")
            .unwrap();
        let last = page
            .find("data-start=\"2027-01-15T08:25:00Z\" data-verdict")
            .unwrap();
        assert!(first < last);
        assert!(page.contains("not ready: starting"));
    }

    #[test]
    fn the_page_reloads_every_30_s_or_every_window() {
        assert_eq!(refresh_seconds(Duration::from_secs(300)), 30);
        assert_eq!(refresh_seconds(Duration::from_secs(10)), 10);
        assert_eq!(refresh_seconds(Duration::from_millis(500)), 1);
    }
}
