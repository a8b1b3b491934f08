//! TLS to PostgreSQL and Redis, as a managed PostgreSQL or Redis requires: a PostgreSQL
//! server and a Redis server of the test's own, started with a certificate the test
//! makes (openssl), each accepting only TLS (and PostgreSQL only SCRAM passwords).
//! query-api reaches both with the URLs an operator would write
//! (`sslmode=verify-full&sslrootcert=...`, `rediss://`, the CA in `SSL_CERT_FILE`) and
//! serves reads from each; plaintext connections are refused.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;
use uuid::Uuid;
use vitrine_contract::read_model::doc_key;
use vitrine_contract::secret::Secret;

use crate::helpers::{product_doc, SECRET};

const PASSWORD: &str = "tls-test-password";

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// A command run as the `postgres` user when the test runs as root (PostgreSQL refuses
/// to run as root), as itself otherwise.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn chown_postgres(path: &Path) {
    if is_root() {
        run(Command::new("chown").args(["-R", "postgres"]).arg(path));
    }
}

/// A certificate authority and a server certificate for 127.0.0.1 and localhost.
fn make_certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(Command::new("openssl")
        .current_dir(dir)
        .args(["req", "-x509"])
        .args(ec)
        .args(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"])
        .args(["-subj", "/CN=Vitrine test CA"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]));
    run(Command::new("openssl")
        .current_dir(dir)
        .arg("req")
        .args(ec)
        .args([
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]));
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .current_dir(dir)
        .args([
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
        ])
        .args(["-CAcreateserial", "-out", "server.pem", "-days", "2"])
        .args(["-extfile", "server.ext"]));
    // PostgreSQL refuses a private key that others can read.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

/// The two servers; stopped and removed when dropped.
struct TlsServers {
    dir: PathBuf,
    pg_bin: PathBuf,
    pg_port: u16,
    redis: Child,
    redis_port: u16,
}

impl TlsServers {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("vitrine-tls-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        make_certificates(&dir);
        chown_postgres(&dir);

        // PostgreSQL: its own cluster, TLS only, SCRAM passwords.
        let initdb = std::fs::canonicalize(which("initdb")).expect("initdb (PostgreSQL)");
        let pg_bin = initdb.parent().unwrap().to_path_buf();
        let data = dir.join("pg");
        std::fs::write(dir.join("pwfile"), PASSWORD).unwrap();
        chown_postgres(&dir);
        run(as_postgres(&initdb)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", dir.join("pwfile").display())));
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n\
             hostnossl all all 127.0.0.1/32 reject\n",
        )
        .unwrap();
        chown_postgres(&data);
        let pg_port = free_port();
        let options = format!(
            "-p {pg_port} -k {dir} -c listen_addresses=127.0.0.1 -c ssl=on \
             -c ssl_cert_file={dir}/server.pem -c ssl_key_file={dir}/server.key",
            dir = dir.display()
        );
        run(as_postgres(&pg_bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("pg.log"))
            .args(["-w", "-o", &options, "start"]));

        // Redis: TLS port only (no plaintext port), a password.
        let redis_port = free_port();
        let redis = Command::new("redis-server")
            .current_dir(&dir)
            .args(["--port", "0", "--tls-port", &redis_port.to_string()])
            .args([
                "--tls-cert-file",
                "server.pem",
                "--tls-key-file",
                "server.key",
            ])
            .args(["--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no"])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--requirepass", PASSWORD])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        Self {
            dir,
            pg_bin,
            pg_port,
            redis,
            redis_port,
        }
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    fn pg_url(&self, database: &str, sslmode: &str) -> String {
        format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/{database}?sslmode={sslmode}&sslrootcert={}",
            self.pg_port,
            self.ca().display()
        )
    }

    fn redis_url(&self, scheme: &str) -> String {
        format!("{scheme}://:{PASSWORD}@127.0.0.1:{}", self.redis_port)
    }
}

impl Drop for TlsServers {
    fn drop(&mut self) {
        let _ = self.redis.kill();
        let _ = self.redis.wait();
        let _ = as_postgres(&self.pg_bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.join("pg"))
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn which(program: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(program))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{program} is not on PATH"))
}

async fn get(router: &axum::Router, uri: &str) -> (StatusCode, String, String) {
    let response = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let lookups = response
        .headers()
        .get("x-lookups")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, lookups, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn query_api_reads_from_postgresql_and_redis_over_tls_and_plaintext_is_refused() {
    let servers = TlsServers::start();
    // rustls takes the roots Redis is checked against from SSL_CERT_FILE (as an operator
    // points it at a provider's CA); nextest runs each test in a process of its own.
    std::env::set_var("SSL_CERT_FILE", servers.ca());

    // The store's database, created and migrated over TLS.
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&servers.pg_url("postgres", "verify-full"))
        .await
        .expect("PostgreSQL over TLS, certificate verified against the test CA");
    sqlx::raw_sql("CREATE DATABASE vitrine")
        .execute(&admin)
        .await
        .unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&servers.pg_url("vitrine", "verify-full"))
        .await
        .unwrap();
    vitrine_runtime::MIGRATOR
        .run(&pool)
        .await
        .expect("migrations over TLS");

    // Redis answers over TLS once it listens.
    let redis_client = redis::Client::open(servers.redis_url("rediss")).expect("rediss:// URL");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut redis = loop {
        match redis_client.get_multiplexed_async_connection().await {
            Ok(conn) => break conn,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "Redis over TLS: {e}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let pong: String = redis::cmd("PING").query_async(&mut redis).await.unwrap();
    assert_eq!(pong, "PONG");

    let mut config = query_api::Config::local();
    config.database_url = servers.pg_url("vitrine", "verify-full");
    config.db_pool_max = 2;
    config.redis_url = servers.redis_url("rediss");
    config.redis_prefix = "vitrine:".into();
    config.session_secret = Some(Secret::new(SECRET));
    let (state, _background) = query_api::start(&config).await.expect("query-api starts");
    let router = query_api::app(state);

    let (status, _, body) = get(&router, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["status"], "ok", "both stores answer over TLS: {body}");

    // A product the projector wrote to PostgreSQL: the first read is a miss served from
    // PostgreSQL (and written back to Redis), the second a hit served from Redis.
    let id = Uuid::now_v7();
    let doc = product_doc(id, 1, "Encrypted camera");
    sqlx::query(
        "INSERT INTO rm_docs (rm_version, key, rev, doc) VALUES (1, $1, nextval('rm_rev'), $2)",
    )
    .bind(doc_key::product(id))
    .bind(&doc)
    .execute(&pool)
    .await
    .unwrap();
    let (status, lookups, body) = get(&router, &format!("/api/v1/products/{id}")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, doc.as_str()));
    assert_eq!(
        lookups, "redis=2; sql=1",
        "a miss: from PostgreSQL over TLS"
    );
    let (status, lookups, body) = get(&router, &format!("/api/v1/products/{id}")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, doc.as_str()));
    assert_eq!(lookups, "redis=1; sql=0", "a hit: from Redis over TLS");

    // What the servers say: every client connection of the store's database is TLS.
    let (tls, total): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a \
         JOIN pg_stat_ssl s USING (pid) WHERE a.datname = 'vitrine' AND a.backend_type = 'client backend'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        total >= 1 && tls == total,
        "{tls} of {total} connections use TLS"
    );

    // Plaintext is refused by both.
    let plain = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&servers.pg_url("vitrine", "disable"))
        .await;
    assert!(plain.is_err(), "PostgreSQL accepted a plaintext connection");
    let plain = redis::Client::open(servers.redis_url("redis")).unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(5), async {
        let mut conn = plain.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    })
    .await;
    assert!(
        !matches!(answer, Ok(Ok(_))),
        "Redis answered a plaintext connection"
    );
}
