//! Shared by the server tests: both stores, a fixture with tokens, and request helpers.
#![allow(dead_code)] // each test crate uses a different part

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chrono::Utc;
use serde_json::Value;
use spectra_server::api::{self, AppState};
use spectra_server::auth::{self, Role};
use spectra_server::config::ServeConfig;
use spectra_server::store::{self, Store};
use sqlx::Connection;
use tower::ServiceExt;

#[path = "../../../spectra-core/tests/support/skip.rs"]
mod skip;

pub const ENROLL: &str = "enroll-secret-0123456789";

/// The PostgreSQL the tests use: `SPECTRA_TEST_POSTGRES`, else the local server.
pub fn postgres_base() -> String {
    std::env::var("SPECTRA_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

fn postgres_required() -> bool {
    std::env::var("SPECTRA_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

/// A fresh schema in the test database, and a URL whose connections use it. `None` (with a
/// note) when PostgreSQL is unreachable — unless `SPECTRA_REQUIRE_POSTGRES=1`, as in CI, where
/// that is a failure.
pub async fn fresh_schema() -> Option<(String, String)> {
    let base = postgres_base();
    let mut conn = match sqlx::PgConnection::connect(&base).await {
        Ok(conn) => conn,
        Err(e) if postgres_required() => {
            panic!("PostgreSQL is required (SPECTRA_REQUIRE_POSTGRES=1) but {base} failed: {e}")
        }
        Err(e) => {
            skip::skipped(
                "PostgreSQL half of a test",
                &format!("{base} unreachable ({e}); SQLite only"),
            );
            return None;
        }
    };
    let schema = format!("spectra_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&mut conn)
        .await
        .expect("create schema");
    let url = format!("{base}?options=-c%20search_path%3D{schema}");
    Some((url, schema))
}

pub async fn drop_schema(schema: &str) {
    let mut conn = sqlx::PgConnection::connect(&postgres_base())
        .await
        .expect("connect to drop the schema");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .execute(&mut conn)
    .await
    .expect("drop schema");
}

/// One store under test and what to clean up after it.
pub struct Backend {
    pub name: &'static str,
    pub db: String,
    pub store: Arc<Store>,
    dir: Option<tempfile::TempDir>,
    schema: Option<String>,
}

impl Backend {
    pub async fn finish(self) {
        drop(self.store);
        if let Some(schema) = self.schema {
            drop_schema(&schema).await;
        }
        drop(self.dir);
    }
}

/// SQLite in a temporary directory, and PostgreSQL in a fresh schema.
pub async fn backends() -> Vec<Backend> {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("spectra.db").to_string_lossy().into_owned();
    let mut all = vec![Backend {
        name: "sqlite",
        store: store::open(&db).await.expect("open sqlite"),
        db,
        dir: Some(dir),
        schema: None,
    }];
    if let Some((url, schema)) = fresh_schema().await {
        all.push(Backend {
            name: "postgres",
            store: store::open(&url).await.expect("open postgres"),
            db: url,
            dir: None,
            schema: Some(schema),
        });
    }
    all
}

pub async fn token(store: &Store, role: Role) -> String {
    let issued = auth::issue(role, &format!("test {role}"), Utc::now()).expect("token");
    store
        .insert_token(&issued.record)
        .await
        .expect("store token");
    issued.token
}

/// The app over one backend, with a token of each role.
pub struct Fixture {
    pub backend: Backend,
    pub state: AppState,
    pub app: Router,
    pub admin: String,
    pub operator: String,
    pub viewer: String,
}

pub async fn fixture(backend: Backend, configure: impl FnOnce(&mut ServeConfig)) -> Fixture {
    let mut config = ServeConfig::new(backend.db.clone());
    config.enrollment_token = Some(ENROLL.to_owned());
    configure(&mut config);
    let state = AppState::new(backend.store.clone(), config);
    let app = api::app(state.clone());
    let store = backend.store.as_ref();
    Fixture {
        admin: token(store, Role::Admin).await,
        operator: token(store, Role::Operator).await,
        viewer: token(store, Role::Viewer).await,
        state,
        app,
        backend,
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
    /// The body as it came (compressed, when the answer is).
    pub bytes: Vec<u8>,
}

impl Fixture {
    pub async fn request(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if !body.is_empty() {
            request = request.header("content-type", "application/json");
        }
        self.answer(request.body(Body::from(body)).expect("request"))
            .await
    }

    async fn answer(&self, request: Request<Body>) -> Reply {
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
            bytes: bytes.to_vec(),
        }
    }

    /// A request with exactly these headers, as if from `addr` (a client address, which
    /// the real listener supplies and `oneshot` does not).
    pub async fn request_from(
        &self,
        addr: std::net::SocketAddr,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut request = request.body(Body::from(body)).expect("request");
        request.extensions_mut().insert(axum::extract::ConnectInfo(
            spectra_server::serve::ClientAddr(addr),
        ));
        self.answer(request).await
    }

    pub async fn get(&self, uri: &str, token: &str) -> Reply {
        self.request(Method::GET, uri, Some(token), Vec::new())
            .await
    }

    pub async fn send(&self, method: Method, uri: &str, token: &str, body: &Value) -> Reply {
        self.request(method, uri, Some(token), body.to_string().into_bytes())
            .await
    }

    pub async fn post(&self, uri: &str, token: &str, body: &Value) -> Reply {
        self.send(Method::POST, uri, token, body).await
    }

    /// `POST /api/v1/agent/register` (which takes no bearer token).
    pub async fn register(&self, body: Value) -> Reply {
        self.request(
            Method::POST,
            "/api/v1/agent/register",
            None,
            body.to_string().into_bytes(),
        )
        .await
    }

    /// Every page of list `uri` read as a viewer, `limit` items a page, following
    /// `next_cursor`: the items in order and how many pages held them.
    pub async fn every_page(&self, uri: &str, limit: usize) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let separator = if uri.contains('?') { '&' } else { '?' };
            let mut page_uri = format!("{uri}{separator}limit={limit}");
            if let Some(cursor) = &cursor {
                page_uri.push_str(&format!("&cursor={cursor}"));
            }
            let reply = self.get(&page_uri, &self.viewer).await;
            assert_eq!(reply.status, StatusCode::OK, "{page_uri}: {}", reply.text);
            let page = reply.body["items"].as_array().expect("items").clone();
            assert!(page.len() <= limit, "{}", reply.text);
            items.extend(page);
            pages += 1;
            match reply.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return (items, pages),
            }
            assert!(pages < 10_000, "{uri}: the cursors never end");
        }
    }

    /// Enrolls an agent; returns its id and token.
    pub async fn enroll(&self, hostname: &str) -> (String, String) {
        let body = serde_json::json!({"enrollment_token": ENROLL, "hostname": hostname,
                                      "os": "linux", "version": "0.1.0",
                                      "capabilities": ["cpu", "ping"]});
        let reply = self.register(body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        (
            reply.body["agent_id"].as_str().expect("id").to_owned(),
            reply.body["agent_token"]
                .as_str()
                .expect("token")
                .to_owned(),
        )
    }

    pub async fn finish(self) {
        drop(self.app);
        drop(self.state);
        self.backend.finish().await;
    }
}

/// Runs `test` against a fixture over every backend.
#[macro_export]
macro_rules! each_store {
    (|$f:ident| $body:block) => {
        each_store!(|_config| {}, |$f| $body)
    };
    (|$c:ident| $configure:block, |$f:ident| $body:block) => {
        for backend in $crate::harness::backends().await {
            let name = backend.name;
            eprintln!("-- store: {name}");
            let $f = $crate::harness::fixture(backend, |$c| $configure).await;
            $body
            $f.finish().await;
        }
    };
}
