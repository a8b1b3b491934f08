//! Vitrine's load tests: they talk to the store only over HTTP (docs/api.md), and measure it
//! against the original plan's baselines (SCALE-002) and against this machine's ceiling.
//!
//! Every job is one binary; everything two jobs need lives once in this library.
//!
//! # Layout
//!
//! - `src/bin/seed.rs`: seeds the demo catalog (20 categories, 1,000 products) through
//!   command-api, idempotently, and waits until the read side answers for it.
//! - `src/bin/scenario.rs`: the plan's user behaviour with goose (browse 3, view 2,
//!   search 1, add to cart 1, checkout ½) with real sessions; goose's HTML and JSON
//!   reports, our per-endpoint table against the plan and against `reports/baseline.json`,
//!   Redis keyspace and application cache counters, and the write → readable delay.
//! - `src/bin/ceiling.rs`: the reference server, one Redis GET per request.
//! - `src/bin/ceiling-bench.rs`: drives the ceiling and query-api with `wrk` in the same
//!   run, with CPU samples of server and client, and reports the ratio.
//! - `src/bin/command-bench.rs`: concurrent shoppers doing add-to-cart and checkout
//!   against command-api.
//! - [`http`]: the one HTTP client helper (JSON in and out, bearer, idempotency keys).
//! - [`catalog`]: finding categories, product ids and list pages on a live store.
//! - [`stats`]: median and percentiles, the only implementation.
//! - [`observe`]: Redis `INFO stats` and query-api's `/metrics` cache counters; CPU time
//!   of processes from `/proc`.
//! - [`plan`]: the plan's baselines table, our stored baseline, regression checks and the
//!   report table.
//! - `smoke.sh` (CI's smoke run), `ceiling-bench.sh`, `wrk/spread.lua`, `reports/`.

pub mod catalog;
pub mod http;
pub mod observe;
pub mod plan;
pub mod stats;

use std::path::PathBuf;

/// Where reports go unless told otherwise: `loadtests/reports/` of this checkout.
pub fn default_reports_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("reports")
}

/// A UTC timestamp usable in file names (`20250101T120000Z`).
pub fn file_stamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string()
}

/// Writes `value` as pretty JSON to `path`, creating the folder.
pub fn write_json(path: &std::path::Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    use anyhow::Context;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))
}
