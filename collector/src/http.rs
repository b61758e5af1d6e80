//! Plain HTTP endpoints: `POST /v1/metrics`, `GET /healthz`, `GET /metrics`
//! and the fault-injection admin endpoint.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http_body_util::BodyExt;
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::inflight::{Held, Ticket};
use crate::ingest::{Ack, IngestError};
use crate::listen::{AddrKey, ClientAddr};
use crate::metrics::Transport;
use crate::pb::metrics::v1beta::{WriteMetricsBatchRequest, WriteMetricsResponse};
use crate::server::App;
use crate::wire_scan::ChunkCounter;

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
        IngestError::Unavailable(_) | IngestError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
        IngestError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn error_response(e: &IngestError) -> Response {
    let status = status_of(e);
    let mut res = (status, format!("{e}\n")).into_response();
    match e {
        IngestError::Unavailable(_) | IngestError::Busy(_) => {
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

/// Reads the body within `timeout`, refusing more than `limit` bytes and
/// holding its bytes on `ticket` as they arrive.
async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
    ticket: &Ticket,
) -> Result<Vec<u8>, IngestError> {
    tokio::time::timeout(timeout, read_body_now(headers, body, limit, ticket)).await.map_err(|_| {
        IngestError::Timeout(format!("the request body did not arrive within {timeout:?} (--body-timeout)"))
    })?
}

async fn read_body_now(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
    ticket: &Ticket,
) -> Result<Vec<u8>, IngestError> {
    if let Some(len) = header_str(headers, header::CONTENT_LENGTH.as_str()).and_then(|l| l.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large("request body", limit));
    }
    let mut raw = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| IngestError::Invalid(format!("cannot read the request body: {e}")))?;
        let Some(data) = frame.data_ref() else { continue };
        if raw.len() + data.len() > limit {
            return Err(too_large("request body", limit));
        }
        ticket.receive(data.len()).map_err(IngestError::from)?;
        raw.extend_from_slice(data);
    }
    Ok(raw)
}

/// Bytes decompressed before they are charged to the in-flight budget.
const GUNZIP_STEP: usize = 256 << 10;

/// Gunzips the body when `content-encoding: gzip` (refusing more than
/// `limit` decompressed bytes: no gzip bombs; holding them on `ticket` a
/// step of 256 KiB at a time), counts its chunks on the wire, then
/// decodes the batch; returns it with what its decoded copy holds.
pub fn decode_body(
    encoding: Option<String>,
    raw: Vec<u8>,
    limit: usize,
    max_chunks: u64,
    ticket: &Ticket,
) -> Result<(WriteMetricsBatchRequest, Held), IngestError> {
    let mut held = ticket.hold(0).map_err(IngestError::from)?;
    let plain: Vec<u8> = match encoding.as_deref().map(str::trim) {
        None | Some("") | Some("identity") => raw,
        Some(enc) if enc.eq_ignore_ascii_case("gzip") => {
            let mut decoder = flate2::read::GzDecoder::new(&raw[..]);
            let mut out = Vec::new();
            loop {
                let before = out.len();
                (&mut decoder)
                    .take(GUNZIP_STEP as u64)
                    .read_to_end(&mut out)
                    .map_err(|e| IngestError::Invalid(format!("body is not valid gzip: {e}")))?;
                if out.len() > limit {
                    return Err(too_large("decompressed request body", limit));
                }
                ticket.grow(&mut held, out.len() - before).map_err(IngestError::from)?;
                if out.len() - before < GUNZIP_STEP {
                    break;
                }
            }
            out
        }
        Some(other) => {
            return Err(IngestError::Invalid(format!("unsupported content-encoding {other:?} (use gzip or none)")));
        }
    };
    ChunkCounter::new(max_chunks).feed(&plain).map_err(IngestError::Limit)?;
    // The decoded batch copies the chunks' bytes out of the body.
    ticket.grow(&mut held, plain.len()).map_err(IngestError::from)?;
    let batch = WriteMetricsBatchRequest::decode(&plain[..])
        .map_err(|e| IngestError::Invalid(format!("body is not a protobuf WriteMetricsBatchRequest: {e}")))?;
    Ok((batch, held))
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
        let peer = peer.map(|p| p.0.0.ip());
        let ticket = app.inflight.ticket(peer.map(AddrKey::of));
        let raw = read_body(&headers, body, limit, app.body_timeout, &ticket).await?;
        let encoding = header_str(&headers, header::CONTENT_ENCODING.as_str()).map(str::to_owned);
        let (max_chunks, held) = (app.limits.max_chunks_per_request, ticket.clone());
        let (batch, _decoded) =
            tokio::task::spawn_blocking(move || decode_body(encoding, raw, limit, max_chunks, &held))
                .await
                .map_err(|e| IngestError::Internal(format!("decoding task failed: {e}")))??;
        app.ingest(&writer, peer, batch.chunks, 0, Some(ticket)).await
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

/// The admin endpoint takes only a token that may both write and read: a
/// page's write-only token must not be able to make every write fail.
fn full_token(app: &App, headers: &HeaderMap) -> Result<(), IngestError> {
    let grant = app.tokens.check_header(header_bytes(headers, "authorization"))?;
    if grant.write && grant.read && grant.clusters.is_none() && grant.collections.is_none() {
        Ok(())
    } else {
        Err(IngestError::Forbidden("fault injection needs a token that may write and read everything (--token)".into()))
    }
}

/// Body of `POST /admin/faults` and of its answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct FaultsBody {
    /// Ingestion requests still to fail with UNAVAILABLE / 503.
    pub unavailable: u64,
}

/// `POST /admin/faults` `{"unavailable": N}` (only with
/// `--enable-fault-injection`; needs the token).
pub async fn set_faults(State(app): State<Arc<App>>, headers: HeaderMap, body: Body) -> Response {
    if let Err(e) = full_token(&app, &headers) {
        return error_response(&e);
    }
    let Ok(body) = axum::body::to_bytes(body, 4096).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "expected {\"unavailable\": N}\n").into_response();
    };
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
    if let Err(e) = full_token(&app, &headers) {
        return error_response(&e);
    }
    Json(FaultsBody { unavailable: app.faults.unavailable_remaining() }).into_response()
}
