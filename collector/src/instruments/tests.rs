use rusqlite::Connection;

use super::buckets::{Distribution, Exponential, MAX_BUCKETS, Signed, lower_bound, quantile};
use super::exposition::prometheus_name;
use super::{Body, Collection, Row, Stats, scan};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn quantiles_interpolate_within_their_bucket() {
    let uniform = [(1.0, 10.0), (2.0, 10.0), (3.0, 10.0), (4.0, 10.0)];
    for (q, want) in [(0.25, 1.0), (0.5, 2.0), (0.9, 3.6), (1.0, 4.0)] {
        let got = quantile(&uniform, 0.0, 4.0, q);
        assert!(close(got, want), "q{q}: {got} != {want}");
    }
    // min and max bound the outer buckets.
    let open = [(1.0, 1.0), (f64::INFINITY, 1.0)];
    assert!(close(quantile(&open, 0.5, 3.0, 1.0), 3.0));
    assert!(close(quantile(&open, 0.5, 3.0, 0.25), 0.75));
    // Unknown min and max: the bucket's bound.
    assert_eq!(quantile(&open, f64::NAN, f64::NAN, 0.5), 1.0);
    assert!(quantile(&[], 0.0, 1.0, 0.5).is_nan());
    assert!(quantile(&uniform, 0.0, 4.0, 1.5).is_nan());
}

#[test]
fn explicit_histograms_add_and_difference_only_with_their_bounds() {
    assert!(Distribution::explicit(vec![1.0, 1.0], vec![0, 0, 0]).is_none(), "bounds must increase");
    assert!(Distribution::explicit(vec![1.0], vec![0]).is_none(), "one count more than bounds");
    assert!(Distribution::explicit(vec![f64::INFINITY], vec![0, 0]).is_none());
    let mut a = Distribution::explicit(vec![1.0, 5.0], vec![1, 2, 3]).unwrap();
    let b = Distribution::explicit(vec![1.0, 5.0], vec![4, 0, 1]).unwrap();
    assert!(a.add(&b));
    assert_eq!(a.counts, [5, 2, 4]);
    assert_eq!(a.since(&b).unwrap().counts, [1, 2, 3]);
    assert!(b.since(&a).is_none(), "a count going down is a restart");
    let other = Distribution::explicit(vec![2.0], vec![1, 1]).unwrap();
    assert!(!a.add(&other));
    assert!(a.since(&other).is_none());
    let buckets: Vec<_> = a.buckets().collect();
    assert_eq!(buckets, [(1.0, 5), (5.0, 2), (f64::INFINITY, 4)]);
}

fn exponential(scale: i64, offset: i64, counts: Vec<u64>) -> Exponential {
    Exponential::new(scale, 0, Signed::new(offset, counts), Signed::default()).unwrap()
}

#[test]
fn exponential_histograms_merge_at_the_coarser_scale() {
    // Scale 1: base sqrt(2); buckets 2..=5 cover (2, 2^3].
    let mut a = exponential(1, 2, vec![1, 2, 3, 4]);
    // Scale 0: base 2; buckets 1..=2 cover (2, 8].
    let b = exponential(0, 1, vec![5, 6]);
    a.add(&b);
    assert_eq!(a.scale, 0);
    assert_eq!((a.positive.offset, a.positive.counts.clone()), (1, vec![1 + 2 + 5, 3 + 4 + 6]));
    assert_eq!(a.total(), Some(21));
    // Bucket 1 at scale 0 is (2, 4].
    assert_eq!(lower_bound(1, 0), 2.0);
    assert!(close(lower_bound(3, 1), 2f64.powf(1.5)));
    let since = a.since(&b).unwrap();
    assert_eq!(since.positive.counts, [3, 7]);
    assert!(b.since(&a).is_none());
}

#[test]
fn exponential_histograms_lower_their_scale_to_keep_the_bucket_limit() {
    let mut a = exponential(20, 0, vec![1]);
    let far = exponential(20, 10 * MAX_BUCKETS as i64, vec![1]);
    a.add(&far);
    assert!(a.scale < 20);
    assert!(a.positive.counts.len() <= MAX_BUCKETS);
    assert_eq!(a.total(), Some(2));
    assert!(Exponential::new(21, 0, Signed::default(), Signed::default()).is_none(), "scale past 20");
    assert!(Exponential::new(0, 0, Signed::new(5000, vec![1]), Signed::default()).is_none(), "beyond the doubles");
    let negative = Exponential::new(0, 2, Signed::default(), Signed::new(0, vec![3])).unwrap();
    // The negative bucket 0 is [-2, -1), the zero bucket's bound 0.
    assert_eq!(negative.buckets(), [(-1.0, 3), (0.0, 2)]);
}

#[test]
fn names_are_made_valid_for_prometheus() {
    assert_eq!(prometheus_name("http.server.duration", true), "http_server_duration");
    assert_eq!(prometheus_name("a:b-c", true), "a:b_c");
    assert_eq!(prometheus_name("a:b", false), "a_b");
    assert_eq!(prometheus_name("9lives", true), "_9lives");
    assert_eq!(prometheus_name("", true), "_");
    assert_eq!(prometheus_name("é{\"}\n", false), "_____");
}

/// A table shaped as the store makes `counters`.
fn counters_table() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(
        "CREATE TABLE counters (name TEXT, unit TEXT, description TEXT, labels TEXT, overflow INTEGER, \
         start_ms INTEGER, end_ms INTEGER, temporality TEXT, monotonic INTEGER, value REAL, _cluster_id TEXT)",
    )
    .unwrap();
    conn
}

fn insert_counter(conn: &Connection, labels: &str, temporality: &str, span: (i64, i64), value: f64) {
    conn.execute(
        "INSERT INTO counters VALUES ('requests', '1', 'Requests.', ?1, 0, ?2, ?3, ?4, 1, ?5, 'c1')",
        rusqlite::params![labels, span.0, span.1, temporality, value],
    )
    .unwrap();
}

#[test]
fn rows_that_break_their_kind_are_skipped_and_counted() {
    let conn = counters_table();
    insert_counter(&conn, r#"{"route":"/"}"#, "delta", (0, 1000), 3.0);
    insert_counter(&conn, r#"{"route":"/"}"#, "sideways", (1000, 2000), 1.0);
    conn.execute("INSERT INTO counters (name, labels, _cluster_id) VALUES ('broken', '{}', 'c1')", []).unwrap();
    insert_counter(&conn, r#"{"route":"/"}"#, "cumulative", (0, 3000), 9.0);
    let mut rows = Vec::new();
    let scanned = scan(&conn, Collection::Counters, "rowid > ?1", "rowid", 100, &[&0], |r| rows.push(r)).unwrap();
    assert_eq!((scanned.rows, scanned.skipped, scanned.last_rowid), (2, 2, 4));
    assert_eq!(rows[0].body, Body::Sum { monotonic: true, value: 3.0 });
    assert!(!rows[0].cumulative && rows[1].cumulative);
    assert_eq!(rows[0].label_pairs(), [("route".to_string(), "/".to_string())]);
    assert_eq!(rows[0].cluster, "c1");
}

fn row(labels: &str, cluster: &str, span: (i64, i64), cumulative: bool, body: Body) -> Row {
    Row {
        rowid: 0,
        name: "x".into(),
        unit: String::new(),
        description: String::new(),
        labels: labels.into(),
        cluster: cluster.into(),
        start_ms: span.0,
        end_ms: span.1,
        cumulative,
        body,
    }
}

fn stats(count: u64, sum: f64) -> Stats {
    Stats { count, sum, min: f64::NAN, max: f64::NAN }
}

mod exposition {
    use super::super::exposition::testing::totals_text;
    use super::*;

    fn sum(value: f64) -> Body {
        Body::Sum { monotonic: true, value }
    }

    #[test]
    fn deltas_add_up_and_cumulative_rows_replace() {
        let text = totals_text(
            vec![
                (Collection::Counters, row(r#"{"a":"1"}"#, "c1", (0, 10), false, sum(2.0))),
                (Collection::Counters, row(r#"{"a":"1"}"#, "c1", (10, 20), false, sum(3.0))),
                (Collection::Counters, row(r#"{"a":"1"}"#, "c2", (0, 20), true, sum(7.0))),
                (Collection::Counters, row(r#"{"a":"1"}"#, "c2", (0, 30), true, sum(8.0))),
                // Stored late (a retried chunk): older than the total applied.
                (Collection::Counters, row(r#"{"a":"1"}"#, "c2", (0, 25), true, sum(7.5))),
                (Collection::Counters, row(r#"{"a":"1"}"#, "c2", (0, 40), false, sum(f64::NAN))),
            ],
            100,
        );
        let want = "# TYPE x_total counter\n\
                    x_total{a=\"1\",cluster_id=\"c1\"} 5\n\
                    x_total{a=\"1\",cluster_id=\"c2\"} 8\n\
                    # edgemetrics: 1 rows skipped: not valid for their kind (limit 100)\n";
        assert_eq!(text, want);
    }

    #[test]
    fn gauges_keep_their_latest_value_whatever_the_order() {
        let text = totals_text(
            vec![
                (Collection::Gauges, row("{}", "c", (20, 20), false, Body::Gauge(2.0))),
                (Collection::Gauges, row("{}", "c", (10, 10), false, Body::Gauge(1.0))),
            ],
            100,
        );
        assert_eq!(text, "# TYPE x gauge\nx{cluster_id=\"c\"} 2\n");
    }

    #[test]
    fn histograms_add_their_buckets() {
        let d = |counts: Vec<u64>| Distribution::explicit(vec![1.0, 10.0], counts).unwrap();
        let text = totals_text(
            vec![
                (
                    Collection::Histograms,
                    row("{}", "c", (0, 10), false, Body::Histogram(stats(3, 6.5), d(vec![1, 1, 1]))),
                ),
                (
                    Collection::Histograms,
                    row("{}", "c", (10, 20), false, Body::Histogram(stats(2, 1.0), d(vec![2, 0, 0]))),
                ),
            ],
            100,
        );
        let want = "# TYPE x histogram\n\
                    x_bucket{cluster_id=\"c\",le=\"1\"} 3\n\
                    x_bucket{cluster_id=\"c\",le=\"10\"} 4\n\
                    x_bucket{cluster_id=\"c\",le=\"+Inf\"} 5\n\
                    x_sum{cluster_id=\"c\"} 7.5\n\
                    x_count{cluster_id=\"c\"} 5\n";
        assert_eq!(text, want);
    }

    #[test]
    fn labels_are_escaped_renamed_and_limited() {
        let rows = vec![
            (Collection::Counters, row(r#"{"cluster_id":"mine","q":"a\"b\\c\nd"}"#, "c", (0, 1), false, sum(1.0))),
            // These two are made equal by the renaming: one series.
            (Collection::Counters, row(r#"{"cluster.id":"x"}"#, "c", (0, 1), false, sum(1.0))),
            (Collection::Counters, row(r#"{"cluster-id":"x"}"#, "c", (0, 1), false, sum(1.0))),
            (Collection::Counters, row(r#"{"b":"1"}"#, "c", (0, 1), false, sum(1.0))),
        ];
        let text = totals_text(rows, 2);
        let want = "# TYPE x_total counter\n\
                    x_total{exported_cluster_id=\"mine\",q=\"a\\\"b\\\\c\\nd\",cluster_id=\"c\"} 1\n\
                    x_total{exported_cluster_id=\"x\",cluster_id=\"c\"} 2\n\
                    # edgemetrics: 1 rows left out: past --max-instrument-series (limit 2)\n";
        assert_eq!(text, want);
    }

    #[test]
    fn labels_the_text_uses_itself_are_renamed() {
        let d = Distribution::explicit(vec![1.0], vec![1, 0]).unwrap();
        let labels = r#"{"le":"x","quantile":"y","__name__":"z"}"#;
        let text = totals_text(
            vec![
                (Collection::Histograms, row(labels, "c", (0, 10), false, Body::Histogram(stats(1, 0.5), d))),
                (
                    Collection::Summaries,
                    Row {
                        name: "s".into(),
                        ..row(labels, "c", (0, 10), false, Body::Summary(stats(1, 0.5), vec![(0.5, 0.5)]))
                    },
                ),
            ],
            100,
        );
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines.len(), 7, "{text}");
        for line in lines {
            let labels = &line[line.find('{').unwrap() + 1..line.find('}').unwrap()];
            let keys: Vec<&str> = labels.split(',').map(|pair| pair.split('=').next().unwrap()).collect();
            let mut unique = keys.clone();
            unique.sort_unstable();
            unique.dedup();
            assert_eq!(keys.len(), unique.len(), "a label twice in {line}");
            assert!(!keys.iter().any(|k| k.starts_with("__")), "{line}");
            assert!(labels.starts_with(r#"exported___name__="z",exported_le="x",exported_quantile="y""#), "{line}");
        }
    }

    #[test]
    fn cumulative_histograms_stored_late_do_not_take_the_total_back() {
        let d = |counts: Vec<u64>| Distribution::explicit(vec![1.0], counts).unwrap();
        let text = totals_text(
            vec![
                (Collection::Histograms, row("{}", "c", (0, 20), true, Body::Histogram(stats(4, 4.0), d(vec![3, 1])))),
                (Collection::Histograms, row("{}", "c", (0, 10), true, Body::Histogram(stats(2, 2.0), d(vec![1, 1])))),
            ],
            100,
        );
        assert!(text.contains("x_count{cluster_id=\"c\"} 4\n"), "{text}");
        assert!(text.contains("x_bucket{cluster_id=\"c\",le=\"1\"} 3\n"), "{text}");
    }

    #[test]
    fn exponential_buckets_that_round_to_one_bound_are_one_line() {
        // At scale 20, neighbouring buckets among the subnormals share a double.
        let offset = -1074 * (1 << 20) + 1;
        let e = Exponential::new(20, 0, Signed::new(offset, vec![1; 10]), Signed::default()).unwrap();
        let text = totals_text(
            vec![(Collection::Exponential, row("{}", "c", (0, 1), false, Body::Exponential(stats(10, 0.0), e)))],
            100,
        );
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("x_bucket")).collect();
        let le = |line: &str| line.split("le=\"").nth(1).and_then(|rest| rest.split('"').next()).map(String::from);
        let mut bounds: Vec<_> = lines.iter().map(|line| le(line)).collect();
        let count = bounds.len();
        bounds.dedup();
        assert_eq!(bounds.len(), count, "an le twice:\n{text}");
        assert_eq!(lines[1], "x_bucket{cluster_id=\"c\",le=\"5e-324\"} 10", "{text}");
    }
}
