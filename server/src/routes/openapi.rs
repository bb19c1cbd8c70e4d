//! `GET /admin/v1/openapi.json`: the OpenAPI 3.1 document of every
//! `/admin/v1` route. Each operation comes from its handler's
//! `#[utoipa::path]` (through the domains' doors); what the capability
//! table decides is added here from the table, once: who may call it
//! (security), the `x-tenant-id` header of tenant-scoped routes, and the
//! error answers every route shares.

use super::Door;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use model::policy::{self, Access, Scope, REST_PREFIX};
use model::ErrorCode;
use std::sync::LazyLock;
use utoipa::openapi::path::{Operation, Parameter, ParameterIn, PathItem};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr,
    Required, ResponseBuilder, SecurityRequirement, ServerBuilder,
};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::routes;

pub fn doors() -> Vec<Door> {
    vec![("openapi.get", routes!(document))]
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    spec()
        .to_pretty_json()
        .expect("the OpenAPI document serialises")
});

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi.get",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document of `/admin/v1`", body = Object))
)]
pub async fn document() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], DOCUMENT.as_str())
}

const BEARER: &str = "bearer";
const COOKIE: &str = "session_cookie";

/// The whole document: the doors' operations, with the table's rules.
pub fn spec() -> OpenApi {
    let mut paths = Paths::new();
    let mut schemas = Vec::new();
    for (name, (s, p, _)) in super::doors() {
        schemas.extend(s);
        for (path, mut item) in p.paths {
            for (_, op) in operations(&mut item) {
                apply_policy(name, op);
            }
            let mut one = Paths::new();
            one.paths.insert(path, item);
            paths.merge(one);
        }
    }
    schemas.push(("ErrorBody".into(), model::ErrorBody::schema()));
    schemas.push(("ErrorCode".into(), ErrorCode::schema()));
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                utoipa::openapi::security::HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("A Gateway access token (docs/permissions.md)"))
                    .build(),
            ),
        )
        .security_scheme(
            COOKIE,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                model::rights::SESSION_COOKIE,
                "The UI's session cookie (same-origin requests only)",
            ))),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Cloudlysis Control admin API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Every route answers errors as `ErrorBody` with a stable `code`. \
                     Job-creating routes require an `Idempotency-Key` (docs/jobs.md).",
                ))
                .build(),
        )
        .servers(Some([ServerBuilder::new().url(REST_PREFIX).build()]))
        .paths(paths)
        .components(Some(components))
        .build()
}

/// The operations of a path item, by lower-case method.
pub fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("put", &mut item.put),
        ("post", &mut item.post),
        ("delete", &mut item.delete),
        ("patch", &mut item.patch),
        ("head", &mut item.head),
        ("options", &mut item.options),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
    .collect()
}

/// Security, the tenant header and the shared error answers, from the
/// capability's row.
fn apply_policy(name: &str, op: &mut Operation) {
    let Some(cap) = policy::capability(name) else {
        return;
    };
    let mut errors = vec![
        (
            ErrorCode::BadRequest,
            "Bad input: a parameter, header or body that does not parse",
        ),
        (
            ErrorCode::Unavailable,
            "A store or the fleet view is unavailable",
        ),
        (
            ErrorCode::Timeout,
            "The request ran past the server's timeout",
        ),
    ];
    if cap.access != Access::Public {
        errors.push((ErrorCode::Unauthenticated, "No valid credentials"));
        errors.push((
            ErrorCode::Forbidden,
            "The caller lacks the right, or a cross-site request",
        ));
        op.security = Some(vec![
            SecurityRequirement::new::<_, [&str; 0], &str>(BEARER, []),
            SecurityRequirement::new::<_, [&str; 0], &str>(COOKIE, []),
        ]);
    }
    if op.request_body.is_some() {
        errors.push((
            ErrorCode::PayloadTooLarge,
            "The body is over the server's limit",
        ));
        errors.push((
            ErrorCode::UnsupportedMediaType,
            "The body is not `application/json`",
        ));
    }
    if cap.scope == Scope::Tenant {
        let header = utoipa::openapi::path::ParameterBuilder::new()
            .name("x-tenant-id")
            .parameter_in(ParameterIn::Header)
            .required(Required::True)
            .description(Some(
                "The tenant the call is about; equal to the `{tenant}` path segment",
            ))
            .schema(Some(String::schema()))
            .build();
        op.parameters
            .get_or_insert_with(Vec::new)
            .push(RefOr::T(header));
    }
    for (code, what) in errors {
        let status = code.http_status().to_string();
        op.responses
            .responses
            .entry(status)
            .or_insert_with(|| error_response(what));
    }
}

/// An error answer: `ErrorBody` with a stable code.
pub fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name(model::ErrorBody::name())))
                    .build(),
            )
            .build(),
    )
}

/// The path parameters an operation declares.
pub fn path_parameters(op: &Operation) -> Vec<String> {
    op.parameters
        .iter()
        .flatten()
        .filter_map(|p| match p {
            RefOr::T(Parameter {
                name,
                parameter_in: ParameterIn::Path,
                ..
            }) => Some(name.clone()),
            _ => None,
        })
        .collect()
}
