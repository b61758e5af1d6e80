//! The JSON query API for dashboards.
//!
//! Authentication: the `authorization` header (`Token <t>` / `Bearer <t>`)
//! or a `?token=<t>` query parameter. Rows come from every cluster, or with
//! `?cluster_id=` from that one only.
//!
//! - `GET /api/collections` → `{"collections":[{"name","rows","fields":[{"name","type"}],"schema"}]}`
//!   (`schema`: the text of the last schema stored, with its logical types,
//!   which a field's `type`, in Parsing Canonical Form, leaves out; with
//!   `"truncated":true` and the collections that fit, at --max-response-bytes)
//! - `GET /api/collections/{name}/rows?since_ms=&limit=&cluster_id=&after=` → `{"rows":[{..}]}`
//!   (and `"next"`, the cursor of the page after, when `after=` was given)
//! - `GET /api/collections/{name}/latest?cluster_id=` → `{"row":{..}|null}`
//! - `GET /api/collections/{name}/stats?since_ms=&cluster_id=` → `{"rows":N,"fields":{"f":{"count","min","max","avg","stddev"}}}`

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rusqlite::types::ValueRef;
use serde::Deserialize;
use serde_json::{Map, Value as J, json};

use crate::auth::{AuthError, Grant};
use crate::clickhouse::Filter;
use crate::rate::Limited;
use crate::schema_map::{ColumnKind, float_json, hex, quote};
use crate::server::App;
use crate::sink::Sink;
use crate::store::{CollectionMeta, StoreError};

/// Default `limit` of the rows endpoint.
pub const DEFAULT_LIMIT: u32 = 100;
/// Largest `limit` of the rows endpoint.
pub const MAX_LIMIT: u32 = 10_000;

/// Query parameters shared by the endpoints.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    pub(crate) token: Option<String>,
    pub(crate) since_ms: Option<i64>,
    pub(crate) limit: Option<u32>,
    /// The rows endpoint's cursor: `next` of the page before (empty: from
    /// the first row).
    pub(crate) after: Option<String>,
    pub(crate) cluster_id: Option<String>,
}

impl Params {
    /// The clusters whose rows are read (None: every cluster): the
    /// `cluster_id` parameter, checked as writers' cluster ids are and
    /// against the token, or the token's clusters when it is limited to some.
    pub(crate) fn clusters(&self, grant: &Grant) -> Result<Option<Vec<String>>, ApiError> {
        match &self.cluster_id {
            Some(id) => {
                if let Some(problem) = crate::auth::cluster_id_problem(id) {
                    return Err(ApiError::bad_request(format!("cluster_id {id:?}: {problem}")));
                }
                grant.check_cluster(id).map_err(ApiError::auth)?;
                Ok(Some(vec![id.clone()]))
            }
            None => Ok(grant.clusters.as_ref().map(|set| {
                let mut ids: Vec<String> = set.iter().cloned().collect();
                ids.sort();
                ids
            })),
        }
    }
}

/// The parameter of [`cluster_condition`]: the clusters as a JSON array, or
/// NULL for every cluster.
pub(crate) fn cluster_param(clusters: &Option<Vec<String>>) -> Option<String> {
    clusters.as_ref().map(|ids| json!(ids).to_string())
}

/// The SQL condition of the cluster filter, on parameter `?n` (a JSON array
/// of cluster ids): true for every row when the parameter is NULL.
pub(crate) fn cluster_condition(n: u8) -> String {
    format!("(?{n} IS NULL OR \"_cluster_id\" IN (SELECT value FROM json_each(?{n})))")
}

/// A JSON error response `{"error": "..."}`.
pub struct ApiError {
    status: StatusCode,
    message: String,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error with this status.
    pub fn new(status: StatusCode, message: String) -> Self {
        Self { status, message, retry_after_secs: None }
    }

    /// The answer's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// 400: what the request asked for is not valid.
    pub fn bad_request(message: String) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 401, or 403 for a token that may not do this.
    pub fn auth(e: AuthError) -> Self {
        match e {
            AuthError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, m),
            e => Self::new(StatusCode::UNAUTHORIZED, e.to_string()),
        }
    }

    /// 429 with `Retry-After`.
    pub fn rate(l: Limited) -> Self {
        Self { status: StatusCode::TOO_MANY_REQUESTS, message: l.message, retry_after_secs: Some(l.retry_after_secs) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(secs) = self.retry_after_secs {
            res.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Interrupted(_) => Self::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "a query failed; answered 503");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store is unavailable; retry (the collector's log says why)".into(),
                )
            }
            e => {
                tracing::error!(error = %e, "query failed");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }
}

/// Query parameters (the shared [`Params`] unless an endpoint has its own),
/// with errors as JSON like every other answer.
pub struct ApiQuery<T = Params>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(p)| Self(p))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// The collection named in the path, with errors as JSON.
pub struct CollectionName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CollectionName {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(p)| Self(p))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// A token with the read scope, within its request rate.
pub(crate) fn authorize(app: &App, headers: &HeaderMap, params: &Params) -> Result<Arc<Grant>, ApiError> {
    let grant = match (&params.token, headers.get(header::AUTHORIZATION)) {
        (Some(t), _) => app.tokens.check(t),
        (None, h) => app.tokens.check_header(h.map(|v| v.as_bytes())),
    };
    let grant = app.tokens.check_reader(grant).map_err(ApiError::auth)?;
    app.rates.request_with(grant.id).map_err(ApiError::rate)?;
    Ok(grant)
}

pub(crate) async fn collection(app: &App, grant: &Grant, name: &str) -> Result<Arc<CollectionMeta>, ApiError> {
    grant.check_collection(name).map_err(ApiError::auth)?;
    app.store
        .collection(name)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("unknown collection {name:?}")))
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("query task failed: {e}")))?
}

/// `GET /api/collections`.
pub async fn list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery,
) -> Result<Response, ApiError> {
    /// How a cut answer ends.
    const TRUNCATED_END: &str = r#"],"truncated":true}"#;
    let grant = authorize(&app, &headers, &params)?;
    // Every collection's schema text and columns: up to --max-collections
    // times --max-schema-bytes, so the answer stops at --max-response-bytes
    // as the rows' does. Each entry is written once, into the answer.
    let mut body = String::from(r#"{"collections":["#);
    let mut truncated = false;
    for meta in app.store.collections().await?.into_iter().filter(|m| grant.allows_collection(&m.name)) {
        let rows = app.store.row_count(&meta.name).await?;
        let fields: Vec<J> = meta
            .columns
            .iter()
            .map(|c| {
                let mut f = json!({ "name": c.name, "type": c.avro_type });
                if c.server_timestamp {
                    f["server_timestamp"] = J::Bool(true);
                }
                f
            })
            .collect();
        let entry = json!({ "name": meta.name, "rows": rows, "fields": fields, "schema": meta.schema_json });
        let comma = if body.ends_with('[') { "" } else { "," };
        let entry = entry.to_string();
        if body.len() + comma.len() + entry.len() + TRUNCATED_END.len() > app.limits.max_response_bytes {
            truncated = true;
            break;
        }
        body.push_str(comma);
        body.push_str(&entry);
    }
    body.push_str(if truncated { TRUNCATED_END } else { "]}" });
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

fn select_list(meta: &CollectionMeta) -> String {
    let mut cols: Vec<String> = meta.columns.iter().map(|c| quote(&c.name)).collect();
    cols.extend(["_cluster_id", "_received_at_ms", "_chunk_id"].iter().map(|c| quote(c)));
    cols.join(", ")
}

fn row_json(meta: &CollectionMeta, row: &rusqlite::Row<'_>) -> rusqlite::Result<J> {
    let mut obj = Map::with_capacity(meta.columns.len() + 3);
    for (i, c) in meta.columns.iter().enumerate() {
        obj.insert(c.name.clone(), cell_json(row.get_ref(i)?, c.kind));
    }
    let n = meta.columns.len();
    obj.insert("_cluster_id".into(), cell_json(row.get_ref(n)?, ColumnKind::Text));
    obj.insert("_received_at_ms".into(), cell_json(row.get_ref(n + 1)?, ColumnKind::Int));
    obj.insert("_chunk_id".into(), cell_json(row.get_ref(n + 2)?, ColumnKind::Blob));
    Ok(J::Object(obj))
}

pub(crate) fn cell_json(v: ValueRef<'_>, kind: ColumnKind) -> J {
    match (v, kind) {
        (ValueRef::Null, _) => J::Null,
        (ValueRef::Integer(i), ColumnKind::Bool) => J::Bool(i != 0),
        (ValueRef::Integer(i), _) => J::from(i),
        (ValueRef::Real(f), _) => float_json(f),
        (ValueRef::Text(t), ColumnKind::Json) => {
            serde_json::from_slice(t).unwrap_or_else(|_| J::String(String::from_utf8_lossy(t).into()))
        }
        (ValueRef::Text(t), _) => J::String(String::from_utf8_lossy(t).into_owned()),
        (ValueRef::Blob(b), _) => J::String(hex(b)),
    }
}

/// `GET /api/collections/{name}/rows?since_ms=&limit=`: ascending by receive
/// time, then insertion order. The answer stops short of `limit` rows,
/// with `"truncated": true`, once it reaches `--max-response-bytes`.
///
/// With `after=` (empty for the first page, then the `next` of the page
/// before) the rows come in the order they were stored, each once, however
/// many share a millisecond: the cursor is the row's place in the table
/// (its rowid; rows are only appended, and one writer stores them, so a
/// row committed later always comes after the cursor). `since_ms` still
/// filters.
pub async fn rows(
    State(app): State<Arc<App>>,
    CollectionName(name): CollectionName,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery,
) -> Result<Response, ApiError> {
    let grant = authorize(&app, &headers, &params)?;
    let meta = collection(&app, &grant, &name).await?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!("limit must be 1..={MAX_LIMIT}, got {limit}")));
    }
    let since = params.since_ms.unwrap_or(i64::MIN);
    let clusters = params.clusters(&grant)?;
    let max_bytes = app.limits.max_response_bytes;
    if let Sink::ClickHouse(ch) = &*app.store {
        let after = params.after.as_deref().map(clickhouse_cursor).transpose()?;
        let filter = Filter { since_ms: since, clusters: clusters.as_deref() };
        let page = ch.rows(&meta, &filter, limit, after, max_bytes).await?;
        return Ok(([(header::CONTENT_TYPE, "application/json")], page).into_response());
    }
    let after = params.after.as_deref().map(cursor).transpose()?;
    let clusters = cluster_param(&clusters);
    blocking(move || {
        // The rowid is selected last, after the columns `row_json` reads.
        let (condition, order) = match after {
            Some(_) => ("rowid > ?4", "rowid"),
            None => ("?4 IS NULL", "\"_received_at_ms\", rowid"),
        };
        let sql = format!(
            "SELECT {}, rowid FROM {} WHERE \"_received_at_ms\" >= ?1 AND {} AND {condition} \
             ORDER BY {order} LIMIT ?2",
            select_list(&meta),
            quote(&meta.name),
            cluster_condition(3)
        );
        let rowid_column = meta.columns.len() + 3;
        let body = app.store.sqlite("rows")?.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query(rusqlite::params![since, limit, clusters, after])?;
            let mut body = b"{\"rows\":[".to_vec();
            let mut first = true;
            let mut truncated = false;
            let mut last = after;
            while let Some(row) = rows.next()? {
                let start = body.len();
                if !first {
                    body.push(b',');
                }
                serde_json::to_writer(&mut body, &row_json(&meta, row)?)
                    .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
                if body.len() > max_bytes && !first {
                    body.truncate(start);
                    truncated = true;
                    break;
                }
                last = last.map(|_| row.get::<_, i64>(rowid_column)).transpose()?;
                first = false;
            }
            body.push(b']');
            if truncated {
                body.extend_from_slice(b",\"truncated\":true");
            }
            if let Some(last) = last {
                // The same cursor again when no row came: nothing is stored past it yet.
                body.extend_from_slice(format!(",\"next\":\"{CURSOR_PREFIX}{last}\"").as_bytes());
            }
            body.push(b'}');
            Ok(body)
        })?;
        Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
    })
    .await
}

/// What starts a `next` cursor: a version, so that the cursor can change
/// form without old ones being misread.
const CURSOR_PREFIX: &str = "r1.";

/// The rowid a cursor stands after (0 for the empty cursor, the first page).
fn cursor(text: &str) -> Result<i64, ApiError> {
    if text.is_empty() {
        return Ok(0);
    }
    text.strip_prefix(CURSOR_PREFIX)
        .filter(|digits| !digits.is_empty() && digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<i64>().ok())
        .ok_or_else(|| not_a_cursor(text))
}

/// A ClickHouse collector's cursor (None for the empty one, the first page).
fn clickhouse_cursor(text: &str) -> Result<Option<crate::clickhouse::Cursor>, ApiError> {
    match text {
        "" => Ok(None),
        text => crate::clickhouse::Cursor::parse(text).map(Some).ok_or_else(|| not_a_cursor(text)),
    }
}

fn not_a_cursor(text: &str) -> ApiError {
    let shown: String = text.chars().take(40).collect();
    ApiError::bad_request(format!("after {shown:?} is not a cursor this API gave (a rows answer's \"next\")"))
}

/// `GET /api/collections/{name}/latest`.
pub async fn latest(
    State(app): State<Arc<App>>,
    CollectionName(name): CollectionName,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery,
) -> Result<Json<J>, ApiError> {
    let grant = authorize(&app, &headers, &params)?;
    let meta = collection(&app, &grant, &name).await?;
    let cluster = params.clusters(&grant)?;
    if let Sink::ClickHouse(ch) = &*app.store {
        let row = ch.latest(&meta, &Filter { since_ms: i64::MIN, clusters: cluster.as_deref() }).await?;
        return Ok(Json(json!({ "row": row })));
    }
    let cluster = cluster_param(&cluster);
    blocking(move || {
        let sql = format!(
            "SELECT {} FROM {} WHERE {} ORDER BY \"_received_at_ms\" DESC, rowid DESC LIMIT 1",
            select_list(&meta),
            quote(&meta.name),
            cluster_condition(1)
        );
        let row = app.store.sqlite("latest")?.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query_map([cluster], |r| row_json(&meta, r))?;
            rows.next().transpose()
        })?;
        Ok(Json(json!({ "row": row })))
    })
    .await
}

/// `GET /api/collections/{name}/stats?since_ms=`: count, min, max, mean and
/// population standard deviation of every numeric (int, long, float, double
/// and logical types on them) column, NULLs ignored.
pub async fn stats(
    State(app): State<Arc<App>>,
    CollectionName(name): CollectionName,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery,
) -> Result<Json<J>, ApiError> {
    let grant = authorize(&app, &headers, &params)?;
    let meta = collection(&app, &grant, &name).await?;
    let since = params.since_ms.unwrap_or(i64::MIN);
    let cluster = params.clusters(&grant)?;
    if let Sink::ClickHouse(ch) = &*app.store {
        return Ok(Json(ch.stats(&meta, &Filter { since_ms: since, clusters: cluster.as_deref() }).await?));
    }
    let cluster = cluster_param(&cluster);
    blocking(move || {
        let table = quote(&meta.name);
        let rows_of = format!("\"_received_at_ms\" >= ?1 AND {}", cluster_condition(2));
        let out = app.store.sqlite("stats")?.read(|c| {
            let total: i64 = c.query_row(
                &format!("SELECT COUNT(*) FROM {table} WHERE {rows_of}"),
                rusqlite::params![since, cluster],
                |r| r.get(0),
            )?;
            let mut fields = Map::new();
            for col in meta.columns.iter().filter(|c| c.kind.is_numeric()) {
                let q = quote(&col.name);
                let (count, min, max, avg): (i64, J, J, Option<f64>) = c.query_row(
                    &format!("SELECT COUNT({q}), MIN({q}), MAX({q}), AVG({q}) FROM {table} WHERE {rows_of}"),
                    rusqlite::params![since, cluster],
                    |r| {
                        Ok((
                            r.get(0)?,
                            cell_json(r.get_ref(1)?, col.kind),
                            cell_json(r.get_ref(2)?, col.kind),
                            r.get(3)?,
                        ))
                    },
                )?;
                // Two passes (mean, then mean squared deviation) for accuracy.
                let stddev: Option<f64> = match avg {
                    Some(mean) => c.query_row(
                        &format!(
                            "SELECT AVG((CAST({q} AS REAL) - ?3) * (CAST({q} AS REAL) - ?3)) \
                             FROM {table} WHERE {rows_of} AND {q} IS NOT NULL"
                        ),
                        rusqlite::params![since, cluster, mean],
                        |r| r.get::<_, Option<f64>>(0),
                    )?,
                    None => None,
                };
                fields.insert(
                    col.name.clone(),
                    json!({
                        "count": count,
                        "min": min,
                        "max": max,
                        "avg": avg.map_or(J::Null, float_json),
                        "stddev": stddev.map_or(J::Null, |v| float_json(v.max(0.0).sqrt())),
                    }),
                );
            }
            Ok(json!({ "rows": total, "fields": fields }))
        })?;
        Ok(Json(out))
    })
    .await
}
