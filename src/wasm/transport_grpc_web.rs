//! The gRPC-web transport: `IngestionAPI/WriteMetricsBatch`, the unary call
//! that carries many chunks (browsers cannot stream requests), through
//! tonic's generated client over tonic-web-wasm-client (fetch underneath).

use tonic::metadata::{Ascii, MetadataValue};
use tonic_web_wasm_client::Client;

use super::options::Endpoint;
use super::transport::accepted;
use crate::client::address::grpc_failure;
use crate::engine::pipeline::{Batch, Failure};
use crate::proto::batch_request;
use crate::proto::metrics::v1beta::ingestion_api_client::IngestionApiClient;
use crate::wire::Response;

/// Responses are small; batches may be as large as the collector takes.
const MAX_MESSAGE_BYTES: usize = 32 << 20;

/// Sends batches over gRPC-web.
pub(crate) struct GrpcWebSender {
    client: IngestionApiClient<Client>,
    authorization: Option<MetadataValue<Ascii>>,
    cluster_id: Option<MetadataValue<Ascii>>,
}

impl GrpcWebSender {
    pub(crate) fn new(endpoint: &Endpoint) -> GrpcWebSender {
        let client = IngestionApiClient::new(Client::new(endpoint.url.clone()))
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
            .max_decoding_message_size(1 << 20);
        // Both were checked to be printable ASCII with the options.
        GrpcWebSender {
            client,
            authorization: format!("Token {}", endpoint.token).parse().ok(),
            cluster_id: endpoint.cluster_id.parse().ok(),
        }
    }

    /// Sends the batch once.
    pub(crate) async fn send(&self, batch: &Batch) -> Result<(), Failure> {
        let mut request = tonic::Request::new(batch_request(batch.chunks.iter().map(|chunk| &**chunk)));
        if let Some(value) = &self.authorization {
            request.metadata_mut().insert("authorization", value.clone());
        }
        if let Some(value) = &self.cluster_id {
            request.metadata_mut().insert("x-cluster-id", value.clone());
        }
        match self.client.clone().write_metrics_batch(request).await {
            Ok(response) => {
                let response = response.into_inner();
                accepted(Response { success: response.success, error: response.error })
            }
            Err(status) => Err(grpc_failure(&status, "gRPC-web")),
        }
    }
}
