//! Sending a batch over gRPC client streaming (tonic) or HTTP POST
//! (reqwest), and telling retryable failures from permanent ones.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prost::Message;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

use super::config::{Compression, Transport};
use crate::client::address::grpc_failure;
use crate::engine::buffer::OptionError;
use crate::engine::pipeline::{Batch, Failure};
use crate::proto::metrics::v1beta::WriteMetricsResponse;
use crate::proto::metrics::v1beta::ingestion_api_client::IngestionApiClient;
use crate::proto::{batch_request, chunk_request};

/// Where and as whom to send.
pub(super) struct Endpoint {
    pub url: String,
    pub token: String,
    pub cluster_id: String,
    pub ca_certificate_pem: Option<Vec<u8>>,
    pub request_timeout: Duration,
    pub compression: Compression,
}

/// The configured transport.
pub(super) enum Sender {
    Grpc {
        client: IngestionApiClient<Channel>,
        authorization: MetadataValue<tonic::metadata::Ascii>,
        cluster_id: MetadataValue<tonic::metadata::Ascii>,
        /// The encoding asked for, while the collector takes it.
        compression: Option<CompressionEncoding>,
        compressing: AtomicBool,
    },
    Http {
        client: reqwest::Client,
        url: String,
        authorization: String,
        cluster_id: String,
    },
}

/// Messages up to the collector's default limit; a chunk is at most 20 MiB.
const MAX_MESSAGE_BYTES: usize = 32 << 20;

impl Sender {
    pub(super) fn new(transport: Transport, endpoint: Endpoint) -> Result<Sender, OptionError> {
        let authorization = format!("Token {}", endpoint.token);
        match transport {
            Transport::Grpc => {
                let mut channel = Channel::from_shared(endpoint.url.clone())
                    .map_err(|error| OptionError::new("api_addr", error.to_string()))?
                    .connect_timeout(Duration::from_secs(5))
                    .timeout(endpoint.request_timeout)
                    .tcp_nodelay(true);
                if endpoint.url.starts_with("https://") {
                    let mut tls = ClientTlsConfig::new().with_webpki_roots();
                    if let Some(pem) = &endpoint.ca_certificate_pem {
                        tls = tls.ca_certificate(Certificate::from_pem(pem));
                    }
                    channel = channel
                        .tls_config(tls)
                        .map_err(|error| OptionError::new("ca_certificate_pem", error.to_string()))?;
                }
                // Compressed answers are taken whatever is sent.
                let client = IngestionApiClient::new(channel.connect_lazy())
                    .max_encoding_message_size(MAX_MESSAGE_BYTES)
                    .max_decoding_message_size(1 << 20)
                    .accept_compressed(CompressionEncoding::Gzip)
                    .accept_compressed(CompressionEncoding::Zstd);
                let compression = match endpoint.compression {
                    Compression::None => None,
                    Compression::Gzip => Some(CompressionEncoding::Gzip),
                    Compression::Zstd => Some(CompressionEncoding::Zstd),
                };
                let ascii = |option: &'static str, value: &str| {
                    value.parse().map_err(|_| OptionError::new(option, "must be printable ASCII"))
                };
                Ok(Sender::Grpc {
                    client,
                    authorization: ascii("api_token", &authorization)?,
                    cluster_id: ascii("cluster_id", &endpoint.cluster_id)?,
                    compression,
                    compressing: AtomicBool::new(compression.is_some()),
                })
            }
            Transport::Http => {
                if endpoint.compression != Compression::None {
                    return Err(OptionError::new(
                        "compression",
                        "is for the gRPC transport; the HTTP transport sends uncompressed",
                    ));
                }
                let mut builder = reqwest::Client::builder()
                    .timeout(endpoint.request_timeout)
                    .connect_timeout(Duration::from_secs(5))
                    .https_only(endpoint.url.starts_with("https://"));
                if let Some(pem) = &endpoint.ca_certificate_pem {
                    let certificate = reqwest::Certificate::from_pem(pem)
                        .map_err(|error| OptionError::new("ca_certificate_pem", error.to_string()))?;
                    builder = builder.add_root_certificate(certificate);
                }
                let client = builder.build().map_err(|error| OptionError::new("transport", error.to_string()))?;
                let url = format!("{}/v1/metrics", endpoint.url);
                Ok(Sender::Http { client, url, authorization, cluster_id: endpoint.cluster_id })
            }
        }
    }

    /// Sends the batch once; on a failure, also how many of its first
    /// chunks the collector stored before it (a gRPC stream stores each
    /// chunk as it arrives and says so in `x-chunks-acked`; a failed HTTP
    /// batch counts as none stored: whatever part of it a ClickHouse-backed
    /// collector stored is merged when it is sent again).
    pub(super) async fn send(&self, batch: &Batch) -> (usize, Result<(), Failure>) {
        match self {
            Sender::Grpc { client, authorization, cluster_id, compression, compressing } => {
                // At most twice: compressed, then, if the collector refuses the
                // encoding (gRPC's negotiation), the same batch uncompressed at
                // once; uncompressed from then on.
                loop {
                    let requests: Vec<_> = batch.chunks.iter().map(|chunk| chunk_request(chunk)).collect();
                    let mut request = tonic::Request::new(tokio_stream::iter(requests));
                    request.metadata_mut().insert("authorization", authorization.clone());
                    request.metadata_mut().insert("x-cluster-id", cluster_id.clone());
                    let mut client = client.clone();
                    let encoding = compression.filter(|_| compressing.load(Ordering::Relaxed));
                    if let Some(encoding) = encoding {
                        client = client.send_compressed(encoding);
                    }
                    return match client.write_metrics(request).await {
                        Ok(response) => (0, accepted(response.into_inner())),
                        Err(status) if encoding.is_some_and(|e| refused_encoding(&status, e)) => {
                            compressing.store(false, Ordering::Relaxed);
                            let taken = encoding.map_or("", name);
                            tracing::warn!("the collector does not take {taken} messages; sending uncompressed");
                            continue;
                        }
                        Err(status) => {
                            let acked = status.metadata().get("x-chunks-acked");
                            let stored = acked.and_then(|value| value.to_str().ok()?.parse().ok()).unwrap_or(0);
                            (stored, Err(grpc_failure(&status, "gRPC")))
                        }
                    };
                }
            }
            Sender::Http { client, url, authorization, cluster_id } => {
                (0, send_http(client, url, authorization, cluster_id, batch).await)
            }
        }
    }
}

/// UNIMPLEMENTED with a `grpc-accept-encoding` that does not name
/// `encoding`: the server does not take it.
fn refused_encoding(status: &tonic::Status, encoding: CompressionEncoding) -> bool {
    status.code() == tonic::Code::Unimplemented
        && status
            .metadata()
            .get("grpc-accept-encoding")
            .and_then(|v| v.to_str().ok())
            .is_none_or(|taken| !taken.split(',').any(|e| e.trim() == name(encoding)))
}

/// The encoding as `grpc-encoding` names it.
fn name(encoding: CompressionEncoding) -> &'static str {
    match encoding {
        CompressionEncoding::Gzip => "gzip",
        _ => "zstd",
    }
}

/// Sends the batch once as an HTTP POST.
async fn send_http(
    client: &reqwest::Client,
    url: &str,
    authorization: &str,
    cluster_id: &str,
    batch: &Batch,
) -> Result<(), Failure> {
    let body = batch_request(batch.chunks.iter().map(|chunk| &**chunk)).encode_to_vec();
    let response = client
        .post(url)
        .header("authorization", authorization)
        .header("x-cluster-id", cluster_id)
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .map_err(|error| retryable(format!("POST {url}: {}", error_chain(&error)), None))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok()?.trim().parse::<u64>().ok())
        .map(|seconds| seconds.saturating_mul(1000));
    let bytes = response.bytes().await.map_err(|error| retryable(error_chain(&error), None))?;
    if status.is_success() {
        let response = WriteMetricsResponse::decode(bytes)
            .map_err(|error| Failure::Permanent { message: format!("unreadable response: {error}") })?;
        return accepted(response);
    }
    let message = format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes).trim());
    match status.as_u16() {
        408 | 429 | 500..=599 => Err(retryable(message, retry_after)),
        _ => Err(Failure::Permanent { message }),
    }
}

fn accepted(response: WriteMetricsResponse) -> Result<(), Failure> {
    match response.success {
        true => Ok(()),
        false => {
            Err(Failure::Permanent { message: response.error.unwrap_or_else(|| "rejected without a message".into()) })
        }
    }
}

fn retryable(message: String, retry_after_ms: Option<u64>) -> Failure {
    Failure::Retryable { message, retry_after_ms }
}

/// An error with its sources, which is where reqwest says what failed.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
