//! The fetch transport: `POST /v1/metrics` of the protobuf batch, gzip
//! through the runtime's `CompressionStream` where it has one, and the
//! `keepalive` variant that outlives the page.

use js_sys::{ArrayBuffer, Object, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::js::{self, BodyResponse, CompressionStream, FetchResponse};
use super::options::Endpoint;
use super::transport::{accepted, retryable};
use crate::engine::chunk::Chunk;
use crate::engine::pipeline::{Batch, Failure};
use crate::wire;

/// Bodies smaller than this are sent as they are: gzip would save little.
const GZIP_MIN_BYTES: usize = 1024;

/// Sends batches with `fetch`.
pub(crate) struct FetchSender {
    url: String,
    authorization: String,
    cluster_id: String,
    gzip: bool,
}

impl FetchSender {
    pub(crate) fn new(endpoint: &super::options::Endpoint, gzip: bool) -> FetchSender {
        FetchSender {
            url: format!("{}/v1/metrics", endpoint.url),
            authorization: format!("Token {}", endpoint.token),
            cluster_id: endpoint.cluster_id.clone(),
            gzip: gzip && js::has_global("CompressionStream"),
        }
    }

    /// A sender for `endpoint` that never compresses (the page-hide path,
    /// which cannot wait for a stream).
    pub(crate) fn plain(endpoint: &Endpoint) -> FetchSender {
        FetchSender::new(endpoint, false)
    }

    /// Sends the batch once.
    pub(crate) async fn send(&self, batch: &Batch) -> Result<(), Failure> {
        let body = body(batch.chunks.iter().map(|chunk| &**chunk));
        let (body, gzipped) = match self.gzip && body.len() >= GZIP_MIN_BYTES {
            true => (gzip(&body).await.map_err(|e| network_error(&self.url, &e))?, true),
            false => (Uint8Array::from(body.as_slice()), false),
        };
        let promise = js::fetch(&self.url, &self.init(&body, gzipped, false));
        answer(&self.url, JsFuture::from(promise).await).await
    }

    /// Starts the POST of `body` now, uncompressed, with `keepalive` (at
    /// most 64 KiB, which the browser completes even if the page goes away)
    /// or without; the future reports how it went while the page lives.
    pub(crate) fn post_now(
        &self,
        body: Vec<u8>,
        keepalive: bool,
    ) -> impl std::future::Future<Output = Result<(), Failure>> + 'static {
        let promise = js::fetch(&self.url, &self.init(&Uint8Array::from(body.as_slice()), false, keepalive));
        let url = self.url.clone();
        async move { answer(&url, JsFuture::from(promise).await).await }
    }

    fn init(&self, body: &Uint8Array, gzipped: bool, keepalive: bool) -> Object {
        let headers = js::object();
        js::put(&headers, "authorization", self.authorization.as_str());
        js::put(&headers, "x-cluster-id", self.cluster_id.as_str());
        js::put(&headers, "content-type", "application/x-protobuf");
        if gzipped {
            js::put(&headers, "content-encoding", "gzip");
        }
        let init = js::object();
        js::put(&init, "method", "POST");
        js::put(&init, "headers", headers);
        js::put(&init, "body", body.clone());
        if keepalive {
            js::put(&init, "keepalive", true);
        }
        init
    }
}

/// Reads the collector's answer: 200 with a protobuf response, or a
/// status that says whether to retry.
async fn answer(url: &str, response: Result<JsValue, JsValue>) -> Result<(), Failure> {
    let response: FetchResponse = response.map_err(|e| network_error(url, &e))?.unchecked_into();
    let status = response.status();
    let retry_after_ms = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(|seconds| seconds.saturating_mul(1000));
    let bytes = JsFuture::from(response.array_buffer()).await.map_err(|e| network_error(url, &e))?;
    let bytes = Uint8Array::new(&bytes).to_vec();
    if status == 200 {
        let response = wire::response(&bytes)
            .map_err(|error| Failure::Permanent { message: format!("unreadable response: {error}") })?;
        return accepted(response);
    }
    let message = format!("HTTP {status} from POST {}: {}", url, String::from_utf8_lossy(&bytes).trim());
    match status {
        408 | 429 | 500..=599 => Err(retryable(message, retry_after_ms)),
        _ => Err(Failure::Permanent { message }),
    }
}

/// A request that did not get an answer (network down, CORS refused):
/// the runtime's message says which.
fn network_error(url: &str, error: &JsValue) -> Failure {
    let text = error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| "unknown error".into());
    retryable(format!("POST {}: {text}", url), None)
}

/// The protobuf batch of `chunks`.
pub(crate) fn body<'a>(chunks: impl IntoIterator<Item = &'a Chunk>) -> Vec<u8> {
    wire::batch(chunks)
}

/// `bytes` gzip-compressed by a `CompressionStream`.
async fn gzip(bytes: &[u8]) -> Result<Uint8Array, JsValue> {
    let stream =
        BodyResponse::from_bytes(&Uint8Array::from(bytes)).body().pipe_through(&CompressionStream::new("gzip"));
    let compressed: ArrayBuffer =
        JsFuture::from(BodyResponse::from_stream(&stream).array_buffer()).await?.unchecked_into();
    Ok(Uint8Array::new(&compressed))
}
