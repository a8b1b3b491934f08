//! What an operator reads of the projector: `/metrics` has every documented metric with
//! its documented labels (`docs/metrics.md`), lag and write -> readable among them.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;
use vitrine_runtime::metric::{check_exposition, Program};

use crate::helpers::*;

/// `GET /metrics` over a plain connection (HTTP/1.0: the server closes when done).
async fn scrape(addr: std::net::SocketAddr) -> String {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: projector\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn metrics_has_every_documented_metric_with_its_documented_labels() {
    let mut h = Harness::new().await;
    let topic = vitrine_testkit::unique_topic(2).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(projector::run(
        projector_config(&h, &topic, 50),
        listener,
        async move {
            let _ = stopped.await;
        },
    ));

    let rec = h.record(category(Uuid::now_v7(), "Lamps", None)).await;
    publish_with(&producer(), &h.db.pool, &topic, &[rec]).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let text = loop {
        let text = scrape(addr).await;
        // applied, the write -> readable histogram has the event, and nothing waits
        if text.contains("vitrine_projector_applied_events_total 1")
            && text.contains("vitrine_projector_event_delay_seconds_count 1")
            && text.contains("vitrine_projector_lag_seconds 0\n")
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the event was not applied:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let problems = check_exposition(&text, Program::Projector);
    assert!(problems.is_empty(), "{problems:#?}\n{text}");
    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
