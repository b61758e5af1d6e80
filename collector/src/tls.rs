//! Serving TLS from the collector itself (`--tls-cert`, `--tls-key`):
//! rustls with the ring provider, and ALPN offering h2 and http/1.1, so
//! that gRPC, gRPC-web, HTTP and WebSocket share the port as they do in
//! plaintext.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;
use tokio_rustls::{TlsAcceptor, rustls};

use crate::listen::{Accept, Accepted, ConnectionGate};
use crate::server::Error;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes done and not yet taken by the server; more wait (with their
/// connection open) until it takes some.
const READY_QUEUE: usize = 64;

/// Reads the certificate chain and private key (PEM files) into an acceptor.
pub(crate) fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, Error> {
    let tls_error = |path: &Path, reason: String| Error::Tls { path: path.to_owned(), reason };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_error(cert, e.to_string()))?;
    if chain.is_empty() {
        return Err(tls_error(cert, "holds no PEM certificate".into()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        pem::Error::NoItemsFound => tls_error(key, "holds no PEM private key".into()),
        e => tls_error(key, e.to_string()),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Loaded apart first, so that a key of a kind rustls cannot sign with is
    // not reported as one that does not match the certificate.
    if let Err(e) = provider.key_provider.load_private_key(key_der.clone_key()) {
        let reason = format!(
            "is a private key this server cannot use ({e}); use RSA 2048 to 8192 bits, ECDSA P-256 or P-384, or Ed25519"
        );
        return Err(tls_error(key, reason));
    }
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| tls_error(key, format!("does not go with the certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A listener whose connections are TLS streams. Connections are admitted
/// through the gate when TCP accepts them, so handshakes in progress count
/// against the caps; handshakes run in their own tasks, so a slow or silent
/// client never holds up the others.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<Accepted<TlsStream<TcpStream>>>,
    accepting: JoinHandle<()>,
}

impl TlsListener {
    pub(crate) fn new(listener: TcpListener, acceptor: TlsAcceptor, gate: Arc<ConnectionGate>) -> Self {
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let accepting = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: wait instead
                        // of spinning (as axum's own listener does).
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let Some(Accepted { io: tcp, peer, admission }) = gate.admit(tcp, peer) else {
                    continue;
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send(Accepted { io: tls, peer, admission }).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener { ready, accepting }
    }
}

impl Accept for TlsListener {
    type Io = TlsStream<TcpStream>;

    async fn accept(&mut self) -> Accepted<Self::Io> {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accepting task never ends while the listener lives.
            None => std::future::pending().await,
        }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}
