//! The payment-deadline process manager: an unpaid order past its `pay_by` expires and
//! its stock returns.
//!
//! The timers are rows of `order_deadlines`, inserted in the transaction that records
//! `OrderPlaced` and deleted in the one that pays, cancels or expires the order (the
//! order aggregate's `persist`), so they survive restarts and never outlive their order.
//! Every command-api instance runs [`spawn`]'s loop: in one transaction it claims one due
//! timer together with its order row (`FOR UPDATE … SKIP LOCKED`: an instance never waits
//! for, nor takes, a row another holds, and a shopper's command holding the order is
//! skipped rather than deadlocked with), runs `ExpireOrder` through the one pipeline
//! ([`execute_in`]; the decider refuses an order no longer placed), deletes the timer and
//! commits. A crash before the commit leaves the timer for the next claim, so each order
//! expires exactly once however many instances run.

use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::aggregates::order::{OrderAggregate, Request};
use crate::error::ApiError;
use crate::pipeline::{execute_in, Context};
use crate::AppState;

/// Starts the loop; abort the handle to stop it.
pub fn spawn(app: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let poll = app.config.orders.deadline_poll();
        loop {
            match expire_one(&app).await {
                Ok(Some(_)) => continue, // more may be due
                Ok(None) => {}
                Err(e) => {
                    metrics::counter!(vitrine_runtime::metric::ORDER_DEADLINE_ERRORS_TOTAL)
                        .increment(1);
                    tracing::warn!(error = %e, "could not act on a payment deadline; retrying");
                }
            }
            tokio::time::sleep(poll).await;
        }
    })
}

/// What became of a claimed deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The order expired and its stock returned.
    Expired(Uuid),
    /// The order was no longer unpaid; only the timer went.
    Dropped(Uuid),
}

/// Claims one due deadline and acts on it in one transaction; `None`: none is due (or
/// every due one is held by someone else right now).
pub async fn expire_one(app: &AppState) -> Result<Option<Outcome>, ApiError> {
    let mut tx = crate::pipeline::begin(app).await?;
    let due: Option<Uuid> = sqlx::query_scalar(
        "SELECT d.order_id FROM order_deadlines d JOIN orders o ON o.id = d.order_id
         WHERE d.due_at <= now()
         ORDER BY d.due_at
         LIMIT 1
         FOR UPDATE OF d, o SKIP LOCKED",
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(order_id) = due else {
        return Ok(None);
    };
    let context = Context::system("order-deadlines");
    let (outcome, appends) =
        match execute_in::<OrderAggregate>(&mut tx, context, Request::expire(order_id)).await {
            Ok((_, appends)) => (Outcome::Expired(order_id), appends),
            // Paid, cancelled or expired meanwhile: nothing to do but drop the timer. The
            // decider refuses before anything is written, so the transaction is intact.
            Err(ApiError::Conflict { .. } | ApiError::NotFound(_)) => {
                (Outcome::Dropped(order_id), None)
            }
            Err(e) => return Err(e),
        };
    sqlx::query("DELETE FROM order_deadlines WHERE order_id = $1")
        .bind(order_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if let Some(appends) = appends {
        crate::pipeline::after_commit::<OrderAggregate>(app, &appends);
        metrics::counter!(vitrine_runtime::metric::ORDERS_EXPIRED_TOTAL).increment(1);
        tracing::info!(%order_id, "an unpaid order expired; its stock returned");
    }
    Ok(Some(outcome))
}
