//! The Prometheus endpoint of the host binaries (`--metrics-address`): one registry, the text
//! encodings and a small HTTP listener ([`http`]), written once for host-capture and
//! host-stream.
//!
//! **Snapshots, not instruments.** The binaries already keep every counter an operator wants
//! (host-capture's `Stats`, host-stream's summary fields) in plain integers on their own
//! thread. Rather than an atomic per packet, a binary copies those counters into a
//! [`Published`] value at moments it already has (after each batch of frames or records), and
//! the scrape encodes the last copy. A copy is one uncontended lock and a memcpy per batch;
//! the hot paths do not change. Counters stay monotonic because what is copied is cumulative.
//!
//! Encoding is `prometheus-client`'s: the Prometheus text format 0.0.4 by default, OpenMetrics
//! text when the scraper asks for it in `Accept` (a Prometheus server does).
//!
//! A binary describes its metrics by implementing [`Collect`]: per scrape it writes its
//! families through an [`Out`], which keeps the names and types consistent. A binary may also
//! give a status page for `/` ([`Page`]), rendered per request from its own copy of its state.

pub mod http;

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry as Inner;

use crate::notify::Readiness;

/// What a binary publishes: its families, written per scrape from its last snapshot.
pub trait Collect: Send + Sync + 'static {
    /// Writes every family (a family with no sample, such as a limit not in force, is left
    /// out).
    fn collect(&self, out: &mut Out<'_>) -> fmt::Result;
}

/// A status page for people (`/`): a whole HTML document, rendered on the listener's thread
/// per request. The program's state is copied out under its own lock and rendered after it, so
/// a page load never holds up the program's loop.
pub trait Page: Send + Sync + 'static {
    /// The page: a complete HTML document (served as `text/html; charset=utf-8`).
    fn render(&self) -> String;
}

/// The metrics a listener serves: the program's [`Collect`]s, the readiness `/readyz`
/// answers with, and the status page `/` serves, if the program has one.
#[derive(Clone, Default)]
pub struct Registry {
    collectors: Vec<Arc<dyn Collect>>,
    readiness: Option<Arc<Readiness>>,
    page: Option<Arc<dyn Page>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Adds the families of `c`.
    pub fn register(&mut self, c: Arc<dyn Collect>) {
        self.collectors.push(c);
    }

    /// What `/readyz` answers with (without it: 503, the program says nothing about it).
    pub fn set_readiness(&mut self, r: Arc<Readiness>) {
        self.readiness = Some(r);
    }

    /// The readiness set, if any.
    pub fn readiness(&self) -> Option<&Readiness> {
        self.readiness.as_deref()
    }

    /// What `/` serves (without it: 404, the program has no status page).
    pub fn set_page(&mut self, page: Arc<dyn Page>) {
        self.page = Some(page);
    }

    /// The status page set, if any.
    pub fn page(&self) -> Option<&dyn Page> {
        self.page.as_deref()
    }

    /// The scrape in `format`.
    pub fn encode(&self, format: Format) -> Result<String, fmt::Error> {
        let mut inner = Inner::default();
        for c in &self.collectors {
            inner.register_collector(Box::new(Adapter(Arc::clone(c))));
        }
        let mut text = String::new();
        match format {
            Format::Prometheus => {
                prometheus_client::encoding::prometheus_text::encode(&mut text, &inner)?
            }
            Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut text, &inner)?,
        }
        Ok(text)
    }
}

/// A text encoding of a scrape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4 (what `curl` and `promtool check metrics` get).
    Prometheus,
    /// OpenMetrics 1.0 text (asked for by a Prometheus server).
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a scrape in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format a request's `Accept` header asks for: OpenMetrics only when named.
    pub fn from_accept(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }
}

/// prometheus-client's collector over a [`Collect`].
struct Adapter(Arc<dyn Collect>);

impl fmt::Debug for Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Adapter")
    }
}

impl Collector for Adapter {
    fn encode(&self, encoder: DescriptorEncoder) -> fmt::Result {
        self.0.collect(&mut Out { encoder })
    }
}

/// Where a [`Collect`] writes its families during a scrape.
pub struct Out<'a> {
    encoder: DescriptorEncoder<'a>,
}

impl Out<'_> {
    /// A counter: `name` ends in `_total` (the Prometheus convention, which the encodings add
    /// back themselves).
    pub fn counter(&mut self, name: &str, help: &str, value: u64) -> fmt::Result {
        let c = ConstCounter::new(value);
        let m = self
            .encoder
            .encode_descriptor(base(name), help, None, MetricType::Counter)?;
        c.encode(m)
    }

    /// A counter with one label: a sample per `(label value, count)`.
    pub fn counters(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        values: &[(&str, u64)],
    ) -> fmt::Result {
        let mut m = self
            .encoder
            .encode_descriptor(base(name), help, None, MetricType::Counter)?;
        for (v, n) in values {
            let labels = [(label, *v)];
            ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
        }
        Ok(())
    }

    /// A counter with any labels: a sample per `(label set, count)`, each set as
    /// `[(name, value), …]` (keep them few and bounded: never an address).
    pub fn counters_labelled(
        &mut self,
        name: &str,
        help: &str,
        values: &[(&[(&str, &str)], u64)],
    ) -> fmt::Result {
        let mut m = self
            .encoder
            .encode_descriptor(base(name), help, None, MetricType::Counter)?;
        for (labels, n) in values {
            ConstCounter::new(*n).encode(m.encode_family(labels)?)?;
        }
        Ok(())
    }

    /// A gauge; `None` writes nothing (no sample is better than a made-up one).
    pub fn gauge(&mut self, name: &str, help: &str, value: Option<i64>) -> fmt::Result {
        let Some(v) = value else {
            return Ok(());
        };
        let m = self
            .encoder
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        ConstGauge::new(v).encode(m)
    }

    /// A gauge with one label: a sample per `(label value, value)`.
    pub fn gauges(
        &mut self,
        name: &str,
        help: &str,
        label: &str,
        values: &[(&str, i64)],
    ) -> fmt::Result {
        if values.is_empty() {
            return Ok(());
        }
        let mut m = self
            .encoder
            .encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (v, n) in values {
            let labels = [(label, *v)];
            ConstGauge::new(*n).encode(m.encode_family(&labels)?)?;
        }
        Ok(())
    }

    /// A histogram: `buckets` are (upper bound, observations in that bucket alone, not
    /// cumulative: the encoder adds them up), the last one below `+Inf` (which is `count`).
    pub fn histogram(
        &mut self,
        name: &str,
        help: &str,
        sum: f64,
        count: u64,
        buckets: &[(f64, u64)],
    ) -> fmt::Result {
        let mut m = self
            .encoder
            .encode_descriptor(name, help, None, MetricType::Histogram)?;
        m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, buckets, None)
    }
}

/// `name` without its `_total`, which the encoders add to every counter.
fn base(name: &str) -> &str {
    name.strip_suffix("_total").unwrap_or(name)
}

/// A value one thread publishes and the scrape reads: the last snapshot.
pub struct Published<T>(Mutex<T>);

impl<T: Default> Default for Published<T> {
    fn default() -> Self {
        Published(Mutex::new(T::default()))
    }
}

impl<T> Published<T> {
    /// Starting with `value`.
    pub fn new(value: T) -> Published<T> {
        Published(Mutex::new(value))
    }

    /// The snapshot, to replace or read. A panic elsewhere while it was held leaves a value
    /// that is still a valid snapshot, so poisoning is ignored rather than spread.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sample;

    impl Collect for Sample {
        fn collect(&self, out: &mut Out<'_>) -> fmt::Result {
            out.counter("demo_frames_total", "Frames read.", 255)?;
            out.counters(
                "demo_rejected_total",
                "Frames rejected, by reason.",
                "reason",
                &[("truncated", 2), ("bad_version", 0)],
            )?;
            out.gauge("demo_up", "1 while up.", Some(1))?;
            out.gauge("demo_absent", "Never written.", None)?;
            out.gauges("demo_lag", "Lag per partition.", "partition", &[("0", 3)])?;
            out.counters_labelled(
                "demo_loads_total",
                "Loads.",
                &[(&[("result", "ok"), ("reason", "start")], 1)],
            )?;
            out.histogram(
                "demo_seconds",
                "A histogram.",
                1.5,
                3,
                &[(0.5, 1), (1.0, 2)],
            )
        }
    }

    fn registry() -> Registry {
        let mut r = Registry::new();
        r.register(Arc::new(Sample));
        r
    }

    #[test]
    fn the_prometheus_text_format_names_counters_with_their_total() {
        let text = registry().encode(Format::Prometheus).unwrap();
        assert_eq!(
            text,
            "# HELP demo_frames_total Frames read.\n\
             # TYPE demo_frames_total counter\n\
             demo_frames_total 255\n\
             # HELP demo_rejected_total Frames rejected, by reason.\n\
             # TYPE demo_rejected_total counter\n\
             demo_rejected_total{reason=\"truncated\"} 2\n\
             demo_rejected_total{reason=\"bad_version\"} 0\n\
             # HELP demo_up 1 while up.\n\
             # TYPE demo_up gauge\n\
             demo_up 1\n\
             # HELP demo_lag Lag per partition.\n\
             # TYPE demo_lag gauge\n\
             demo_lag{partition=\"0\"} 3\n\
             # HELP demo_loads_total Loads.\n\
             # TYPE demo_loads_total counter\n\
             demo_loads_total{result=\"ok\",reason=\"start\"} 1\n\
             # HELP demo_seconds A histogram.\n\
             # TYPE demo_seconds histogram\n\
             demo_seconds_bucket{le=\"0.5\"} 1\n\
             demo_seconds_bucket{le=\"1\"} 3\n\
             demo_seconds_bucket{le=\"+Inf\"} 3\n\
             demo_seconds_sum 1.5\n\
             demo_seconds_count 3\n"
        );
    }

    #[test]
    fn openmetrics_declares_the_family_without_total_and_ends_with_eof() {
        let text = registry().encode(Format::OpenMetrics).unwrap();
        assert!(
            text.starts_with(
                "# HELP demo_frames Frames read.\n# TYPE demo_frames counter\ndemo_frames_total 255\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(!text.contains("demo_absent"), "{text}");
    }

    #[test]
    fn the_format_follows_accept() {
        assert_eq!(Format::from_accept(None), Format::Prometheus);
        assert_eq!(
            Format::from_accept(Some(
                "application/openmetrics-text;version=1.0.0;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            )),
            Format::OpenMetrics
        );
        assert_eq!(Format::from_accept(Some("*/*")), Format::Prometheus);
    }
}
