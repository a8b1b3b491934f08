-- What the projector needs to survive faults (docs/reliability.md, ADR 0005).

-- The store's identity: recorded beside the read-model keys in Redis too, so an operator
-- command pointed at the wrong database or the wrong Redis namespace can refuse to run.
CREATE TABLE store_identity (
    singleton  BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    store_id   UUID        NOT NULL DEFAULT gen_random_uuid(),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO store_identity DEFAULT VALUES;

-- Where the projector stands in each partition of the topic: the next offset to read.
-- Written in the same transaction as the read models the offsets produced, so a crash
-- can neither lose nor double-count a batch (the broker's group coordinator is not used).
CREATE TABLE rm_offsets (
    topic       TEXT        NOT NULL,
    partition   INT         NOT NULL,
    next_offset BIGINT      NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- Projector instances sharing a topic. Each holds its partitions by advisory locks on its
-- lock connection (`lock_pid`); a member whose backend is gone is dead.
CREATE TABLE rm_members (
    member_id     UUID        PRIMARY KEY,
    topic         TEXT        NOT NULL,
    lock_pid      INT         NOT NULL,
    backend_start TIMESTAMPTZ NOT NULL,
    partitions    INT[]       NOT NULL DEFAULT '{}',
    joined_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    seen_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Redis writes owed: each batch records the doc keys it committed, in its transaction;
-- the row goes once Redis has them. While Redis is unreachable rows pile up and the
-- projector keeps applying to PostgreSQL; when Redis returns they are drained.
CREATE TABLE rm_redis_owed (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rm_version INT         NOT NULL,
    keys       TEXT[]      NOT NULL,
    at         TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Dead letters per read-model version, and what the operator did about them.
ALTER TABLE rm_dead_letters
    ADD COLUMN rm_version  INT,
    ADD COLUMN status      TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'replayed', 'discarded')),
    ADD COLUMN resolved_at TIMESTAMPTZ,
    ADD COLUMN reason      TEXT;
UPDATE rm_dead_letters SET rm_version = (SELECT version FROM rm_live);
ALTER TABLE rm_dead_letters ALTER COLUMN rm_version SET NOT NULL;
DROP INDEX rm_dead_letters_position;
CREATE UNIQUE INDEX rm_dead_letters_position ON rm_dead_letters (rm_version, position) WHERE position > 0;
