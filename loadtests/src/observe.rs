//! Counters read around a run: Redis keyspace hits and misses (`INFO stats`), the
//! application's cache counters from each query-api's `/metrics`, and the CPU time of
//! processes from `/proc` (Linux).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::http::{Api, Auth};

/// A hits/misses pair; [`HitsMisses::since`] gives the change over a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HitsMisses {
    pub hits: u64,
    pub misses: u64,
}

impl HitsMisses {
    pub fn since(self, before: HitsMisses) -> HitsMisses {
        HitsMisses {
            hits: self.hits.saturating_sub(before.hits),
            misses: self.misses.saturating_sub(before.misses),
        }
    }
    /// Hits over lookups, in percent; `None` without lookups.
    pub fn hit_rate_pct(self) -> Option<f64> {
        let total = self.hits + self.misses;
        (total > 0).then(|| 100.0 * self.hits as f64 / total as f64)
    }
}

/// `keyspace_hits` and `keyspace_misses` of Redis `INFO stats` (server-wide: every
/// client of that Redis counts).
pub async fn redis_keyspace(redis_url: &str) -> Result<HitsMisses> {
    let client =
        redis::Client::open(redis_url).with_context(|| format!("bad Redis URL {redis_url}"))?;
    let mut conn = tokio::time::timeout(
        Duration::from_secs(3),
        client.get_multiplexed_async_connection(),
    )
    .await
    .context("connecting to Redis timed out")?
    .with_context(|| format!("connecting to {redis_url}"))?;
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut conn)
        .await
        .context("INFO stats")?;
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    Ok(HitsMisses {
        hits: field("keyspace_hits"),
        misses: field("keyspace_misses"),
    })
}

/// The application's counters: `vitrine_cache_hits_total` and
/// `vitrine_cache_misses_total`, summed over their labels.
pub const APP_HITS: &str = "vitrine_cache_hits_total";
pub const APP_MISSES: &str = "vitrine_cache_misses_total";

/// Sums every sample of `metric` (any labels) in Prometheus text.
pub fn prometheus_sum(text: &str, metric: &str) -> Option<f64> {
    let mut found = false;
    let mut sum = 0.0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(metric) else {
            continue;
        };
        // The name must end here: `foo_total{…} 3` or `foo_total 3`, not `foo_total_x`.
        let rest = match rest.chars().next() {
            Some('{') => match rest.find('}') {
                Some(end) => &rest[end + 1..],
                None => continue,
            },
            Some(' ') | Some('\t') => rest,
            _ => continue,
        };
        if let Some(value) = rest
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            found = true;
            sum += value;
        }
    }
    found.then_some(sum)
}

/// The application cache counters of each query-api instance, by port. An instance
/// that does not answer, or exports neither counter, is left out and named in `missing`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AppCounters {
    pub by_port: BTreeMap<u16, HitsMisses>,
    pub missing: Vec<String>,
}

impl AppCounters {
    pub fn total(&self) -> HitsMisses {
        self.by_port
            .values()
            .fold(HitsMisses::default(), |a, b| HitsMisses {
                hits: a.hits + b.hits,
                misses: a.misses + b.misses,
            })
    }
    /// The change since `before`, over the instances both saw.
    pub fn since(&self, before: &AppCounters) -> AppCounters {
        let mut out = AppCounters {
            missing: self.missing.clone(),
            ..AppCounters::default()
        };
        for (port, now) in &self.by_port {
            if let Some(then) = before.by_port.get(port) {
                out.by_port.insert(*port, now.since(*then));
            }
        }
        out
    }
}

/// Scrapes `http://127.0.0.1:{port}/metrics` of each port.
pub async fn app_counters(ports: &[u16]) -> AppCounters {
    let mut out = AppCounters::default();
    for &port in ports {
        let api = match Api::new(
            &format!("http://127.0.0.1:{port}"),
            Duration::from_secs(3),
            1,
        ) {
            Ok(api) => api,
            Err(e) => {
                out.missing.push(format!("{port}: {e:#}"));
                continue;
            }
        };
        match api.get("/metrics", Auth::default()).await {
            Ok(reply) if reply.status.is_success() => {
                let hits = prometheus_sum(&reply.body, APP_HITS);
                let misses = prometheus_sum(&reply.body, APP_MISSES);
                if hits.is_none() && misses.is_none() {
                    out.missing
                        .push(format!("{port}: no {APP_HITS} or {APP_MISSES} exported"));
                } else {
                    out.by_port.insert(
                        port,
                        HitsMisses {
                            hits: hits.unwrap_or(0.0) as u64,
                            misses: misses.unwrap_or(0.0) as u64,
                        },
                    );
                }
            }
            Ok(reply) => out
                .missing
                .push(format!("{port}: /metrics answered {}", reply.status)),
            Err(e) => out.missing.push(format!("{port}: {e:#}")),
        }
    }
    out
}

/// Parses `8082,8083` or `8082-8091` (or a mix) into ports.
pub fn parse_ports(spec: &str) -> Result<Vec<u16>> {
    let mut ports = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((a, b)) = part.split_once('-') {
            let (a, b): (u16, u16) = (a.trim().parse()?, b.trim().parse()?);
            ports.extend(a..=b);
        } else {
            ports.push(part.parse().with_context(|| format!("port {part:?}"))?);
        }
    }
    Ok(ports)
}

/// User plus system CPU time of process `pid` in seconds, from `/proc/{pid}/stat`.
pub fn process_cpu_seconds(pid: u32) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc stat format")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .context("short /proc stat line")?
            .parse::<f64>()
            .context("bad /proc stat field")
    };
    Ok((ticks(11)? + ticks(12)?) / clock_ticks_per_second())
}

/// Busy and total CPU time of the whole machine, in seconds, from `/proc/stat`.
pub fn machine_cpu_seconds() -> Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let values: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: f64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0.0) + values.get(4).copied().unwrap_or(0.0);
    let hz = clock_ticks_per_second();
    Ok(((total - idle) / hz, total / hz))
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux this runs on.
fn clock_ticks_per_second() -> f64 {
    100.0
}

/// The pid of the process listening on TCP `port` of 127.0.0.1, from `/proc/net/tcp`
/// and the fds of each process (needs to be root or the same user).
pub fn pid_listening_on(port: u16) -> Option<u32> {
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEXIP:HEXPORT, state 0A is LISTEN, inode is field 9.
            let (Some(local), Some(state), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                continue;
            };
            let local_port = local
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if *state == "0A" && local_port == Some(port) {
                inodes.push(format!("socket:[{inode}]"));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let procs = std::fs::read_dir("/proc").ok()?;
    for entry in procs.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                if inodes.iter().any(|i| target.as_os_str() == i.as_str()) {
                    return Some(pid);
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_sum_adds_labelled_samples_of_exactly_that_metric() {
        let text = "# TYPE vitrine_cache_hits_total counter\n\
                    vitrine_cache_hits_total{read=\"product\"} 10\n\
                    vitrine_cache_hits_total{read=\"page\"} 5\n\
                    vitrine_cache_hits_total_other 99\n\
                    vitrine_cache_misses_total 2\n";
        assert_eq!(prometheus_sum(text, APP_HITS), Some(15.0));
        assert_eq!(prometheus_sum(text, APP_MISSES), Some(2.0));
        assert_eq!(prometheus_sum(text, "absent_total"), None);
    }

    #[test]
    fn ports_parse_from_lists_and_ranges() {
        assert_eq!(
            parse_ports("8082-8084, 9000").unwrap(),
            vec![8082, 8083, 8084, 9000]
        );
        assert!(parse_ports("80x").is_err());
    }

    #[test]
    fn hit_rate_is_hits_over_lookups() {
        let d = HitsMisses {
            hits: 990,
            misses: 10,
        }
        .since(HitsMisses::default());
        assert_eq!(d.hit_rate_pct(), Some(99.0));
        assert_eq!(HitsMisses::default().hit_rate_pct(), None);
    }
}
