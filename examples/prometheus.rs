//! A service that counts and times its requests with edgemetrics'
//! instruments, and lets Prometheus scrape them at `/metrics`: the same
//! instruments also reach the collector every interval, so browsers,
//! Workers and services can be scraped from one place
//! (`/metrics/instruments` on the collector).
//!
//! `cargo run --features native --example prometheus -- --addr http://127.0.0.1:7070 --token dev-token [--listen 127.0.0.1:9464]`
//!
//! then `curl 127.0.0.1:9464/hello` and `curl 127.0.0.1:9464/metrics`.
//! `--self-test N` makes N requests to itself, prints its `/metrics` and
//! exits (the test of this example does that).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use edgemetrics::{Counter, MetricClient, Timer};

struct Args {
    addr: String,
    token: String,
    listen: String,
    self_test: Option<u32>,
}

fn args() -> Args {
    let mut args = Args {
        addr: "http://127.0.0.1:7070".into(),
        token: String::new(),
        listen: "127.0.0.1:9464".into(),
        self_test: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value(),
            "--token" => args.token = value(),
            "--listen" => args.listen = value(),
            "--self-test" => args.self_test = Some(value().parse().expect("--self-test takes a number of requests")),
            other => panic!("unknown flag {other}; flags: --addr URL --token T --listen ADDR --self-test N"),
        }
    }
    assert!(!args.token.is_empty(), "--token is required");
    args
}

/// What the handlers share.
struct Service {
    client: MetricClient,
    requests: Counter,
    latency: Timer,
}

async fn hello(State(service): State<Arc<Service>>) -> &'static str {
    let timing = service.latency.start(&[("route", "/hello")]).expect("valid labels");
    service.requests.add(1, &[("route", "/hello"), ("code", "200")]).expect("valid labels");
    tokio::time::sleep(Duration::from_millis(2)).await;
    drop(timing);
    "hello\n"
}

async fn metrics(State(service): State<Arc<Service>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], service.client.render_prometheus())
}

#[tokio::main]
async fn main() {
    let args = args();
    let client = MetricClient::builder()
        .api_addr(&args.addr)
        .api_token(&args.token)
        .cluster_id("prometheus-example")
        .insecure(args.addr.starts_with("http://"))
        .instrument_interval(Duration::from_secs(10))
        .build()
        .expect("client options are valid");
    let requests = client.counter("http.requests").unit("1").description("requests served").build().expect("valid");
    let latency = client.timer("http.request.duration").description("time to answer").build().expect("valid");
    let service = Arc::new(Service { client, requests, latency });
    let app = Router::new().route("/hello", get(hello)).route("/metrics", get(metrics)).with_state(service.clone());
    let listener = tokio::net::TcpListener::bind(&args.listen).await.expect("the --listen address is free");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let Some(n) = args.self_test else {
        println!("serving {url}/hello and {url}/metrics");
        server.await.expect("the server task").expect("the server");
        return;
    };
    let http = reqwest::Client::new();
    for _ in 0..n {
        http.get(format!("{url}/hello")).send().await.expect("/hello answers").error_for_status().expect("200");
    }
    let text = http.get(format!("{url}/metrics")).send().await.expect("/metrics answers").text().await.expect("text");
    print!("{text}");
    server.abort();
    service.client.flush().await.expect("the instruments reach the collector");
    service.client.clone().shutdown().await;
}
