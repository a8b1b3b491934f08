//! The HTTP contract's common machinery, used by command-api and query-api.
//!
//! - [`Documented`]: the router builder both programs build their routers with. A handler
//!   is registered only through `utoipa_axum::routes!`, which takes its path and methods
//!   from the handler's `#[utoipa::path]` annotation, and the same call adds the operation
//!   to the program's OpenAPI document. A route without documentation therefore cannot be
//!   registered; each program's tests also compare the router with the document.
//! - [`problem_bodies`]: gives every 4xx/5xx response of a document the
//!   `application/problem+json` body ([`crate::http::Problem`]), so that annotations only
//!   list status and meaning.

use axum::Router;
use utoipa::openapi::path::Operation;
use utoipa::openapi::{Content, OpenApi, RefOr, Response};
use utoipa::ToSchema;
use utoipa_axum::router::UtoipaMethodRouter;

use crate::http::{FieldProblem, Problem, PROBLEM_JSON};

/// A router and the OpenAPI document of exactly its routes.
pub struct Documented<S> {
    router: Router<S>,
    api: OpenApi,
}

impl<S: Clone + Send + Sync + 'static> Documented<S> {
    /// Starts from a document holding the info, tags and security schemes.
    pub fn new(api: OpenApi) -> Self {
        Self {
            router: Router::new(),
            api,
        }
    }

    /// Registers the handlers of one `routes!(..)` call (they must share one path) at
    /// their documented path and, when it ends in `/`, at the same path without it (both
    /// forms answer the same; the document lists the canonical one, with the slash).
    ///
    /// # Panics
    /// When the handlers of one call name different paths.
    pub fn routes(mut self, (schemas, paths, method_router): UtoipaMethodRouter<S>) -> Self {
        assert_eq!(
            paths.paths.len(),
            1,
            "one routes!(..) call per path: {:?}",
            paths.paths.keys().collect::<Vec<_>>()
        );
        for path in paths.paths.keys() {
            self.router = self.router.route(path, method_router.clone());
            if path.len() > 1 && path.ends_with('/') {
                self.router = self
                    .router
                    .route(path.trim_end_matches('/'), method_router.clone());
            }
        }
        let mut paths = paths;
        for item in paths.paths.values_mut() {
            for op in operations(item) {
                // Handler names repeat across modules (`create`): prefix the tag.
                if let (Some(tag), Some(id)) =
                    (op.tags.as_ref().and_then(|t| t.first()), &op.operation_id)
                {
                    op.operation_id = Some(format!("{tag}_{id}"));
                }
            }
        }
        self.api.paths.merge(paths);
        let components = self.api.components.get_or_insert_with(Default::default);
        for (name, schema) in schemas {
            components.schemas.entry(name).or_insert(schema);
        }
        self
    }

    /// The router and its document (with [`problem_bodies`] applied).
    pub fn split(mut self) -> (Router<S>, OpenApi) {
        problem_bodies(&mut self.api);
        (self.router, self.api)
    }
}

/// Gives every 4xx/5xx response without content a [`Problem`] body, and adds the
/// schemas to the components.
pub fn problem_bodies(api: &mut OpenApi) {
    let problem = Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
        "Problem",
    ))));
    for item in api.paths.paths.values_mut() {
        for op in operations(item) {
            for (status, response) in op.responses.responses.iter_mut() {
                let is_error = status.starts_with('4') || status.starts_with('5');
                if let (true, RefOr::T(Response { content, .. })) = (is_error, response) {
                    if content.is_empty() {
                        content.insert(PROBLEM_JSON.to_owned(), RefOr::T(problem.clone()));
                    }
                }
            }
        }
    }
    let components = api.components.get_or_insert_with(Default::default);
    let mut schemas = Vec::new();
    <Problem as ToSchema>::schemas(&mut schemas);
    schemas.push((
        "Problem".to_owned(),
        <Problem as utoipa::PartialSchema>::schema(),
    ));
    schemas.push((
        "FieldProblem".to_owned(),
        <FieldProblem as utoipa::PartialSchema>::schema(),
    ));
    for (name, schema) in schemas {
        components.schemas.entry(name).or_insert(schema);
    }
}

/// The operations of a path item.
pub fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.options.as_mut(),
        item.head.as_mut(),
        item.patch.as_mut(),
        item.trace.as_mut(),
    ]
    .into_iter()
    .flatten()
}

/// `(method, path)` of every operation of a document, sorted: what tests compare
/// routers and documents with.
pub fn operation_list(api: &OpenApi) -> Vec<(String, String)> {
    let mut api = api.clone();
    let mut list = Vec::new();
    for (path, item) in api.paths.paths.iter_mut() {
        let methods = [
            ("GET", item.get.is_some()),
            ("PUT", item.put.is_some()),
            ("POST", item.post.is_some()),
            ("DELETE", item.delete.is_some()),
            ("OPTIONS", item.options.is_some()),
            ("HEAD", item.head.is_some()),
            ("PATCH", item.patch.is_some()),
            ("TRACE", item.trace.is_some()),
        ];
        for (method, present) in methods {
            if present {
                list.push((method.to_owned(), path.clone()));
            }
        }
    }
    list.sort();
    list
}
