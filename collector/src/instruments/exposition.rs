//! `GET /metrics/instruments`: the latest value of every stored instrument
//! series in the Prometheus text format (0.0.4), so that Prometheus can
//! scrape what browsers, Workers and services sent.
//!
//! Prometheus wants totals: a delta series is the sum of its rows, a
//! cumulative one its latest row; several writers sending deltas of the
//! same series (browsers, mostly) add up. Each series gets a `cluster_id`
//! label (a label of that name that came with the row becomes
//! `exported_cluster_id`, as Prometheus does with target labels; so do
//! `le`, `quantile` and `__` names, which the text uses itself). Names
//! and label keys are made valid for Prometheus as the SDK's own
//! exposition makes them (`.` and `-` as `_`), and anything else invalid
//! as `_` too, since rows may come from anyone with a write token.
//!
//! Totals are kept between scrapes and each scrape reads only the rows
//! stored since the one before (rows are only ever appended, so rowids
//! tell what is new). At most `--max-instrument-series` series are kept;
//! rows of further series are left out and the text says how many.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::buckets::{Distribution, Exponential};
use super::{Body, Collection, Row, Stats, scan};
use crate::clickhouse::for_each_row;
use crate::query::{ApiError, ApiQuery, authorize, blocking};
use crate::server::App;
use crate::sink::Sink;

/// Rows read per statement while catching up.
const BATCH: i64 = 10_000;

/// The totals of every series seen so far.
#[derive(Default)]
pub struct Exposition {
    state: Mutex<Totals>,
}

/// Most rows of one collection a scrape totals on ClickHouse (each scrape
/// reads them all; with SQLite, only those stored since the last).
const MAX_SCRAPED_ROWS: i64 = 2_000_000;

#[derive(Default)]
struct Totals {
    /// The last rowid read of each collection.
    read_up_to: HashMap<Collection, i64>,
    series: BTreeMap<Key, Series>,
    /// Rows skipped for breaking their kind's rules.
    skipped: u64,
    /// Rows of series past the limit.
    over_limit: u64,
}

/// Orders the text: a family's series together.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    family: String,
    cluster: String,
    /// The samples' label text, `cluster_id` included.
    labels: String,
}

struct Series {
    collection: Collection,
    help: String,
    end_ms: i64,
    latest: Latest,
}

enum Latest {
    Sum { monotonic: bool, value: f64 },
    Gauge(f64),
    Histogram(Stats, Distribution),
    Exponential(Stats, Exponential),
    Summary(Stats, Vec<(f64, f64)>),
}

impl Latest {
    fn type_name(&self) -> &'static str {
        match self {
            Self::Sum { monotonic: true, .. } => "counter",
            Self::Sum { .. } | Self::Gauge(_) => "gauge",
            Self::Histogram(..) | Self::Exponential(..) => "histogram",
            Self::Summary(..) => "summary",
        }
    }
}

/// A name as Prometheus takes it: `[a-zA-Z_:][a-zA-Z0-9_:]*` (label keys
/// without `:`), every other character as `_`.
pub fn prometheus_name(name: &str, colons: bool) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':') { c } else { '_' })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn escape(out: &mut String, text: &str, quote: bool) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// A number as Prometheus reads it.
pub fn number(out: &mut String, v: f64) {
    match v {
        v if v.is_nan() => out.push_str("NaN"),
        f64::INFINITY => out.push_str("+Inf"),
        f64::NEG_INFINITY => out.push_str("-Inf"),
        v if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 => {
            let _ = write!(out, "{}", v as i64);
        }
        v => {
            let _ = write!(out, "{v:?}");
        }
    }
}

/// The label text of a row's series: its labels, then `cluster_id`.
fn label_text(row: &Row) -> String {
    let mut text = String::new();
    let mut seen = HashSet::new();
    for (key, value) in row.label_pairs() {
        let mut key = prometheus_name(&key, false);
        // Names the text gives a meaning of its own (`le` of a bucket,
        // `quantile` of a summary, `__` ones Prometheus keeps for itself)
        // would clash with it and fail the whole scrape.
        if matches!(key.as_str(), "cluster_id" | "le" | "quantile") || key.starts_with("__") {
            key.insert_str(0, "exported_");
        }
        // Two keys made equal by the renaming: the first stays.
        if !seen.insert(key.clone()) {
            continue;
        }
        let _ = write!(text, "{key}=\"");
        escape(&mut text, &value, true);
        text.push_str("\",");
    }
    text.push_str("cluster_id=\"");
    escape(&mut text, &row.cluster, true);
    text.push('"');
    text
}

impl Totals {
    /// Adds a row to its series.
    fn apply(&mut self, collection: Collection, row: Row, limit: usize) {
        let mut family = prometheus_name(&row.name, true);
        if matches!(row.body, Body::Sum { monotonic: true, .. }) && !family.ends_with("_total") {
            family.push_str("_total");
        }
        // Keyed by the label text as written out, so that two label sets
        // made equal by the renaming are one series, not two lines alike.
        let labels = label_text(&row);
        let key = Key { family, cluster: row.cluster.clone(), labels };
        let Some(series) = self.series.get_mut(&key) else {
            if self.series.len() >= limit {
                self.over_limit += 1;
                return;
            }
            let latest = match row.body.clone() {
                Body::Sum { value, .. } if value.is_nan() => return self.skipped += 1,
                Body::Sum { monotonic, value } => Latest::Sum { monotonic, value },
                Body::Gauge(v) => Latest::Gauge(v),
                Body::Histogram(stats, d) => Latest::Histogram(stats, d),
                Body::Exponential(stats, e) => Latest::Exponential(stats, e),
                Body::Summary(stats, q) => Latest::Summary(stats, q),
            };
            let series = Series { collection, help: row.description, end_ms: row.end_ms, latest };
            self.series.insert(key, series);
            return;
        };
        let newer = row.end_ms >= series.end_ms;
        if row.cumulative && !newer {
            // A cumulative row older than the one applied is already
            // counted in it; applying it would take the total back.
            return;
        }
        if newer {
            series.end_ms = row.end_ms;
            series.help = row.description;
        }
        let add = |into: &mut Stats, stats: Stats| {
            if row.cumulative {
                *into = stats;
            } else {
                into.count = into.count.saturating_add(stats.count);
                into.sum += stats.sum;
            }
        };
        match (&mut series.latest, row.body) {
            (Latest::Sum { value, monotonic }, Body::Sum { value: v, monotonic: m }) if *monotonic == m => {
                if v.is_nan() {
                    self.skipped += 1;
                } else if row.cumulative {
                    *value = v;
                } else {
                    *value += v;
                }
            }
            (Latest::Gauge(value), Body::Gauge(v)) if newer => *value = v,
            (Latest::Gauge(_), Body::Gauge(_)) => {}
            (Latest::Histogram(s, d), Body::Histogram(stats, other)) => {
                if row.cumulative || !d.add(&other) {
                    *d = other;
                    *s = stats;
                } else {
                    add(s, stats);
                }
            }
            (Latest::Exponential(s, e), Body::Exponential(stats, other)) => {
                if row.cumulative {
                    *e = other;
                } else {
                    e.add(&other);
                }
                add(s, stats);
            }
            (Latest::Summary(s, q), Body::Summary(stats, quantiles)) => {
                if newer {
                    *q = quantiles;
                }
                add(s, stats);
            }
            _ => self.skipped += 1,
        }
    }

    /// Reads the rows stored since the last scrape.
    fn catch_up(&mut self, app: &App) -> Result<(), ApiError> {
        let limit = app.limits.max_instrument_series;
        for collection in Collection::ALL {
            let Some(meta) = app.store.known_collection(collection.name()) else { continue };
            if collection.mismatch(&meta).is_some() {
                continue;
            }
            // Each batch is kept as it is read, so a scrape stopped by
            // --query-timeout leaves the next one less to read.
            app.store.sqlite("/metrics/instruments")?.read(|conn| {
                loop {
                    let after = self.read_up_to.get(&collection).copied().unwrap_or(0);
                    let mut rows = Vec::new();
                    let scanned =
                        scan(conn, collection, "rowid > ?1", "rowid", BATCH, &[&after], |row| rows.push(row))?;
                    rows.into_iter().for_each(|row| self.apply(collection, row, limit));
                    self.skipped += scanned.skipped;
                    if scanned.rows + scanned.skipped == 0 {
                        return Ok(());
                    }
                    self.read_up_to.insert(collection, scanned.last_rowid);
                }
            })?;
        }
        Ok(())
    }

    /// The text of the series `visible` lets through.
    fn render(&self, limit: usize, visible: impl Fn(&Series, &Key) -> bool) -> String {
        let mut out = String::new();
        let mut family: Option<(&str, &'static str)> = None;
        let mut clashing = 0u64;
        for (key, series) in &self.series {
            if !visible(series, key) {
                continue;
            }
            let type_name = series.latest.type_name();
            match family {
                Some((name, t)) if name == key.family => {
                    if t != type_name {
                        clashing += 1;
                        continue;
                    }
                }
                _ => {
                    family = Some((&key.family, type_name));
                    if !series.help.is_empty() {
                        let _ = write!(out, "# HELP {} ", key.family);
                        escape(&mut out, &series.help, false);
                        out.push('\n');
                    }
                    let _ = writeln!(out, "# TYPE {} {type_name}", key.family);
                }
            }
            sample_lines(&mut out, &key.family, &key.labels, &series.latest);
        }
        let notes = [
            (clashing, "series left out: their name is another type's"),
            (self.over_limit, "rows left out: past --max-instrument-series"),
            (self.skipped, "rows skipped: not valid for their kind"),
        ];
        for (n, what) in notes.into_iter().filter(|(n, _)| *n > 0) {
            let _ = writeln!(out, "# edgemetrics: {n} {what} (limit {limit})");
        }
        out
    }
}

fn sample(out: &mut String, name: &str, suffix: &str, labels: &str, extra: Option<(&str, f64)>, v: f64) {
    let _ = write!(out, "{name}{suffix}{{{labels}");
    if let Some((key, bound)) = extra {
        let _ = write!(out, ",{key}=\"");
        number(out, bound);
        out.push('"');
    }
    out.push_str("} ");
    number(out, v);
    out.push('\n');
}

fn buckets(out: &mut String, name: &str, labels: &str, stats: &Stats, buckets: impl Iterator<Item = (f64, u64)>) {
    let mut cumulative = 0u64;
    let mut finite = buckets.filter(|(bound, _)| bound.is_finite()).peekable();
    while let Some((bound, count)) = finite.next() {
        cumulative = cumulative.saturating_add(count);
        // Neighbouring exponential buckets among the subnormals can round
        // to one double: one line for them, or `le` would repeat.
        if finite.peek().is_some_and(|(next, _)| *next == bound) {
            continue;
        }
        sample(out, name, "_bucket", labels, Some(("le", bound)), cumulative as f64);
    }
    sample(out, name, "_bucket", labels, Some(("le", f64::INFINITY)), stats.count as f64);
    sample(out, name, "_sum", labels, None, stats.sum);
    sample(out, name, "_count", labels, None, stats.count as f64);
}

fn sample_lines(out: &mut String, name: &str, labels: &str, latest: &Latest) {
    match latest {
        Latest::Sum { value, .. } | Latest::Gauge(value) => sample(out, name, "", labels, None, *value),
        Latest::Histogram(stats, d) => buckets(out, name, labels, stats, d.buckets()),
        Latest::Exponential(stats, e) => buckets(out, name, labels, stats, e.buckets().into_iter()),
        Latest::Summary(stats, quantiles) => {
            for (q, v) in quantiles {
                sample(out, name, "", labels, Some(("quantile", *q)), *v);
            }
            sample(out, name, "_sum", labels, None, stats.sum);
            sample(out, name, "_count", labels, None, stats.count as f64);
        }
    }
}

/// `GET /metrics/instruments?cluster_id=`, with a read token (Prometheus
/// sends it as `authorization: Bearer <token>`).
pub async fn handler(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery,
) -> Result<Response, ApiError> {
    let grant = authorize(&app, &headers, &params)?;
    params.clusters(&grant)?;
    let clusters: Option<HashSet<String>> = match &params.cluster_id {
        Some(id) => Some([id.clone()].into()),
        None => grant.clusters.clone(),
    };
    // ClickHouse has no order in which new rows only ever come last (a row's
    // receive time is stamped before its insert), so what was read before
    // cannot be kept: every scrape totals every row, read with FINAL.
    let mut answers = Vec::new();
    if let Sink::ClickHouse(ch) = &*app.store {
        for collection in Collection::ALL {
            let Some(meta) = app.store.collection(collection.name()).await? else { continue };
            if collection.mismatch(&meta).is_some() {
                continue;
            }
            let (answer, capped) = ch.all_instrument_rows(collection, MAX_SCRAPED_ROWS).await?;
            let read = answer.len();
            if capped {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "the rows of {:?} take more than {read} bytes: more than one scrape totals on ClickHouse \
                         (the SQLite sink keeps its totals between scrapes)",
                        collection.name()
                    ),
                ));
            }
            answers.push((collection, answer));
        }
    }
    blocking(move || {
        let mut fresh = Totals::default();
        let mut kept = None;
        let totals = match &*app.store {
            Sink::ClickHouse(_) => {
                let limit = app.limits.max_instrument_series;
                for (collection, answer) in &answers {
                    let scanned = for_each_row(*collection, answer, |row| fresh.apply(*collection, row, limit))?;
                    if scanned.rows + scanned.skipped >= MAX_SCRAPED_ROWS as u64 {
                        let message = format!(
                            "{:?} holds more than {MAX_SCRAPED_ROWS} rows: more than one scrape totals on ClickHouse \
                             (the SQLite sink keeps its totals between scrapes)",
                            collection.name()
                        );
                        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message));
                    }
                    fresh.skipped += scanned.skipped;
                }
                &mut fresh
            }
            Sink::Sqlite(_) => {
                let totals = kept.insert(app.instruments.state.lock().map_err(|_| {
                    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "the instruments' totals were poisoned".into())
                })?);
                totals.catch_up(&app)?;
                &mut **totals
            }
        };
        let text = totals.render(app.limits.max_instrument_series, |series, key| {
            grant.allows_collection(series.collection.name())
                && clusters.as_ref().is_none_or(|c| c.contains(&key.cluster))
        });
        let max = app.limits.max_response_bytes;
        if text.len() > max {
            let message = format!(
                "the exposition takes {} bytes, over --max-response-bytes ({max}): raise it or scrape per ?cluster_id=",
                text.len()
            );
            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message));
        }
        Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
    })
    .await
}

#[cfg(test)]
pub(super) mod testing {
    use super::*;

    /// The text of `rows` applied in order, with a series limit.
    pub fn totals_text(rows: Vec<(Collection, Row)>, limit: usize) -> String {
        let mut totals = Totals::default();
        rows.into_iter().for_each(|(collection, row)| totals.apply(collection, row, limit));
        totals.render(limit, |_, _| true)
    }
}
