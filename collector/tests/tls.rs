//! The collector serving TLS itself (`--tls-cert`, `--tls-key`): HTTP/1.1,
//! HTTP/2 and WebSocket on the one TLS port, with a certificate made for
//! each test; plaintext and bad certificates refused.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use edgemetrics_collector::pb::edgemetrics::v1::SubscribeRequest;
use edgemetrics_collector::pb::edgemetrics::v1::subscribe_event::Event;
use edgemetrics_collector::pb::metrics::v1beta::{WriteMetricsBatchRequest, WriteMetricsResponse};
use edgemetrics_collector::{Config, Error, Server};
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// A self-signed certificate for `localhost`, written as PEM files.
struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    pem: String,
    der: CertificateDer<'static>,
}

fn certificate(dir: &Path, name: &str) -> Certificate {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    Certificate { cert, key, pem: certified.cert.pem(), der: certified.cert.der().clone() }
}

async fn tls_server(dir: &Path) -> (TestServer, Certificate) {
    let certificate = certificate(dir, "collector");
    let (cert, key) = (certificate.cert.clone(), certificate.key.clone());
    let server = TestServer::start_with(|config| {
        config.tls_cert = Some(cert);
        config.tls_key = Some(key);
    })
    .await;
    (server, certificate)
}

/// A client that trusts `certificate` and finds `localhost` at `addr`.
fn https(certificate: &Certificate, addr: SocketAddr, http2: bool) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(certificate.pem.as_bytes()).unwrap())
        .resolve("localhost", addr)
        .timeout(Duration::from_secs(10));
    match http2 {
        true => builder.http2_prior_knowledge(),
        false => builder.http1_only(),
    }
    .build()
    .unwrap()
}

#[tokio::test]
async fn http_1_and_2_are_served_over_tls_and_rows_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (t, certificate) = tls_server(dir.path()).await;
    let addr = t.server.local_addr();
    assert_eq!(t.server.url(), format!("https://{addr}"));
    let base = format!("https://localhost:{}", addr.port());
    for (http2, start, id) in [(false, 0, 1), (true, 100, 2)] {
        let client = https(&certificate, addr, http2);
        let health = client.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        assert_eq!(health.version(), if http2 { reqwest::Version::HTTP_2 } else { reqwest::Version::HTTP_11 });
        let batch = WriteMetricsBatchRequest { chunks: vec![chunk(&containers(start, 5), Some(chunk_id(id)))] };
        let response = client
            .post(format!("{base}/v1/metrics"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("x-cluster-id", CLUSTER)
            .header("content-type", "application/x-protobuf")
            .body(batch.encode_to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let reply = WriteMetricsResponse::decode(response.bytes().await.unwrap()).unwrap();
        assert_eq!((reply.success, reply.rows_stored), (true, 5));
    }
    assert_eq!(t.stored_counts(), (10, 2));
    t.stop().await;
}

#[tokio::test]
async fn a_subscription_is_served_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (t, certificate) = tls_server(dir.path()).await;
    let mut roots = RootCertStore::empty();
    roots.add(certificate.der.clone()).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(t.server.local_addr()).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake");
    let url = format!("wss://localhost:{}/v1/subscribe", t.server.local_addr().port());
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls).await.expect("WebSocket upgrade over TLS");
    let request = SubscribeRequest {
        token: TOKEN.into(),
        cluster_id: CLUSTER.into(),
        collections: vec!["containerMetrics".into()],
        ..Default::default()
    };
    ws.send(WsMessage::Binary(request.encode_to_vec().into())).await.unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(10), ws.next()).await.unwrap().unwrap().unwrap();
    let event = edgemetrics_collector::pb::edgemetrics::v1::SubscribeEvent::decode(&frame.into_data()[..]).unwrap();
    assert!(matches!(event.event, Some(Event::Subscribed(_))), "{event:?}");
    t.stop().await;
}

#[tokio::test]
async fn plaintext_gets_no_answer_and_a_silent_client_holds_up_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let (t, certificate) = tls_server(dir.path()).await;
    let addr = t.server.local_addr();
    let plain = http().get(format!("http://{addr}/healthz")).send().await;
    assert!(plain.is_err(), "plaintext answered: {plain:?}");
    // Connected, and never a byte of handshake: the next client is served
    // all the same.
    let _silent = TcpStream::connect(addr).await.unwrap();
    let started = std::time::Instant::now();
    let health = https(&certificate, addr, false).get(format!("https://localhost:{}/healthz", addr.port())).send();
    assert_eq!(health.await.unwrap().status(), 200);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    t.stop().await;
}

#[tokio::test]
async fn a_certificate_or_key_that_cannot_be_used_stops_the_start_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let ours = certificate(dir.path(), "ours");
    let other = certificate(dir.path(), "other");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not PEM at all\n").unwrap();
    let missing = dir.path().join("missing.pem");
    let weak = dir.path().join("rsa1024.key");
    std::fs::write(&weak, RSA_1024_KEY).unwrap();
    let cases = [
        (&missing, &ours.key, &missing, "No such file"),
        (&empty, &ours.key, &empty, "holds no PEM certificate"),
        (&ours.cert, &empty, &empty, "holds no PEM private key"),
        (&ours.cert, &ours.cert, &ours.cert, "holds no PEM private key"),
        (&ours.cert, &other.key, &other.key, "does not go with the certificate"),
        (&ours.cert, &weak, &weak, "is a private key this server cannot use"),
    ];
    for (cert, key, named, reason) in cases {
        let mut config = Config::for_tests([TOKEN]);
        config.tls_cert = Some(cert.clone());
        config.tls_key = Some(key.clone());
        let error = match Server::start(config).await {
            Ok(_) => panic!("started with {cert:?} and {key:?}"),
            Err(error) => error,
        };
        assert!(matches!(&error, Error::Tls { path, .. } if path == named), "{error}");
        assert!(error.to_string().contains(reason), "{error}");
    }
}

/// A 1024-bit RSA key (made with openssl for this test): too short for rustls
/// to sign with.
const RSA_1024_KEY: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAMoSrkmYjh8YozKU\n\
Cs2f3SB5m9K2GijkQLJUdOpZt0Zzw62hb+ggJfza+HWamzuFhc1sJH8hIu5r7OQN\n\
mhxyiiasmlH5f0HCDVxTmEKeiCLkTzL334zS6Eaxc7yScvgCZCGWPY4LkxUk+/cg\n\
0n+IUAAvvMvyAfH3JWF9M0lC4r9RAgMBAAECgYB+h/YEdXdAt3+xMwwUt66SIDPX\n\
XFnDEzIDuGjBOc5OWjzEI1tcYY0H6OE9WsMrIS+ocrfjtw8VdhUOtAm1GG+yK8qo\n\
IALedTrTUULg0rizNP3vjG7CP8CgSSS2l/xph05mD/SLX6iap6pyVDP1aMwvHxMt\n\
vsbBk2LlUlNT/3nEJQJBAPkiMzEKvxZp30nt+TOdZAaoQkBA7jFQcyaRbVE5kwaw\n\
znrz4Im2DhQZdf1oEy7zfyFDmPDWRafKbSgnYd3RVKsCQQDPpG/9Gy6CYhbV6UfE\n\
WhFoBbijniddX0HnvZ+6+f3fX3lFJ8Ia03MsbRZ0HlMxDvNPEzrD6FqLRvZrr/fr\n\
1CPzAkEAyKdy85zkKvk6jiDNBXVOis4aDgY90hoppHacxT7J3CmrI/wobMHktOuM\n\
zHx2dupHClOXauIpV+sB38VYXX+r4QJANw8havokMQqVh49eKmC/sNejiC9NvOKf\n\
dTXA/zF+8hY87+uE+twK9ELQ62WHJcETH2q38G7SY5Ajk5aLpQsRpQJAOJK21RQ0\n\
K/Dlc15DtlzU/iokOcCxdNpHHMlVt3SkLOvYpJw2oUN5je6heuSBjVKxestUvzlg\n\
/Sr2VAy6ofm2pQ==\n\
-----END PRIVATE KEY-----\n\
";
