-- The event store (the truth) and the outbox the relay drains.

CREATE TABLE events (
    position       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id      TEXT        NOT NULL,
    stream_type    TEXT        NOT NULL,
    version        BIGINT      NOT NULL CHECK (version >= 1),
    event_type     TEXT        NOT NULL,
    schema_version INT         NOT NULL,
    payload        JSONB       NOT NULL,
    metadata       JSONB       NOT NULL DEFAULT '{}',
    recorded_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The writing transaction: a rebuild hands over from history to live events at a
    -- transaction-id watermark, because positions are handed out in one order and
    -- committed in another.
    tx_id          XID8        NOT NULL DEFAULT pg_current_xact_id(),
    UNIQUE (stream_id, version)
);

CREATE INDEX events_tx_id ON events (tx_id);

CREATE FUNCTION events_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only (% refused)', TG_OP;
END $$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_append_only();

-- Rows waiting to be published; deleted once the broker acknowledged them.
CREATE TABLE outbox (
    position  BIGINT PRIMARY KEY,
    stream_id TEXT NOT NULL
);

-- Idempotency-Key: the first answer to a key, replayed for a retry with the same body.
CREATE TABLE idempotency_keys (
    scope         TEXT        NOT NULL,  -- 'admin' or the session id
    key           TEXT        NOT NULL,
    request_hash  TEXT        NOT NULL,
    status        SMALLINT,             -- NULL while the first request is in flight
    response      JSONB,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
