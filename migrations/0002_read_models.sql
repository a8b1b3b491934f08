-- Durable read models. Every document lives under a read-model version, so a rebuild
-- writes version N+1 beside the live N and one pointer flips.

CREATE SEQUENCE rm_rev;

-- One row per document, keyed exactly as in Redis (minus prefix and version).
-- `doc` is the exact bytes served; NULL is a tombstone. `rev` fences writes.
CREATE TABLE rm_docs (
    rm_version INT    NOT NULL,
    key        TEXT   NOT NULL,
    rev        BIGINT NOT NULL,
    doc        TEXT,
    PRIMARY KEY (rm_version, key)
);

-- Full-text search over products (for search-cache misses): one statement per miss.
CREATE TABLE rm_search (
    rm_version  INT     NOT NULL,
    product_id  UUID    NOT NULL,
    item        JSONB   NOT NULL,  -- the list-item shape served in results
    name        TEXT    NOT NULL,
    tsv         TSVECTOR NOT NULL,
    PRIMARY KEY (rm_version, product_id)
);
CREATE INDEX rm_search_tsv ON rm_search USING GIN (tsv);

-- The live read-model version readers follow, and the catalog generation that keys
-- cached search results.
CREATE TABLE rm_live (
    singleton   BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    version     INT     NOT NULL,
    catalog_gen BIGINT  NOT NULL DEFAULT 0,
    flipped_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO rm_live (version) VALUES (1);

-- Every read-model version ever built: building → live → retired → dropped.
CREATE TABLE rm_versions (
    version     INT PRIMARY KEY,
    status      TEXT NOT NULL CHECK (status IN ('building', 'live', 'retired', 'dropped', 'failed')),
    started_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ,
    note        TEXT
);
INSERT INTO rm_versions (version, status, finished_at) VALUES (1, 'live', now());

-- Progress per projection and version: last applied global position.
CREATE TABLE rm_progress (
    rm_version  INT    NOT NULL,
    projection  TEXT   NOT NULL,
    position    BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (rm_version, projection)
);

-- Events the projector could not apply (undecodable, unknown type): kept, counted, skipped.
CREATE TABLE rm_dead_letters (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    position    BIGINT NOT NULL,
    stream_id   TEXT   NOT NULL,
    event_type  TEXT   NOT NULL,
    error       TEXT   NOT NULL,
    raw         TEXT   NOT NULL,
    at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
