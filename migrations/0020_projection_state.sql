-- Projector state: one row per stream and read-model version, holding the last applied
-- stream version and the entity folded so far (NULL until the stream's first event that
-- creates it). Documents are rendered from these rows, never patched in place, so they
-- converge whatever the arrival order across streams.
CREATE TABLE rm_entities (
    rm_version  INT     NOT NULL,
    stream_id   TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('category', 'product', 'cart', 'order')),
    version     BIGINT  NOT NULL,
    -- lookup columns for cross-stream effects
    category_id UUID,                         -- product: its category
    session_id  UUID,                         -- order: the session that placed it
    product_ids UUID[]  NOT NULL DEFAULT '{}', -- cart and order: products in their lines
    state       JSONB,
    PRIMARY KEY (rm_version, stream_id)
);
CREATE INDEX rm_entities_kind ON rm_entities (rm_version, kind, category_id);
CREATE INDEX rm_entities_session ON rm_entities (rm_version, session_id) WHERE session_id IS NOT NULL;
CREATE INDEX rm_entities_products ON rm_entities USING GIN (product_ids);

-- How many pages each product list (category slug or `all`) had when last rendered, so
-- pages that no longer exist become tombstones.
CREATE TABLE rm_list_pages (
    rm_version INT  NOT NULL,
    list       TEXT NOT NULL,
    pages      INT  NOT NULL,
    PRIMARY KEY (rm_version, list)
);

-- A redelivered poison event is recorded once.
CREATE UNIQUE INDEX rm_dead_letters_position ON rm_dead_letters (position) WHERE position > 0;
