//! The query API of instruments, for charts:
//!
//! - `GET /api/instruments?cluster_id=` → `{"instruments":[{"collection",
//!   "name","kind","unit","description","series","rows","last_ms"}]}`
//! - `GET /api/instruments/{collection}/{name}?since_ms=&until_ms=&step_ms=&labels=&quantiles=&cluster_id=`
//!   → one column per figure, a value per step of `step_ms` from
//!   `since_ms` (default: the last hour in steps of about 30 s):
//!   `t` (each step's start), `rows`, and by kind
//!   - counters: `increase` and `rate` (per second);
//!   - gauges: `value`, the sum over series of each one's last value;
//!   - histograms, exponential histograms and summaries: `count`, `rate`,
//!     `mean` and `values`, one column per quantile of `quantiles`
//!     (default `0.5,0.9,0.99`).
//!
//! `labels` is a JSON object of label values the series must have (the
//! others are free): what is charted is the sum over the matching series.
//! A value recorded over a span (a delta row covers its interval) is
//! spread over the steps the span covers, so rates do not depend on how
//! the step and the writers' interval line up; a histogram's buckets count
//! in the step where their row ends. A cumulative series counts what it
//! gained since its row before; its first row in the range is the base
//! unless the series started in the range. A summary's quantiles cannot be
//! merged: each step has those of the latest row that ended in it (filter
//! by `labels` to one series). Steps without rows are `null`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value as J, json};

use super::buckets::quantile;
use super::{Body, Collection, Row, Stats, scan};
use crate::clickhouse::for_each_row;
use crate::query::{ApiError, ApiQuery, Params, authorize, blocking, cluster_condition, cluster_param};
use crate::schema_map::{float_json, quote};
use crate::server::App;
use crate::sink::Sink;

/// Most steps in one answer.
pub const MAX_STEPS: i64 = 2_000;
/// The longest instrument name the SDK makes (its `MAX_NAME_BYTES`).
pub const MAX_INSTRUMENT_NAME_BYTES: usize = 255;

/// Most rows one answer reads; past it the answer says `"truncated": true`.
pub const MAX_ROWS: i64 = 1_000_000;
/// Most quantiles one answer computes.
pub const MAX_QUANTILES: usize = 16;
/// Most instruments the list gives.
pub const MAX_LISTED: i64 = 10_000;

/// Query parameters of the points endpoint.
#[derive(Debug, Default, Deserialize)]
pub struct ChartParams {
    token: Option<String>,
    cluster_id: Option<String>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    step_ms: Option<i64>,
    labels: Option<String>,
    quantiles: Option<String>,
}

/// The stored collection of instruments called `name`.
async fn instrument_collection(app: &App, name: &str) -> Result<Collection, ApiError> {
    let collection = Collection::named(name).ok_or_else(|| {
        let names: Vec<&str> = Collection::ALL.iter().map(|c| c.name()).collect();
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("{name:?} is not a collection of instruments ({})", names.join(", ")),
        )
    })?;
    let meta =
        app.store.collection(name).await?.ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("no instrument has written to {name:?} yet"))
        })?;
    match collection.mismatch(&meta) {
        Some(why) => {
            Err(ApiError::new(StatusCode::CONFLICT, format!("collection {name:?} does not hold instruments: {why}")))
        }
        None => Ok(collection),
    }
}

/// `GET /api/instruments`.
pub async fn list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery,
) -> Result<Json<J>, ApiError> {
    let grant = authorize(&app, &headers, &params)?;
    let clusters = params.clusters(&grant)?;
    let mut present = Vec::new();
    for collection in Collection::ALL.into_iter().filter(|c| grant.allows_collection(c.name())) {
        match instrument_collection(&app, collection.name()).await {
            Ok(collection) => present.push(collection),
            // Not written yet, or a user's collection of that name: not listed.
            Err(e) if matches!(e.status(), StatusCode::NOT_FOUND | StatusCode::CONFLICT) => {}
            Err(e) => return Err(e),
        }
    }
    if let Sink::ClickHouse(ch) = &*app.store {
        let mut out = Vec::new();
        for collection in present {
            out.extend(ch.instrument_list(collection, clusters.as_deref(), MAX_LISTED).await?);
        }
        return Ok(Json(json!({ "instruments": out })));
    }
    let clusters = cluster_param(&clusters);
    blocking(move || {
        let mut out = Vec::new();
        for collection in present {
            let kind = match collection {
                Collection::Counters => "CASE WHEN MAX(\"monotonic\") THEN 'counter' ELSE 'up_down_counter' END",
                Collection::Gauges => "'gauge'",
                Collection::Histograms => "'histogram'",
                Collection::Exponential => "'exponential_histogram'",
                Collection::Summaries => "'summary'",
            };
            let sql = format!(
                "SELECT \"name\", {kind}, MAX(\"unit\"), MAX(\"description\"), \
                 COUNT(DISTINCT \"_cluster_id\" || ' ' || \"labels\"), COUNT(*), MAX({time}) \
                 FROM {table} WHERE {cond} AND \"name\" IS NOT NULL GROUP BY \"name\" ORDER BY \"name\" LIMIT {MAX_LISTED}",
                time = quote(collection.time_column()),
                table = quote(collection.name()),
                cond = cluster_condition(1),
            );
            app.store.sqlite("the instruments' charts")?.read(|conn| {
                let mut stmt = conn.prepare_cached(&sql)?;
                let mut rows = stmt.query([&clusters])?;
                while let Some(r) = rows.next()? {
                    out.push(json!({
                        "collection": collection.name(),
                        "name": r.get::<_, String>(0)?,
                        "kind": r.get::<_, String>(1)?,
                        "unit": r.get::<_, Option<String>>(2)?,
                        "description": r.get::<_, Option<String>>(3)?,
                        "series": r.get::<_, i64>(4)?,
                        "rows": r.get::<_, i64>(5)?,
                        "last_ms": r.get::<_, Option<i64>>(6)?,
                    }));
                }
                Ok(())
            })?;
        }
        Ok(Json(json!({ "instruments": out })))
    })
    .await
}

/// The steps of an answer and what each one gathered.
struct Steps {
    t0: i64,
    step: i64,
    rows: Vec<u64>,
    /// Counters' increase, distributions' count.
    increase: Vec<f64>,
    /// Distributions' sum.
    sum: Vec<f64>,
    /// Gauges: each series' last `(time, value)` in each step.
    last: HashMap<(usize, String), (i64, f64)>,
    /// Histograms: the count of each upper bound (by its bits) over the
    /// rows ending in the step, and the least and greatest value; merged
    /// as rows come, so memory grows with distinct bounds, not rows.
    buckets: Vec<HashMap<u64, f64>>,
    range: Vec<(f64, f64)>,
    /// Summaries: the quantiles of the latest row ending in the step.
    quantiles: Vec<Option<Stamped>>,
}

/// A summary's `(quantile, value)` pairs with the end of their row.
type Stamped = (i64, Vec<(f64, f64)>);

impl Steps {
    fn new(t0: i64, step: i64, n: usize) -> Self {
        Self {
            t0,
            step,
            rows: vec![0; n],
            increase: vec![0.0; n],
            sum: vec![0.0; n],
            last: HashMap::new(),
            buckets: vec![HashMap::new(); n],
            range: vec![(f64::NAN, f64::NAN); n],
            quantiles: vec![None; n],
        }
    }

    fn index(&self, t: i64) -> Option<usize> {
        let i = t.checked_sub(self.t0)?.div_euclid(self.step);
        usize::try_from(i).ok().filter(|i| *i < self.rows.len())
    }

    /// Spreads `amounts` recorded over `[start, end]` on the steps it
    /// covers, in proportion (all of it where it ends when it has no
    /// length); what falls outside the steps is left out.
    fn spread(&mut self, start: i64, end: i64, amounts: (f64, f64)) {
        if end <= start {
            if let Some(i) = self.index(end) {
                self.rows[i] += 1;
                self.increase[i] += amounts.0;
                self.sum[i] += amounts.1;
            }
            return;
        }
        // Times come from rows anyone with a write token sent: no overflow.
        let length = end.abs_diff(start) as f64;
        let first = self.index(start.max(self.t0)).unwrap_or(0);
        let last = self.index(end.min(self.t0 + self.step * self.rows.len() as i64 - 1));
        let Some(last) = last else { return };
        for i in first..=last {
            let from = (self.t0 + self.step * i as i64).max(start);
            let to = (self.t0 + self.step * (i as i64 + 1)).min(end);
            if to > from {
                let part = (to - from) as f64 / length;
                self.rows[i] += 1;
                self.increase[i] += amounts.0 * part;
                self.sum[i] += amounts.1 * part;
            }
        }
    }

    fn distribution(&mut self, end: i64, stats: &Stats, buckets: impl Iterator<Item = (f64, u64)>) {
        let Some(i) = self.index(end) else { return };
        for (bound, count) in buckets.filter(|(_, c)| *c > 0) {
            *self.buckets[i].entry(bound.to_bits()).or_default() += count as f64;
        }
        let (min, max) = &mut self.range[i];
        *min = min.min(stats.min);
        *max = max.max(stats.max);
    }
}

/// A cumulative series' row before, the base of its next row.
struct Before {
    start_ms: i64,
    end_ms: i64,
    body: Body,
}

/// What a cumulative series gained from `then` to `now`, or None when
/// `then` is not an earlier state of it (a count went down: the writer
/// restarted).
fn gain(now: &Body, then: &Body) -> Option<Body> {
    let stats = |now: &Stats, then: &Stats| {
        Some(Stats { count: now.count.checked_sub(then.count)?, sum: now.sum - then.sum, ..*now })
    };
    Some(match (now, then) {
        (Body::Sum { monotonic, value }, Body::Sum { value: v, .. }) if !monotonic || value >= v => {
            Body::Sum { monotonic: *monotonic, value: value - v }
        }
        (Body::Histogram(s, d), Body::Histogram(t, e)) => Body::Histogram(stats(s, t)?, d.since(e)?),
        (Body::Exponential(s, d), Body::Exponential(t, e)) => Body::Exponential(stats(s, t)?, d.since(e)?),
        (Body::Summary(s, q), Body::Summary(t, _)) => Body::Summary(stats(s, t)?, q.clone()),
        _ => return None,
    })
}

/// A cumulative row as a delta row: what it gained since the series' row
/// before, over the span between them. None for the first row of a series
/// that started before `since`: it is only the base of the next.
fn as_delta(row: Row, before: &mut HashMap<String, Before>, since: i64) -> Option<Row> {
    let key = format!("{}\u{0}{}", row.cluster, row.labels);
    let next = Before { start_ms: row.start_ms, end_ms: row.end_ms, body: row.body.clone() };
    let gained = match before.insert(key, next) {
        Some(then) if then.start_ms == row.start_ms && then.end_ms <= row.end_ms => {
            gain(&row.body, &then.body).map(|body| (then.end_ms, body))
        }
        _ => None,
    };
    match gained {
        Some((start_ms, body)) => Some(Row { start_ms, body, cumulative: false, ..row }),
        None if row.start_ms >= since => Some(Row { cumulative: false, ..row }),
        None => None,
    }
}

impl Steps {
    /// Adds a delta row (or a gauge's) of a series `series`.
    fn add(&mut self, row: &Row) {
        match &row.body {
            Body::Sum { value, .. } => self.spread(row.start_ms, row.end_ms, (*value, 0.0)),
            Body::Gauge(value) => {
                let Some(i) = self.index(row.end_ms) else { return };
                self.rows[i] += 1;
                let series = format!("{}\u{0}{}", row.cluster, row.labels);
                let slot = self.last.entry((i, series)).or_insert((row.end_ms, *value));
                if row.end_ms >= slot.0 {
                    *slot = (row.end_ms, *value);
                }
            }
            Body::Histogram(stats, d) => {
                self.spread(row.start_ms, row.end_ms, (stats.count as f64, stats.sum));
                self.distribution(row.end_ms, stats, d.buckets());
            }
            Body::Exponential(stats, e) => {
                self.spread(row.start_ms, row.end_ms, (stats.count as f64, stats.sum));
                self.distribution(row.end_ms, stats, e.buckets().into_iter());
            }
            Body::Summary(stats, quantiles) => {
                self.spread(row.start_ms, row.end_ms, (stats.count as f64, stats.sum));
                if let Some(i) = self.index(row.end_ms) {
                    let slot = &mut self.quantiles[i];
                    if slot.as_ref().is_none_or(|(end, _)| row.end_ms >= *end) {
                        *slot = Some((row.end_ms, quantiles.clone()));
                    }
                }
            }
        }
    }

    /// The columns of the answer for `collection`.
    fn columns(self, collection: Collection, quantiles: &[f64], out: &mut serde_json::Map<String, J>) {
        let n = self.rows.len();
        let seconds = self.step as f64 / 1000.0;
        let some = |i: usize, v: f64| if self.rows[i] == 0 { J::Null } else { float_json(v) };
        out.insert("t".into(), (0..n).map(|i| J::from(self.t0 + self.step * i as i64)).collect());
        let rate: J = (0..n).map(|i| some(i, self.increase[i] / seconds)).collect();
        match collection {
            Collection::Counters => {
                out.insert("increase".into(), (0..n).map(|i| some(i, self.increase[i])).collect());
                out.insert("rate".into(), rate);
            }
            Collection::Gauges => {
                let mut value = vec![0.0; n];
                self.last.iter().for_each(|((i, _), (_, v))| value[*i] += v);
                out.insert("value".into(), (0..n).map(|i| some(i, value[i])).collect());
            }
            _ => {
                out.insert("count".into(), (0..n).map(|i| some(i, self.increase[i])).collect());
                out.insert("rate".into(), rate);
                out.insert("mean".into(), (0..n).map(|i| some(i, self.sum[i] / self.increase[i])).collect());
                let values: Vec<J> = quantiles
                    .iter()
                    .map(|q| {
                        (0..n)
                            .map(|i| match &self.quantiles[i] {
                                Some((_, reported)) => {
                                    reported.iter().find(|(at, _)| at == q).map_or(J::Null, |(_, v)| float_json(*v))
                                }
                                None if collection == Collection::Summaries => J::Null,
                                None => {
                                    let mut buckets: Vec<(f64, f64)> =
                                        self.buckets[i].iter().map(|(b, c)| (f64::from_bits(*b), *c)).collect();
                                    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                                    let (min, max) = self.range[i];
                                    float_json(quantile(&buckets, min, max, *q))
                                }
                            })
                            .collect()
                    })
                    .collect();
                out.insert("quantiles".into(), quantiles.iter().map(|q| float_json(*q)).collect());
                out.insert("values".into(), J::Array(values));
            }
        }
        out.insert("rows".into(), self.rows.iter().map(|r| J::from(*r)).collect());
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The range and step asked for: `(since, until, step)`.
fn range(p: &ChartParams) -> Result<(i64, i64, i64), ApiError> {
    time_range(p.since_ms, p.until_ms, p.step_ms)
}

/// A time range and step from `since_ms`, `until_ms` and `step_ms` as a
/// query gave them (default: the last hour in about 120 steps of whole
/// seconds), checked: at most [`MAX_STEPS`] steps, times within ±2^53.
pub(crate) fn time_range(
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    step_ms: Option<i64>,
) -> Result<(i64, i64, i64), ApiError> {
    // Times JavaScript holds exactly (about 285,000 years either way), so
    // that the steps' arithmetic cannot overflow.
    const LIMIT: i64 = 1 << 53;
    for (name, value) in [("since_ms", since_ms), ("until_ms", until_ms), ("step_ms", step_ms)] {
        if let Some(v) = value.filter(|v| v.unsigned_abs() > LIMIT as u64) {
            return Err(ApiError::bad_request(format!("{name} ({v}) is out of range: at most {LIMIT} in magnitude")));
        }
    }
    let until = until_ms.unwrap_or_else(now_ms);
    let since = since_ms.unwrap_or(until.saturating_sub(3_600_000));
    if since >= until {
        return Err(ApiError::bad_request(format!("since_ms ({since}) must be before until_ms ({until})")));
    }
    let span = until.saturating_sub(since);
    let step = match step_ms {
        Some(step) if step < 1 => return Err(ApiError::bad_request(format!("step_ms must be at least 1, got {step}"))),
        Some(step) => step,
        // About 120 steps, in whole seconds.
        None => ceil_div((span / 120).max(1000), 1000) * 1000,
    };
    let steps = ceil_div(span, step);
    if steps > MAX_STEPS {
        return Err(ApiError::bad_request(format!(
            "{steps} steps of {step} ms from since_ms to until_ms: at most {MAX_STEPS}, raise step_ms"
        )));
    }
    Ok((since, until, step))
}

/// `a / b` rounded up, for positive `a` and `b` (signed `div_ceil` is not
/// stable yet).
fn ceil_div(a: i64, b: i64) -> i64 {
    (a as u64).div_ceil(b as u64) as i64
}

fn label_filter(p: &ChartParams) -> Result<Vec<(String, String)>, ApiError> {
    let Some(text) = &p.labels else { return Ok(Vec::new()) };
    let map: serde_json::Map<String, J> = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("labels must be a JSON object of strings: {e}")))?;
    map.into_iter()
        .map(|(k, v)| match v {
            J::String(s) => Ok((k, s)),
            other => Err(ApiError::bad_request(format!("labels: the value of {k:?} must be a string, got {other}"))),
        })
        .collect()
}

fn quantile_list(p: &ChartParams) -> Result<Vec<f64>, ApiError> {
    let Some(text) = &p.quantiles else { return Ok(vec![0.5, 0.9, 0.99]) };
    let list: Vec<f64> = text
        .split(',')
        .map(|q| match q.trim().parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
            _ => Err(ApiError::bad_request(format!("quantiles: {q:?} is not a number from 0 to 1"))),
        })
        .collect::<Result<_, _>>()?;
    if list.len() > MAX_QUANTILES {
        return Err(ApiError::bad_request(format!("quantiles: {} given, at most {MAX_QUANTILES}", list.len())));
    }
    Ok(list)
}

/// `GET /api/instruments/{collection}/{name}`.
pub async fn points(
    State(app): State<Arc<App>>,
    Path((collection, name)): Path<(String, String)>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<ChartParams>,
) -> Result<Json<J>, ApiError> {
    let auth = Params { token: p.token.clone(), cluster_id: p.cluster_id.clone(), ..Params::default() };
    let grant = authorize(&app, &headers, &auth)?;
    grant.check_collection(&collection).map_err(ApiError::auth)?;
    // Before any query: a name no instrument can have would only make the
    // query text (on ClickHouse, past its size limit) large.
    if name.len() > MAX_INSTRUMENT_NAME_BYTES {
        return Err(ApiError::bad_request(format!(
            "instrument name of {} bytes: no instrument's is longer than {MAX_INSTRUMENT_NAME_BYTES}",
            name.len()
        )));
    }
    let clusters = auth.clusters(&grant)?;
    let collection = instrument_collection(&app, &collection).await?;
    let (since, until, step) = range(&p)?;
    let filter = label_filter(&p)?;
    let quantiles = quantile_list(&p)?;
    // ClickHouse's rows are read first; the charting is the same for both.
    let from = since.saturating_sub(step);
    let read = match &*app.store {
        Sink::ClickHouse(ch) => {
            Some(ch.instrument_rows(collection, &name, (from, until), clusters.as_deref(), MAX_ROWS + 1).await?)
        }
        Sink::Sqlite(_) => None,
    };
    let clusters = cluster_param(&clusters);
    blocking(move || {
        let t0 = since.div_euclid(step) * step;
        let mut steps = Steps::new(t0, step, ceil_div(until - t0, step) as usize);
        let mut before = HashMap::new();
        let mut series = std::collections::HashSet::new();
        let mut latest: Option<(i64, String, String, bool)> = None;
        // Rows that end before the range still carry a delta's spread
        // into it, and a cumulative series' base: reach back one step.
        let time = quote(collection.time_column());
        let condition = format!("\"name\" = ?1 AND {time} >= ?2 AND {time} < ?3 AND {}", cluster_condition(4));
        let each = |row: Row| {
            let labels = row.label_pairs();
            if !filter.iter().all(|f| labels.contains(f)) {
                return;
            }
            series.insert(format!("{}\u{0}{}", row.cluster, row.labels));
            if latest.as_ref().is_none_or(|l| row.end_ms >= l.0) {
                let monotonic = matches!(row.body, Body::Sum { monotonic: true, .. });
                latest = Some((row.end_ms, row.unit.clone(), row.description.clone(), monotonic));
            }
            let delta = if row.cumulative { as_delta(row, &mut before, since) } else { Some(row) };
            if let Some(row) = delta {
                steps.add(&row);
            }
        };
        let capped = read.as_ref().is_some_and(|(_, capped)| *capped);
        let scanned = match read {
            Some((answer, _)) => for_each_row(collection, &answer, each)?,
            None => app.store.sqlite("the instruments' charts")?.read(|conn| {
                scan(
                    conn,
                    collection,
                    &condition,
                    &format!("{time}, rowid"),
                    MAX_ROWS + 1,
                    &[&name, &from, &until, &clusters],
                    each,
                )
            })?,
        };
        let kind = match collection {
            Collection::Counters if latest.as_ref().is_some_and(|l| !l.3) => "up_down_counter",
            Collection::Counters => "counter",
            Collection::Gauges => "gauge",
            Collection::Histograms => "histogram",
            Collection::Exponential => "exponential_histogram",
            Collection::Summaries => "summary",
        };
        let (unit, description) = latest.map(|l| (l.1, l.2)).unwrap_or_default();
        let mut out = serde_json::Map::new();
        for (key, value) in [
            ("collection", J::from(collection.name())),
            ("name", J::from(name)),
            ("kind", J::from(kind)),
            ("unit", J::from(unit)),
            ("description", J::from(description)),
            ("since_ms", J::from(since)),
            ("until_ms", J::from(until)),
            ("step_ms", J::from(step)),
            ("series", J::from(series.len())),
            ("truncated", J::from(capped || scanned.rows + scanned.skipped > MAX_ROWS as u64)),
            ("skipped_rows", J::from(scanned.skipped)),
        ] {
            out.insert(key.into(), value);
        }
        steps.columns(collection, &quantiles, &mut out);
        Ok(Json(J::Object(out)))
    })
    .await
}
