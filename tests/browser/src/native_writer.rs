//! Writes sample rows (see `lib.rs`) to the collector with the native Rust
//! client over gRPC: the "native client" of the subscription tests.
//!
//! `native-writer --url http://127.0.0.1:PORT --token T --collection NAME --rows N [--cluster ID]`

fn main() {
    use edgemetrics::{MetricClient, MetricConfig};
    use edgemetrics_browser_tests::{sample, sample_schema};

    let mut args = std::env::args().skip(1);
    let (mut url, mut token, mut collection, mut rows, mut cluster) =
        (String::new(), String::new(), String::new(), 1i64, "native".to_string());
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => url = value,
            "--token" => token = value,
            "--collection" => collection = value,
            "--rows" => rows = value.parse().expect("--rows takes a number"),
            "--cluster" => cluster = value,
            other => panic!("unknown flag {other}"),
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async {
        let client = MetricClient::builder()
            .api_addr(url)
            .api_token(token)
            .cluster_id(cluster)
            .insecure(true)
            .build()
            .expect("client options");
        let metric = client.metric(MetricConfig::schema(sample_schema(&collection))).expect("the sample schema");
        for i in 0..rows {
            metric.write(&sample(i)).expect("a sample row");
        }
        client.flush().await.expect("rows delivered");
        let report = client.shutdown().await;
        println!("wrote {} rows", report.stats.rows_acked);
    });
}
