//! The original plan's load scenario (SCALE-002) with goose, against the storefront.
//!
//! Each user opens a session (`POST /api/v1/sessions/`), then, weighted as the plan's
//! Locust task set, browses list pages (3), views products (2), searches (1), adds to
//! its cart (1) and checks out (½, only with something in the cart). Product ids and
//! list pages are discovered from the live store before the run.
//!
//! A placed order is paid the only way there is: the user starts the payment
//! (`POST /api/v1/orders/{id}/pay/`) and the fake payment provider
//! ([`vitrine_contract::payment::FakeProvider`], signing with `PAYMENT_WEBHOOK_SECRET`)
//! sends the signed `payment.succeeded` callback to `POST /api/v1/payments/webhook/`.
//! Without the secret orders stay unpaid (a session then holds at most three, and a
//! fourth checkout is refused like a sold-out one).
//!
//! Beside goose's HTML and JSON reports it writes `scenario-<time>-summary.json` and
//! `.md`: per-endpoint RPS, p50/p95/p99 and errors against the plan's baselines and
//! against `reports/baseline.json`; Redis keyspace and query-api cache hits over the
//! run; and the write → readable delay measured by a side task that adds to a cart and
//! reads the cart back with `min_version`.
//!
//! Every write carries a fresh `Idempotency-Key`: nginx may pass a write whose instance
//! failed mid-request to another command-api instance, which then replays the first
//! answer instead of writing twice (deploy/nginx/vitrine.conf.template). Opening a
//! session writes nothing (it signs a token), so it goes without one.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use goose::config::GooseConfiguration;
use goose::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::watch;

use loadtests::catalog::{self, Catalog};
use loadtests::http::{session_token, Api, Auth};
use loadtests::observe::{self, AppCounters, HitsMisses};
use loadtests::plan::{self, Baseline, EndpointStats, PlanCheck, Regression, Tolerance};
use loadtests::stats::{round, Summary};
use vitrine_contract::payment::{FakeProvider, WebhookKind, SIGNATURE_HEADER};
use vitrine_contract::read_model::Sort;

#[derive(Parser, Debug, Clone)]
#[command(about = "The original plan's load scenario against Vitrine's storefront")]
struct Args {
    /// The storefront (nginx front door).
    #[arg(long, env = "VITRINE_URL", default_value = "http://127.0.0.1:8080")]
    host: String,
    /// Concurrent users.
    #[arg(short, long, env = "LOAD_USERS", default_value_t = 50)]
    users: usize,
    /// Users started per second (Locust's spawn rate, goose's hatch/increase rate).
    #[arg(short = 'r', long, env = "LOAD_SPAWN_RATE", default_value = "10")]
    spawn_rate: String,
    /// Seconds to run once every user has started (the run is bounded by this).
    #[arg(short = 't', long, env = "LOAD_RUN_TIME", default_value_t = 20)]
    run_time: u64,
    /// Each user waits between this and --wait-max-ms after each task.
    #[arg(long, default_value_t = 500)]
    wait_min_ms: u64,
    #[arg(long, default_value_t = 2000)]
    wait_max_ms: u64,
    /// Search terms, comma separated.
    #[arg(long, default_value = "laptop,phone,camera", value_delimiter = ',')]
    search_terms: Vec<String>,
    /// Per request timeout, seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
    /// Share one HTTP client (one connection pool) among all users instead of one each.
    #[arg(long)]
    shared_client: bool,
    /// Where reports are written.
    #[arg(long, default_value_os_t = loadtests::default_reports_dir())]
    reports_dir: PathBuf,
    /// Our stored baseline (default: reports/baseline.json).
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Write this run as the baseline.
    #[arg(long)]
    save_baseline: bool,
    /// Do not compare against the baseline.
    #[arg(long)]
    no_compare: bool,
    /// More than this fraction worse than the baseline is a regression.
    #[arg(long, default_value_t = 0.2)]
    regression_tolerance: f64,
    /// Latency changes under this many ms are never regressions (noise floor).
    #[arg(long, default_value_t = 1.0)]
    regression_floor_ms: f64,
    /// Exit non-zero when any request failed (error status or no answer).
    #[arg(long)]
    fail_on_error: bool,
    /// Exit non-zero when a latency bound of the plan's table is missed.
    #[arg(long)]
    enforce_plan: bool,
    /// Redis whose keyspace hits and misses are read before and after.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// query-api instance ports whose /metrics cache counters are read (`8082-8083`).
    #[arg(long, env = "QUERY_METRICS", default_value = "8200-8201")]
    query_metrics: String,
    /// Milliseconds between write → readable probes (0: no probe).
    #[arg(long, default_value_t = 100)]
    lag_interval_ms: u64,
    /// A probe that is not readable after this long counts as timed out.
    #[arg(long, default_value_t = 3000)]
    lag_timeout_ms: u64,
    /// At most this many list pages per category are discovered.
    #[arg(long, default_value_t = 60)]
    max_pages: u32,
    /// Free text stored with the reports.
    #[arg(long, default_value = "")]
    notes: String,
    /// The store's payment webhook secret: the fake provider signs its callbacks with it.
    #[arg(long, env = "PAYMENT_WEBHOOK_SECRET", hide_env_values = true)]
    payment_webhook_secret: Option<String>,
}

// ---------------------------------------------------------------------------------
// The users

/// What the transactions read: discovered before the run, never changed.
struct Shared {
    catalog: Catalog,
    search_terms: Vec<String>,
    /// Pays placed orders (none: orders stay unpaid).
    provider: Option<FakeProvider>,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

fn shared() -> &'static Shared {
    SHARED.get().expect("catalog discovered before the attack")
}

/// One user's session.
#[derive(Clone)]
struct Shopper {
    token: String,
    items_in_cart: usize,
    /// Products in the cart, to take out again when checkout finds one sold out.
    cart_products: Vec<String>,
}

const SESSIONS: &str = "/api/v1/sessions/";
const CART: &str = "/api/v1/cart/";
const CHECKOUT: &str = "/api/v1/checkout/";
const WEBHOOK: &str = "/api/v1/payments/webhook/";

fn pick<T>(items: &[T]) -> &T {
    &items[rand::random_range(0..items.len())]
}

fn custom(message: impl Into<String>) -> Box<TransactionError> {
    Box::new(TransactionError::Custom(message.into()))
}

/// Opens a session (on start, and again if one failed).
async fn open_session(user: &mut GooseUser) -> TransactionResult {
    let builder = user
        .get_request_builder(&GooseMethod::Post, SESSIONS)?
        .json(&json!({}));
    let request = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path(SESSIONS)
        .name(plan::CREATE_SESSION)
        .set_request_builder(builder)
        .build();
    let mut goose = user.request(request).await?;
    let token = match goose.response {
        Ok(response) => response
            .text()
            .await
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| session_token(&v)),
        Err(_) => None,
    };
    match token {
        Some(token) => {
            user.set_session_data(Shopper {
                token,
                items_in_cart: 0,
                cart_products: Vec::new(),
            });
            Ok(())
        }
        None => user.set_failure(
            "session answer without token",
            &mut goose.request,
            None,
            None,
        ),
    }
}

/// The session token, opening a session first when there is none.
async fn token(user: &mut GooseUser) -> Result<String, Box<TransactionError>> {
    if user.get_session_data::<Shopper>().is_none() {
        open_session(user).await?;
    }
    user.get_session_data::<Shopper>()
        .map(|s| s.token.clone())
        .ok_or_else(|| custom("no session"))
}

async fn browse(user: &mut GooseUser) -> TransactionResult {
    let path = {
        let pages = &shared().catalog.list_pages;
        format!("{}&sort={}", pick(pages), pick(&Sort::ALL).as_str())
    };
    let request = GooseRequest::builder()
        .path(path.as_str())
        .name(plan::PRODUCT_LIST)
        .build();
    user.request(request).await?;
    Ok(())
}

async fn view_product(user: &mut GooseUser) -> TransactionResult {
    let path = format!("/api/v1/products/{}/", pick(&shared().catalog.product_ids));
    let request = GooseRequest::builder()
        .path(path.as_str())
        .name(plan::PRODUCT_DETAIL)
        .build();
    user.request(request).await?;
    Ok(())
}

async fn search(user: &mut GooseUser) -> TransactionResult {
    let term = pick(&shared().search_terms).replace(' ', "+");
    let path = format!("/api/v1/products/search/?q={term}");
    let request = GooseRequest::builder()
        .path(path.as_str())
        .name(plan::SEARCH)
        .build();
    user.request(request).await?;
    Ok(())
}

async fn add_to_cart(user: &mut GooseUser) -> TransactionResult {
    let token = token(user).await?;
    let product_id = pick(&shared().catalog.product_ids).clone();
    let builder = user
        .get_request_builder(&GooseMethod::Post, CART)?
        .bearer_auth(&token)
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .json(&json!({ "product_id": product_id, "quantity": 1 }));
    let request = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path(CART)
        .name(plan::ADD_TO_CART)
        .set_request_builder(builder)
        .build();
    let goose = user.request(request).await?;
    if goose.request.success {
        if let Some(shopper) = user.get_session_data_mut::<Shopper>() {
            shopper.items_in_cart += 1;
            shopper.cart_products.push(product_id);
        }
    }
    Ok(())
}

/// Checks out when the cart holds something (an empty cart would rightly get 422).
async fn checkout(user: &mut GooseUser) -> TransactionResult {
    let ready = user
        .get_session_data::<Shopper>()
        .is_some_and(|s| s.items_in_cart > 0);
    if !ready {
        return Ok(());
    }
    let token = token(user).await?;
    let builder = user
        .get_request_builder(&GooseMethod::Post, CHECKOUT)?
        .bearer_auth(&token)
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .json(&json!({}));
    let request = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path(CHECKOUT)
        .name(plan::CHECKOUT)
        .set_request_builder(builder)
        .build();
    let mut goose = user.request(request).await?;
    let placed = goose.request.status_code == 201;
    let order_id = match (placed, goose.response) {
        (true, Ok(response)) => response
            .text()
            .await
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["order_id"].as_str().map(str::to_owned)),
        _ => None,
    };
    let sold_out = goose.request.status_code == 409;
    if sold_out {
        // Stock ran out (a long-lived store sells its last units): refusing is the right
        // answer, not an error. The shopper takes the items out and shops on.
        user.set_success(&mut goose.request)?;
        let products = user
            .get_session_data::<Shopper>()
            .map(|s| s.cart_products.clone())
            .unwrap_or_default();
        for product_id in products {
            let path = format!("/api/v1/cart/items/{product_id}/");
            let builder = user
                .get_request_builder(&GooseMethod::Delete, &path)?
                .bearer_auth(&token)
                .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
            let request = GooseRequest::builder()
                .method(GooseMethod::Delete)
                .path(path.as_str())
                .name("remove sold-out cart items")
                .set_request_builder(builder)
                .build();
            user.request(request).await?;
        }
    }
    if goose.request.success || sold_out {
        if let Some(shopper) = user.get_session_data_mut::<Shopper>() {
            shopper.items_in_cart = 0;
            shopper.cart_products.clear();
        }
    }
    if let Some(order_id) = order_id {
        pay(user, &token, &order_id).await?;
    }
    Ok(())
}

/// Pays a placed order: the shopper starts the payment, then the fake provider sends
/// the signed `payment.succeeded` callback for the intent, amount and currency it got.
async fn pay(user: &mut GooseUser, token: &str, order_id: &str) -> TransactionResult {
    let Some(provider) = shared().provider.as_ref() else {
        return Ok(());
    };
    let path = format!("/api/v1/orders/{order_id}/pay/");
    let builder = user
        .get_request_builder(&GooseMethod::Post, &path)?
        .bearer_auth(token)
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
    let request = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path(path.as_str())
        .name("start payment")
        .set_request_builder(builder)
        .build();
    let goose = user.request(request).await?;
    let started = match goose.response {
        Ok(response) => response
            .text()
            .await
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok()),
        Err(_) => None,
    };
    let Some(started) = started else {
        return Ok(()); // the failed request is already counted
    };
    let (Some(order), Some(intent), Some(amount), Some(currency)) = (
        order_id.parse::<uuid::Uuid>().ok(),
        started["intent_id"].as_str(),
        started["amount_cents"].as_i64(),
        started["currency"].as_str(),
    ) else {
        return Ok(());
    };
    let callback = provider.callback(WebhookKind::Succeeded, order, intent, amount, currency);
    let builder = user
        .get_request_builder(&GooseMethod::Post, WEBHOOK)?
        .header(SIGNATURE_HEADER, callback.signature)
        .header("content-type", "application/json")
        .body(callback.body);
    let request = GooseRequest::builder()
        .method(GooseMethod::Post)
        .path(WEBHOOK)
        .name("payment webhook")
        .set_request_builder(builder)
        .build();
    user.request(request).await?;
    Ok(())
}

// ---------------------------------------------------------------------------------
// Write → readable

#[derive(Debug, Default, Serialize)]
struct LagReport {
    /// Delay from add-to-cart's answer to `GET /api/v1/cart/?min_version=` answering 200
    /// with that version (includes the read's own round trip).
    summary: Summary,
    timeouts: usize,
    errors: Vec<String>,
}

/// Adds to a cart every `interval` and times until the cart read shows it; stops when
/// told, at `deadline`, or after `max_probes`.
async fn lag_probe(
    api: Api,
    product_ids: Arc<Vec<String>>,
    interval: Duration,
    timeout: Duration,
    deadline: Instant,
    mut stop: watch::Receiver<bool>,
) -> LagReport {
    let mut report = LagReport::default();
    let mut samples = Vec::new();
    let max_probes = (deadline
        .saturating_duration_since(Instant::now())
        .as_millis()
        / interval.as_millis().max(1)) as usize
        + 1;
    let mut token = String::new();
    for n in 0..max_probes {
        if *stop.borrow() || Instant::now() >= deadline {
            break;
        }
        // A fresh cart every 50 probes keeps carts small.
        if n % 50 == 0 {
            match api.create_session().await {
                Ok(t) => token = t,
                Err(e) => {
                    report.errors.push(format!("{e:#}"));
                    break;
                }
            }
        }
        let tick = Instant::now();
        match probe_once(&api, &token, &product_ids[n % product_ids.len()], timeout).await {
            Ok(Some(ms)) => samples.push(ms),
            Ok(None) => report.timeouts += 1,
            Err(e) => {
                if report.errors.len() < 20 {
                    report.errors.push(format!("{e:#}"));
                }
            }
        }
        let rest = interval.saturating_sub(tick.elapsed());
        tokio::select! {
            _ = tokio::time::sleep(rest) => {}
            _ = stop.changed() => {}
        }
    }
    report.summary = Summary::of_ms(&samples);
    report
}

/// One probe: the delay in ms, or `None` when not readable within `timeout`.
async fn probe_once(
    api: &Api,
    token: &str,
    product_id: &str,
    timeout: Duration,
) -> Result<Option<f64>> {
    let key = uuid::Uuid::new_v4().to_string();
    let reply = api
        .post(
            CART,
            Auth::bearer(token).with_key(&key),
            &json!({ "product_id": product_id, "quantity": 1 }),
        )
        .await?
        .ok("add to cart (probe)")?;
    let answered = Instant::now();
    let version = reply
        .version()
        .context("add to cart answered without a version")?;
    let path = format!("{CART}?min_version={version}");
    while answered.elapsed() < timeout {
        let read = api.get(&path, Auth::bearer(token)).await?;
        if read.status.is_success() {
            let seen = read.json().get("version").and_then(Value::as_i64);
            if seen.is_none_or(|v| v >= version) {
                return Ok(Some(answered.elapsed().as_secs_f64() * 1000.0));
            }
        } else if !matches!(read.status.as_u16(), 404 | 503) {
            bail!(
                "cart read: {} {}",
                read.status,
                loadtests::http::truncate(&read.body, 200)
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------
// The report

#[derive(Debug, Serialize)]
struct CacheReport {
    /// Redis `keyspace_hits`/`keyspace_misses` over the run (server-wide).
    redis: Option<HitsMisses>,
    redis_hit_rate_pct: Option<f64>,
    redis_note: Option<String>,
    /// query-api's `vitrine_cache_hits_total`/`_misses_total` over the run, by port.
    app: AppCounters,
    app_hit_rate_pct: Option<f64>,
}

#[derive(Debug, Serialize)]
struct ScenarioReport {
    recorded_at: String,
    host: String,
    users: usize,
    spawn_rate: String,
    run_time_s: u64,
    wait_ms: [u64; 2],
    measured_s: usize,
    notes: String,
    products_discovered: usize,
    list_pages_discovered: usize,
    endpoints: Vec<EndpointStats>,
    plan: Vec<PlanCheck>,
    baseline: Option<String>,
    regressions: Vec<Regression>,
    cache: CacheReport,
    write_to_readable: LagReport,
    errors_total: usize,
    goose_reports: Vec<String>,
}

fn endpoint_stats(metrics: &GooseMetrics) -> Vec<EndpointStats> {
    let seconds = metrics.duration.max(1) as f64;
    let mut out: Vec<EndpointStats> = metrics
        .requests
        .values()
        .map(|r| {
            let t = &r.raw_data;
            let ms = |p: f32| round(t.percentile_us(p) as f64 / 1000.0, 3);
            EndpointStats {
                name: r.path.clone(),
                requests: r.success_count + r.fail_count,
                errors: r.fail_count,
                rps: round((r.success_count + r.fail_count) as f64 / seconds, 1),
                p50_ms: ms(0.50),
                p95_ms: ms(0.95),
                p99_ms: ms(0.99),
                max_ms: round(t.maximum_time_us as f64 / 1000.0, 3),
            }
        })
        .collect();
    let order = |name: &str| {
        plan::PLAN
            .iter()
            .position(|p| p.endpoint == name)
            .unwrap_or(plan::PLAN.len())
    };
    out.sort_by(|a, b| {
        order(&a.name)
            .cmp(&order(&b.name))
            .then(a.name.cmp(&b.name))
    });
    out
}

fn render_markdown(r: &ScenarioReport) -> String {
    let mut md = format!(
        "# Scenario run {}\n\n{} users (spawn rate {}/s), {} s measured, waits {}–{} ms, against {}; \
         {} products and {} list pages discovered.{}\n\n",
        r.recorded_at,
        r.users,
        r.spawn_rate,
        r.measured_s,
        r.wait_ms[0],
        r.wait_ms[1],
        r.host,
        r.products_discovered,
        r.list_pages_discovered,
        if r.notes.is_empty() { String::new() } else { format!(" Notes: {}", r.notes) }
    );
    md.push_str(&plan::render_table(&r.endpoints, &r.plan));
    let pct = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.2} %"));
    md.push_str("\n| cache | hits | misses | hit rate |\n|---|---:|---:|---:|\n");
    match r.cache.redis {
        Some(h) => md.push_str(&format!(
            "| Redis keyspace (server-wide) | {} | {} | {} |\n",
            h.hits,
            h.misses,
            pct(r.cache.redis_hit_rate_pct)
        )),
        None => md.push_str(&format!(
            "| Redis keyspace | – | – | {} |\n",
            r.cache.redis_note.as_deref().unwrap_or("not read")
        )),
    }
    let app = r.cache.app.total();
    md.push_str(&format!(
        "| query-api (ports {:?}) | {} | {} | {} |\n",
        r.cache.app.by_port.keys().collect::<Vec<_>>(),
        app.hits,
        app.misses,
        pct(r.cache.app_hit_rate_pct)
    ));
    for m in &r.cache.app.missing {
        md.push_str(&format!("\nquery-api counters missing: {m}\n"));
    }
    let lag = &r.write_to_readable;
    if lag.summary.count == 0 && lag.timeouts == 0 && lag.errors.is_empty() {
        md.push_str("\nWrite → readable: not measured.\n");
    } else {
        md.push_str(&format!(
            "\nWrite → readable (add to cart answered → cart read shows it): {} probes, p50 {:.2} ms, \
             p99 {:.2} ms, max {:.2} ms, {} timed out, {} errors.\n",
            lag.summary.count,
            lag.summary.p50_ms,
            lag.summary.p99_ms,
            lag.summary.max_ms,
            lag.timeouts,
            lag.errors.len()
        ));
    }
    match &r.baseline {
        Some(note) => md.push_str(&format!("\nBaseline: {note}\n")),
        None => md.push_str("\nBaseline: not compared.\n"),
    }
    for reg in &r.regressions {
        md.push_str(&format!(
            "- REGRESSION {} {}: {:.3} → {:.3} ({:+.0} %)\n",
            reg.endpoint, reg.metric, reg.baseline, reg.current, reg.change_pct
        ));
    }
    md
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if args.wait_min_ms > args.wait_max_ms {
        bail!("--wait-min-ms must not exceed --wait-max-ms");
    }
    let stamp = loadtests::file_stamp();
    std::fs::create_dir_all(&args.reports_dir)
        .with_context(|| format!("creating {}", args.reports_dir.display()))?;

    // What to read, from the live store.
    let api = Api::new(&args.host, Duration::from_secs(args.timeout), 4)?;
    let catalog = catalog::discover(&api, args.max_pages).await?;
    println!(
        "scenario: {} products, {} list pages, {} categories at {}",
        catalog.product_ids.len(),
        catalog.list_pages.len(),
        catalog.categories.len(),
        args.host
    );
    let product_ids = Arc::new(catalog.product_ids.clone());
    let list_pages_discovered = catalog.list_pages.len();
    let products_discovered = catalog.product_ids.len();
    if SHARED
        .set(Shared {
            catalog,
            search_terms: args.search_terms.clone(),
            provider: args
                .payment_webhook_secret
                .as_deref()
                .map(FakeProvider::new),
        })
        .is_err()
    {
        bail!("catalog set twice");
    }

    // Counters before.
    let metrics_ports = observe::parse_ports(&args.query_metrics)?;
    let redis_before = observe::redis_keyspace(&args.redis_url).await;
    let app_before = observe::app_counters(&metrics_ports).await;

    // The write → readable probe runs beside the users, bounded by the run's length.
    let (stop_tx, stop_rx) = watch::channel(false);
    let ramp_s = args.users as f64 / args.spawn_rate.parse::<f64>().unwrap_or(1.0).max(0.001);
    let deadline = Instant::now() + Duration::from_secs_f64(ramp_s + args.run_time as f64 + 10.0);
    let probe = (args.lag_interval_ms > 0).then(|| {
        tokio::spawn(lag_probe(
            api.clone(),
            product_ids,
            Duration::from_millis(args.lag_interval_ms),
            Duration::from_millis(args.lag_timeout_ms),
            deadline,
            stop_rx,
        ))
    });

    // The attack.
    let html = args.reports_dir.join(format!("scenario-{stamp}.html"));
    let json_report = args.reports_dir.join(format!("scenario-{stamp}.json"));
    let goose_args: Vec<String> = vec![
        "--host".into(),
        args.host.clone(),
        "--users".into(),
        args.users.to_string(),
        "--increase-rate".into(),
        args.spawn_rate.clone(),
        "--run-time".into(),
        format!("{}s", args.run_time),
        "--timeout".into(),
        args.timeout.to_string(),
        "--report-file".into(),
        html.display().to_string(),
        "--report-file".into(),
        json_report.display().to_string(),
    ];
    let mut config = GooseConfiguration::parse_args_default(&goose_args)
        .map_err(|e| anyhow::anyhow!("goose configuration: {e}"))?;
    if !args.notes.is_empty() {
        config.notes = Some(args.notes.clone());
    }
    let wait = (
        Duration::from_millis(args.wait_min_ms),
        Duration::from_millis(args.wait_max_ms),
    );
    let scenario = scenario!("Shopper")
        .set_wait_time(wait.0, wait.1)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .register_transaction(
            transaction!(open_session)
                .set_on_start()
                .set_name("open session"),
        )
        .register_transaction(weighted(transaction!(browse).set_name("browse"), 6)?)
        .register_transaction(weighted(
            transaction!(view_product).set_name("view product"),
            4,
        )?)
        .register_transaction(weighted(transaction!(search).set_name("search"), 2)?)
        .register_transaction(weighted(
            transaction!(add_to_cart).set_name("add to cart"),
            2,
        )?)
        .register_transaction(weighted(transaction!(checkout).set_name("checkout"), 1)?);
    let mut attack = GooseAttack::initialize_with_config(config)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .set_scheduler(GooseScheduler::Random)
        .register_scenario(scenario);
    if args.shared_client {
        attack = attack
            .set_client_builder_without_cookies(
                goose::client::GooseClientBuilder::new()
                    .without_cookies()
                    .timeout(Duration::from_secs(args.timeout)),
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let result = attack.execute().await;
    let _ = stop_tx.send(true);
    let lag = match probe {
        Some(handle) => handle.await.unwrap_or_default(),
        None => LagReport::default(),
    };
    let metrics = result.map_err(|e| anyhow::anyhow!("goose: {e}"))?;

    // Counters after.
    let redis_after = observe::redis_keyspace(&args.redis_url).await;
    let app_after = observe::app_counters(&metrics_ports).await;
    let (redis, redis_note) = match (redis_before, redis_after) {
        (Ok(b), Ok(a)) => (Some(a.since(b)), None),
        (Err(e), _) | (_, Err(e)) => (None, Some(format!("{e:#}"))),
    };
    let app = app_after.since(&app_before);
    let cache = CacheReport {
        redis_hit_rate_pct: redis
            .and_then(HitsMisses::hit_rate_pct)
            .map(|v| round(v, 3)),
        redis,
        redis_note,
        app_hit_rate_pct: app.total().hit_rate_pct().map(|v| round(v, 3)),
        app,
    };

    // Against the plan and our baseline.
    let endpoints = endpoint_stats(&metrics);
    let checks = plan::check_plan(&endpoints);
    let baseline_path = args
        .baseline
        .clone()
        .unwrap_or_else(|| args.reports_dir.join("baseline.json"));
    let wait_ms = [args.wait_min_ms, args.wait_max_ms];
    let (baseline_note, regressions) = if args.no_compare {
        (None, Vec::new())
    } else {
        match std::fs::read_to_string(&baseline_path) {
            Err(_) => (Some(format!("{} does not exist yet (--save-baseline writes it)", baseline_path.display())), Vec::new()),
            Ok(text) => match serde_json::from_str::<Baseline>(&text) {
                Err(e) => (Some(format!("{} is unreadable: {e}", baseline_path.display())), Vec::new()),
                Ok(b) if b.users != args.users || b.wait_ms != wait_ms => (
                    Some(format!(
                        "{} was recorded with {} users and waits {:?} ms; this run has {} and {:?}: not comparable, skipped",
                        baseline_path.display(), b.users, b.wait_ms, args.users, wait_ms
                    )),
                    Vec::new(),
                ),
                Ok(b) => {
                    let tol = Tolerance {
                        fraction: args.regression_tolerance,
                        floor_ms: args.regression_floor_ms,
                        rps: true,
                    };
                    let found = plan::regressions(&endpoints, &b, tol);
                    (
                        Some(format!(
                            "{} ({}): {} regression(s) beyond {:.0} %",
                            baseline_path.display(),
                            b.recorded_at,
                            found.len(),
                            args.regression_tolerance * 100.0
                        )),
                        found,
                    )
                }
            },
        }
    };

    let errors_total =
        endpoints.iter().map(|e| e.errors).sum::<usize>() + lag.errors.len() + lag.timeouts;
    let report = ScenarioReport {
        recorded_at: chrono::Utc::now().to_rfc3339(),
        host: args.host.clone(),
        users: args.users,
        spawn_rate: args.spawn_rate.clone(),
        run_time_s: args.run_time,
        wait_ms,
        measured_s: metrics.duration,
        notes: args.notes.clone(),
        products_discovered,
        list_pages_discovered,
        endpoints,
        plan: checks,
        baseline: baseline_note,
        regressions,
        cache,
        write_to_readable: lag,
        errors_total,
        goose_reports: vec![
            html.display().to_string(),
            json_report.display().to_string(),
        ],
    };
    let md = render_markdown(&report);
    println!("\n{md}");
    let summary_json = args
        .reports_dir
        .join(format!("scenario-{stamp}-summary.json"));
    let summary_md = args
        .reports_dir
        .join(format!("scenario-{stamp}-summary.md"));
    loadtests::write_json(&summary_json, &report)?;
    std::fs::write(&summary_md, &md)
        .with_context(|| format!("writing {}", summary_md.display()))?;
    println!(
        "scenario: reports {}, {}, {}, {}",
        html.display(),
        json_report.display(),
        summary_json.display(),
        summary_md.display()
    );
    for e in report.write_to_readable.errors.iter().take(5) {
        eprintln!("scenario: probe error: {e}");
    }

    if args.save_baseline {
        let baseline = Baseline {
            recorded_at: report.recorded_at.clone(),
            users: args.users,
            run_time_s: args.run_time,
            wait_ms,
            endpoints: report.endpoints.clone(),
        };
        loadtests::write_json(&baseline_path, &baseline)?;
        println!("scenario: baseline written to {}", baseline_path.display());
    }

    let mut failures = Vec::new();
    if args.fail_on_error && report.errors_total > 0 {
        failures.push(format!("{} failed requests or probes", report.errors_total));
    }
    if !report.regressions.is_empty() && !args.save_baseline {
        failures.push(format!(
            "{} regression(s) against the baseline",
            report.regressions.len()
        ));
    }
    if args.enforce_plan {
        let missed: Vec<&str> = report
            .plan
            .iter()
            .filter(|c| !c.latency_met())
            .map(|c| c.endpoint.as_str())
            .collect();
        if !missed.is_empty() {
            failures.push(format!("plan latency bounds missed by {missed:?}"));
        }
    }
    if !failures.is_empty() {
        bail!("scenario failed: {}", failures.join("; "));
    }
    Ok(())
}

fn weighted(t: Transaction, weight: usize) -> Result<Transaction> {
    t.set_weight(weight).map_err(|e| anyhow::anyhow!("{e}"))
}
