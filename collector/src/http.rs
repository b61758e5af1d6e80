//! Plain HTTP endpoints: `POST /v1/metrics`, `GET /healthz`, `GET /metrics`
//! and the fault-injection admin endpoint.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::ingest::{Ack, IngestError};
use crate::listen::ClientAddr;
use crate::metrics::Transport;
use crate::pb::metrics::v1beta::{WriteMetricsBatchRequest, WriteMetricsResponse};
use crate::server::App;

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn header_bytes<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a [u8]> {
    headers.get(name).map(HeaderValue::as_bytes)
}

/// The HTTP status of an ingestion error.
pub fn status_of(e: &IngestError) -> StatusCode {
    match e {
        IngestError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        IngestError::Invalid(_) => StatusCode::BAD_REQUEST,
        IngestError::TooLarge(_) | IngestError::Limit(_) => StatusCode::PAYLOAD_TOO_LARGE,
        IngestError::Forbidden(_) => StatusCode::FORBIDDEN,
        IngestError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        IngestError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
        IngestError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        IngestError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn error_response(e: &IngestError) -> Response {
    let status = status_of(e);
    let mut res = (status, format!("{e}\n")).into_response();
    match e {
        IngestError::Unavailable(_) => {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        IngestError::RateLimited { retry_after_secs, .. } => {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
        }
        _ => {}
    }
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Token"));
    }
    res
}

fn too_large(what: &str, limit: usize) -> IngestError {
    IngestError::TooLarge(format!("{what} exceeds the limit of {limit} bytes (--max-message-bytes)"))
}

/// Reads the body within `timeout`, refusing more than `limit` bytes.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize, timeout: Duration) -> Result<Bytes, IngestError> {
    tokio::time::timeout(timeout, read_body_now(headers, body, limit)).await.map_err(|_| {
        IngestError::Timeout(format!("the request body did not arrive within {timeout:?} (--body-timeout)"))
    })?
}

async fn read_body_now(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, IngestError> {
    if let Some(len) = header_str(headers, header::CONTENT_LENGTH.as_str()).and_then(|l| l.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large("request body", limit));
    }
    let raw = axum::body::to_bytes(body, limit.saturating_add(1)).await.map_err(|e| {
        if e.to_string().contains("length limit") {
            too_large("request body", limit)
        } else {
            IngestError::Invalid(format!("cannot read the request body: {e}"))
        }
    })?;
    if raw.len() > limit {
        return Err(too_large("request body", limit));
    }
    Ok(raw)
}

/// Gunzips the body when `content-encoding: gzip` (refusing more than
/// `limit` decompressed bytes: no gzip bombs), then decodes the batch.
fn decode_body(encoding: Option<String>, raw: Bytes, limit: usize) -> Result<WriteMetricsBatchRequest, IngestError> {
    let plain: std::borrow::Cow<'_, [u8]> = match encoding.as_deref().map(str::trim) {
        None | Some("") | Some("identity") => raw[..].into(),
        Some(enc) if enc.eq_ignore_ascii_case("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&raw[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| IngestError::Invalid(format!("body is not valid gzip: {e}")))?;
            if out.len() > limit {
                return Err(too_large("decompressed request body", limit));
            }
            out.into()
        }
        Some(other) => {
            return Err(IngestError::Invalid(format!("unsupported content-encoding {other:?} (use gzip or none)")));
        }
    };
    WriteMetricsBatchRequest::decode(&plain[..])
        .map_err(|e| IngestError::Invalid(format!("body is not a protobuf WriteMetricsBatchRequest: {e}")))
}

/// `POST /v1/metrics`: a protobuf `WriteMetricsBatchRequest`, optionally
/// gzip; answers a protobuf `WriteMetricsResponse`.
pub async fn post_metrics(
    State(app): State<Arc<App>>,
    peer: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let writer =
            app.authenticate(header_bytes(&headers, "authorization"), header_bytes(&headers, "x-cluster-id"))?;
        app.injected_fault()?;
        let limit = app.limits.max_message_bytes;
        // Reserved before the body is read: its declared length, or the
        // most it may be.
        let declared = header_str(&headers, header::CONTENT_LENGTH.as_str()).and_then(|l| l.parse::<usize>().ok());
        let _held = app.inflight.try_hold(declared.unwrap_or(limit).min(limit)).map_err(IngestError::Unavailable)?;
        let raw = read_body(&headers, body, limit, app.body_timeout).await?;
        let encoding = header_str(&headers, header::CONTENT_ENCODING.as_str()).map(str::to_owned);
        let batch = tokio::task::spawn_blocking(move || decode_body(encoding, raw, limit))
            .await
            .map_err(|e| IngestError::Internal(format!("decoding task failed: {e}")))??;
        app.ingest(&writer, peer.map(|p| p.0.0.ip()), batch.chunks, 0).await
    }
    .await;
    match result {
        Ok(Ack { rows_stored, chunks_acked }) => {
            app.metrics.request(Transport::Http, crate::metrics::Outcome::Ok);
            let body = WriteMetricsResponse { success: true, error: None, rows_stored, chunks_acked }.encode_to_vec();
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-protobuf")], body).into_response()
        }
        Err(e) => {
            app.metrics.request(Transport::Http, e.outcome());
            error_response(&e)
        }
    }
}

/// `GET /healthz`.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], app.metrics.render()).into_response()
}

/// Body of `POST /admin/faults` and of its answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct FaultsBody {
    /// Ingestion requests still to fail with UNAVAILABLE / 503.
    pub unavailable: u64,
}

/// `POST /admin/faults` `{"unavailable": N}` (only with
/// `--enable-fault-injection`; needs the token).
pub async fn set_faults(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = app.tokens.check_header(header_bytes(&headers, "authorization")) {
        return error_response(&IngestError::from(e));
    }
    let req: FaultsBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("expected {{\"unavailable\": N}}: {e}\n")).into_response();
        }
    };
    app.faults.set_unavailable(req.unavailable);
    Json(FaultsBody { unavailable: app.faults.unavailable_remaining() }).into_response()
}

/// `GET /admin/faults`: what is pending.
pub async fn get_faults(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Err(e) = app.tokens.check_header(header_bytes(&headers, "authorization")) {
        return error_response(&IngestError::from(e));
    }
    Json(FaultsBody { unavailable: app.faults.unavailable_remaining() }).into_response()
}
