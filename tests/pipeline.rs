//! The send pipeline driven with a fake clock: every scenario counts rows.

use std::sync::Arc;

use edgemetrics::engine::chunk::{Chunk, Delivery, MetricInfo};
use edgemetrics::engine::pipeline::{Action, Batch, Failure, Pipeline, PipelineConfig};
use edgemetrics::engine::stats::{DropReason, Event, Stats};

fn info(collection: &str) -> Arc<MetricInfo> {
    info_with(collection, Delivery::ExactlyOnce)
}

fn info_with(collection: &str, delivery: Delivery) -> Arc<MetricInfo> {
    Arc::new(MetricInfo {
        collection: collection.into(),
        schema: r#"{"type":"record","name":"x","fields":[]}"#.into(),
        skip_timestamp: false,
        timestamp_column: None,
        delivery,
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

// Delivery guarantees: the policy each chunk's metric asks for.

/// A chunk of `rows` rows and `bytes` bytes of metric `collection`, delivered so.
fn chunk_of(collection: &str, delivery: Delivery, rows: u32, bytes: usize) -> Chunk {
    Chunk::new(info_with(collection, delivery), vec![7; bytes], rows)
}

/// Every event so far, oldest first.
fn events(p: &mut Pipeline) -> Vec<Event> {
    std::iter::from_fn(|| p.pop_event()).collect()
}

#[test]
fn a_mixed_batch_that_fails_retryably_retries_only_what_is_retried_and_drops_the_best_effort_chunks() {
    let mut p = pipeline(PipelineConfig { max_in_flight: 1, initial_retry_interval_ms: 100, ..Default::default() });
    let once = p.push(chunk_of("orders", Delivery::ExactlyOnce, 1, 10));
    p.push(chunk_of("clicks", Delivery::BestEffort, 2, 10));
    p.push(chunk_of("clicks", Delivery::BestEffort, 4, 10));
    let least = p.push(chunk_of("views", Delivery::AtLeastOnce, 8, 10));
    p.push(chunk_of("scrolls", Delivery::BestEffort, 16, 10));
    let batch = expect_send(&mut p, 0);
    assert_eq!((batch.chunks.len(), batch.rows()), (5, 31), "one request carries all five");
    assert!(p.fail(batch.id, retryable(), 0));

    let stats = p.stats();
    assert_eq!((stats.rows_dropped_best_effort, stats.chunks_dropped_best_effort), (22, 3), "{stats:?}");
    assert_eq!(
        (stats.rows_pending, stats.chunks_pending, stats.bytes_pending),
        (9, 2, 20),
        "only the retried chunks held"
    );
    assert_eq!(stats.retries, 1);
    assert_conserved(&stats);
    let drops: Vec<_> = events(&mut p)
        .into_iter()
        .filter_map(|event| match event {
            Event::Dropped { reason: DropReason::BestEffort, collection, chunks, rows, message } => {
                assert_eq!(message, "unavailable");
                Some((collection, chunks, rows))
            }
            Event::RetryScheduled { attempt: 1, .. } => None,
            other => panic!("unexpected event {other:?}"),
        })
        .collect();
    let expected = [("clicks".into(), 1, 2), ("clicks".into(), 1, 4), ("scrolls".into(), 1, 16)];
    assert_eq!(drops, expected, "named by metric, rows exact");

    // After the backoff only the retried chunks come back, with their ids.
    let Action::WaitUntil(at) = p.poll(0) else { panic!("expected the backoff") };
    let again = expect_send(&mut p, at);
    assert_eq!(again.chunks.iter().map(|c| c.id()).collect::<Vec<_>>(), [once, least]);
    assert!(p.ack(again.id));
    let stats = p.stats();
    assert_eq!((stats.rows_acked, stats.rows_dropped(), stats.chunks_sent), (9, 22, 7));
    assert_conserved(&stats);
    assert!(p.is_empty());
}

#[test]
fn a_best_effort_chunk_gets_one_attempt_and_no_retry() {
    let mut p = pipeline(PipelineConfig::default());
    p.push(chunk_of("clicks", Delivery::BestEffort, 3, 30));
    let batch = expect_send(&mut p, 0);
    p.fail(batch.id, retryable(), 0);
    assert!(matches!(p.poll(0), Action::Idle), "nothing left to send, no backoff to wait for");
    let stats = p.stats();
    assert_eq!((stats.chunks_sent, stats.retries, stats.rows_dropped_best_effort, stats.bytes_pending), (1, 0, 3, 0));
    assert!(p.is_empty());
    assert!(
        events(&mut p).iter().all(|event| matches!(event, Event::Dropped { reason: DropReason::BestEffort, .. })),
        "no retry scheduled"
    );
    // The next best-effort chunk is tried at once: a failure of its own
    // kind leaves no backoff behind.
    p.push(chunk_of("clicks", Delivery::BestEffort, 1, 10));
    let next = expect_send(&mut p, 1);
    assert!(p.ack(next.id));
    assert_eq!(p.stats().rows_acked, 1);
    assert_conserved(&p.stats());
}

#[test]
fn best_effort_chunks_do_not_wait_behind_the_backoff_of_retried_ones() {
    let config =
        PipelineConfig { initial_retry_interval_ms: 1_000, max_retry_interval_ms: 1_000, ..Default::default() };
    let mut p = pipeline(config);
    let retried = p.push(chunk_of("orders", Delivery::AtLeastOnce, 5, 50));
    let batch = expect_send(&mut p, 0);
    p.fail(batch.id, retryable(), 0);
    let Action::WaitUntil(retry_at) = p.poll(10) else { panic!("expected the backoff") };
    assert!(retry_at > 10);
    let fast = p.push(chunk_of("clicks", Delivery::BestEffort, 2, 20));
    let alone = expect_send(&mut p, 10);
    assert_eq!(alone.chunks.iter().map(|c| c.id()).collect::<Vec<_>>(), [fast], "only the best-effort chunk");
    p.fail(alone.id, retryable(), 10);
    assert!(matches!(p.poll(10), Action::WaitUntil(at) if at == retry_at), "its failure does not move the backoff");
    assert_eq!(p.stats().retries, 1);
    let again = expect_send(&mut p, retry_at);
    assert_eq!(again.chunks[0].id(), retried);
    p.ack(again.id);
    let stats = p.stats();
    assert_eq!((stats.rows_acked, stats.rows_dropped_best_effort), (5, 2));
    assert_conserved(&stats);
}

#[test]
fn the_memory_cap_drops_queued_best_effort_chunks_first() {
    let config = PipelineConfig { max_buffer_bytes: 100, max_in_flight: 1, ..Default::default() };
    let mut p = pipeline(config);
    let on_the_wire = expect_send_after_push(&mut p, chunk_of("orders", Delivery::ExactlyOnce, 1, 40));
    p.push(chunk_of("orders", Delivery::ExactlyOnce, 4, 30));
    p.push(chunk_of("clicks", Delivery::BestEffort, 2, 30));
    // 100 bytes pending; 30 more pass the cap: the best-effort chunk goes,
    // though the exactly-once one is older.
    p.push(chunk_of("orders", Delivery::ExactlyOnce, 8, 30));
    let stats = p.stats();
    assert_eq!((stats.rows_dropped_memory_cap, stats.chunks_dropped_memory_cap, stats.bytes_pending), (2, 1, 100));
    p.ack(on_the_wire.id);
    let rest = expect_send(&mut p, 0);
    assert_eq!(rest.rows(), 12, "both exactly-once chunks kept");
    p.ack(rest.id);
    assert_conserved(&p.stats());
}

fn expect_send_after_push(p: &mut Pipeline, chunk: Chunk) -> Batch {
    p.push(chunk);
    expect_send(p, 0)
}

#[test]
fn a_rejected_mixed_batch_drops_its_best_effort_chunks_and_splits_the_others() {
    // The request was the best-effort chunks' one attempt, and it failed:
    // they are dropped with the collector's message, the others are tried
    // one by one to find the bad one.
    let mut p = pipeline(PipelineConfig { max_in_flight: 1, ..Default::default() });
    p.push(chunk_of("orders", Delivery::ExactlyOnce, 1, 10));
    p.push(chunk_of("clicks", Delivery::BestEffort, 2, 10));
    p.push(chunk_of("views", Delivery::AtLeastOnce, 4, 10));
    let batch = expect_send(&mut p, 0);
    assert_eq!(batch.chunks.len(), 3);
    p.fail(batch.id, Failure::Permanent { message: "chunk 0: bad rows".into() }, 0);
    assert_eq!(p.stats().rows_dropped_best_effort, 2);
    let bad = expect_send(&mut p, 0);
    assert_eq!((bad.chunks.len(), bad.rows()), (1, 1));
    p.fail(bad.id, Failure::Permanent { message: "bad rows".into() }, 0);
    let good = expect_send(&mut p, 0);
    assert_eq!((good.chunks.len(), good.rows()), (1, 4));
    p.ack(good.id);
    let stats = p.stats();
    assert_eq!((stats.rows_dropped_rejected, stats.rows_dropped_best_effort, stats.rows_acked), (1, 2, 4));
    assert!(matches!(
        p.pop_event(),
        Some(Event::Dropped { reason: DropReason::BestEffort, rows: 2, ref collection, ref message, .. })
            if collection == "clicks" && message == "chunk 0: bad rows"
    ));
    assert!(p.is_empty());
    assert_conserved(&stats);
}

#[test]
fn cancelled_sends_requeue_retried_chunks_and_drop_best_effort_ones() {
    let mut p = pipeline(PipelineConfig::default());
    let kept = p.push(chunk_of("orders", Delivery::AtLeastOnce, 3, 10));
    p.push(chunk_of("clicks", Delivery::BestEffort, 4, 10));
    let batch = expect_send(&mut p, 0);
    assert_eq!(batch.chunks.len(), 2);
    assert_eq!(p.requeue_in_flight(), 1);
    let again = expect_send(&mut p, 0);
    assert_eq!(again.chunks.iter().map(|c| c.id()).collect::<Vec<_>>(), [kept]);
    p.ack(again.id);
    let stats = p.stats();
    assert_eq!((stats.rows_acked, stats.rows_dropped_best_effort, stats.chunks_sent), (3, 4, 3));
    assert_conserved(&stats);
}

#[test]
fn only_exactly_once_chunks_carry_their_id_to_the_collector() {
    let mut p = pipeline(PipelineConfig::default());
    for delivery in Delivery::ALL {
        let id = p.push(chunk_of("m", delivery, 1, 1));
        let batch = expect_send(&mut p, 0);
        let expected: &[u8] = if delivery == Delivery::ExactlyOnce { &id.0 } else { &[] };
        assert_eq!(batch.chunks[0].wire_id(), expected, "{delivery}");
        assert_eq!(batch.chunks[0].id(), id, "{delivery}: ordered by id all the same");
        p.ack(batch.id);
    }
}

#[test]
fn a_delivery_is_read_by_its_name_and_anything_else_is_refused_naming_the_option() {
    for delivery in Delivery::ALL {
        assert_eq!(delivery.as_str().parse::<Delivery>(), Ok(delivery));
    }
    assert_eq!(Delivery::default(), Delivery::ExactlyOnce);
    let error = "sometimes".parse::<Delivery>().unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"option "delivery": "sometimes" is not one of bestEffort, atLeastOnce, exactlyOnce"#
    );
}

#[test]
fn chunks_a_failed_stream_stored_first_are_acknowledged_and_neither_resent_nor_dropped() {
    // A gRPC stream stores each chunk as it arrives: when it fails part way,
    // the collector says how many it stored.
    let mut p = pipeline(PipelineConfig { max_in_flight: 1, ..Default::default() });
    p.push(chunk_of("orders", Delivery::AtLeastOnce, 1, 10));
    p.push(chunk_of("clicks", Delivery::BestEffort, 2, 10));
    let retried = p.push(chunk_of("orders", Delivery::AtLeastOnce, 4, 10));
    p.push(chunk_of("clicks", Delivery::BestEffort, 8, 10));
    let batch = expect_send(&mut p, 0);
    // The retried chunks go first, then the best-effort ones.
    assert_eq!(batch.chunks.iter().map(|c| c.rows()).collect::<Vec<_>>(), [1, 4, 2, 8]);
    assert!(p.ack_first(batch.id, 1));
    p.fail(batch.id, retryable(), 0);
    let stats = p.stats();
    assert_eq!((stats.rows_acked, stats.rows_dropped_best_effort, stats.rows_pending), (1, 10, 4), "{stats:?}");
    let Action::WaitUntil(at) = p.poll(0) else { panic!("expected the backoff") };
    let again = expect_send(&mut p, at);
    assert_eq!(again.chunks.iter().map(|c| c.id()).collect::<Vec<_>>(), [retried], "the stored chunk is not resent");
    p.ack(again.id);
    // A best-effort chunk the stream stored is acknowledged, not dropped.
    p.push(chunk_of("clicks", Delivery::BestEffort, 16, 10));
    let last = expect_send(&mut p, at);
    assert!(p.ack_first(last.id, 1));
    p.fail(last.id, retryable(), at);
    let stats = p.stats();
    assert_eq!((stats.rows_acked, stats.rows_dropped_best_effort, stats.retries), (21, 10, 1), "{stats:?}");
    assert!(!p.ack_first(last.id, 1), "a batch no longer on the wire");
    assert!(p.is_empty());
    assert_conserved(&stats);
}
