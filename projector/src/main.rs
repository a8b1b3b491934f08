//! `projector [run|verify|status|rebuild|drop-version|dead-letters|warm]`: configuration
//! from the environment, then the library. Operator mistakes end in one line that says
//! what to do, never a backtrace; exit codes are documented per command.

use clap::{Parser, Subcommand};
use projector::Config;

#[derive(Parser)]
#[command(
    name = "projector",
    about = "Keeps Vitrine's read models in Redis and PostgreSQL",
    after_help = "Operator commands need the store's own environment: `set -a; . ~/.vitrine/store.env; set +a`."
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Consume events and keep the read models (the default).
    Run,
    /// Fold the event store and compare with both stores. Exit 0: no difference
    /// (documents absent from Redis are a cold cache, not a difference); 1: differences;
    /// 2: could not check.
    Verify {
        /// Read-model version to check (default: the live one).
        #[arg(long)]
        version: Option<i32>,
        /// Check only N documents chosen at random.
        #[arg(long)]
        sample: Option<usize>,
        /// Re-check rounds for documents that differ on a busy store.
        #[arg(long, default_value_t = 3)]
        rechecks: u32,
        /// Print every difference in full, not only the first 20.
        #[arg(long)]
        all: bool,
    },
    /// Live version, applied position, lag, dead letters, owed Redis writes, members
    /// and their partitions, and every read-model version.
    Status,
    /// Replay the whole event store into the next read-model version, catch up, check
    /// it against a fresh fold, flip readers over, and drop the old version after a grace
    /// period. Refuses a database with no history, and a Redis prefix of another store.
    Rebuild {
        /// Seconds the old version stays readable after the flip.
        #[arg(long, default_value_t = 30)]
        grace_seconds: u64,
        /// Keep the old version (drop it later with `drop-version`).
        #[arg(long)]
        keep_old: bool,
        /// Seconds to keep applying new events to the new version after the flip, while
        /// the live projector switches over.
        #[arg(long, default_value_t = 5)]
        handoff_seconds: u64,
        /// Events folded and written at once: peak memory grows with this (and with the
        /// catalog), not with the length of history.
        #[arg(long, default_value_t = projector::history::PART_EVENTS)]
        part_events: usize,
        /// Flip without comparing the new version with a fresh fold first.
        #[arg(long)]
        no_gate: bool,
    },
    /// Remove a retired read-model version from both stores (never the live one).
    DropVersion { version: i32 },
    /// Events the projector could not apply: list, replay after a fix, or discard.
    DeadLetters {
        #[command(subcommand)]
        action: Option<DeadLetterAction>,
    },
    /// Write every document of the live version from PostgreSQL to Redis (fenced: newer
    /// documents stay), hottest first (the category tree, first list pages, products,
    /// recommendations, then carts and orders), pipelined, with a progress bar on a
    /// terminal: warms a new or emptied Redis before traffic reaches it.
    Warm {
        /// The catalog only (no carts or orders); the store marker is left as it is.
        #[arg(long)]
        catalog_only: bool,
    },
}

#[derive(Subcommand)]
enum DeadLetterAction {
    /// List dead letters (open ones of every version unless told otherwise).
    List {
        #[arg(long)]
        version: Option<i32>,
        /// Replayed and discarded ones too.
        #[arg(long)]
        all: bool,
    },
    /// Replay open dead letters (all of the live version, or the ids given). Exit 1 if
    /// any failed again.
    Replay {
        ids: Vec<i64>,
        #[arg(long)]
        version: Option<i32>,
    },
    /// Discard open dead letters, keeping the reason.
    Discard {
        #[arg(required = true)]
        ids: Vec<i64>,
        #[arg(long)]
        reason: String,
    },
}

#[tokio::main]
async fn main() {
    vitrine_runtime::telemetry::init_tracing();
    let cli = Cli::parse();
    if !matches!(cli.command, None | Some(Command::Run)) {
        // An operator command piped into `head` ends quietly when the pipe closes, like
        // any Unix tool, instead of panicking on a failed print. (The long-running
        // `run` keeps Rust's default: a closed socket is an error to handle, not a signal.)
        // SAFETY: `signal` only changes the process's disposition of SIGPIPE; nothing in
        // an operator command relies on it being ignored.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match execute(cli).await {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // one line: the cause chain, no backtrace
            let chain: Vec<String> = e.chain().map(ToString::to_string).collect();
            eprintln!("projector: {}", chain.join(": "));
            std::process::exit(2);
        }
    }
}

async fn redis_conn(config: &Config) -> anyhow::Result<redis::aio::MultiplexedConnection> {
    redis::Client::open(config.redis_url.as_str())?
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| anyhow::anyhow!("Redis at {} unreachable ({e})", config.redis_url))
}

/// Connects to the store's database and checks it is one: it has an event store, and the
/// Redis prefix is not another store's.
async fn store(
    config: &Config,
) -> anyhow::Result<(sqlx::PgPool, redis::aio::MultiplexedConnection)> {
    let pool = projector::connect_db(config)
        .await
        .map_err(|e| anyhow::anyhow!("PostgreSQL unreachable at DATABASE_URL ({e})"))?;
    let has_store: bool = sqlx::query_scalar(
        "SELECT to_regclass('events') IS NOT NULL AND to_regclass('store_identity') IS NOT NULL",
    )
    .fetch_one(&pool)
    .await?;
    anyhow::ensure!(
        has_store,
        "database {:?} holds no Vitrine store (no event store): point DATABASE_URL at the store \
         (`set -a; . ~/.vitrine/store.env; set +a`)",
        database_name(&pool).await
    );
    let mut redis = redis_conn(config).await?;
    projector::redis_repair::check_namespace(&pool, &mut redis, &config.redis_prefix).await?;
    Ok((pool, redis))
}

async fn database_name(pool: &sqlx::PgPool) -> String {
    sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(pool)
        .await
        .unwrap_or_default()
}

async fn execute(cli: Cli) -> anyhow::Result<i32> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            let listener = tokio::net::TcpListener::bind(&config.listen_addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {} ({e})", config.listen_addr))?;
            projector::run(
                config,
                listener,
                vitrine_runtime::telemetry::shutdown_signal(),
            )
            .await?;
            Ok(0)
        }
        Command::Verify {
            version,
            sample,
            rechecks,
            all,
        } => {
            let (pool, _) = store(&config).await?;
            let version = match version {
                Some(v) => v,
                None => projector::store::progress::live_version(&pool).await?,
            };
            let options = projector::verify::Options {
                sample,
                rechecks,
                ..Default::default()
            };
            let report = projector::verify::check(
                &pool,
                &config.redis_url,
                &config.redis_prefix,
                version,
                &options,
            )
            .await?;
            let shown = if all { usize::MAX } else { 20 };
            for d in report.differences.iter().take(shown) {
                println!("{d}");
            }
            if report.differences.len() > shown {
                println!(
                    "… {} more (--all shows them)",
                    report.differences.len() - shown
                );
            }
            if !report.changing.is_empty() {
                println!(
                    "{} document(s) kept changing while checked (a busy store): {}",
                    report.changing.len(),
                    report
                        .changing
                        .iter()
                        .take(5)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            print!("{report}");
            if report.is_clean() {
                println!("clean: no document differs");
                Ok(0)
            } else {
                println!("{} difference(s)", report.differences.len());
                Ok(1)
            }
        }
        Command::Status => {
            let (pool, _) = store(&config).await?;
            let version = projector::store::progress::live_version(&pool).await?;
            let (applied, max, dead) = projector::store::progress::progress(&pool, version).await?;
            let owed = projector::redis_repair::owed_count(&pool).await?;
            let store_id = projector::redis_repair::store_id(&pool).await?;
            println!(
                "store:            {store_id} (database {})",
                database_name(&pool).await
            );
            println!("live version:     {version}");
            println!("applied position: {applied}");
            println!("lag (events):     {}", (max - applied).max(0));
            println!("dead letters:     {dead} open (projector dead-letters list)");
            println!("Redis owed:       {owed} batch(es)");
            println!("members of {}:", config.kafka_topic);
            for (id, pid, partitions) in
                projector::partitions::members(&pool, &config.kafka_topic).await?
            {
                println!("  {id}  backend {pid:<7} partitions {partitions:?}");
            }
            println!("versions:");
            for (v, status, started, finished, note) in projector::versions::list(&pool).await? {
                let (applied, _, _) = projector::store::progress::progress(&pool, v).await?;
                println!(
                    "  v{v:<4} {status:<9} position {applied:<10} started {started}  finished {}  {}",
                    finished.unwrap_or_else(|| "-".into()),
                    note.unwrap_or_default()
                );
            }
            Ok(0)
        }
        Command::Rebuild {
            grace_seconds,
            keep_old,
            handoff_seconds,
            part_events,
            no_gate,
        } => {
            let (pool, _) = store(&config).await?;
            let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
                .fetch_one(&pool)
                .await?;
            anyhow::ensure!(
                events > 0,
                "database {:?} has no history to rebuild from (0 events): is DATABASE_URL the store's?",
                database_name(&pool).await
            );
            vitrine_runtime::migrate(&pool, config.database_direct_url.as_deref()).await?;
            let options = projector::rebuild::Options {
                part_events,
                handoff: std::time::Duration::from_secs(handoff_seconds),
                grace: (!keep_old).then(|| std::time::Duration::from_secs(grace_seconds)),
                gate: !no_gate,
                direct_url: config.database_direct_url.clone(),
            };
            let report = projector::rebuild::rebuild(
                &pool,
                &config.redis_url,
                &config.redis_prefix,
                &options,
            )
            .await?;
            println!("{report}");
            Ok(0)
        }
        Command::DropVersion { version } => {
            let (pool, mut redis) = store(&config).await?;
            let removed = projector::versions::drop_version(
                &pool,
                &mut redis,
                &config.redis_prefix,
                version,
                "dropped",
            )
            .await?;
            println!("dropped version {version} ({removed} Redis keys)");
            Ok(0)
        }
        Command::Warm { catalog_only } => {
            let (pool, mut redis) = store(&config).await?;
            let version = projector::store::progress::live_version(&pool).await?;
            let scope = if catalog_only {
                projector::redis_repair::WarmScope::Catalog
            } else {
                projector::redis_repair::WarmScope::All
            };
            let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
                let bar = indicatif::ProgressBar::new(0);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{bar:40} {pos}/{len} documents, {per_sec}, {eta} left",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar
            });
            let started = std::time::Instant::now();
            let sent = projector::redis_repair::warm(
                &pool,
                &mut redis,
                &config.redis_prefix,
                version,
                scope,
                |sent, total| {
                    if let Some(bar) = &bar {
                        bar.set_length(total);
                        bar.set_position(sent);
                    }
                },
            )
            .await?;
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            if scope == projector::redis_repair::WarmScope::All {
                // Redis now holds every document: the projector need not refill it again
                projector::redis_repair::mark_whole(&pool, &mut redis, &config.redis_prefix)
                    .await?;
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "warmed version {version}: {sent} documents{} in {secs:.2} s ({:.0}/s)",
                if catalog_only { " (catalog)" } else { "" },
                sent as f64 / secs.max(0.001)
            );
            Ok(0)
        }
        Command::DeadLetters { action } => {
            let (pool, mut redis) = store(&config).await?;
            match action.unwrap_or(DeadLetterAction::List {
                version: None,
                all: false,
            }) {
                DeadLetterAction::List { version, all } => {
                    let letters = projector::dead_letters::list(&pool, version, all).await?;
                    for l in &letters {
                        println!(
                            "#{:<6} v{:<3} {:<9} position {:<10} {} {} at {}\n         error: {}{}",
                            l.id,
                            l.rm_version,
                            l.status,
                            l.position,
                            l.stream_id,
                            l.event_type,
                            l.at,
                            l.error,
                            l.reason
                                .as_ref()
                                .map(|r| format!("\n         reason: {r}"))
                                .unwrap_or_default()
                        );
                    }
                    println!("{} dead letter(s)", letters.len());
                    Ok(0)
                }
                DeadLetterAction::Replay { ids, version } => {
                    let version = match version {
                        Some(v) => v,
                        None => projector::store::progress::live_version(&pool).await?,
                    };
                    let done = projector::dead_letters::replay(
                        &pool,
                        &mut redis,
                        &config.redis_prefix,
                        version,
                        &ids,
                    )
                    .await?;
                    println!(
                        "replayed {:?}; still open {:?}",
                        done.replayed, done.still_open
                    );
                    Ok(if done.still_open.is_empty() { 0 } else { 1 })
                }
                DeadLetterAction::Discard { ids, reason } => {
                    let n = projector::dead_letters::discard(&pool, &ids, &reason).await?;
                    println!("discarded {n} dead letter(s)");
                    Ok(0)
                }
            }
        }
    }
}
