//! Write-side throughput: N concurrent shoppers, each with a fresh session per order, add to their
//! carts and check out against command-api for S seconds. Prints commands/s and
//! p50/p99 per command, as medians over `--repeat` runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Parser;
use serde::Serialize;
use serde_json::json;

use loadtests::catalog;
use loadtests::http::{Api, Auth};
use loadtests::stats::{median, round, Summary};

#[derive(Parser, Debug)]
#[command(about = "Add-to-cart and checkout throughput against command-api")]
struct Args {
    /// command-api (measured directly).
    #[arg(
        long,
        env = "VITRINE_COMMAND_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    command_url: String,
    /// The storefront, to discover product ids.
    #[arg(long, env = "VITRINE_URL", default_value = "http://127.0.0.1:8080")]
    query_url: String,
    /// Concurrent shoppers (one session each, one request in flight each).
    #[arg(long, default_value_t = 32)]
    shoppers: usize,
    /// Seconds per run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Runs; medians are reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Add-to-carts before each checkout.
    #[arg(long, default_value_t = 2)]
    adds_per_checkout: usize,
    /// Per request timeout, seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Exit non-zero when any command failed.
    #[arg(long)]
    fail_on_error: bool,
    #[arg(long, default_value_os_t = loadtests::default_reports_dir())]
    reports_dir: PathBuf,
    /// PostgreSQL server (`postgres://user@host:port`, no database) for the pgbench
    /// reference; none: no reference.
    #[arg(long)]
    pgbench_server: Option<String>,
}

/// The scratch database of the pgbench reference.
const PGBENCH_DB: &str = "vitrine_pgbench";

/// Creates and initialises the scratch database once (scale 10: 1,000,000 accounts).
async fn pgbench_init(server: &str) -> Result<String> {
    let server = server.trim_end_matches('/');
    let admin = sqlx::PgPool::connect(&format!("{server}/postgres")).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(PGBENCH_DB)
            .fetch_one(&admin)
            .await?;
    let url = format!("{server}/{PGBENCH_DB}");
    if !exists {
        sqlx::query(&format!("CREATE DATABASE {PGBENCH_DB}"))
            .execute(&admin)
            .await?;
        let status = tokio::process::Command::new("pgbench")
            .args(["-i", "-q", "-s", "10", &url])
            .status()
            .await?;
        if !status.success() {
            bail!("pgbench -i failed ({status})");
        }
    }
    Ok(url)
}

/// One `pgbench -N` run: its tps (without initial connection time).
async fn pgbench_run(url: &str, clients: usize, seconds: u64) -> Result<f64> {
    let out = tokio::process::Command::new("pgbench")
        .args([
            "-n",
            "-N",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            url,
        ])
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            l.strip_prefix("tps = ")
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<f64>().ok())
        })
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no tps in pgbench's output: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

#[derive(Default)]
struct ShopperLog {
    add_ms: Vec<f64>,
    checkout_ms: Vec<f64>,
    errors: Vec<String>,
}

#[derive(Debug, Serialize)]
struct RunResult {
    seconds: f64,
    commands_per_s: f64,
    add_to_cart: Summary,
    checkout: Summary,
    errors: usize,
    first_errors: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Report {
    recorded_at: String,
    command_url: String,
    shoppers: usize,
    seconds: u64,
    adds_per_checkout: usize,
    runs: Vec<RunResult>,
    median_commands_per_s: f64,
    median_add_p50_ms: f64,
    median_add_p99_ms: f64,
    median_checkout_p50_ms: f64,
    median_checkout_p99_ms: f64,
    errors: usize,
    /// `pgbench -N` tps after each run (with `--pgbench-server`).
    pgbench_tps: Vec<f64>,
    median_pgbench_tps: Option<f64>,
    /// Median commands/s over median pgbench tps.
    ratio_to_pgbench: Option<f64>,
}

async fn shopper(
    api: Api,
    products: Arc<Vec<String>>,
    seed: usize,
    adds: usize,
    until: Instant,
) -> ShopperLog {
    let mut log = ShopperLog::default();
    let mut n = seed.wrapping_mul(7919);
    'outer: while Instant::now() < until {
        // A session of its own per order: a session may hold only a few unpaid orders
        // (MAX_OPEN_ORDERS_PER_SESSION), and this benchmark does not pay. Opening one
        // signs a token and writes nothing, so it is not timed.
        let token = match api.create_session().await {
            Ok(t) => t,
            Err(e) => {
                log.errors.push(format!("{e:#}"));
                return log;
            }
        };
        for _ in 0..adds {
            n = n.wrapping_add(1);
            let product_id = &products[n % products.len()];
            let started = Instant::now();
            let reply = api
                .post(
                    "/api/v1/cart/",
                    Auth::bearer(&token),
                    &json!({ "product_id": product_id, "quantity": 1 }),
                )
                .await;
            match reply {
                Ok(r) if r.status.is_success() => {
                    log.add_ms.push(started.elapsed().as_secs_f64() * 1000.0)
                }
                Ok(r) => log.errors.push(format!(
                    "add to cart: {} {}",
                    r.status,
                    loadtests::http::truncate(&r.body, 200)
                )),
                Err(e) => log.errors.push(format!("add to cart: {e:#}")),
            }
            if Instant::now() >= until {
                break 'outer;
            }
        }
        let key = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        let reply = api
            .post(
                "/api/v1/checkout/",
                Auth::bearer(&token).with_key(&key),
                &json!({}),
            )
            .await;
        match reply {
            Ok(r) if r.status.is_success() => log
                .checkout_ms
                .push(started.elapsed().as_secs_f64() * 1000.0),
            Ok(r) => log.errors.push(format!(
                "checkout: {} {}",
                r.status,
                loadtests::http::truncate(&r.body, 200)
            )),
            Err(e) => log.errors.push(format!("checkout: {e:#}")),
        }
    }
    log
}

async fn run_once(args: &Args, api: &Api, products: &Arc<Vec<String>>, run: usize) -> RunResult {
    let started = Instant::now();
    let until = started + Duration::from_secs(args.seconds);
    let handles: Vec<_> = (0..args.shoppers)
        .map(|i| {
            tokio::spawn(shopper(
                api.clone(),
                products.clone(),
                run * args.shoppers + i,
                args.adds_per_checkout,
                until,
            ))
        })
        .collect();
    let mut all = ShopperLog::default();
    for h in handles {
        match h.await {
            Ok(log) => {
                all.add_ms.extend(log.add_ms);
                all.checkout_ms.extend(log.checkout_ms);
                all.errors.extend(log.errors);
            }
            Err(e) => all.errors.push(format!("shopper task: {e}")),
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    RunResult {
        seconds: round(seconds, 2),
        commands_per_s: round(
            (all.add_ms.len() + all.checkout_ms.len()) as f64 / seconds,
            1,
        ),
        add_to_cart: Summary::of_ms(&all.add_ms),
        checkout: Summary::of_ms(&all.checkout_ms),
        errors: all.errors.len(),
        first_errors: all.errors.into_iter().take(5).collect(),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let timeout = Duration::from_secs(args.timeout);
    let query = Api::new(&args.query_url, timeout, 4)?;
    let products = Arc::new(catalog::discover(&query, 60).await?.product_ids);
    let api = Api::new(&args.command_url, timeout, args.shoppers)?;
    println!(
        "command-bench: {} shoppers × {} s × {} runs against {} ({} products)",
        args.shoppers,
        args.seconds,
        args.repeat,
        args.command_url,
        products.len()
    );
    let pgbench = match &args.pgbench_server {
        Some(server) => Some(pgbench_init(server).await?),
        None => None,
    };
    let mut pgbench_tps = Vec::new();
    let mut runs = Vec::new();
    for run in 0..args.repeat.max(1) {
        let r = run_once(&args, &api, &products, run).await;
        println!(
            "command-bench: run {}: {:.0} commands/s; add to cart p50 {:.2} ms p99 {:.2} ms ({}); checkout p50 {:.2} ms p99 {:.2} ms ({}); {} errors",
            run + 1,
            r.commands_per_s,
            r.add_to_cart.p50_ms,
            r.add_to_cart.p99_ms,
            r.add_to_cart.count,
            r.checkout.p50_ms,
            r.checkout.p99_ms,
            r.checkout.count,
            r.errors
        );
        for e in &r.first_errors {
            eprintln!("command-bench:   {e}");
        }
        runs.push(r);
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(url) = &pgbench {
            let tps = pgbench_run(url, args.shoppers, args.seconds).await?;
            println!("command-bench: run {}: pgbench -N {tps:.0} tps", run + 1);
            pgbench_tps.push(tps);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let median_pgbench_tps = median(&pgbench_tps).map(|t| round(t, 1));
    let med = |f: &dyn Fn(&RunResult) -> f64| {
        round(
            median(&runs.iter().map(f).collect::<Vec<_>>()).unwrap_or(0.0),
            3,
        )
    };
    let mut report = Report {
        recorded_at: chrono::Utc::now().to_rfc3339(),
        command_url: args.command_url.clone(),
        shoppers: args.shoppers,
        seconds: args.seconds,
        adds_per_checkout: args.adds_per_checkout,
        median_commands_per_s: med(&|r| r.commands_per_s),
        median_add_p50_ms: med(&|r| r.add_to_cart.p50_ms),
        median_add_p99_ms: med(&|r| r.add_to_cart.p99_ms),
        median_checkout_p50_ms: med(&|r| r.checkout.p50_ms),
        median_checkout_p99_ms: med(&|r| r.checkout.p99_ms),
        errors: runs.iter().map(|r| r.errors).sum(),
        ratio_to_pgbench: None,
        median_pgbench_tps,
        pgbench_tps,
        runs,
    };
    report.ratio_to_pgbench = report
        .median_pgbench_tps
        .filter(|t| *t > 0.0)
        .map(|t| round(report.median_commands_per_s / t, 3));
    println!(
        "\n| command-api ({} shoppers, {} runs × {} s, medians) | value |\n|---|---:|\n\
         | commands/s | {:.0} |\n| add to cart p50 / p99 ms | {:.2} / {:.2} |\n\
         | checkout p50 / p99 ms | {:.2} / {:.2} |\n| errors | {} |",
        report.shoppers,
        report.runs.len(),
        report.seconds,
        report.median_commands_per_s,
        report.median_add_p50_ms,
        report.median_add_p99_ms,
        report.median_checkout_p50_ms,
        report.median_checkout_p99_ms,
        report.errors
    );
    if let (Some(tps), Some(ratio)) = (report.median_pgbench_tps, report.ratio_to_pgbench) {
        println!(
            "| pgbench -N, {} clients, same server (tps) | {tps:.0} |\n| commands/s ÷ pgbench tps | {ratio:.2} |",
            report.shoppers
        );
    }
    let path = args
        .reports_dir
        .join(format!("command-bench-{}.json", loadtests::file_stamp()));
    loadtests::write_json(&path, &report)?;
    println!("command-bench: report {}", path.display());
    if args.fail_on_error && report.errors > 0 {
        bail!("{} commands failed", report.errors);
    }
    Ok(())
}
