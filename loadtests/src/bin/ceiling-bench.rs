//! Drives the ceiling (one Redis GET per request) and query-api with `wrk` in the same
//! run, and reports query-api's throughput as a ratio of the ceiling's.
//!
//! For each target it runs `wrk --latency` `--repeat` times and keeps the medians of RPS,
//! p50 and p99. Around every run it samples, over the steady middle of the run, the CPU
//! of the server process, of Redis, of wrk itself and of the whole machine, and it runs
//! the ceiling a second time with twice the connections: together they show whether the
//! server or the client was the limit. The URLs for query-api come from the live store
//! (product ids and list pages read from its list pages); without a store only the
//! ceiling is measured.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use serde::{Deserialize, Serialize};

use loadtests::catalog::{self, Catalog};
use loadtests::http::{Api, Auth};
use loadtests::observe;
use loadtests::stats::{median, round};
use vitrine_contract::read_model::Sort;

#[derive(Parser, Debug)]
#[command(about = "wrk against the one-GET ceiling and against query-api, same run")]
struct Args {
    /// The storefront, to discover product ids and list pages.
    #[arg(long, env = "VITRINE_URL", default_value = "http://127.0.0.1:8080")]
    store_url: String,
    /// One query-api instance, measured directly (the ceiling is one process too).
    #[arg(long, default_value = "http://127.0.0.1:8082")]
    query_api_url: String,
    /// Also measure product detail through the front door (nginx).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    front_door: bool,
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    #[arg(long, default_value_t = 2)]
    threads: u32,
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// Seconds per wrk run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Runs per target; medians are reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    #[arg(long, default_value = "wrk")]
    wrk: String,
    /// The Lua script spreading requests over a list of paths.
    #[arg(long, default_value_os_t = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("wrk/spread.lua"))]
    lua: PathBuf,
    /// The ceiling binary (default: `ceiling` beside this one).
    #[arg(long)]
    ceiling_bin: Option<PathBuf>,
    #[arg(long, default_value = "laptop,phone,camera", value_delimiter = ',')]
    search_terms: Vec<String>,
    #[arg(long, default_value_os_t = loadtests::default_reports_dir())]
    reports_dir: PathBuf,
}

/// What `spread.lua` prints at the end of a run.
#[derive(Debug, Deserialize)]
struct WrkOut {
    requests: u64,
    duration_us: u64,
    p50_us: u64,
    p99_us: u64,
    connect: u64,
    read: u64,
    write: u64,
    status: u64,
    timeout: u64,
}

/// One wrk run with the CPU shares over its steady middle (percent of one core).
#[derive(Debug, Clone, Serialize)]
struct RunResult {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
    server_cpu_pct: Option<f64>,
    redis_cpu_pct: Option<f64>,
    wrk_cpu_pct: Option<f64>,
    machine_busy_pct: Option<f64>,
    /// Everything else on the machine (other programs, builds), from the machine's busy
    /// time less server, Redis and wrk.
    others_cpu_pct: Option<f64>,
}

/// A target's runs and their medians.
#[derive(Debug, Serialize)]
struct TargetResult {
    name: String,
    url: String,
    connections: u32,
    runs: Vec<RunResult>,
    /// Medians over `runs` (errors: their sum), flattened into the report.
    #[serde(flatten)]
    median: RunResult,
}

impl RunResult {
    /// The medians of several runs of one target; errors add up.
    fn median_of(runs: &[RunResult]) -> RunResult {
        RunResult {
            rps: med(runs.iter().map(|r| r.rps)),
            p50_ms: med(runs.iter().map(|r| r.p50_ms)),
            p99_ms: med(runs.iter().map(|r| r.p99_ms)),
            errors: runs.iter().map(|r| r.errors).sum(),
            server_cpu_pct: med_opt(runs.iter().map(|r| r.server_cpu_pct)),
            redis_cpu_pct: med_opt(runs.iter().map(|r| r.redis_cpu_pct)),
            wrk_cpu_pct: med_opt(runs.iter().map(|r| r.wrk_cpu_pct)),
            machine_busy_pct: med_opt(runs.iter().map(|r| r.machine_busy_pct)),
            others_cpu_pct: med_opt(runs.iter().map(|r| r.others_cpu_pct)),
        }
    }
}

#[derive(Debug, Serialize)]
struct Ratio {
    what: String,
    query_api_rps: f64,
    ceiling_rps: f64,
    ratio: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    recorded_at: String,
    machine: String,
    load_average_before: String,
    wrk: String,
    product_bytes: usize,
    page_bytes: usize,
    store: Option<String>,
    targets: Vec<TargetResult>,
    ratios: Vec<Ratio>,
    saturation: Vec<String>,
}

/// The ceiling process; stopped with SIGTERM (so it deletes its keys) when dropped.
struct CeilingProcess(Child);

impl Drop for CeilingProcess {
    fn drop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cpu_of(pid: Option<u32>) -> Option<f64> {
    pid.and_then(|p| observe::process_cpu_seconds(p).ok())
}

/// Runs wrk once against `url` over the paths in `paths`, sampling CPU between 20% and
/// 80% of the run.
fn run_wrk(
    args: &Args,
    url: &str,
    paths: &Path,
    connections: u32,
    server: Option<u32>,
    redis: Option<u32>,
) -> Result<RunResult> {
    let child = Command::new(&args.wrk)
        .arg(format!("-t{}", args.threads))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", args.duration))
        .arg("--latency")
        .arg("-s")
        .arg(&args.lua)
        .arg(url)
        .arg("--")
        .arg(paths)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", args.wrk))?;
    let wrk_pid = Some(child.id());
    let total = Duration::from_secs(args.duration);
    let started = Instant::now();
    let sample = || {
        (
            Instant::now(),
            cpu_of(server),
            cpu_of(redis),
            cpu_of(wrk_pid),
            observe::machine_cpu_seconds().ok(),
        )
    };
    std::thread::sleep(total.mul_f64(0.2));
    let a = sample();
    std::thread::sleep(total.mul_f64(0.8).saturating_sub(started.elapsed()));
    let b = sample();
    let output = child.wait_with_output().context("waiting for wrk")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk {url}: {} {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("WRK_JSON "))
        .with_context(|| format!("wrk printed no WRK_JSON line: {stdout}"))?;
    let out: WrkOut = serde_json::from_str(line).context("parsing wrk's summary")?;
    let wall = b.0.duration_since(a.0).as_secs_f64().max(0.001);
    let pct = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => Some(round(100.0 * (y - x) / wall, 1)),
        _ => None,
    };
    let machine = match (a.4, b.4) {
        (Some((busy_a, total_a)), Some((busy_b, total_b))) if total_b > total_a => {
            Some(round(100.0 * (busy_b - busy_a) / (total_b - total_a), 1))
        }
        _ => None,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let (server_cpu_pct, redis_cpu_pct, wrk_cpu_pct) =
        (pct(a.1, b.1), pct(a.2, b.2), pct(a.3, b.3));
    let others_cpu_pct = machine.map(|m| {
        let ours = server_cpu_pct.unwrap_or(0.0)
            + redis_cpu_pct.unwrap_or(0.0)
            + wrk_cpu_pct.unwrap_or(0.0);
        round((m * cores - ours).max(0.0), 1)
    });
    Ok(RunResult {
        rps: round(
            out.requests as f64 / (out.duration_us as f64 / 1e6).max(0.001),
            0,
        ),
        p50_ms: round(out.p50_us as f64 / 1000.0, 3),
        p99_ms: round(out.p99_us as f64 / 1000.0, 3),
        errors: out.connect + out.read + out.write + out.status + out.timeout,
        server_cpu_pct,
        redis_cpu_pct,
        wrk_cpu_pct,
        machine_busy_pct: machine,
        others_cpu_pct,
    })
}

/// A CPU share for text: `57` or `–` when it could not be sampled.
fn pct(v: Option<f64>) -> String {
    v.map_or("–".to_owned(), |v| format!("{v:.0}"))
}

fn med(values: impl Iterator<Item = f64>) -> f64 {
    round(median(&values.collect::<Vec<_>>()).unwrap_or(0.0), 3)
}

fn med_opt(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    median(&values.flatten().collect::<Vec<_>>()).map(|v| round(v, 1))
}

struct Target {
    name: String,
    base: String,
    paths: PathBuf,
    connections: u32,
    server_pid: Option<u32>,
}

/// Runs every target `--repeat` times, round robin (target after target, then again), so
/// noise from other processes on the shared machine spreads over all targets alike.
fn measure_all(
    args: &Args,
    targets: &[Target],
    redis_pid: Option<u32>,
) -> Result<Vec<TargetResult>> {
    let mut runs: Vec<Vec<RunResult>> = targets.iter().map(|_| Vec::new()).collect();
    for i in 0..args.repeat.max(1) {
        for (t, runs) in targets.iter().zip(runs.iter_mut()) {
            let run = run_wrk(
                args,
                &t.base,
                &t.paths,
                t.connections,
                t.server_pid,
                redis_pid,
            )?;
            println!(
                "ceiling-bench: {} run {}/{}: {:.0} RPS, p50 {:.3} ms, p99 {:.3} ms, errors {}, CPU % server {} Redis {} wrk {} others {} (of one core)",
                t.name, i + 1, args.repeat, run.rps, run.p50_ms, run.p99_ms, run.errors,
                pct(run.server_cpu_pct), pct(run.redis_cpu_pct), pct(run.wrk_cpu_pct), pct(run.others_cpu_pct)
            );
            runs.push(run);
        }
    }
    Ok(targets
        .iter()
        .zip(runs)
        .map(|(t, runs)| TargetResult {
            name: t.name.clone(),
            url: t.base.clone(),
            connections: t.connections,
            median: RunResult::median_of(&runs),
            runs,
        })
        .collect())
}

fn write_paths(dir: &Path, name: &str, paths: &[String]) -> Result<PathBuf> {
    let file = dir.join(format!("{name}.txt"));
    std::fs::write(&file, paths.join("\n") + "\n")
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(file)
}

/// Average body size of a few reads of `paths` (for sizing the ceiling's values).
async fn mean_size(api: &Api, paths: &[String]) -> Option<usize> {
    let mut sizes = Vec::new();
    for p in paths.iter().take(20) {
        if let Ok(reply) = api.get(p, Auth::default()).await {
            if reply.status.is_success() {
                sizes.push(reply.body.len());
            }
        }
    }
    (!sizes.is_empty()).then(|| sizes.iter().sum::<usize>() / sizes.len())
}

fn port_of(url: &str) -> Option<u16> {
    url.rsplit(':').next()?.trim_end_matches('/').parse().ok()
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if Command::new(&args.wrk).arg("--version").output().is_err() {
        bail!("{} not found: apt-get install wrk", args.wrk);
    }
    let wrk_version = Command::new(&args.wrk)
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();
    let work = std::env::temp_dir().join(format!("vitrine-ceiling-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;

    // The live store, if there is one.
    let store = Api::new(&args.store_url, Duration::from_secs(10), 4)?;
    let catalog: Option<Catalog> = match catalog::discover(&store, 60).await {
        Ok(c) => Some(c),
        Err(e) => {
            println!("ceiling-bench: no store to measure ({e:#}); measuring the ceiling only");
            None
        }
    };
    let mut product_paths = Vec::new();
    let mut page_paths = Vec::new();
    let mut search_paths = Vec::new();
    if let Some(c) = &catalog {
        product_paths = c
            .product_ids
            .iter()
            .map(|id| format!("/api/v1/products/{id}/"))
            .collect();
        for page in &c.list_pages {
            for sort in Sort::ALL {
                page_paths.push(format!("{page}&sort={}", sort.as_str()));
            }
        }
        search_paths = args
            .search_terms
            .iter()
            .map(|t| format!("/api/v1/products/search/?q={}", t.replace(' ', "+")))
            .collect();
    }
    let product_bytes = mean_size(&store, &product_paths).await.unwrap_or(600);
    let page_bytes = mean_size(&store, &page_paths).await.unwrap_or(5000);
    let pages = page_paths.len().clamp(50, 2000);

    // The ceiling, sized like the store's documents.
    let ceiling_bin = match &args.ceiling_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("no folder for this binary")?
            .join("ceiling"),
    };
    let port_file = work.join("ceiling.port");
    let child = Command::new(&ceiling_bin)
        .args(["--listen", "127.0.0.1:0", "--redis-url", &args.redis_url])
        .arg("--port-file")
        .arg(&port_file)
        .args(["--product-bytes", &product_bytes.to_string()])
        .args(["--page-bytes", &page_bytes.to_string()])
        .args(["--pages", &pages.to_string()])
        .spawn()
        .with_context(|| format!("starting {}", ceiling_bin.display()))?;
    let ceiling = CeilingProcess(child);
    let deadline = Instant::now() + Duration::from_secs(15);
    let port: u16 = loop {
        if let Ok(text) = std::fs::read_to_string(&port_file) {
            if let Ok(port) = text.trim().parse() {
                break port;
            }
        }
        if Instant::now() > deadline {
            bail!("the ceiling did not start within 15 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ceiling_url = format!("http://127.0.0.1:{port}");
    let ceiling_pid = Some(ceiling.0.id());
    let redis_pid = port_of(&args.redis_url).and_then(observe::pid_listening_on);

    let mut targets = vec![
        Target {
            name: "ceiling product".into(),
            base: ceiling_url.clone(),
            paths: write_paths(
                &work,
                "ceiling-product",
                &(0..1000)
                    .map(|n| format!("/product/{n}"))
                    .collect::<Vec<_>>(),
            )?,
            connections: args.connections,
            server_pid: ceiling_pid,
        },
        Target {
            name: "ceiling product, 2x connections".into(),
            base: ceiling_url.clone(),
            paths: work.join("ceiling-product.txt"),
            connections: args.connections * 2,
            server_pid: ceiling_pid,
        },
        Target {
            name: "ceiling page".into(),
            base: ceiling_url.clone(),
            paths: write_paths(
                &work,
                "ceiling-page",
                &(0..pages).map(|n| format!("/page/{n}")).collect::<Vec<_>>(),
            )?,
            connections: args.connections,
            server_pid: ceiling_pid,
        },
    ];
    if catalog.is_some() {
        let qa_pid = port_of(&args.query_api_url).and_then(observe::pid_listening_on);
        for (name, file, paths) in [
            ("query-api product detail", "qa-product", &product_paths),
            ("query-api product list", "qa-page", &page_paths),
            ("query-api search", "qa-search", &search_paths),
        ] {
            targets.push(Target {
                name: name.into(),
                base: args.query_api_url.clone(),
                paths: write_paths(&work, file, paths)?,
                connections: args.connections,
                server_pid: qa_pid,
            });
        }
        if args.front_door {
            targets.push(Target {
                name: "front door (nginx) product detail".into(),
                base: args.store_url.clone(),
                paths: work.join("qa-product.txt"),
                connections: args.connections,
                // nginx's work is in its workers, not in the listening master.
                server_pid: None,
            });
        }
    }

    let load_average_before = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let results = measure_all(&args, &targets, redis_pid)?;
    drop(ceiling);

    let find = |name: &str| results.iter().find(|r| r.name == name);
    let mut ratios = Vec::new();
    for (what, qa, ceil) in [
        (
            "product detail",
            "query-api product detail",
            "ceiling product",
        ),
        ("product list", "query-api product list", "ceiling page"),
        (
            "search (cached, page-sized)",
            "query-api search",
            "ceiling page",
        ),
        (
            "product detail via nginx",
            "front door (nginx) product detail",
            "ceiling product",
        ),
    ] {
        if let (Some(q), Some(c)) = (find(qa), find(ceil)) {
            ratios.push(Ratio {
                what: what.into(),
                query_api_rps: q.median.rps,
                ceiling_rps: c.median.rps,
                ratio: round(q.median.rps / c.median.rps.max(1.0), 3),
            });
        }
    }

    let mut saturation = Vec::new();
    if let (Some(one), Some(two)) = (
        find("ceiling product"),
        find("ceiling product, 2x connections"),
    ) {
        let growth = 100.0 * (two.median.rps - one.median.rps) / one.median.rps.max(1.0);
        saturation.push(format!(
            "Doubling wrk's connections ({} → {}) changed the ceiling's RPS by {:+.1} % ({:.0} → {:.0}): {}",
            one.connections,
            two.connections,
            growth,
            one.median.rps,
            two.median.rps,
            if growth < 10.0 {
                "more offered load does not raise throughput, so the client's concurrency is not the limit"
            } else {
                "throughput still grew: the client may have been the limit at the lower connection count"
            }
        ));
        saturation.push(format!(
            "CPU over the steady middle of the ceiling runs (100 % = one core, {} cores): ceiling server {} %, Redis {} %, wrk {} % ({} threads), other processes {} %; whole machine busy {} % (100 % = all cores).",
            std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            pct(one.median.server_cpu_pct),
            pct(one.median.redis_cpu_pct),
            pct(one.median.wrk_cpu_pct),
            args.threads,
            pct(one.median.others_cpu_pct),
            pct(one.median.machine_busy_pct)
        ));
        if let (Some(wrk), Some(server), Some(redis)) = (
            one.median.wrk_cpu_pct,
            one.median.server_cpu_pct,
            one.median.redis_cpu_pct,
        ) {
            saturation.push(format!(
                "wrk used {:.0} % of a core for {:.0} RPS ({:.1} µs of client CPU per request); server and Redis together used {:.0} % ({:.1} µs per request): {}",
                wrk,
                one.median.rps,
                wrk / 100.0 * 1e6 / one.median.rps.max(1.0),
                server + redis,
                (server + redis) / 100.0 * 1e6 / one.median.rps.max(1.0),
                if wrk < server + redis {
                    "the client costs less per request than the server side, so the server side saturates first"
                } else {
                    "the client costs as much as the server side: on 2 shared cores, treat the ratio with care"
                }
            ));
        }
    }

    for t in results
        .iter()
        .filter(|t| t.median.others_cpu_pct.is_some_and(|o| o > 25.0))
    {
        saturation.push(format!(
            "NOISE: other processes used {} % of a core during {} (median over its runs): the machine was shared, compare ratios, not absolute RPS",
            pct(t.median.others_cpu_pct),
            t.name
        ));
    }
    for t in results.iter().filter(|t| t.median.errors > 0) {
        saturation.push(format!(
            "WARNING: {} had {} socket errors or non-2xx/3xx answers over its runs; its RPS counts them, so its ratio is not trustworthy",
            t.name, t.median.errors
        ));
    }

    let report = Report {
        recorded_at: chrono::Utc::now().to_rfc3339(),
        machine: machine_description(),
        load_average_before,
        wrk: wrk_version,
        product_bytes,
        page_bytes,
        store: catalog.as_ref().map(|c| {
            format!(
                "{} ({} products, {} list pages)",
                args.store_url,
                c.product_ids.len(),
                c.list_pages.len()
            )
        }),
        targets: results,
        ratios,
        saturation,
    };
    let md = render(&report, &args);
    println!("\n{md}");
    let stamp = loadtests::file_stamp();
    let json_path = args.reports_dir.join(format!("ceiling-{stamp}.json"));
    let md_path = args.reports_dir.join(format!("ceiling-{stamp}.md"));
    loadtests::write_json(&json_path, &report)?;
    std::fs::write(&md_path, &md).with_context(|| format!("writing {}", md_path.display()))?;
    let _ = std::fs::remove_dir_all(&work);
    println!(
        "ceiling-bench: reports {} and {}",
        json_path.display(),
        md_path.display()
    );
    Ok(())
}

fn machine_description() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!(
        "{} cores ({cpu}), {mem_gib:.0} GiB",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    )
}

fn render(r: &Report, args: &Args) -> String {
    let mut md = format!(
        "# Ceiling benchmark {}\n\nMachine: {} (load average before: {}). Client: {} `-t{} -c{} -d{}s --latency`, \
         {} runs per target, medians. Ceiling values: product {} B, page {} B. Store: {}.\n\n\
         | target | conns | RPS | p50 ms | p99 ms | errors | server CPU % | Redis CPU % | wrk CPU % | others CPU % | machine busy % |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        r.recorded_at, r.machine, r.load_average_before, r.wrk, args.threads, args.connections, args.duration,
        args.repeat, r.product_bytes, r.page_bytes, r.store.as_deref().unwrap_or("not running")
    );
    for t in &r.targets {
        md.push_str(&format!(
            "| {} | {} | {:.0} | {:.3} | {:.3} | {} | {} | {} | {} | {} | {} |\n",
            t.name,
            t.connections,
            t.median.rps,
            t.median.p50_ms,
            t.median.p99_ms,
            t.median.errors,
            pct(t.median.server_cpu_pct),
            pct(t.median.redis_cpu_pct),
            pct(t.median.wrk_cpu_pct),
            pct(t.median.others_cpu_pct),
            pct(t.median.machine_busy_pct)
        ));
    }
    if !r.ratios.is_empty() {
        md.push_str("\n| query-api / ceiling | query-api RPS | ceiling RPS | ratio |\n|---|---:|---:|---:|\n");
        for x in &r.ratios {
            md.push_str(&format!(
                "| {} | {:.0} | {:.0} | {:.2} |\n",
                x.what, x.query_api_rps, x.ceiling_rps, x.ratio
            ));
        }
    }
    md.push_str("\nWho was the limit:\n");
    for s in &r.saturation {
        md.push_str(&format!("- {s}\n"));
    }
    md
}
