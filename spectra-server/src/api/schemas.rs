//! The OpenAPI document: the routes, parameters and errors of `openapi.json`, with the JSON
//! Schemas of the answers (and of the request bodies the web app sends) derived here from the
//! very types the handlers serialize and read (schemars), so their shape is written once — in
//! Rust — and the web app's TypeScript types are generated from the result (`web/`:
//! `npm run gen:api`). Answers not listed in `answers()` are documented without a schema;
//! request bodies not listed in `requests()` keep the schema written in `openapi.json`.

use std::sync::OnceLock;

use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::Value;

use crate::accounts::SessionView;
use crate::store::{
    AgentEvent, AlertRuleRecord, AuditEntry, CommandRecord, DeliveryAttempt, Silence, UserRecord,
};

/// A page of a list: the items and the cursor of the next page (`null` on the last).
#[derive(Debug, schemars::JsonSchema)]
#[schemars(rename = "PageOf{T}")]
#[allow(dead_code)] // only its schema is used: handlers build the same shape with `json!`
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// One documented answer: route, method, status and the schema of its body.
struct Answer {
    path: &'static str,
    method: &'static str,
    status: &'static str,
    schema: fn(&mut SchemaGenerator) -> schemars::Schema,
}

fn answer<T: JsonSchema>(path: &'static str, method: &'static str, status: &'static str) -> Answer {
    Answer {
        path,
        method,
        status,
        schema: |generator| generator.subschema_for::<T>(),
    }
}

fn answers() -> Vec<Answer> {
    use spectra_core::metrics::MetricField;
    vec![
        answer::<super::overview::OverviewPage>("/api/v1/overview", "get", "200"),
        answer::<SessionView>("/api/v1/session", "get", "200"),
        answer::<SessionView>("/api/v1/session", "post", "200"),
        answer::<SessionView>("/api/v1/setup", "post", "200"),
        answer::<SessionView>("/api/v1/account/password", "post", "200"),
        answer::<Page<UserRecord>>("/api/v1/users", "get", "200"),
        answer::<UserRecord>("/api/v1/users", "post", "201"),
        answer::<UserRecord>("/api/v1/users/{name}", "patch", "200"),
        answer::<Page<AuditEntry>>("/api/v1/audit", "get", "200"),
        answer::<super::SetupState>("/api/v1/setup", "get", "200"),
        answer::<Page<super::accounts::SessionItem>>("/api/v1/account/sessions", "get", "200"),
        answer::<super::ServerHealth>("/api/v1/server-health", "get", "200"),
        answer::<Page<MetricField>>("/api/v1/metric-fields", "get", "200"),
        answer::<super::admin::AgentView>("/api/v1/agents/{id}", "get", "200"),
        answer::<super::admin::AgentView>("/api/v1/agents/{id}/approve", "post", "200"),
        answer::<Page<super::admin::AgentView>>("/api/v1/agents", "get", "200"),
        answer::<Vec<AgentEvent>>("/api/v1/agents/{id}/events", "get", "200"),
        answer::<super::history::MetricHistory>("/api/v1/metrics/query", "get", "200"),
        answer::<super::history::SnapshotList>("/api/v1/snapshots", "get", "200"),
        answer::<super::admin::TokenList>("/api/v1/tokens", "get", "200"),
        answer::<super::history::Latest>("/api/v1/agents/{id}/latest", "get", "200"),
        answer::<CommandRecord>("/api/v1/commands/{id}", "get", "200"),
        answer::<CommandRecord>("/api/v1/agents/{id}/commands", "post", "202"),
        answer::<Page<crate::alerts::AlertView>>("/api/v1/alerts", "get", "200"),
        answer::<Page<AlertRuleRecord>>("/api/v1/alert-rules", "get", "200"),
        answer::<Page<Silence>>("/api/v1/silences", "get", "200"),
        answer::<Page<DeliveryAttempt>>("/api/v1/alert-deliveries", "get", "200"),
    ]
}

/// Every list's `limit` states the bounds the server enforces (from the store's constants,
/// so the two cannot differ).
fn bound_paging(document: &mut Value) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|ops| ops.values_mut())
    {
        // `get_mut`, not indexing: indexing would add `"parameters": null` where there is none.
        let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for parameter in parameters
            .iter_mut()
            .filter(|p| p["name"] == "limit" && p["in"] == "query")
        {
            parameter["schema"] = serde_json::json!({
                "type": "integer",
                "minimum": 1,
                "maximum": crate::store::MAX_PAGE_SIZE,
                "default": crate::store::DEFAULT_PAGE_SIZE,
            });
        }
    }
}

/// The request bodies derived from the types the handlers read them into (with the
/// generator's deserialization view: what the server accepts).
fn requests() -> Vec<Answer> {
    use spectra_core::alert::AlertRule;
    use spectra_core::protocol::Diagnostic;
    vec![
        answer::<super::accounts::Login>("/api/v1/session", "post", ""),
        answer::<super::accounts::Setup>("/api/v1/setup", "post", ""),
        answer::<super::accounts::PasswordChange>("/api/v1/account/password", "post", ""),
        answer::<super::accounts::NewUser>("/api/v1/users", "post", ""),
        answer::<super::accounts::ChangeUser>("/api/v1/users/{name}", "patch", ""),
        answer::<super::admin::NewToken>("/api/v1/tokens", "post", ""),
        answer::<Diagnostic>("/api/v1/agents/{id}/commands", "post", ""),
        answer::<AlertRule>("/api/v1/alert-rules", "post", ""),
        answer::<AlertRule>("/api/v1/alert-rules/{name}", "put", ""),
        answer::<super::alerts::NewSilence>("/api/v1/silences", "post", ""),
    ]
}

/// The query parameters derived from the types the handlers read them into.
fn queries() -> Vec<Answer> {
    vec![
        answer::<super::overview::Params>("/api/v1/overview", "get", ""),
        answer::<super::accounts::PageQuery>("/api/v1/users", "get", ""),
        answer::<super::accounts::PageQuery>("/api/v1/audit", "get", ""),
        answer::<super::admin::AgentFilter>("/api/v1/agents", "get", ""),
        answer::<super::alerts::AlertFilter>("/api/v1/alerts", "get", ""),
        answer::<super::alerts::ListParams>("/api/v1/alert-rules", "get", ""),
        answer::<super::alerts::ListParams>("/api/v1/silences", "get", ""),
        answer::<super::alerts::ListParams>("/api/v1/alert-deliveries", "get", ""),
        answer::<super::history::MetricQuery>("/api/v1/metrics/query", "get", ""),
        answer::<super::history::LatestParams>("/api/v1/agents/{id}/latest", "get", ""),
        answer::<super::history::SnapshotParams>("/api/v1/snapshots", "get", ""),
    ]
}

/// The query parameters of an object schema: one per property, required when the type
/// requires it, never `null` (an absent parameter is how a query says "none").
fn query_parameters(schema: &Value) -> Vec<Value> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema["properties"].as_object() else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let mut property = property.clone();
            let description = property
                .as_object_mut()
                .and_then(|p| p.remove("description"))
                .unwrap_or(Value::Null);
            if let Some(types) = property.get_mut("type").and_then(Value::as_array_mut) {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    property["type"] = only;
                }
            }
            let mut parameter = serde_json::json!({
                "name": name,
                "in": "query",
                "required": required.contains(&name.as_str()),
                "schema": property,
            });
            if !description.is_null() {
                parameter["description"] = description;
            }
            parameter
        })
        .collect()
}

/// The whole document, built once.
pub fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document: Value =
            serde_json::from_str(include_str!("openapi.json")).unwrap_or_default();
        let mut generator = SchemaSettings::draft2020_12()
            .with(|settings| settings.definitions_path = "/components/schemas".into())
            .into_generator();
        // Inlined, so that a type the server reads (defaults optional) and writes (every field
        // present) keeps both views.
        let mut reader = SchemaSettings::draft2020_12()
            .for_deserialize()
            .with(|settings| settings.inline_subschemas = true)
            .into_generator();
        for query in queries() {
            let schema = (query.schema)(&mut reader).to_value();
            let operation = &mut document["paths"][query.path][query.method];
            let mut parameters: Vec<Value> = operation
                .get("parameters")
                .and_then(Value::as_array)
                .map(|all| all.iter().filter(|p| p["in"] != "query").cloned().collect())
                .unwrap_or_default();
            parameters.extend(query_parameters(&schema));
            operation["parameters"] = Value::Array(parameters);
        }
        bound_paging(&mut document);
        for answer in answers() {
            let schema = (answer.schema)(&mut generator);
            let response =
                &mut document["paths"][answer.path][answer.method]["responses"][answer.status];
            response["content"]["application/json"]["schema"] = schema.to_value();
        }
        for request in requests() {
            let schema = (request.schema)(&mut reader);
            let body = &mut document["paths"][request.path][request.method]["requestBody"];
            body["required"] = Value::Bool(true);
            body["content"]["application/json"]["schema"] = schema.to_value();
        }
        for (name, schema) in generator.definitions() {
            document["components"]["schemas"][name] = schema.clone();
        }
        serde_json::to_string_pretty(&document).unwrap_or_default()
    })
}
