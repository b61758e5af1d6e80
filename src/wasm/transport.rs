//! The transports a browser client sends batches with, behind one enum:
//! fetch (`POST /v1/metrics`) in every build, gRPC-web with the
//! `grpc-web` feature.

use crate::engine::pipeline::{Batch, Failure};
use crate::wire::Response;

use super::options::ClientOptions;
#[cfg(feature = "grpc-web")]
use super::options::TransportKind;
use super::transport_fetch::FetchSender;
#[cfg(feature = "grpc-web")]
use super::transport_grpc_web::GrpcWebSender;

/// The configured transport.
pub(crate) enum Sender {
    /// HTTP POST of the protobuf batch.
    Fetch(FetchSender),
    /// The unary gRPC-web batch call.
    #[cfg(feature = "grpc-web")]
    GrpcWeb(GrpcWebSender),
}

impl Sender {
    pub(crate) fn new(options: &ClientOptions) -> Sender {
        match options.transport {
            #[cfg(feature = "grpc-web")]
            TransportKind::GrpcWeb => Sender::GrpcWeb(GrpcWebSender::new(&options.endpoint)),
            _ => Sender::Fetch(FetchSender::new(&options.endpoint, options.gzip)),
        }
    }

    /// Sends the batch once.
    pub(crate) async fn send(&self, batch: &Batch) -> Result<(), Failure> {
        match self {
            Sender::Fetch(sender) => sender.send(batch).await,
            #[cfg(feature = "grpc-web")]
            Sender::GrpcWeb(sender) => sender.send(batch).await,
        }
    }
}

/// The collector's answer to an accepted request.
pub(crate) fn accepted(response: Response) -> Result<(), Failure> {
    match response.success {
        true => Ok(()),
        false => {
            Err(Failure::Permanent { message: response.error.unwrap_or_else(|| "rejected without a message".into()) })
        }
    }
}

/// A failure worth retrying.
pub(crate) fn retryable(message: String, retry_after_ms: Option<u64>) -> Failure {
    Failure::Retryable { message, retry_after_ms }
}
