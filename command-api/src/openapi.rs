//! command-api's OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations.
//!
//! The router is built with [`vitrine_runtime::openapi::Documented`] (see
//! [`crate::routes::documented`]): a handler is registered only together with its
//! operation, so every route is in [`openapi`]'s answer.
//!
//! The public document (`GET /api/openapi.json`) covers both programs and is served by
//! query-api, which must not depend on command-api. So this program's part is written to
//! `docs/openapi/command-api.json`, committed, and embedded by query-api at compile time;
//! the test `the_committed_document_is_current` fails when that file differs from what the
//! code generates (run it with `VITRINE_WRITE_OPENAPI=1` to rewrite the file).

use serde::Serialize;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};
use uuid::Uuid;

/// Where the committed copy of [`openapi`] lives, relative to the workspace root.
pub const COMMITTED: &str = "docs/openapi/command-api.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vitrine command-api",
        description = "The write side: every method other than GET/HEAD under /api/v1/. See docs/api.md.",
        version = env!("CARGO_PKG_VERSION"),
        license(name = "MIT", identifier = "MIT"),
    ),
    modifiers(&Security),
    tags(
        (name = "sessions", description = "Anonymous shopper sessions"),
        (name = "categories", description = "The category tree (admin)"),
        (name = "products", description = "The catalog (admin)"),
        (name = "cart", description = "The session's cart"),
        (name = "checkout", description = "A cart becomes an order"),
        (name = "orders", description = "Order transitions"),
        (name = "payments", description = "The payment provider's signed callbacks"),
        (name = "ops", description = "Health, readiness and metrics (not routed by nginx)"),
    )
)]
struct Base;

/// The two bearer schemes: `admin` (the `ADMIN_TOKEN`) and `session` (a token from
/// `POST /api/v1/sessions/`).
pub struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        for (name, what) in [
            ("admin", "the ADMIN_TOKEN"),
            ("session", "a session token from POST /api/v1/sessions/"),
        ] {
            let mut http = Http::new(HttpAuthScheme::Bearer);
            http.description = Some(format!("Authorization: Bearer <{what}>"));
            components.add_security_scheme(name, SecurityScheme::Http(http));
        }
    }
}

/// The document's info, tags and security schemes, without paths.
pub fn base() -> utoipa::openapi::OpenApi {
    Base::openapi()
}

/// The whole document of command-api.
pub fn openapi() -> utoipa::openapi::OpenApi {
    crate::routes::documented().1
}

/// The headers every command reads.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct CommandHeaderParams {
    /// 1 to 255 visible ASCII characters. The first answer to a key is stored (per caller)
    /// and replayed to every retry with the same method, path and body; the same key on a
    /// different request is a 422. nginx adds one (its request id) when the client sends
    /// none, so retries through nginx are safe.
    #[param(rename = "Idempotency-Key")]
    idempotency_key: Option<String>,
    /// The stream version the client expects, quoted (`"3"`) or bare; a different current
    /// version is a 409 with `current_version`.
    #[param(rename = "If-Match")]
    if_match: Option<String>,
    /// A UUID to use as the events' correlation id (otherwise a new one).
    #[param(rename = "X-Request-Id")]
    x_request_id: Option<String>,
}

/// The id in the path (a UUID; anything else is a 404).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct IdParam {
    id: Uuid,
}

/// A command's success answer. Every answer carries `id`, `stream` and `version`; some
/// commands add fields (listed here, all optional).
#[derive(Serialize, ToSchema)]
pub struct CommandAnswer {
    /// The aggregate's id (for the cart: the session id).
    pub id: Uuid,
    /// The stream written, `{kind}-{id}`, e.g. `product-0190…`.
    #[schema(example = "cart-0190c0de-0000-7000-8000-000000000000")]
    pub stream: String,
    /// The stream's version after the command: pass it as `min_version` to read your write.
    pub version: i64,
    /// Product create: the slug derived from the name.
    pub slug: Option<String>,
    /// Product patch/stock/discontinue: the stock after the command.
    pub stock: Option<i32>,
    /// Product patch/stock/discontinue.
    pub discontinued: Option<bool>,
    /// Cart commands: the cart's lines after the command.
    pub items: Option<Vec<CartItem>>,
    /// Checkout: the new order.
    pub order_id: Option<Uuid>,
    /// Checkout.
    pub total_cents: Option<i64>,
    /// Checkout; starting a payment (the payment's currency).
    pub currency: Option<String>,
    /// Checkout (`placed`) and order transitions (`paid`, `cancelled`, `shipped`, `expired`).
    pub status: Option<String>,
    /// Checkout: when the order expires unpaid and its stock returns (RFC 3339).
    pub pay_by: Option<chrono::DateTime<chrono::Utc>>,
    /// Order transitions and the payment callback: `none`, `pending`, `paid` or `failed`.
    pub payment_status: Option<String>,
    /// Starting a payment: the provider's payment intent.
    pub intent_id: Option<String>,
    /// Starting a payment: what the client hands to the provider to pay the intent.
    pub client_secret: Option<String>,
    /// Starting a payment: the amount to pay (the order's total).
    pub amount_cents: Option<i64>,
}

/// A cart line in a cart command's answer.
#[derive(Serialize, ToSchema)]
pub struct CartItem {
    pub product_id: Uuid,
    pub quantity: i32,
}

/// `POST /api/v1/sessions/`'s answer.
#[derive(Serialize, ToSchema)]
pub struct SessionAnswer {
    pub session_id: Uuid,
    /// Send it as `Authorization: Bearer <token>`.
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

/// The JSON of [`openapi`], pretty-printed with a final newline, as committed.
pub fn json() -> String {
    let mut text = openapi().to_pretty_json().expect("the document serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use axum::body::Body;
    use axum::http::{Method, Request, StatusCode};
    use tower::ServiceExt;
    use vitrine_runtime::openapi::operation_list;

    use super::*;

    fn committed_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(COMMITTED)
    }

    #[test]
    fn the_committed_document_is_current() {
        let generated = json();
        let path = committed_path();
        if std::env::var_os("VITRINE_WRITE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).expect("write the document");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{COMMITTED} is stale: run `VITRINE_WRITE_OPENAPI=1 cargo nextest run -p command-api the_committed_document_is_current`"
        );
    }

    #[test]
    fn the_document_is_openapi_3_1_with_every_command() {
        let doc: serde_json::Value = serde_json::from_str(&json()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let ops = operation_list(&openapi());
        for (method, path) in [
            ("POST", "/api/v1/sessions/"),
            ("POST", "/api/v1/categories/"),
            ("PATCH", "/api/v1/categories/{id}/"),
            ("POST", "/api/v1/products/"),
            ("PATCH", "/api/v1/products/{id}/"),
            ("DELETE", "/api/v1/products/{id}/"),
            ("POST", "/api/v1/products/{id}/stock/"),
            ("POST", "/api/v1/cart/"),
            ("DELETE", "/api/v1/cart/"),
            ("PUT", "/api/v1/cart/items/{id}/"),
            ("DELETE", "/api/v1/cart/items/{id}/"),
            ("POST", "/api/v1/checkout/"),
            ("POST", "/api/v1/orders/{id}/pay/"),
            ("POST", "/api/v1/orders/{id}/cancel/"),
            ("POST", "/api/v1/orders/{id}/ship/"),
            ("POST", "/api/v1/payments/webhook/"),
            ("GET", "/healthz"),
            ("GET", "/readyz"),
            ("GET", "/metrics"),
        ] {
            assert!(
                ops.contains(&(method.to_owned(), path.to_owned())),
                "{method} {path} is not documented"
            );
        }
        assert_eq!(ops.len(), 19, "{ops:?}");
        // Every error answer is a problem.
        let text = json();
        assert!(text.contains("application/problem+json"));
    }

    /// A state whose stores are never reached (lazy pool).
    fn state() -> crate::AppState {
        let mut config = crate::Config::defaults();
        config.dev_mode = true;
        config.check_secrets().unwrap();
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy(&config.database_url)
            .unwrap();
        crate::AppState::new(pool, config, vitrine_runtime::telemetry::install_metrics())
    }

    /// Every method on every documented path (both slash forms) reaches a handler, and
    /// every method the router answers on a documented path is documented: an
    /// undocumented route (or method) shows up as a difference.
    #[tokio::test]
    async fn every_route_is_documented_and_every_documented_route_is_routed() {
        let api = openapi();
        // The real app on a pool that never connects: a routed request is answered by its
        // handler (401 before anything else, 201 for a session, 503 for /readyz), an
        // unknown path by the fallback (404) and a wrong method by the router (405). The
        // nil id is a well-formed UUID, and auth is checked before the id is looked up.
        let router = crate::app(state());
        let documented = operation_list(&api);
        let methods = [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ];
        let id = Uuid::nil();
        for path in api.paths.paths.keys() {
            let concrete = path.replace("{id}", &id.to_string());
            for form in [concrete.clone(), concrete.trim_end_matches('/').to_owned()] {
                if form.is_empty() {
                    continue;
                }
                for method in &methods {
                    let res = router
                        .clone()
                        .oneshot(
                            Request::builder()
                                .method(method.clone())
                                .uri(&form)
                                .body(Body::empty())
                                .unwrap(),
                        )
                        .await
                        .unwrap();
                    let routed = !matches!(
                        res.status(),
                        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
                    );
                    let is_documented =
                        documented.contains(&(method.as_str().to_owned(), path.clone()));
                    assert_eq!(
                        routed, is_documented,
                        "{method} {form}: routed {routed}, documented {is_documented}"
                    );
                }
            }
        }
    }
}
