//! The query API's reads on ClickHouse: the same answers as on SQLite
//! (every value through [`crate::query::cell_json`]), each row once (`FINAL`).

use rusqlite::types::ValueRef;
use serde_json::{Map, Value as J, json};

use super::ClickHouse;
use super::client::{ident, literal};
use super::rowbinary::{Malformed, Reader};
use crate::cells::Cell;
use crate::query::cell_json;
use crate::schema_map::{Column, ColumnKind, float_json, hex};
use crate::store::{CollectionMeta, StoreError};

/// Where a page of rows ends: the order of rows on ClickHouse is receive
/// time, then the dedup key, and the cursor is the last row's place in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    received_at_ms: i64,
    cluster_id: String,
    chunk_id: String,
    batch: u64,
    row: u32,
}

/// What starts a ClickHouse cursor (SQLite's start `r1.`): a cursor of one
/// store is refused by the other rather than misread.
const CURSOR_PREFIX: &str = "c1.";

impl Cursor {
    /// Parses a `next` this sink gave; None for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.strip_prefix(CURSOR_PREFIX)?.split('.');
        let received_at_ms = parts.next()?.parse().ok()?;
        let cluster_hex = parts.next()?;
        let chunk_id = parts.next()?;
        let batch = parts.next()?.parse().ok()?;
        let row = parts.next()?.parse().ok()?;
        if parts.next().is_some()
            || chunk_id.len() > 32
            || !chunk_id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        let cluster = unhex(cluster_hex)?;
        Some(Self {
            received_at_ms,
            cluster_id: String::from_utf8(cluster).ok()?,
            chunk_id: chunk_id.to_owned(),
            batch,
            row,
        })
    }

    fn text(&self) -> String {
        format!(
            "{CURSOR_PREFIX}{}.{}.{}.{}.{}",
            self.received_at_ms,
            hex(self.cluster_id.as_bytes()),
            self.chunk_id,
            self.batch,
            self.row
        )
    }

    /// The SQL condition "after this cursor".
    fn condition(&self) -> String {
        format!(
            "(_received_at_ms, _cluster_id, _chunk_id, _batch, _row) > ({}, {}, {}, {}, {})",
            self.received_at_ms,
            literal(&self.cluster_id),
            literal(&self.chunk_id),
            self.batch,
            self.row
        )
    }
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 512 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// The reads' shared parameters.
pub struct Filter<'a> {
    /// Rows received at or after this time.
    pub since_ms: i64,
    /// Only these clusters' rows (None: every cluster's).
    pub clusters: Option<&'a [String]>,
}

impl Filter<'_> {
    pub(super) fn condition(&self) -> String {
        let mut out = format!("_received_at_ms >= {}", self.since_ms);
        if let Some(ids) = self.clusters {
            // No cluster at all matches nothing, as SQLite's empty list does.
            match ids.is_empty() {
                true => out.push_str(" AND 0"),
                false => {
                    let list: Vec<String> = ids.iter().map(|id| literal(id)).collect();
                    out.push_str(&format!(" AND _cluster_id IN ({})", list.join(", ")));
                }
            }
        }
        out
    }
}

pub(super) fn value(cell: Cell<'_>) -> ValueRef<'_> {
    match cell {
        Cell::Null => ValueRef::Null,
        Cell::Int(v) => ValueRef::Integer(v),
        Cell::Real(v) => ValueRef::Real(v),
        Cell::Text(t) => ValueRef::Text(t),
        Cell::Blob(b) => ValueRef::Blob(b),
    }
}

pub(super) fn malformed(e: Malformed) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn select_list(meta: &CollectionMeta) -> String {
    let mut cols: Vec<String> = meta.columns.iter().map(|c| ident(&c.name)).collect();
    cols.extend(["_cluster_id", "_received_at_ms", "_chunk_id", "_batch", "_row"].map(ident));
    cols.join(", ")
}

/// Reads one row of [`select_list`] into the JSON SQLite's reads give, and
/// its place for a cursor.
fn row_json(meta: &CollectionMeta, r: &mut Reader<'_>) -> Result<(J, Cursor), Malformed> {
    let mut obj = Map::with_capacity(meta.columns.len() + 3);
    for c in &meta.columns {
        obj.insert(c.name.clone(), cell_json(value(r.cell(c.kind)?), c.kind));
    }
    let cluster_id = String::from_utf8_lossy(r.string()?).into_owned();
    let received_at_ms = r.i64()?;
    let chunk_id = String::from_utf8_lossy(r.string()?).into_owned();
    let (batch, row) = (r.u64()?, r.u32()?);
    obj.insert("_cluster_id".into(), J::String(cluster_id.clone()));
    obj.insert("_received_at_ms".into(), J::from(received_at_ms));
    obj.insert("_chunk_id".into(), if chunk_id.is_empty() { J::Null } else { J::String(chunk_id.clone()) });
    Ok((J::Object(obj), Cursor { received_at_ms, cluster_id, chunk_id, batch, row }))
}

pub(super) const ORDER: &str = "_received_at_ms, _cluster_id, _chunk_id, _batch, _row";

impl ClickHouse {
    /// Settings of every read: stopped past `--query-timeout`.
    fn read_settings(&self) -> [(&'static str, String); 1] {
        [("max_execution_time", self.limits.query_timeout.as_secs().max(1).to_string())]
    }

    /// Settings of a read of rows: also stopped (at a block's end) past a
    /// few times `--max-response-bytes` of RowBinary, so that the answer
    /// held here stays within reach of what the JSON may take.
    fn rows_settings(&self, max_bytes: usize) -> [(&'static str, String); 3] {
        let [timeout] = self.read_settings();
        [
            timeout,
            ("max_result_bytes", max_bytes.saturating_mul(2).saturating_add(1 << 20).to_string()),
            ("result_overflow_mode", "break".into()),
        ]
    }

    pub(super) async fn select(&self, sql: &str) -> Result<Vec<u8>, StoreError> {
        self.select_with(sql, &self.read_settings()).await
    }

    pub(super) async fn select_with(&self, sql: &str, settings: &[(&str, String)]) -> Result<Vec<u8>, StoreError> {
        self.http.query(sql, settings).await.map_err(|e| match e {
            super::CallError::Exception { code: Some(159), .. } => {
                StoreError::Interrupted(format!("it ran longer than {:?} (--query-timeout)", self.limits.query_timeout))
            }
            e => e.into(),
        })
    }

    /// Rows stored in the collection, each once.
    pub async fn row_count(&self, name: &str) -> Result<u64, StoreError> {
        let answer = self.select(&format!("SELECT count() FROM {} FINAL FORMAT RowBinary", self.table(name))).await?;
        Reader::new(&answer).u64().map_err(malformed)
    }

    /// A page of the rows endpoint, as the JSON it answers: in receive order, at most `limit` rows
    /// and about `max_bytes`; with a cursor (`after`: Some(None) for the
    /// first page) the answer has a `next`.
    pub async fn rows(
        &self,
        meta: &CollectionMeta,
        filter: &Filter<'_>,
        limit: u32,
        after: Option<Option<Cursor>>,
        max_bytes: usize,
    ) -> Result<Vec<u8>, StoreError> {
        let mut condition = filter.condition();
        if let Some(Some(cursor)) = &after {
            condition.push_str(" AND ");
            condition.push_str(&cursor.condition());
        }
        let settings = self.rows_settings(max_bytes);
        let sql = format!(
            "SELECT {} FROM {} FINAL WHERE {condition} ORDER BY {ORDER} LIMIT {limit} FORMAT RowBinary",
            select_list(meta),
            self.table(&meta.name)
        );
        let answer = self.select_with(&sql, &settings).await?;
        let mut r = Reader::new(&answer);
        let mut body = b"{\"rows\":[".to_vec();
        let mut first = true;
        // ClickHouse stopped at max_result_bytes: fewer rows than asked.
        let mut truncated = settings[1].1.parse::<usize>().is_ok_and(|cap| answer.len() >= cap);
        let mut last = after.clone().flatten();
        while !r.is_empty() {
            let (row, place) = row_json(meta, &mut r).map_err(malformed)?;
            let start = body.len();
            if !first {
                body.push(b',');
            }
            serde_json::to_writer(&mut body, &row).map_err(|e| StoreError::Unavailable(e.to_string()))?;
            if body.len() > max_bytes && !first {
                body.truncate(start);
                truncated = true;
                break;
            }
            last = Some(place);
            first = false;
        }
        body.push(b']');
        if truncated {
            body.extend_from_slice(b",\"truncated\":true");
        }
        if after.is_some() {
            // The same cursor again when no row came (empty before the first row).
            let next = last.map_or_else(String::new, |c| c.text());
            body.extend_from_slice(format!(",\"next\":{}", J::String(next)).as_bytes());
        }
        body.push(b'}');
        Ok(body)
    }

    /// The last row received.
    pub async fn latest(&self, meta: &CollectionMeta, filter: &Filter<'_>) -> Result<Option<J>, StoreError> {
        let order = ORDER.split(", ").map(|c| format!("{c} DESC")).collect::<Vec<_>>().join(", ");
        let answer = self
            .select(&format!(
                "SELECT {} FROM {} FINAL WHERE {} ORDER BY {order} LIMIT 1 FORMAT RowBinary",
                select_list(meta),
                self.table(&meta.name),
                filter.condition()
            ))
            .await?;
        let mut r = Reader::new(&answer);
        if r.is_empty() {
            return Ok(None);
        }
        Ok(Some(row_json(meta, &mut r).map_err(malformed)?.0))
    }

    /// Count, min, max and mean of `column` per step of `step` ms from `t0`
    /// to `until` (`n` steps), as the series endpoint answers them.
    pub async fn series(
        &self,
        meta: &CollectionMeta,
        column: &Column,
        filter: &Filter<'_>,
        (t0, step, until, n): (i64, i64, i64, usize),
    ) -> Result<[Vec<J>; 4], StoreError> {
        let q = ident(&column.name);
        let cast = if column.kind == ColumnKind::Real { "toFloat64" } else { "toInt64" };
        let answer = self
            .select(&format!(
                // The step's expression, not an alias: an alias would hide a
                // field of the same name.
                "SELECT toInt64(intDiv(_received_at_ms - {t0}, {step})), toUInt64(count({q})), \
                 {cast}(assumeNotNull(min({q}))), {cast}(assumeNotNull(max({q}))), toFloat64(assumeNotNull(avg({q}))) \
                 FROM {} FINAL WHERE {} AND _received_at_ms < {until} AND isNotNull({q}) \
                 GROUP BY intDiv(_received_at_ms - {t0}, {step}) ORDER BY intDiv(_received_at_ms - {t0}, {step}) \
                 FORMAT RowBinary",
                self.table(&meta.name),
                Filter { since_ms: t0, clusters: filter.clusters }.condition(),
            ))
            .await?;
        let (mut count, mut min, mut max, mut avg) =
            (vec![J::from(0); n], vec![J::Null; n], vec![J::Null; n], vec![J::Null; n]);
        let mut r = Reader::new(&answer);
        let number = |r: &mut Reader<'_>| -> Result<J, Malformed> {
            Ok(if column.kind == ColumnKind::Real { float_json(r.f64()?) } else { J::from(r.i64()?) })
        };
        while !r.is_empty() {
            let i = r.i64().map_err(malformed)?;
            let c = r.u64().map_err(malformed)?;
            let (lo, hi) = (number(&mut r).map_err(malformed)?, number(&mut r).map_err(malformed)?);
            let mean = r.f64().map_err(malformed)?;
            let Some(i) = usize::try_from(i).ok().filter(|i| *i < n) else { continue };
            (count[i], min[i], max[i], avg[i]) = (J::from(c), lo, hi, float_json(mean));
        }
        Ok([count, min, max, avg])
    }

    /// The stats endpoint's answer: rows, and count, min, max, mean and
    /// population standard deviation of each numeric column, in two passes
    /// (mean, then mean squared deviation) as on SQLite: ClickHouse's
    /// one-pass `stddevPop` loses the deviation of large numbers (0 for
    /// timestamps 1 ms apart).
    pub async fn stats(&self, meta: &CollectionMeta, filter: &Filter<'_>) -> Result<J, StoreError> {
        let numeric: Vec<&Column> = meta.columns.iter().filter(|c| c.kind.is_numeric()).collect();
        let table = self.table(&meta.name);
        let rows_of = filter.condition();
        let mut select = vec!["count()".to_owned()];
        for c in &numeric {
            let q = ident(&c.name);
            let cast = if c.kind == ColumnKind::Real { "toFloat64" } else { "toInt64" };
            select.push(format!(
                "toUInt64(count({q})), {cast}(ifNull(min({q}), 0)), {cast}(ifNull(max({q}), 0)), \
                 toFloat64(ifNull(avg({q}), 0))"
            ));
        }
        let answer = self
            .select(&format!("SELECT {} FROM {table} FINAL WHERE {rows_of} FORMAT RowBinary", select.join(", ")))
            .await?;
        let mut r = Reader::new(&answer);
        let total = r.u64().map_err(malformed)?;
        let mut firsts = Vec::with_capacity(numeric.len());
        for c in &numeric {
            let count = r.u64().map_err(malformed)?;
            let read = |r: &mut Reader<'_>| -> Result<J, Malformed> {
                Ok(if c.kind == ColumnKind::Real { float_json(r.f64()?) } else { J::from(r.i64()?) })
            };
            let (min, max) = (read(&mut r).map_err(malformed)?, read(&mut r).map_err(malformed)?);
            firsts.push((count, min, max, r.f64().map_err(malformed)?));
        }
        let deviations: Vec<String> = numeric
            .iter()
            .zip(&firsts)
            .map(|(c, (_, _, _, mean))| {
                let q = ident(&c.name);
                // `{:?}` writes every finite double exactly, and inf as ClickHouse reads it.
                format!("toFloat64(ifNull(avg((toFloat64({q}) - {mean:?}) * (toFloat64({q}) - {mean:?})), 0))")
            })
            .collect();
        let mut stddevs = Vec::with_capacity(numeric.len());
        if !deviations.is_empty() {
            let answer = self
                .select(&format!(
                    "SELECT {} FROM {table} FINAL WHERE {rows_of} FORMAT RowBinary",
                    deviations.join(", ")
                ))
                .await?;
            let mut r = Reader::new(&answer);
            for _ in &numeric {
                stddevs.push(r.f64().map_err(malformed)?.max(0.0).sqrt());
            }
        }
        let mut fields = Map::new();
        for ((c, (count, min, max, avg)), stddev) in numeric.iter().zip(firsts).zip(stddevs) {
            let some = |v: J| if count == 0 { J::Null } else { v };
            fields.insert(
                c.name.clone(),
                json!({
                    "count": count,
                    "min": some(min),
                    "max": some(max),
                    "avg": some(float_json(avg)),
                    "stddev": some(float_json(stddev)),
                }),
            );
        }
        Ok(json!({ "rows": total, "fields": fields }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_and_refuse_other_text() {
        let c = Cursor { received_at_ms: -5, cluster_id: "a.b'c".into(), chunk_id: "00ff".into(), batch: 7, row: 3 };
        assert_eq!(Cursor::parse(&c.text()), Some(c));
        for bad in ["", "r1.5", "c1.", "c1.1.zz.00.0.0", "c1.1.61.XY.0.0", "c1.1.61.00.0.0.0", "c1.1.6.00.0.0"] {
            assert_eq!(Cursor::parse(bad), None, "{bad:?}");
        }
    }
}
