//! The consumer-group loop: take what is ready (up to a batch), apply it, and only
//! then commit the offsets. A failed batch is retried with backoff, never skipped.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sqlx::PgPool;
use tokio::sync::watch;
use vitrine_contract::RecordedEvent;

use crate::apply::{apply_live_batch, Incoming};
use crate::store::DeadLetter;
use crate::Config;

pub fn consumer(config: &Config) -> anyhow::Result<StreamConsumer> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &config.kafka_brokers)
        .set("group.id", &config.kafka_group_id)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "10")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .create()?;
    consumer.subscribe(&[&config.kafka_topic])?;
    Ok(consumer)
}

/// What a message becomes: a recorded event, or a poison message kept for the record.
fn incoming(key: Option<&[u8]>, payload: Option<&[u8]>, offset: i64) -> Incoming {
    let payload = payload.unwrap_or_default();
    match RecordedEvent::from_json(payload) {
        Ok(rec) => Incoming::Event(rec),
        Err(e) => {
            // best effort: where the event sits, from whatever of it parses
            let loose: serde_json::Value = serde_json::from_slice(payload).unwrap_or_default();
            Incoming::Poison(DeadLetter {
                position: loose
                    .get("position")
                    .and_then(|p| p.as_i64())
                    .unwrap_or(-offset),
                stream_id: key
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .unwrap_or_default(),
                event_type: loose
                    .get("event_type")
                    .and_then(|t| t.as_str())
                    .unwrap_or("")
                    .to_owned(),
                error: format!("not a recorded event: {e}"),
                raw: String::from_utf8_lossy(payload).into_owned(),
            })
        }
    }
}

/// Runs until `shutdown` turns true; the batch in hand is finished and committed first.
pub async fn consume(
    config: &Config,
    pool: PgPool,
    mut redis: redis::aio::ConnectionManager,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let consumer = consumer(config)?;
    loop {
        if *shutdown.borrow() {
            break;
        }
        // wait for the first message, then take whatever else is ready
        let first = tokio::select! {
            m = consumer.recv() => m,
            _ = shutdown.changed() => break,
        };
        let mut items = Vec::new();
        let mut offsets: BTreeMap<(String, i32), i64> = BTreeMap::new();
        fn take(
            m: rdkafka::message::BorrowedMessage<'_>,
            items: &mut Vec<Incoming>,
            offsets: &mut BTreeMap<(String, i32), i64>,
        ) {
            items.push(incoming(m.key(), m.payload(), m.offset()));
            offsets.insert((m.topic().to_owned(), m.partition()), m.offset() + 1);
        }
        match first {
            Ok(m) => take(m, &mut items, &mut offsets),
            Err(e) => {
                tracing::warn!(error = %e, "consumer error");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        while items.len() < config.batch_max {
            match tokio::time::timeout(Duration::from_millis(2), consumer.recv()).await {
                Ok(Ok(m)) => take(m, &mut items, &mut offsets),
                _ => break,
            }
        }

        let mut backoff = Duration::from_millis(100);
        loop {
            match apply_live_batch(&pool, &mut redis, &config.redis_prefix, &items).await {
                Ok(report) => {
                    tracing::debug!(?report, "batch applied");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "batch failed; retrying");
                    metrics::counter!("vitrine_projector_batch_failures_total").increment(1);
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {},
                        _ = shutdown.changed() => {
                            // not applied: leave the offsets uncommitted for the next owner
                            return Ok(());
                        }
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }

        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), offset) in &offsets {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
        }
        // a commit refused after a rebalance is harmless: the new owner re-applies, idempotently
        if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
            tracing::warn!(error = %e, "offset commit failed");
        }
    }
    Ok(())
}
