//! A property-based fuzz test against the real programs: random methods' bodies, headers
//! (`Authorization`, `Idempotency-Key`, `If-Match`, `Content-Type`) and query strings, sent
//! to every route both programs document (their OpenAPI paths, with `{id}` filled by a
//! real id, a random one or junk). The properties: no answer is a 5xx (the one 5xx a
//! client can cause on purpose, a `min_version` wait that runs out, is `not-yet` and
//! allowed), and a refused command (any 4xx) appends no event.
//!
//! `proptest` generates the cases (and shrinks a failing one to a small request);
//! `FUZZ_CASES` sets how many (default 500, a few seconds; CI runs the default).

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use reqwest::Method;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::helpers::*;

/// One route both programs document: method, path template, and which program serves it.
#[derive(Debug, Clone)]
struct Route {
    method: Method,
    path: String,
    command: bool,
    /// The security scheme the route documents (`admin`, `session`), if any.
    caller: Option<String>,
}

/// Every documented route of both programs (the `/api/docs` page and the document itself
/// included: they are routes too).
fn routes() -> Vec<Route> {
    let mut routes = Vec::new();
    let (_, command_doc) = command_api::routes::documented();
    let (_, query_doc) = query_api::routes::documented();
    for (doc, command) in [(command_doc, true), (query_doc, false)] {
        let doc = serde_json::to_value(&doc).expect("the OpenAPI document serializes");
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in ["get", "post", "put", "patch", "delete"] {
                if let Some(operation) = item.get(method) {
                    let caller = operation["security"][0]
                        .as_object()
                        .and_then(|s| s.keys().next().cloned());
                    routes.push(Route {
                        method: method.to_uppercase().parse().expect("a method"),
                        path: path.clone(),
                        command,
                        caller,
                    });
                }
            }
        }
    }
    assert!(routes.len() > 15, "too few routes found: {routes:?}");
    routes
}

/// What the generated request is made of; the ids and tokens are picked by index from
/// the ones the test created, so the same case replays the same request.
#[derive(Debug, Clone)]
struct Case {
    route: usize,
    /// Also sent to the other method set of the path, sometimes (405s must not be 5xx).
    other_method: Option<Method>,
    id: IdChoice,
    trailing_slash: bool,
    query: Vec<(String, String)>,
    auth: Auth,
    idempotency_key: Option<String>,
    if_match: Option<String>,
    body: Body,
}

#[derive(Debug, Clone)]
enum IdChoice {
    Known(usize),
    Random,
    Junk(String),
}

#[derive(Debug, Clone)]
enum Auth {
    /// The caller the route asks for (admin, or a session by index).
    Right(usize),
    None,
    Admin,
    Session(usize),
    Raw(String),
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Value),
    /// Raw bytes sent as `application/json`.
    Bytes(Vec<u8>),
    /// Valid JSON with another content type.
    WrongType(Value),
    /// The route's valid body ([`template`]) with one field replaced by `value`, or
    /// removed (`None`): gets past the shape checks to the field checks and the database.
    Template {
        field: usize,
        value: Option<Value>,
    },
    /// The route's valid body with a control character (NUL among them) inserted into
    /// one of its strings, nested ones included: otherwise valid text.
    ControlChar {
        string: usize,
        at: usize,
        c: char,
    },
}

/// Text a client might send: ordinary, empty, unicode, control characters and NUL,
/// escapes, long.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 _-]{0,12}",
        2 => any::<String>().prop_map(|s| s.chars().take(40).collect()),
        2 => "[\\x00-\\x1f\"\\\\]{0,4}[a-z]{0,4}",
        2 => "[a-z]{0,3}\x00[a-z]{0,3}",
        1 => Just("\\u0000".to_owned()),
        1 => Just("EUR".to_owned()),
        1 => Just("a".repeat(300)),
        1 => Just(Uuid::now_v7().to_string()),
        1 => "[\\PC]{1,20}",
    ]
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        (-3i64..1200).prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(json!(2_147_483_648u64)),
        Just(json!(u64::MAX)),
    ]
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every field name some command reads, so a body often gets past the shape check.
const FIELDS: [&str; 17] = [
    "name",
    "slug",
    "parent_id",
    "sku",
    "description",
    "price_cents",
    "currency",
    "category_id",
    "stock",
    "image",
    "attributes",
    "product_id",
    "quantity",
    "delta",
    "payment_reference",
    "colour",
    "",
];

/// A body that looks like a command's: known field names with random values.
fn command_like(ids: usize) -> impl Strategy<Value = Value> {
    let field_value = prop_oneof![
        3 => json_value(),
        2 => text().prop_map(Value::String),
        2 => number(),
        2 => (0..ids.max(1)).prop_map(|i| json!(format!("known-id-{i}"))),
        1 => Just(json!(Uuid::now_v7())),
    ];
    prop::collection::btree_map(prop::sample::select(FIELDS.to_vec()), field_value, 0..9).prop_map(
        |m| {
            Value::Object(
                m.into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect::<Map<_, _>>(),
            )
        },
    )
}

const PARAMS: [&str; 7] = ["q", "page", "category", "sort", "min_version", "x", ""];

fn case(routes: usize, ids: usize, sessions: usize) -> impl Strategy<Value = Case> {
    let id = prop_oneof![
        4 => (0..ids).prop_map(IdChoice::Known),
        1 => Just(IdChoice::Random),
        1 => text().prop_map(IdChoice::Junk),
    ];
    let query = prop::collection::vec(
        (
            prop_oneof![3 => prop::sample::select(PARAMS.to_vec()).prop_map(str::to_owned), 1 => text()],
            prop_oneof![3 => text(), 1 => "[0-9]{1,3}", 1 => Just("price_desc".to_owned())],
        ),
        0..4,
    );
    let auth = prop_oneof![
        12 => (0..sessions).prop_map(Auth::Right),
        1 => Just(Auth::None),
        3 => Just(Auth::Admin),
        3 => (0..sessions).prop_map(Auth::Session),
        1 => text().prop_map(Auth::Raw),
    ];
    let key = prop::option::weighted(0.4, prop_oneof![text(), "[a-z0-9-]{1,8}"]);
    let if_match = prop::option::weighted(
        0.3,
        prop_oneof![text(), (0i64..4).prop_map(|v| format!("\"{v}\""))],
    );
    let template = (
        any::<usize>(),
        prop::option::weighted(
            0.9,
            prop_oneof![
                3 => text().prop_map(Value::String),
                // A control character or NUL inside otherwise valid text.
                2 => "[a-z]{1,3}[\x00-\x1f][a-z]{0,3}".prop_map(Value::String),
                1 => number(),
                1 => json_value(),
            ],
        ),
    )
        .prop_map(|(field, value)| Body::Template { field, value });
    let control_char = prop_oneof![Just('\0'), prop::char::range('\x01', '\x1f')];
    let control = (any::<usize>(), any::<usize>(), control_char)
        .prop_map(|(string, at, c)| Body::ControlChar { string, at, c });
    let body = prop_oneof![
        6 => template,
        3 => control,
        2 => Just(Body::None),
        4 => command_like(ids).prop_map(Body::Json),
        2 => json_value().prop_map(Body::Json),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Body::Bytes),
        1 => json_value().prop_map(Body::WrongType),
    ];
    let other_method = prop::option::weighted(
        0.1,
        prop::sample::select(vec![Method::GET, Method::POST, Method::PUT, Method::DELETE]),
    );
    (
        (0..routes, other_method, id, any::<bool>(), query),
        (auth, key, if_match, body),
    )
        .prop_map(
            |(
                (route, other_method, id, trailing_slash, query),
                (auth, idempotency_key, if_match, body),
            )| Case {
                route,
                other_method,
                id,
                trailing_slash,
                query,
                auth,
                idempotency_key,
                if_match,
                body,
            },
        )
}

/// A valid body for each command route that takes one (by method and path template),
/// with unique SKU and slug so that a mutation of another field reaches the database.
fn template(method: &Method, path: &str, world: &World) -> Option<Value> {
    let unique = Uuid::now_v7().simple().to_string();
    let (category, product) = (world.ids[0], world.ids[1]);
    Some(match (method.as_str(), path) {
        ("POST", "/api/v1/categories/") => {
            json!({"name": "Lamps", "slug": format!("s-{unique}"), "parent_id": category})
        }
        ("PATCH", "/api/v1/categories/{id}/") => json!({"name": "Lights"}),
        ("POST", "/api/v1/products/") => json!({
            "sku": format!("S-{unique}"), "name": format!("Lamp {unique}"), "description": "bright",
            "price_cents": 100, "currency": "EUR", "category_id": category, "stock": 5,
            "image": "lamp.png", "attributes": {"colour": "red", "watts": 40},
        }),
        ("PATCH", "/api/v1/products/{id}/") => json!({
            "name": "Lamp", "description": "dim", "price_cents": 90, "currency": "EUR",
            "category_id": category, "stock": 7, "image": "l.png", "attributes": {"colour": "blue"},
        }),
        ("POST", "/api/v1/products/{id}/stock/") => json!({"delta": 1}),
        ("POST", "/api/v1/cart/") => json!({"product_id": product, "quantity": 1}),
        ("PUT", "/api/v1/cart/items/{id}/") => json!({"quantity": 1}),
        // A well-formed callback for the test's order, never signed: refused (401).
        ("POST", "/api/v1/payments/webhook/") => json!({
            "id": format!("evt_{unique}"), "type": "payment.succeeded", "created": 1_700_000_000,
            "data": {"intent_id": format!("pi_{unique}"), "order_id": world.ids[2],
                     "amount_cents": 500, "currency": "EUR"},
        }),
        _ => return None,
    })
}

/// What the test created for the cases to refer to.
struct World {
    ids: Vec<Uuid>,
    sessions: Vec<String>,
    /// How many answers of each status the cases got (printed: what the run covered).
    statuses: std::sync::Mutex<std::collections::BTreeMap<u16, usize>>,
}

impl World {
    /// A real id of the kind the path names (`ids` is category, product, order), else any.
    fn id_for(&self, path: &str, i: usize) -> Uuid {
        let kind = if path.starts_with("/api/v1/categories/") {
            0
        } else if path.starts_with("/api/v1/products/") || path.starts_with("/api/v1/cart/") {
            1
        } else if path.starts_with("/api/v1/orders/") {
            2
        } else {
            i
        };
        self.ids[kind % self.ids.len()]
    }

    /// Replaces the `known-id-N` placeholders of a body with the real ids.
    fn resolve(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                if let Some(i) = s
                    .strip_prefix("known-id-")
                    .and_then(|i| i.parse::<usize>().ok())
                {
                    *s = self.ids[i % self.ids.len()].to_string();
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.resolve(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.resolve(v)),
            _ => {}
        }
    }
}

/// Every string in `value` (values, not keys), to change one in place.
fn collect_strings<'a>(value: &'a mut Value, out: &mut Vec<&'a mut String>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter_mut().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values_mut().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn event_count(p: &Pipeline) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(p.database_pool())
        .await
        .expect("count events")
}

/// The payment callbacks command-api has recorded (their ids, for replay protection).
async fn callback_count(p: &Pipeline) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM payment_webhook_events")
        .fetch_one(p.database_pool())
        .await
        .expect("count payment callbacks")
}

/// The payment provider's callback: the fuzz test never signs, so every one is forged.
const WEBHOOK: &str = "/api/v1/payments/webhook/";

/// Sends one case; an error names the request and the answer.
async fn run_case(p: &Pipeline, world: &World, routes: &[Route], case: Case) -> Result<(), String> {
    let route = &routes[case.route];
    let id = match &case.id {
        IdChoice::Known(i) => world.id_for(&route.path, *i).to_string(),
        IdChoice::Random => Uuid::now_v7().to_string(),
        IdChoice::Junk(junk) => percent_encode(junk),
    };
    let mut path = route.path.replace("{id}", &id);
    if route.path.ends_with('/') && !case.trailing_slash {
        path.pop();
    }
    if !case.query.is_empty() {
        let query: Vec<String> = case
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        path = format!("{path}?{}", query.join("&"));
    }
    let base = if route.command {
        &p.command.base_url
    } else {
        &p.query_url
    };
    let method = case.other_method.clone().unwrap_or(route.method.clone());
    let mut req = p.client.request(method.clone(), format!("{base}{path}"));
    match &case.auth {
        Auth::Right(i) => match route.caller.as_deref() {
            Some("admin") => req = req.bearer_auth(ADMIN_TOKEN),
            Some(_) => req = req.bearer_auth(&world.sessions[*i % world.sessions.len()]),
            None => {}
        },
        Auth::None => {}
        Auth::Admin => req = req.bearer_auth(ADMIN_TOKEN),
        Auth::Session(i) => req = req.bearer_auth(&world.sessions[*i % world.sessions.len()]),
        Auth::Raw(raw) => {
            if let Ok(v) = reqwest::header::HeaderValue::from_str(raw) {
                req = req.header("authorization", v);
            }
        }
    }
    for (name, value) in [
        ("idempotency-key", &case.idempotency_key),
        ("if-match", &case.if_match),
    ] {
        if let Some(v) = value
            .as_deref()
            .and_then(|v| reqwest::header::HeaderValue::from_str(v).ok())
        {
            req = req.header(name, v);
        }
    }
    match &case.body {
        Body::None => {}
        Body::Json(v) => {
            let mut v = v.clone();
            world.resolve(&mut v);
            req = req.json(&v);
        }
        Body::Bytes(bytes) => {
            req = req
                .header("content-type", "application/json")
                .body(bytes.clone());
        }
        Body::WrongType(v) => {
            req = req.header("content-type", "text/plain").body(v.to_string());
        }
        Body::ControlChar { string, at, c } => {
            if let Some(mut body) = template(&method, &route.path, world) {
                let mut strings = Vec::new();
                collect_strings(&mut body, &mut strings);
                if !strings.is_empty() {
                    let text = &mut *strings.remove(string % strings.len());
                    let at = text
                        .char_indices()
                        .map(|(i, _)| i)
                        .nth(at % (text.chars().count() + 1))
                        .unwrap_or(text.len());
                    text.insert(at, *c);
                }
                req = req.json(&body);
            }
        }
        Body::Template { field, value } => {
            if let Some(mut body) = template(&method, &route.path, world) {
                let object = body.as_object_mut().expect("templates are objects");
                let name = object
                    .keys()
                    .nth(field % object.len())
                    .cloned()
                    .expect("a field");
                match value {
                    Some(value) => object.insert(name, value.clone()),
                    None => object.remove(&name),
                };
                req = req.json(&body);
            }
        }
    }
    let before = event_count(p).await;
    let callbacks_before = callback_count(p).await;
    let answer = Reply::from(
        req.timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| format!("{method} {path}: no answer: {e}"))?,
    )
    .await;
    let status = answer.status.as_u16();
    *world
        .statuses
        .lock()
        .expect("not poisoned")
        .entry(status)
        .or_default() += 1;
    let not_yet = status == 503
        && answer.body["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("/not-yet"));
    if status >= 500 && !not_yet {
        return Err(format!(
            "{method} {path} ({case:?}) answered {status}: {}",
            answer.text
        ));
    }
    // A forged callback (no `Vitrine-Signature`) is refused before its body is read: 401,
    // or 400/422 when a header is malformed (the header extractors run first); another
    // method is answered like any other refusal.
    if route.path == WEBHOOK && method == Method::POST && !matches!(status, 400 | 401 | 422) {
        return Err(format!(
            "{method} {path} ({case:?}): an unsigned callback answered {status}: {}",
            answer.text
        ));
    }
    if (400..500).contains(&status) {
        let callbacks_after = callback_count(p).await;
        if callbacks_after != callbacks_before {
            return Err(format!(
                "{method} {path} ({case:?}) was refused with {status} but recorded a payment callback"
            ));
        }
        let after = event_count(p).await;
        if after != before {
            return Err(format!(
                "{method} {path} ({case:?}) was refused with {status} but appended {} events",
                after - before
            ));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_requests_to_every_route_never_answer_5xx_and_refused_ones_record_nothing() {
    let p = Pipeline::start().await;
    // Real ids of every kind (category, product, an order) and sessions, one with an order.
    let category = p.command.create_category().await;
    let product = p.command.create_product(category, 500, 50).await;
    let (_, buyer) = p.command.new_session().await;
    let cart = p
        .command
        .shopper(
            &buyer,
            Method::POST,
            "/api/v1/cart/",
            Some(json!({"product_id": product, "quantity": 2})),
        )
        .await;
    assert_eq!(cart.status, reqwest::StatusCode::OK, "{:?}", cart.body);
    let order = p
        .command
        .post("/api/v1/checkout/")
        .bearer(&buyer)
        .header("Idempotency-Key", "fuzz-order")
        .await;
    let order: Uuid = serde_json::from_value(order.body["order_id"].clone()).expect("order id");
    let world = World {
        ids: vec![category, product, order],
        sessions: vec![buyer, p.command.session().await],
        statuses: Default::default(),
    };
    let routes = routes();
    let cases: u32 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let mut runner = TestRunner::new(RunnerConfig {
        cases,
        failure_persistence: None,
        max_shrink_iters: 200,
        ..RunnerConfig::default()
    });
    let strategy = case(routes.len(), world.ids.len(), world.sessions.len());
    let handle = tokio::runtime::Handle::current();
    // The failure (with the shrunk case) as text: it is only printed.
    let result = tokio::task::block_in_place(|| {
        runner
            .run(&strategy, |case| {
                handle
                    .block_on(run_case(&p, &world, &routes, case))
                    .map_err(TestCaseError::fail)
            })
            .map_err(|failure| failure.to_string())
    });
    eprintln!(
        "{cases} cases; answers by status: {:?}",
        world.statuses.lock().unwrap()
    );
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
