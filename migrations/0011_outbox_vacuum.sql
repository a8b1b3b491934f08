-- The outbox is a queue: every row is inserted, published, then deleted. Vacuum it after
-- a fixed number of dead rows rather than a fraction of its (tiny) live size, and without
-- throttling, so dead index entries never pile up in front of the relay's poll.
ALTER TABLE outbox SET (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_cost_delay = 0
);
