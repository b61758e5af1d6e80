//! The send pipeline driven with a fake clock: every scenario counts rows.

use std::sync::Arc;

use edgemetrics::engine::chunk::{Chunk, MetricInfo};
use edgemetrics::engine::pipeline::{Action, Batch, Failure, Pipeline, PipelineConfig};
use edgemetrics::engine::stats::{DropReason, Event, Stats};

fn info(collection: &str) -> Arc<MetricInfo> {
    Arc::new(MetricInfo {
        collection: collection.into(),
        schema: r#"{"type":"record","name":"x","fields":[]}"#.into(),
        skip_timestamp: false,
        timestamp_column: None,
    })
}

/// A chunk of `rows` rows taking `bytes` bytes.
fn chunk(rows: u32, bytes: usize) -> Chunk {
    Chunk::new(info("cpu"), vec![7; bytes], rows)
}

fn pipeline(config: PipelineConfig) -> Pipeline {
    Pipeline::new(config, 42, 7).expect("valid config")
}

fn expect_send(pipeline: &mut Pipeline, now: u64) -> Batch {
    match pipeline.poll(now) {
        Action::Send(batch) => batch,
        other => panic!("expected a batch at {now}, got {other:?}"),
    }
}

fn retryable() -> Failure {
    Failure::Retryable { message: "unavailable".into(), retry_after_ms: None }
}

/// Rows are conserved: sealed = pending + acked + dropped.
fn assert_conserved(stats: &Stats) {
    assert_eq!(stats.rows_sealed, stats.rows_pending + stats.rows_acked + stats.rows_dropped(), "{stats:?}");
    assert_eq!(stats.chunks_sealed, stats.chunks_pending + stats.chunks_acked + stats.chunks_dropped(), "{stats:?}");
}

#[test]
fn flush_comes_one_interval_after_the_first_open_row() {
    let mut p = pipeline(PipelineConfig { flush_interval_ms: 200, ..Default::default() });
    assert!(matches!(p.poll(0), Action::Idle));
    p.note_open_rows(1_000);
    p.note_open_rows(1_150); // a second row does not push the flush back
    assert!(matches!(p.poll(1_000), Action::WaitUntil(1_200)));
    assert!(matches!(p.poll(1_199), Action::WaitUntil(1_200)));
    assert!(matches!(p.poll(1_200), Action::Flush));
    // The driver sealed one chunk; it goes out at once.
    p.push(chunk(3, 30));
    let batch = expect_send(&mut p, 1_200);
    assert_eq!(batch.rows(), 3);
    assert!(matches!(p.poll(1_200), Action::Idle), "nothing due until the ack");
    assert!(p.ack(batch.id));
    assert!(p.is_empty());
    let stats = p.stats();
    assert_eq!((stats.rows_acked, stats.chunks_acked, stats.bytes_acked), (3, 1, 30));
    assert_conserved(&stats);
}

#[test]
fn chunk_ids_are_unique_and_ordered_within_a_session() {
    let mut p = pipeline(PipelineConfig::default());
    let ids: Vec<_> = (0..5).map(|_| p.push(chunk(1, 1))).collect();
    for pair in ids.windows(2) {
        assert!(pair[0] < pair[1]);
        assert_eq!(pair[1].seq(), pair[0].seq() + 1);
    }
    assert_eq!(&ids[0].0[..8], &42u64.to_be_bytes());
    let other = Pipeline::new(PipelineConfig::default(), 43, 7).unwrap().push(chunk(1, 1));
    assert_ne!(other, ids[0], "another session never reuses an id");
}

#[test]
fn batches_respect_max_batch_bytes_and_in_flight() {
    let config = PipelineConfig { max_batch_bytes: 100, max_in_flight: 2, ..Default::default() };
    let mut p = pipeline(config);
    for _ in 0..5 {
        p.push(chunk(10, 40));
    }
    p.push(chunk(1, 500)); // larger than a batch: goes alone
    let first = expect_send(&mut p, 0);
    let second = expect_send(&mut p, 0);
    assert_eq!((first.chunks.len(), second.chunks.len()), (2, 2));
    assert!(matches!(p.poll(0), Action::Idle), "two batches on the wire is the limit");
    p.ack(first.id);
    let third = expect_send(&mut p, 0);
    assert_eq!(third.chunks.len(), 1, "the 40-byte chunk, the 500-byte one does not fit with it");
    p.ack(second.id);
    let fourth = expect_send(&mut p, 0);
    assert_eq!((fourth.chunks.len(), fourth.bytes()), (1, 500));
    p.ack(third.id);
    p.ack(fourth.id);
    assert_eq!(p.stats().rows_acked, 51);
    assert_conserved(&p.stats());
}

#[test]
fn retries_back_off_growing_up_to_the_max_then_succeed() {
    let config = PipelineConfig {
        initial_retry_interval_ms: 100,
        max_retry_interval_ms: 15_000,
        max_in_flight: 1,
        ..Default::default()
    };
    let mut p = pipeline(config);
    p.push(chunk(5, 50));
    let mut now = 0;
    let mut delays = Vec::new();
    for attempt in 1..=12u32 {
        let batch = expect_send(&mut p, now);
        assert_eq!(batch.rows(), 5, "the same rows come back");
        p.fail(batch.id, retryable(), now);
        let Action::WaitUntil(at) = p.poll(now) else { panic!("expected a wait") };
        let delay = at - now;
        let base = (100u64 << (attempt - 1)).min(15_000);
        assert!(delay >= base / 2 && delay <= base, "attempt {attempt}: delay {delay} not in [{}, {base}]", base / 2);
        match p.pop_event() {
            Some(Event::RetryScheduled { attempt: a, delay_ms, .. }) => assert_eq!((a, delay_ms), (attempt, delay)),
            other => panic!("expected a retry event, got {other:?}"),
        }
        // Nothing goes out before the deadline.
        assert!(matches!(p.poll(at - 1), Action::WaitUntil(t) if t == at));
        delays.push(delay);
        now = at;
    }
    assert!(delays.iter().all(|&d| d <= 15_000));
    assert!(delays[9..].iter().all(|&d| d >= 7_500), "capped delays stay in the top half: {delays:?}");
    assert!(delays[0] < delays[5] && delays[5] < delays[9], "{delays:?}");
    let batch = expect_send(&mut p, now);
    p.ack(batch.id);
    let stats = p.stats();
    assert_eq!((stats.retries, stats.rows_acked, stats.batches_sent), (12, 5, 13));
    assert_conserved(&stats);
    // A success resets the backoff: the next failure waits about the initial interval.
    p.push(chunk(1, 1));
    let batch = expect_send(&mut p, now);
    p.fail(batch.id, retryable(), now);
    let Action::WaitUntil(at) = p.poll(now) else { panic!() };
    assert!(at - now <= 100);
}

#[test]
fn retry_after_from_the_server_is_honoured_up_to_the_max() {
    let config = PipelineConfig { max_retry_interval_ms: 5_000, ..Default::default() };
    let mut p = pipeline(config);
    p.push(chunk(1, 1));
    let batch = expect_send(&mut p, 0);
    p.fail(batch.id, Failure::Retryable { message: "503".into(), retry_after_ms: Some(3_000) }, 0);
    assert!(matches!(p.poll(0), Action::WaitUntil(3_000)));
    let batch = expect_send(&mut p, 3_000);
    p.fail(batch.id, Failure::Retryable { message: "503".into(), retry_after_ms: Some(60_000) }, 3_000);
    assert!(matches!(p.poll(3_000), Action::WaitUntil(8_000)), "capped at the max retry interval");
}

#[test]
fn a_permanent_failure_drops_only_the_bad_chunk_and_counts_it() {
    let mut p = pipeline(PipelineConfig { max_in_flight: 1, ..Default::default() });
    for rows in [1, 2, 3] {
        p.push(chunk(rows, 10));
    }
    let batch = expect_send(&mut p, 0);
    assert_eq!(batch.chunks.len(), 3);
    p.fail(batch.id, Failure::Permanent { message: "chunk 1: bad rows".into() }, 0);
    assert_eq!(p.stats().rows_dropped(), 0, "a rejected batch is split, not dropped");
    // The chunks now go one by one, without backoff.
    let mut acked = 0;
    for expected_rows in [1u64, 2, 3] {
        let solo = expect_send(&mut p, 0);
        assert_eq!((solo.chunks.len(), solo.rows()), (1, expected_rows));
        if expected_rows == 2 {
            p.fail(solo.id, Failure::Permanent { message: "bad rows".into() }, 0);
        } else {
            p.ack(solo.id);
            acked += expected_rows;
        }
    }
    let stats = p.stats();
    assert_eq!((stats.rows_acked, stats.rows_dropped_rejected, stats.chunks_dropped_rejected), (acked, 2, 1));
    assert_eq!(stats.retries, 0);
    match p.pop_event() {
        Some(Event::Dropped { reason: DropReason::Rejected, rows: 2, chunks: 1, message, collection }) => {
            assert_eq!((message.as_str(), collection.as_str()), ("bad rows", "cpu"));
        }
        other => panic!("expected a drop event, got {other:?}"),
    }
    assert_conserved(&stats);
    assert!(p.is_empty());
}

#[test]
fn memory_cap_drops_the_oldest_queued_chunks_with_exact_counts() {
    let config = PipelineConfig { max_buffer_bytes: 1_000, max_in_flight: 1, ..Default::default() };
    let mut p = pipeline(config);
    p.push(chunk(10, 300));
    let on_the_wire = expect_send(&mut p, 0);
    // 300 on the wire; queue 300 + 300 + 300 would make 1200: the oldest queued goes.
    for rows in [11, 12, 13] {
        p.push(chunk(rows, 300));
    }
    let stats = p.stats();
    assert_eq!((stats.chunks_dropped_memory_cap, stats.rows_dropped_memory_cap), (1, 11));
    assert_eq!(stats.bytes_pending, 900);
    // A chunk bigger than the whole cap evicts everything queued, then itself;
    // the chunk on the wire stays.
    p.push(chunk(99, 1_500));
    let stats = p.stats();
    assert_eq!((stats.chunks_dropped_memory_cap, stats.rows_dropped_memory_cap), (4, 11 + 12 + 13 + 99));
    assert_eq!((stats.chunks_pending, stats.rows_pending, stats.bytes_pending), (1, 10, 300));
    let drops: u64 = std::iter::from_fn(|| p.pop_event())
        .map(|event| match event {
            Event::Dropped { reason: DropReason::MemoryCap, rows, .. } => rows,
            other => panic!("unexpected {other:?}"),
        })
        .sum();
    assert_eq!(drops, 11 + 12 + 13 + 99, "events add up to the counters");
    p.ack(on_the_wire.id);
    assert_conserved(&p.stats());
    assert!(p.is_empty());
}

#[test]
fn nothing_is_acked_twice() {
    let mut p = pipeline(PipelineConfig::default());
    p.push(chunk(4, 8));
    let batch = expect_send(&mut p, 0);
    assert!(p.ack(batch.id));
    assert!(!p.ack(batch.id), "a second ack of the same batch is ignored");
    assert!(!p.fail(batch.id, retryable(), 0), "and so is a failure after the ack");
    assert!(!p.ack(9_999), "unknown batches are ignored");
    let stats = p.stats();
    assert_eq!((stats.rows_acked, stats.chunks_acked, stats.retries), (4, 1, 0));
    assert_conserved(&stats);
}

#[test]
fn a_retried_batch_keeps_its_chunk_ids_and_order() {
    let mut p = pipeline(PipelineConfig { max_batch_bytes: 10, max_in_flight: 2, ..Default::default() });
    let ids: Vec<_> = (0..3).map(|_| p.push(chunk(1, 10))).collect();
    let first = expect_send(&mut p, 0);
    let second = expect_send(&mut p, 0);
    p.fail(first.id, retryable(), 0);
    p.ack(second.id);
    // The ack reset the backoff: the failed chunk is resent at once, first.
    let again = expect_send(&mut p, 0);
    assert_eq!(again.chunks[0].id(), ids[0]);
    let last = expect_send(&mut p, 0);
    assert_eq!(last.chunks[0].id(), ids[2]);
}

#[test]
fn flush_completion_is_tracked_by_sequence() {
    let mut p = pipeline(PipelineConfig::default());
    p.push(chunk(1, 1));
    let target = p.next_seq();
    p.push(chunk(1, 1));
    assert!(p.pending_before(target));
    let batch = expect_send(&mut p, 0);
    assert_eq!(batch.chunks.len(), 2);
    p.ack(batch.id);
    assert!(!p.pending_before(target));
}

#[test]
fn abandon_counts_everything_undelivered_and_ignores_late_acks() {
    let mut p = pipeline(PipelineConfig { max_batch_bytes: 1, ..Default::default() });
    for _ in 0..3 {
        p.push(chunk(5, 1));
    }
    let on_the_wire = expect_send(&mut p, 0);
    assert_eq!(p.abandon("shutdown before delivery"), 15);
    let stats = p.stats();
    assert_eq!((stats.rows_dropped_shutdown, stats.chunks_dropped_shutdown, stats.rows_pending), (15, 3, 0));
    assert!(!p.ack(on_the_wire.id));
    assert_conserved(&p.stats());
}

#[test]
fn bad_configs_name_the_option() {
    let zero = PipelineConfig { flush_interval_ms: 0, ..Default::default() };
    assert_eq!(Pipeline::new(zero, 1, 1).unwrap_err().option, "flush_interval_ms");
    let inverted = PipelineConfig { initial_retry_interval_ms: 500, max_retry_interval_ms: 100, ..Default::default() };
    let error = Pipeline::new(inverted, 1, 1).unwrap_err();
    assert_eq!(
        error.to_string(),
        "option \"max_retry_interval_ms\": 100 is less than the initial retry interval of 500 ms"
    );
}

#[test]
fn sends_a_driver_abandoned_are_requeued_in_order_and_late_reports_ignored() {
    let mut p = pipeline(PipelineConfig { max_batch_bytes: 10, max_in_flight: 2, ..Default::default() });
    let ids: Vec<_> = (0..3).map(|_| p.push(chunk(2, 10))).collect();
    let first = expect_send(&mut p, 0);
    let second = expect_send(&mut p, 0);
    assert_eq!(p.requeue_in_flight(), 2);
    assert!(!p.ack(first.id), "the abandoned send's late ack is ignored");
    assert!(!p.fail(second.id, retryable(), 0));
    let again: Vec<_> = (0..2).map(|_| expect_send(&mut p, 0)).collect();
    assert_eq!((again[0].chunks[0].id(), again[1].chunks[0].id()), (ids[0], ids[1]), "same ids, same order");
    for batch in again {
        p.ack(batch.id);
    }
    let last = expect_send(&mut p, 0);
    p.ack(last.id);
    let stats = p.stats();
    assert_eq!((stats.rows_acked, stats.retries, stats.rows_dropped()), (6, 0, 0));
    assert_conserved(&stats);
}
