//! The instruments on ClickHouse: their rows read with `FINAL` and handed,
//! one at a time, to the same code that charts (`/api/instruments`) and
//! totals (`/metrics/instruments`) SQLite's, and the list of instruments by
//! the same aggregates.

use rusqlite::types::ValueRef;
use serde_json::{Value as J, json};

use super::ClickHouse;
use super::client::{ident, literal};
use super::read::{Filter, ORDER, malformed, value};
use super::rowbinary::Reader;
use crate::instruments::{Collection, Row, Scanned, parse_values};
use crate::store::StoreError;

/// The most bytes of rows a chart reads from ClickHouse (ClickHouse stops at
/// the end of the block that passes it); what it cut is said as
/// `"truncated"`, as a chart past its row limit is.
pub const MAX_ANSWER_BYTES: usize = 64 << 20;

/// Hands each valid row of an [`ClickHouse::instrument_rows`] answer to
/// `each`, in order, without keeping them; how many were read and skipped.
pub fn for_each_row(collection: Collection, answer: &[u8], mut each: impl FnMut(Row)) -> Result<Scanned, StoreError> {
    let columns = collection.columns();
    let mut scanned = Scanned::default();
    let mut r = Reader::new(answer);
    let mut values = Vec::with_capacity(columns.len() + 2);
    while !r.is_empty() {
        // The place in the answer stands for SQLite's rowid (ties in time).
        let place = i64::try_from(scanned.rows + scanned.skipped + 1).unwrap_or(i64::MAX);
        values.clear();
        values.push(ValueRef::Integer(place));
        for (_, kind) in &columns {
            values.push(value(r.cell(*kind).map_err(malformed)?));
        }
        values.push(ValueRef::Text(r.string().map_err(malformed)?));
        match parse_values(collection, &values) {
            Some(row) => {
                scanned.rows += 1;
                each(row);
            }
            None => scanned.skipped += 1,
        }
    }
    Ok(scanned)
}

impl ClickHouse {
    /// The rows of instrument `name` in `collection` whose time is in
    /// `from..until`, in time order, at most `limit` and about
    /// [`MAX_ANSWER_BYTES`] of them, as ClickHouse answers them (read with
    /// [`for_each_row`], a row at a time); true when the byte cap cut them.
    pub async fn instrument_rows(
        &self,
        collection: Collection,
        name: &str,
        (from, until): (i64, i64),
        clusters: Option<&[String]>,
        limit: i64,
    ) -> Result<(Vec<u8>, bool), StoreError> {
        let time = ident(collection.time_column());
        let filter = Filter { since_ms: i64::MIN, clusters };
        let condition =
            format!("name = {} AND {time} >= {from} AND {time} < {until} AND {}", literal(name), filter.condition());
        self.instrument_answer(collection, &condition, limit).await
    }

    /// Every row of `collection`, as [`ClickHouse::instrument_rows`] reads
    /// them: what `/metrics/instruments` totals on each scrape.
    pub async fn all_instrument_rows(&self, collection: Collection, limit: i64) -> Result<(Vec<u8>, bool), StoreError> {
        self.instrument_answer(collection, "1", limit).await
    }

    /// The rows of `collection` matching `condition`, in time order.
    async fn instrument_answer(
        &self,
        collection: Collection,
        condition: &str,
        limit: i64,
    ) -> Result<(Vec<u8>, bool), StoreError> {
        let list: Vec<String> = collection.columns().iter().map(|(c, _)| ident(c)).collect();
        let time = ident(collection.time_column());
        let settings = [
            ("max_execution_time", self.limits.query_timeout.as_secs().max(1).to_string()),
            ("max_result_bytes", MAX_ANSWER_BYTES.to_string()),
            ("result_overflow_mode", "break".into()),
        ];
        let sql = format!(
            "SELECT {}, _cluster_id FROM {} FINAL WHERE {condition} ORDER BY {time}, {ORDER} LIMIT {limit} \
             FORMAT RowBinary",
            list.join(", "),
            self.table(collection.name()),
        );
        let answer = self.select_with(&sql, &settings).await?;
        let capped = answer.len() >= MAX_ANSWER_BYTES;
        Ok((answer, capped))
    }

    /// The instruments of `collection`, as `/api/instruments` lists them.
    pub async fn instrument_list(
        &self,
        collection: Collection,
        clusters: Option<&[String]>,
        limit: i64,
    ) -> Result<Vec<J>, StoreError> {
        let kind = match collection {
            Collection::Counters => "if(ifNull(max(monotonic), 0) = 1, 'counter', 'up_down_counter')",
            Collection::Gauges => "'gauge'",
            Collection::Histograms => "'histogram'",
            Collection::Exponential => "'exponential_histogram'",
            Collection::Summaries => "'summary'",
        };
        let time = ident(collection.time_column());
        let filter = Filter { since_ms: i64::MIN, clusters };
        let answer = self
            .select(&format!(
                "SELECT assumeNotNull(name), toString({kind}), max(unit), max(description), \
                 toUInt64(ifNull(uniqExact(_cluster_id, labels), 0)), toUInt64(count()), max({time}) \
                 FROM {} FINAL WHERE {} AND isNotNull(name) GROUP BY name ORDER BY name LIMIT {limit} FORMAT RowBinary",
                self.table(collection.name()),
                filter.condition()
            ))
            .await?;
        let mut out = Vec::new();
        let mut r = Reader::new(&answer);
        let text = |b: &[u8]| J::String(String::from_utf8_lossy(b).into_owned());
        while !r.is_empty() {
            let name = text(r.string().map_err(malformed)?);
            let kind = text(r.string().map_err(malformed)?);
            let nullable = |r: &mut Reader<'_>| -> Result<J, StoreError> {
                Ok(if r.u8().map_err(malformed)? == 0 { text(r.string().map_err(malformed)?) } else { J::Null })
            };
            let (unit, description) = (nullable(&mut r)?, nullable(&mut r)?);
            let (series, rows) = (r.u64().map_err(malformed)?, r.u64().map_err(malformed)?);
            let last = if r.u8().map_err(malformed)? == 0 { J::from(r.i64().map_err(malformed)?) } else { J::Null };
            out.push(json!({
                "collection": collection.name(), "name": name, "kind": kind, "unit": unit,
                "description": description, "series": series, "rows": rows, "last_ms": last,
            }));
        }
        Ok(out)
    }
}
