//! `GET /api/collections/{name}/series?field=&step_ms=&since_ms=&until_ms=&cluster_id=`:
//! one numeric field's count, min, max and mean per step of receive time,
//! for charts of any span without reading the rows. Steps start at
//! multiples of `step_ms` (so a chart polled again lines up with itself),
//! the first at `since_ms` rounded down to one, and each covers its whole
//! span; `t` is each step's start and a step without values has a count of
//! 0 and nulls. Range and step are checked as the instruments' charts check them
//! (default the last hour in about 120 steps, at most 2,000 steps).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value as J, json};

use crate::clickhouse::Filter;
use crate::instruments::chart::time_range;
use crate::query::{
    ApiError, ApiQuery, CollectionName, Params, authorize, blocking, cell_json, cluster_condition, cluster_param,
    collection,
};
use crate::schema_map::{float_json, quote};
use crate::server::App;
use crate::sink::Sink;

/// The endpoint's query parameters.
#[derive(Debug, Default, Deserialize)]
pub struct SeriesParams {
    token: Option<String>,
    cluster_id: Option<String>,
    field: Option<String>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    step_ms: Option<i64>,
}

/// `GET /api/collections/{name}/series`.
pub async fn series(
    State(app): State<Arc<App>>,
    CollectionName(name): CollectionName,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<SeriesParams>,
) -> Result<Json<J>, ApiError> {
    let auth = Params { token: p.token.clone(), cluster_id: p.cluster_id.clone(), ..Params::default() };
    let grant = authorize(&app, &headers, &auth)?;
    let meta = collection(&app, &grant, &name).await?;
    let clusters = auth.clusters(&grant)?;
    let numeric: Vec<&str> = meta.columns.iter().filter(|c| c.kind.is_numeric()).map(|c| c.name.as_str()).collect();
    let field = p.field.as_deref().ok_or_else(|| {
        ApiError::bad_request(format!(
            "field is required: one of the numeric columns of {name:?} ({})",
            numeric.join(", ")
        ))
    })?;
    let column = meta.columns.iter().find(|c| c.name == field).cloned().ok_or_else(|| {
        ApiError::bad_request(format!("field {field:?} is not a column of {name:?} (numeric: {})", numeric.join(", ")))
    })?;
    if !column.kind.is_numeric() {
        return Err(ApiError::bad_request(format!(
            "field {field:?} is not numeric (numeric columns of {name:?}: {})",
            numeric.join(", ")
        )));
    }
    let (since, until, step) = time_range(p.since_ms, p.until_ms, p.step_ms)?;
    let t0 = since.div_euclid(step) * step;
    let n = (until - t0 + step - 1) / step;
    let answer = |[count, min, max, avg]: [Vec<J>; 4]| {
        let t: Vec<J> = (0..n).map(|i| J::from(t0 + i * step)).collect();
        Json(json!({
            "field": column.name, "step_ms": step, "t": t, "count": count, "min": min, "max": max, "avg": avg,
        }))
    };
    if let Sink::ClickHouse(ch) = &*app.store {
        let filter = Filter { since_ms: t0, clusters: clusters.as_deref() };
        let columns = ch.series(&meta, &column, &filter, (t0, step, until, n as usize)).await?;
        return Ok(answer(columns));
    }
    let column2 = column.clone();
    let clusters = cluster_param(&clusters);
    let columns = blocking(move || {
        let column = column2;
        let q = quote(&column.name);
        let sql = format!(
            "SELECT (\"_received_at_ms\" - ?1) / ?2, COUNT({q}), MIN({q}), MAX({q}), AVG({q}) FROM {} \
             WHERE \"_received_at_ms\" >= ?3 AND \"_received_at_ms\" < ?4 AND {} AND {q} IS NOT NULL \
             GROUP BY 1 ORDER BY 1",
            quote(&meta.name),
            cluster_condition(5)
        );
        let (mut count, mut min, mut max, mut avg) = (
            vec![J::from(0); n as usize],
            vec![J::Null; n as usize],
            vec![J::Null; n as usize],
            vec![J::Null; n as usize],
        );
        app.store.sqlite("series")?.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            // Whole steps: the first starts at `since_ms` rounded down.
            let mut rows = stmt.query(rusqlite::params![t0, step, t0, until, clusters])?;
            while let Some(row) = rows.next()? {
                let Some(i) = usize::try_from(row.get::<_, i64>(0)?).ok().filter(|i| *i < n as usize) else { continue };
                count[i] = J::from(row.get::<_, i64>(1)?);
                min[i] = cell_json(row.get_ref(2)?, column.kind);
                max[i] = cell_json(row.get_ref(3)?, column.kind);
                avg[i] = row.get::<_, Option<f64>>(4)?.map_or(J::Null, float_json);
            }
            Ok(())
        })?;
        Ok([count, min, max, avg])
    })
    .await?;
    Ok(answer(columns))
}
