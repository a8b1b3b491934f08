//! The original plan's performance baselines (SCALE-002), our own stored baseline, the
//! checks of a run against both, and the report table.

use serde::{Deserialize, Serialize};

/// Request names the scenario uses; the first five are the plan's rows.
pub const PRODUCT_LIST: &str = "product list";
pub const PRODUCT_DETAIL: &str = "product detail";
pub const SEARCH: &str = "search";
pub const ADD_TO_CART: &str = "add to cart";
pub const CHECKOUT: &str = "checkout";
pub const CREATE_SESSION: &str = "create session";

/// One row of the plan's "Performance Baselines" table: at least `rps`, and latency
/// percentiles under these bounds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PlanTarget {
    pub endpoint: &'static str,
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// The original plan's per-endpoint targets (SCALE-002).
pub const PLAN: [PlanTarget; 5] = [
    PlanTarget {
        endpoint: PRODUCT_LIST,
        rps: 100.0,
        p50_ms: 50.0,
        p95_ms: 100.0,
        p99_ms: 200.0,
    },
    PlanTarget {
        endpoint: PRODUCT_DETAIL,
        rps: 200.0,
        p50_ms: 30.0,
        p95_ms: 80.0,
        p99_ms: 150.0,
    },
    PlanTarget {
        endpoint: SEARCH,
        rps: 50.0,
        p50_ms: 100.0,
        p95_ms: 300.0,
        p99_ms: 500.0,
    },
    PlanTarget {
        endpoint: ADD_TO_CART,
        rps: 50.0,
        p50_ms: 80.0,
        p95_ms: 150.0,
        p99_ms: 300.0,
    },
    PlanTarget {
        endpoint: CHECKOUT,
        rps: 20.0,
        p50_ms: 200.0,
        p95_ms: 500.0,
        p99_ms: 1000.0,
    },
];

/// What one endpoint did over a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EndpointStats {
    pub name: String,
    pub requests: usize,
    pub errors: usize,
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One endpoint against its plan row.
#[derive(Clone, Debug, Serialize)]
pub struct PlanCheck {
    pub endpoint: String,
    pub target: PlanTarget,
    pub rps_met: bool,
    pub p50_met: bool,
    pub p95_met: bool,
    pub p99_met: bool,
}

impl PlanCheck {
    /// The latency bounds hold (throughput depends on the users and waits of the run).
    pub fn latency_met(&self) -> bool {
        self.p50_met && self.p95_met && self.p99_met
    }
}

/// Checks every plan row an endpoint of `stats` answers to; a row without requests is
/// left out.
pub fn check_plan(stats: &[EndpointStats]) -> Vec<PlanCheck> {
    PLAN.iter()
        .filter_map(|target| {
            let s = stats
                .iter()
                .find(|s| s.name == target.endpoint && s.requests > 0)?;
            Some(PlanCheck {
                endpoint: s.name.clone(),
                target: *target,
                rps_met: s.rps >= target.rps,
                p50_met: s.p50_ms < target.p50_ms,
                p95_met: s.p95_ms < target.p95_ms,
                p99_met: s.p99_ms < target.p99_ms,
            })
        })
        .collect()
}

/// Our own stored baseline: a run's endpoints with the settings that make a comparison
/// meaningful.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Baseline {
    pub recorded_at: String,
    pub users: usize,
    pub run_time_s: u64,
    pub wait_ms: [u64; 2],
    pub endpoints: Vec<EndpointStats>,
}

/// A metric of an endpoint that got worse than the baseline by more than the tolerance.
#[derive(Clone, Debug, Serialize)]
pub struct Regression {
    pub endpoint: String,
    pub metric: String,
    pub baseline: f64,
    pub current: f64,
    pub change_pct: f64,
}

/// How strict [`regressions`] is.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    /// 0.2: more than 20% worse is a regression.
    pub fraction: f64,
    /// Latency differences smaller than this (ms) never count: sub-millisecond
    /// percentiles on a shared 2-core machine move by more than 20% from noise alone.
    pub floor_ms: f64,
    /// Compare throughput too (only meaningful with the same users and waits).
    pub rps: bool,
}

/// Every endpoint metric of `current` more than `tol` worse than in `baseline`:
/// latency percentiles higher, throughput lower, or errors where there were none.
pub fn regressions(
    current: &[EndpointStats],
    baseline: &Baseline,
    tol: Tolerance,
) -> Vec<Regression> {
    let mut out = Vec::new();
    for before in &baseline.endpoints {
        let Some(now) = current.iter().find(|s| s.name == before.name) else {
            continue;
        };
        let mut push = |metric: &str, b: f64, c: f64| {
            let change_pct = if b > 0.0 { 100.0 * (c - b) / b } else { 0.0 };
            out.push(Regression {
                endpoint: now.name.clone(),
                metric: metric.to_owned(),
                baseline: b,
                current: c,
                change_pct,
            });
        };
        for (metric, b, c) in [
            ("p50_ms", before.p50_ms, now.p50_ms),
            ("p95_ms", before.p95_ms, now.p95_ms),
            ("p99_ms", before.p99_ms, now.p99_ms),
        ] {
            if c > b * (1.0 + tol.fraction) && c - b > tol.floor_ms {
                push(metric, b, c);
            }
        }
        if tol.rps && now.rps < before.rps * (1.0 - tol.fraction) {
            push("rps", before.rps, now.rps);
        }
        if before.errors == 0 && now.errors > 0 {
            push("errors", 0.0, now.errors as f64);
        }
    }
    out
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn mark(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISS"
    }
}

/// The per-endpoint markdown table: our numbers, the plan's row and whether each bound
/// holds.
pub fn render_table(stats: &[EndpointStats], checks: &[PlanCheck]) -> String {
    let mut out = String::from(
        "| endpoint | requests | errors | RPS | p50 ms | p95 ms | p99 ms | plan RPS | plan p50/p95/p99 ms | plan check |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    for s in stats {
        let check = checks.iter().find(|c| c.endpoint == s.name);
        let (plan_rps, plan_lat, verdict) = match check {
            Some(c) => (
                format!("{:.0}", c.target.rps),
                format!(
                    "<{:.0} / <{:.0} / <{:.0}",
                    c.target.p50_ms, c.target.p95_ms, c.target.p99_ms
                ),
                format!("RPS {}, latency {}", mark(c.rps_met), mark(c.latency_met())),
            ),
            None => ("–".into(), "–".into(), "–".into()),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} |\n",
            s.name,
            s.requests,
            s.errors,
            s.rps,
            ms(s.p50_ms),
            ms(s.p95_ms),
            ms(s.p99_ms),
            plan_rps,
            plan_lat,
            verdict
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(name: &str, rps: f64, p95: f64) -> EndpointStats {
        EndpointStats {
            name: name.into(),
            requests: 100,
            rps,
            p50_ms: p95 / 2.0,
            p95_ms: p95,
            p99_ms: p95 * 1.5,
            ..Default::default()
        }
    }

    #[test]
    fn plan_checks_compare_against_the_plan_rows() {
        let checks = check_plan(&[
            stats(PRODUCT_DETAIL, 250.0, 5.0),
            stats(CHECKOUT, 10.0, 600.0),
        ]);
        assert_eq!(checks.len(), 2);
        assert!(checks[0].rps_met && checks[0].latency_met());
        assert!(!checks[1].rps_met && !checks[1].p95_met);
    }

    #[test]
    fn regressions_need_more_than_tolerance_and_floor() {
        let baseline = Baseline {
            recorded_at: String::new(),
            users: 10,
            run_time_s: 10,
            wait_ms: [0, 0],
            endpoints: vec![stats(SEARCH, 100.0, 10.0), stats(PRODUCT_LIST, 100.0, 0.5)],
        };
        let tol = Tolerance {
            fraction: 0.2,
            floor_ms: 1.0,
            rps: true,
        };
        // Search: p95 10 → 13 ms (+30%, +3 ms) regresses; list 0.5 → 0.9 ms is under the floor.
        let found = regressions(
            &[stats(SEARCH, 90.0, 13.0), stats(PRODUCT_LIST, 70.0, 0.9)],
            &baseline,
            tol,
        );
        let names: Vec<_> = found
            .iter()
            .map(|r| format!("{} {}", r.endpoint, r.metric))
            .collect();
        assert!(names.contains(&"search p95_ms".to_owned()));
        assert!(names.contains(&"product list rps".to_owned()));
        assert!(!names.iter().any(|n| n.starts_with("product list p")));
        assert!(!names.contains(&"search rps".to_owned()));
    }
}
