-- Payments confirmed by the provider's signed webhook, and unpaid orders that expire.
--
-- orders: `expired` joins the statuses; `payment_status`/`payment_intent` are the
-- current payment attempt (none → pending → paid | failed); `pay_by` the deadline.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('placed', 'paid', 'shipped', 'cancelled', 'expired'));
ALTER TABLE orders
    ADD COLUMN payment_status TEXT NOT NULL DEFAULT 'none'
        CHECK (payment_status IN ('none', 'pending', 'paid', 'failed')),
    ADD COLUMN payment_intent TEXT,
    ADD COLUMN pay_by TIMESTAMPTZ;
-- Orders paid before this migration were paid by the old route.
UPDATE orders SET payment_status = 'paid' WHERE status IN ('paid', 'shipped');
-- The open-orders limit counts a session's unpaid orders.
CREATE INDEX orders_session_open ON orders (session_id) WHERE status = 'placed';

-- The durable timers of the expiry process manager: one row per unpaid order with a
-- deadline, inserted in the transaction that records `OrderPlaced`, deleted in the one
-- that pays, cancels or expires it. command-api instances claim due rows with
-- FOR UPDATE SKIP LOCKED, so each deadline is acted on by exactly one of them.
CREATE TABLE order_deadlines (
    order_id UUID        PRIMARY KEY REFERENCES orders (id),
    due_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX order_deadlines_due ON order_deadlines (due_at);

-- Provider events already applied: a second delivery of one event id changes nothing.
-- Kept (one small row per payment event): providers retry for days.
CREATE TABLE payment_webhook_events (
    event_id    TEXT        PRIMARY KEY,
    order_id    UUID        NOT NULL,
    kind        TEXT        NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
