//! The embedded web app and what every answer carries: security headers, long caching for
//! hashed assets only, the app's pages on deep links while the API keeps its JSON 404s; the
//! server health and metric schema endpoints the app reads; and the formatting examples the
//! app's own tests hold it to (written by core here, so the two cannot drift apart).

mod harness;

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use spectra_core::metrics::{self, Unit};

#[tokio::test]
async fn the_app_is_served_with_its_headers_and_pages_on_deep_links() {
    each_store!(|f| {
        assert!(
            spectra_server::api::web::embedded(),
            "web-dist/ is built into the binary"
        );
        let index = f.request(Method::GET, "/", None, Vec::new()).await;
        assert_eq!(index.status, StatusCode::OK);
        assert!(index.text.contains("<div id=\"root\">"), "{}", index.text);
        assert!(!index.text.contains("<script>"), "no inline script");
        assert_eq!(index.headers["cache-control"], "no-cache");
        let csp = index.headers["content-security-policy"]
            .to_str()
            .expect("ascii");
        for directive in [
            "script-src 'self'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(directive), "{csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(index.headers["x-content-type-options"], "nosniff");
        assert_eq!(index.headers["referrer-policy"], "no-referrer");
        assert!(
            !index.headers.contains_key("strict-transport-security"),
            "no TLS here"
        );

        let script = index
            .text
            .split("src=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a script file");
        assert!(script.starts_with("/assets/"), "{script}");
        let asset = f.request(Method::GET, script, None, Vec::new()).await;
        assert_eq!(asset.status, StatusCode::OK);
        assert_eq!(
            asset.headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert!(
            asset.headers["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with("text/javascript")
        );

        let gzipped = f
            .request_from(
                "127.0.0.1:1".parse().expect("addr"),
                Method::GET,
                script,
                &[("accept-encoding", "gzip")],
                Vec::new(),
            )
            .await;
        assert_eq!(gzipped.headers["content-encoding"], "gzip");
        assert!(
            gzipped.bytes.len() * 2 < asset.bytes.len(),
            "gzip: {} of {} bytes",
            gzipped.bytes.len(),
            asset.bytes.len()
        );
        let mut unzipped = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&gzipped.bytes[..]),
            &mut unzipped,
        )
        .expect("gzip");
        assert_eq!(unzipped, asset.bytes);
        let deep = f
            .request(
                Method::GET,
                "/agents/abc?range=24h&tab=processes",
                None,
                Vec::new(),
            )
            .await;
        assert_eq!(deep.status, StatusCode::OK, "a page of the app");
        assert_eq!(deep.text, index.text);
        let api = f
            .request(Method::GET, "/api/v1/nothing", None, Vec::new())
            .await;
        assert_eq!(api.status, StatusCode::NOT_FOUND);
        assert_eq!(api.body["code"], "not_found");
        assert!(
            api.headers.contains_key("content-security-policy"),
            "API answers too"
        );
        let missing_file = f
            .request(Method::GET, "/assets/gone.js", None, Vec::new())
            .await;
        assert_eq!(missing_file.status, StatusCode::NOT_FOUND);
        let post = f.request(Method::POST, "/agents", None, Vec::new()).await;
        assert_eq!(
            post.status,
            StatusCode::NOT_FOUND,
            "pages are read, not posted to"
        );
    });
}

#[tokio::test]
async fn server_health_reports_this_replicas_routes_and_store() {
    each_store!(|f| {
        for _ in 0..3 {
            let _ = f.get("/api/v1/agents", &f.viewer).await;
        }
        let _ = f.get("/api/v1/agents?limit=0", &f.viewer).await;
        let health = f.get("/api/v1/server-health", &f.viewer).await;
        assert_eq!(health.status, StatusCode::OK, "{}", health.text);
        assert_eq!(health.body["store"]["backend"], f.backend.name);
        assert!(
            health.body["store"]["size_bytes"].as_i64().unwrap_or(0) > 0,
            "{}",
            health.text
        );
        let agents = health.body["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .find(|r| r["route"] == "/api/v1/agents")
            .expect("the agents route")
            .clone();
        assert_eq!(agents["requests"], 4, "{agents}");
        assert_eq!(agents["client_errors"], 1, "{agents}");
        assert_eq!(agents["server_errors"], 0);
        let (p50, p99) = (
            agents["p50_ms"].as_f64().expect("p50"),
            agents["p99_ms"].as_f64().expect("p99"),
        );
        assert!(p50 > 0.0 && p50 <= p99, "{agents}");

        let fields = f.get("/api/v1/metric-fields", &f.viewer).await;
        let cpu = fields.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|field| field["name"] == "cpu.total.usage_percent")
            .expect("in the schema")
            .clone();
        assert_eq!(cpu["unit"], "percent");
        assert_eq!(
            fields.body["items"].as_array().map(Vec::len),
            Some(metrics::fields().len())
        );
    });
}

/// Values that exercise every branch of [`Unit::format`].
const EXAMPLE_VALUES: [f64; 13] = [
    0.0,
    0.5,
    1.0,
    12.345,
    99.95,
    1023.0,
    1024.0,
    1536.0,
    1_048_576.0,
    5e9,
    3725.0,
    90061.0,
    -2048.0,
];

#[test]
fn the_web_apps_formatting_examples_are_cores() {
    let mut units: BTreeMap<&str, Unit> = BTreeMap::new();
    for field in metrics::fields() {
        units.insert(field.unit.as_str(), field.unit);
    }
    let examples: Vec<Value> = units
        .iter()
        .filter(|(_, unit)| unit.is_numeric())
        .flat_map(|(name, unit)| {
            EXAMPLE_VALUES
                .iter()
                .map(move |v| json!({"unit": name, "value": v, "text": unit.format(*v)}))
        })
        .collect();
    let text = format!(
        "{}\n",
        serde_json::to_string_pretty(&examples).expect("json")
    );
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/src/format.examples.json");
    if std::env::var_os("SPECTRA_BLESS").is_some() {
        std::fs::write(&path, &text).expect("write");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{} is not what core formats: run this test with SPECTRA_BLESS=1 and commit it",
        path.display()
    );
}

/// The web app's types are generated from `web/openapi.json`; it must be what the server
/// serves (derived from the handlers' types), or the app is typed against another API.
#[test]
fn the_web_apps_copy_of_the_openapi_document_is_current() {
    let served = format!("{}\n", spectra_server::api::schemas::document());
    let value: Value = serde_json::from_str(&served).expect("json");
    let overview = &value["paths"]["/api/v1/overview"]["get"]["responses"]["200"]["content"]["application/json"]
        ["schema"]["$ref"];
    assert_eq!(
        overview, "#/components/schemas/OverviewPage",
        "answers carry derived schemas"
    );
    let row = &value["components"]["schemas"]["OverviewRow"]["properties"];
    for field in ["hostname", "cpu_percent", "cpu_trend", "labels"] {
        assert!(row.get(field).is_some(), "{field} in {row}");
    }
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/openapi.json");
    if std::env::var_os("SPECTRA_BLESS").is_some() {
        std::fs::write(&path, &served).expect("write");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == served,
        "{} is not the served document: run this test with SPECTRA_BLESS=1, then `npm run gen:api` in web/, and commit both",
        path.display()
    );
}

/// Every operation's parameters, when there are any, are a list (never `null`), and every
/// list's `limit` states the bounds the server enforces.
#[test]
fn the_documents_paging_bounds_are_the_servers() {
    let document: Value =
        serde_json::from_str(spectra_server::api::schemas::document()).expect("json");
    let mut limits = 0;
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for (method, operation) in operations.as_object().expect("operations") {
            let Some(parameters) = operation.get("parameters") else {
                continue;
            };
            let parameters = parameters
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path}: {parameters}"));
            for limit in parameters.iter().filter(|p| p["name"] == "limit") {
                limits += 1;
                assert_eq!(limit["schema"]["minimum"], 1, "{method} {path}");
                assert_eq!(
                    limit["schema"]["maximum"],
                    spectra_server::store::MAX_PAGE_SIZE,
                    "{method} {path}"
                );
            }
        }
    }
    assert!(limits >= 10, "the lists were found: {limits}");
}

/// The overview's query parameters are derived from its handler's type; the choices the
/// server accepts are the ones the document lists.
#[test]
fn the_overviews_parameters_are_the_handlers() {
    let document: Value =
        serde_json::from_str(spectra_server::api::schemas::document()).expect("json");
    let parameters = document["paths"]["/api/v1/overview"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    let choices = |name: &str| -> Vec<String> {
        let parameter = parameters
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {parameters:?}"));
        assert_eq!(parameter["in"], "query");
        assert_eq!(parameter["required"], false, "{parameter}");
        assert_eq!(parameter["schema"]["type"], "string", "{parameter}");
        parameter["schema"]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{parameter}"))
            .iter()
            .map(|v| v.as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(choices("sort"), spectra_server::overview::SortKey::NAMES);
    assert_eq!(choices("status"), spectra_server::overview::STATUSES);
    assert_eq!(choices("order"), ["asc", "desc"]);
    let names: Vec<&str> = parameters
        .iter()
        .map(|p| p["name"].as_str().unwrap_or(""))
        .collect();
    for name in ["os", "label", "q", "limit", "cursor"] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }
    assert_eq!(names.len(), 8, "{names:?}");
}
