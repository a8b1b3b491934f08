//! Per-request lookup counting: every Redis command and SQL statement a read costs.
//!
//! The store layer increments a request's [`Lookups`]; the response carries the totals
//! in `X-Lookups` and the per-route counters of `/metrics`, so tests and people can see
//! that a read is one lookup.

/// Counts of one request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lookups {
    pub redis: u32,
    pub sql: u32,
    hits: u32,
    misses: u32,
}

impl Lookups {
    pub fn redis_command(&mut self) {
        self.redis += 1;
    }
    pub fn sql_statement(&mut self) {
        self.sql += 1;
    }
    pub fn cache_hit(&mut self) {
        self.hits += 1;
    }
    pub fn cache_miss(&mut self) {
        self.misses += 1;
    }

    /// The `X-Lookups` header value.
    pub fn header_value(&self) -> String {
        format!("redis={}; sql={}", self.redis, self.sql)
    }

    /// Adds this request's counts to the metrics of `route` (the matched route
    /// template, as in `vitrine_http_requests_total`).
    pub fn record(&self, route: &str) {
        let route = route.to_owned();
        metrics::counter!(vitrine_runtime::metric::QUERY_REDIS_COMMANDS_TOTAL, "route" => route.clone())
            .increment(self.redis.into());
        metrics::counter!(vitrine_runtime::metric::QUERY_SQL_STATEMENTS_TOTAL, "route" => route.clone())
            .increment(self.sql.into());
        if self.hits > 0 {
            metrics::counter!(vitrine_runtime::metric::CACHE_HITS_TOTAL, "route" => route.clone())
                .increment(self.hits.into());
        }
        if self.misses > 0 {
            metrics::counter!(vitrine_runtime::metric::CACHE_MISSES_TOTAL, "route" => route.clone())
                .increment(self.misses.into());
        }
    }
}
