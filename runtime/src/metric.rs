//! Every metric the programs export, named once (`docs/metrics.md` is its prose; a test
//! below keeps the two equal, and each program's tests scrape `/metrics` for its own).
//!
//! Names follow `vitrine_<thing>_<unit>`. Code records through these constants only
//! (`metrics::counter!(metric::EVENTS_APPENDED_TOTAL)`), and each program calls
//! [`register`] at start, so that every metric without labels is exported from the first
//! scrape (a counter at 0, not absent until its first event: an alert on its rate then
//! works from the start), and labels with a known, closed set of values too.

/// The programs, as `docs/metrics.md` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    CommandApi,
    QueryApi,
    Projector,
}

impl Program {
    pub fn name(self) -> &'static str {
        match self {
            Program::CommandApi => "command-api",
            Program::QueryApi => "query-api",
            Program::Projector => "projector",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One metric: its name, type, label names and the programs that export it.
#[derive(Debug, Clone, Copy)]
pub struct Def {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub programs: &'static [Program],
    pub help: &'static str,
}

use Kind::{Counter, Gauge, Histogram};
use Program::{CommandApi, Projector, QueryApi};

macro_rules! define_metrics {
    ($($konst:ident = $name:literal, $kind:ident, [$($label:literal),*], [$($prog:ident),+], $help:literal;)+) => {
        $(#[doc = $help] pub const $konst: &str = $name;)+
        /// Every metric, in `docs/metrics.md`'s order.
        pub const ALL: &[Def] = &[
            $(Def { name: $name, kind: $kind, labels: &[$($label),*], programs: &[$($prog),+], help: $help },)+
        ];
    };
}

define_metrics! {
    HTTP_REQUESTS_TOTAL = "vitrine_http_requests_total", Counter, ["method", "route", "status"], [CommandApi, QueryApi], "requests answered";
    HTTP_REQUEST_DURATION_SECONDS = "vitrine_http_request_duration_seconds", Histogram, ["method", "route"], [CommandApi, QueryApi], "time to answer";
    DB_POOL_CONNECTIONS = "vitrine_db_pool_connections", Gauge, ["state"], [CommandApi, QueryApi, Projector], "sqlx pool";
    EVENTS_APPENDED_TOTAL = "vitrine_events_appended_total", Counter, [], [CommandApi], "events committed";
    ORDERS_PLACED_TOTAL = "vitrine_orders_placed_total", Counter, [], [CommandApi], "checkouts committed";
    IDEMPOTENT_REPLAYS_TOTAL = "vitrine_idempotent_replays_total", Counter, [], [CommandApi], "retries answered from a stored first answer";
    PAYMENT_WEBHOOKS_APPLIED_TOTAL = "vitrine_payment_webhooks_applied_total", Counter, ["type"], [CommandApi], "provider callbacks accepted";
    PAYMENT_WEBHOOKS_REFUSED_TOTAL = "vitrine_payment_webhooks_refused_total", Counter, ["reason"], [CommandApi], "callbacks refused for their signature";
    ORDERS_EXPIRED_TOTAL = "vitrine_orders_expired_total", Counter, [], [CommandApi], "unpaid orders expired by the deadline loop";
    ORDER_DEADLINE_ERRORS_TOTAL = "vitrine_order_deadline_errors_total", Counter, [], [CommandApi], "deadline claims that failed and are retried";
    OUTBOX_DEPTH_EVENTS = "vitrine_outbox_depth_events", Gauge, [], [CommandApi], "rows waiting in the outbox";
    RELAY_PUBLISHED_EVENTS_TOTAL = "vitrine_relay_published_events_total", Counter, [], [CommandApi], "events acknowledged by the broker";
    RELAY_LAST_PUBLISHED_POSITION = "vitrine_relay_last_published_position", Gauge, [], [CommandApi], "last acknowledged global position";
    RELAY_IS_LEADER = "vitrine_relay_is_leader", Gauge, [], [CommandApi], "1 on the instance holding the relay lock";
    PROJECTOR_POSITION = "vitrine_projector_position", Gauge, [], [Projector], "last applied global position";
    PROJECTOR_LAG_EVENTS = "vitrine_projector_lag_events", Gauge, [], [Projector], "newest position in events minus applied";
    PROJECTOR_LAG_SECONDS = "vitrine_projector_lag_seconds", Gauge, [], [Projector], "age of the oldest event not yet applied";
    PROJECTOR_EVENT_DELAY_SECONDS = "vitrine_projector_event_delay_seconds", Histogram, [], [Projector], "write to readable: commit to both stores written";
    PROJECTOR_APPLIED_EVENTS_TOTAL = "vitrine_projector_applied_events_total", Counter, [], [Projector], "events applied to both stores";
    PROJECTOR_BATCH_DURATION_SECONDS = "vitrine_projector_batch_duration_seconds", Histogram, [], [Projector], "one batch, both stores";
    PROJECTOR_DOCS_WRITTEN_TOTAL = "vitrine_projector_docs_written_total", Counter, [], [Projector], "documents written (both stores)";
    PROJECTOR_BATCH_FAILURES_TOTAL = "vitrine_projector_batch_failures_total", Counter, [], [Projector], "batches retried after a store failed";
    PROJECTOR_DEAD_LETTERS_TOTAL = "vitrine_projector_dead_letters_total", Counter, [], [Projector], "events set aside as undecodable";
    PROJECTOR_DEAD_LETTERS_OPEN = "vitrine_projector_dead_letters_open", Gauge, [], [Projector], "open dead letters of the live version";
    PROJECTOR_PARTITIONS_OWNED = "vitrine_projector_partitions_owned", Gauge, [], [Projector], "topic partitions this instance holds";
    PROJECTOR_LAG_MESSAGES = "vitrine_projector_lag_messages", Gauge, [], [Projector], "messages waiting in this instance's partitions";
    PROJECTOR_STALLED = "vitrine_projector_stalled", Gauge, [], [Projector], "1 while this instance is stalled";
    PROJECTOR_STALLS_TOTAL = "vitrine_projector_stalls_total", Counter, [], [Projector], "stalls detected";
    PROJECTOR_REDIS_WRITE_FAILURES_TOTAL = "vitrine_projector_redis_write_failures_total", Counter, [], [Projector], "batches whose Redis write failed and is owed";
    PROJECTOR_REDIS_OWED_BATCHES = "vitrine_projector_redis_owed_batches", Gauge, [], [Projector], "batches whose Redis writes are still owed";
    PROJECTOR_REDIS_REFILLS_TOTAL = "vitrine_projector_redis_refills_total", Counter, [], [Projector], "times Redis was refilled from PostgreSQL";
    QUERY_REDIS_COMMANDS_TOTAL = "vitrine_query_redis_commands_total", Counter, ["route"], [QueryApi], "Redis commands issued by requests";
    QUERY_SQL_STATEMENTS_TOTAL = "vitrine_query_sql_statements_total", Counter, ["route"], [QueryApi], "SQL statements issued by requests";
    CACHE_HITS_TOTAL = "vitrine_cache_hits_total", Counter, ["route"], [QueryApi], "Redis hits";
    CACHE_MISSES_TOTAL = "vitrine_cache_misses_total", Counter, ["route"], [QueryApi], "Redis misses";
}

/// The closed label sets, exported at 0 from the start.
pub const PAYMENT_WEBHOOK_TYPES: &[&str] = &["payment.succeeded", "payment.failed"];
pub const PAYMENT_WEBHOOK_REFUSALS: &[&str] = &["missing", "malformed", "stale", "mismatch"];
pub const POOL_STATES: &[&str] = &["in_use", "idle", "max"];

/// The metrics of one program.
pub fn of(program: Program) -> impl Iterator<Item = &'static Def> {
    ALL.iter().filter(move |d| d.programs.contains(&program))
}

/// Describes every metric of `program` and exports the ones without open labels from
/// the start: counters at 0, gauges at 0 until their first reading, histograms empty.
/// Call it after the recorder is installed.
pub fn register(program: Program) {
    for def in of(program) {
        match def.kind {
            Counter => metrics::describe_counter!(def.name, def.help),
            Gauge => metrics::describe_gauge!(def.name, def.help),
            Histogram => metrics::describe_histogram!(def.name, def.help),
        }
        match (def.kind, def.name) {
            (Counter, PAYMENT_WEBHOOKS_APPLIED_TOTAL) => {
                for t in PAYMENT_WEBHOOK_TYPES {
                    metrics::counter!(def.name, "type" => *t).absolute(0);
                }
            }
            (Counter, PAYMENT_WEBHOOKS_REFUSED_TOTAL) => {
                for r in PAYMENT_WEBHOOK_REFUSALS {
                    metrics::counter!(def.name, "reason" => *r).absolute(0);
                }
            }
            (Gauge, DB_POOL_CONNECTIONS) => {
                for s in POOL_STATES {
                    metrics::gauge!(def.name, "state" => *s).increment(0.0);
                }
            }
            _ if !def.labels.is_empty() => {} // route, method, status: appear with traffic
            (Counter, _) => metrics::counter!(def.name).increment(0),
            (Gauge, _) => metrics::gauge!(def.name).increment(0.0),
            (Histogram, _) => {
                let _ = metrics::histogram!(def.name);
            }
        }
    }
}

/// One sample line of a Prometheus text exposition: its name and label names.
fn sample(line: &str) -> Option<(&str, Vec<&str>)> {
    let end = line.find(['{', ' '])?;
    let (name, rest) = line.split_at(end);
    let mut labels = Vec::new();
    if let Some(mut rest) = rest.strip_prefix('{') {
        // name="value" pairs; values are quoted with \ escapes and may hold `,` `}` `{`.
        loop {
            rest = rest.trim_start_matches(',');
            if rest.starts_with('}') || rest.is_empty() {
                break;
            }
            let eq = rest.find("=\"")?;
            labels.push(&rest[..eq]);
            let mut chars = rest[eq + 2..].char_indices();
            let mut close = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => {
                        close = Some(eq + 2 + i + 1);
                        break;
                    }
                    _ => {}
                }
            }
            rest = &rest[close?..];
        }
    }
    Some((name, labels))
}

/// Checks a program's `/metrics` text against its metrics here: each is exported with
/// its type, and every sample has exactly its labels (a histogram's buckets `le` too).
/// Answers what is wrong; each program's tests call it on a real scrape.
pub fn check_exposition(text: &str, program: Program) -> Vec<String> {
    let mut problems = Vec::new();
    let samples: Vec<(&str, Vec<&str>)> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(sample)
        .collect();
    for def in of(program) {
        let typed = format!("# TYPE {} {}", def.name, def.kind.name());
        if !text.lines().any(|l| l == typed) {
            problems.push(format!("{}: no `{typed}` line", def.name));
            continue;
        }
        let series: Vec<(String, Vec<&str>)> = match def.kind {
            Histogram => vec![
                (
                    format!("{}_bucket", def.name),
                    [def.labels, &["le"]].concat(),
                ),
                (format!("{}_sum", def.name), def.labels.to_vec()),
                (format!("{}_count", def.name), def.labels.to_vec()),
            ],
            _ => vec![(def.name.to_owned(), def.labels.to_vec())],
        };
        for (name, mut want) in series {
            want.sort_unstable();
            let found: Vec<_> = samples.iter().filter(|(n, _)| *n == name).collect();
            if found.is_empty() {
                problems.push(format!("{name}: no sample"));
            }
            for (_, labels) in found {
                let mut have = labels.clone();
                have.sort_unstable();
                if have != want {
                    problems.push(format!("{name}: labels {have:?}, documented {want:?}"));
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rows of `docs/metrics.md`'s first table: (name, labels, type, programs).
    fn documented() -> Vec<(String, Vec<String>, String, Vec<String>)> {
        let doc = include_str!("../../docs/metrics.md");
        let table = doc.split("\n## ").next().unwrap();
        let mut rows = Vec::new();
        for line in table.lines().filter(|l| l.starts_with("| `")) {
            // cells split on | that are not escaped (\| inside a label's values)
            let mut cells = Vec::new();
            let mut cell = String::new();
            let mut prev = ' ';
            for c in line.trim().trim_matches('|').chars() {
                if c == '|' && prev != '\\' {
                    cells.push(std::mem::take(&mut cell).trim().to_owned());
                } else {
                    cell.push(c);
                }
                prev = c;
            }
            cells.push(cell.trim().to_owned());
            let programs: Vec<String> = match cells[2].as_str() {
                "all" => vec!["command-api".into(), "query-api".into(), "projector".into()],
                p => p.split(", ").map(str::to_owned).collect(),
            };
            // `a{x,y}` / `b{x}` (one row may name two metrics)
            for m in cells[0].split(" / ") {
                let m = m.trim_matches('`');
                let (name, labels) = match m.split_once('{') {
                    Some((n, l)) => (
                        n,
                        l.trim_end_matches('}')
                            .split(',')
                            .map(|l| l.split('=').next().unwrap().to_owned())
                            .collect(),
                    ),
                    None => (m, vec![]),
                };
                rows.push((name.to_owned(), labels, cells[1].clone(), programs.clone()));
            }
        }
        rows
    }

    #[test]
    fn the_constants_and_docs_metrics_md_name_the_same_metrics_types_labels_and_programs() {
        let doc = documented();
        let code: Vec<(String, Vec<String>, String, Vec<String>)> = ALL
            .iter()
            .map(|d| {
                (
                    d.name.to_owned(),
                    d.labels.iter().map(|l| (*l).to_owned()).collect(),
                    d.kind.name().to_owned(),
                    d.programs.iter().map(|p| p.name().to_owned()).collect(),
                )
            })
            .collect();
        assert_eq!(
            doc, code,
            "docs/metrics.md's table and runtime::metric::ALL differ"
        );
    }

    #[test]
    fn every_name_starts_with_vitrine_and_every_counter_ends_in_total() {
        for d in ALL {
            assert!(d.name.starts_with("vitrine_"), "{}", d.name);
            assert_eq!(d.kind == Counter, d.name.ends_with("_total"), "{}", d.name);
        }
    }

    #[test]
    fn exposition_samples_are_read_with_their_label_names_even_with_braces_in_values() {
        let (name, labels) =
            sample(r#"vitrine_http_requests_total{method="GET",route="/api/v1/products/{id}",status="200"} 3"#)
                .unwrap();
        assert_eq!(name, "vitrine_http_requests_total");
        assert_eq!(labels, ["method", "route", "status"]);
        assert_eq!(
            sample("vitrine_outbox_depth_events 0").unwrap().1,
            Vec::<&str>::new()
        );
        let (_, labels) = sample(r#"x{a="q\"uo,te}",b="2"} 1"#).unwrap();
        assert_eq!(labels, ["a", "b"]);
    }

    #[test]
    fn an_exposition_missing_a_metric_or_with_an_undocumented_label_is_refused() {
        let text = "# TYPE vitrine_db_pool_connections gauge\nvitrine_db_pool_connections{state=\"idle\",pool=\"x\"} 1\n";
        let problems = check_exposition(text, Program::Projector);
        assert!(
            problems
                .iter()
                .any(|p| p.contains("vitrine_db_pool_connections: labels")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("vitrine_projector_position: no")),
            "{problems:?}"
        );
    }
}
