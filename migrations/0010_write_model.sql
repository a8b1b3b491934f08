-- The write model command-api validates commands against. Each aggregate row carries
-- the version of its event stream: commands lock the row (FOR UPDATE), check it and bump
-- it in the same transaction that appends the events, so stream versions stay gap-free.

CREATE TABLE categories (
    id         UUID        PRIMARY KEY,
    name       TEXT        NOT NULL,
    slug       TEXT        NOT NULL UNIQUE,
    parent_id  UUID        REFERENCES categories (id),
    version    BIGINT      NOT NULL CHECK (version >= 1),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE products (
    id           UUID        PRIMARY KEY,
    sku          TEXT        NOT NULL UNIQUE,
    slug         TEXT        NOT NULL,
    name         TEXT        NOT NULL,
    description  TEXT        NOT NULL,
    price_cents  BIGINT      NOT NULL CHECK (price_cents >= 0),
    currency     TEXT        NOT NULL,
    category_id  UUID        NOT NULL REFERENCES categories (id),
    -- The backstop against oversell: checkout checks first, this refuses regardless.
    stock        INT         NOT NULL CHECK (stock >= 0),
    image        TEXT,
    attributes   JSONB       NOT NULL DEFAULT '{}',
    discontinued BOOLEAN     NOT NULL DEFAULT FALSE,
    version      BIGINT      NOT NULL CHECK (version >= 1),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One cart per session (the stream `cart-{session_id}`); it survives checkout, empty.
CREATE TABLE carts (
    session_id UUID   PRIMARY KEY,
    version    BIGINT NOT NULL CHECK (version >= 0)
);

CREATE TABLE cart_lines (
    session_id UUID NOT NULL REFERENCES carts (session_id),
    product_id UUID NOT NULL REFERENCES products (id),
    quantity   INT  NOT NULL CHECK (quantity BETWEEN 1 AND 999),
    PRIMARY KEY (session_id, product_id)
);

CREATE TABLE orders (
    id          UUID        PRIMARY KEY,
    session_id  UUID        NOT NULL,
    status      TEXT        NOT NULL CHECK (status IN ('placed', 'paid', 'shipped', 'cancelled')),
    total_cents BIGINT      NOT NULL,
    currency    TEXT        NOT NULL,
    payment_reference TEXT,
    version     BIGINT      NOT NULL CHECK (version >= 1),
    placed_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX orders_session ON orders (session_id);

CREATE TABLE order_lines (
    order_id         UUID   NOT NULL REFERENCES orders (id),
    product_id       UUID   NOT NULL,
    sku              TEXT   NOT NULL,
    name             TEXT   NOT NULL,
    unit_price_cents BIGINT NOT NULL,
    quantity         INT    NOT NULL,
    line_total_cents BIGINT NOT NULL,
    PRIMARY KEY (order_id, product_id)
);
