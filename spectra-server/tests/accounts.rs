//! User accounts through the router on both stores: the first-admin setup, sign-in with
//! throttling, sessions in cookies with CSRF, roles, sign-out (here and everywhere), users
//! changed by admins and the audit list.

#[macro_use]
mod harness;

use std::net::SocketAddr;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use spectra_server::accounts;

use harness::{Fixture, Reply};

const ADDR: &str = "192.0.2.7:50000";

/// A signed-in browser: its cookie and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

fn cookie_of(reply: &Reply) -> String {
    let set = reply
        .headers
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no Set-Cookie: {} {}", reply.status, reply.text));
    set.split(';').next().expect("name=value").to_owned()
}

async fn call(
    f: &Fixture,
    method: Method,
    uri: &str,
    browser: Option<&Browser>,
    csrf: bool,
    body: Option<Value>,
) -> Reply {
    let addr: SocketAddr = ADDR.parse().expect("addr");
    let mut headers = vec![("content-type", "application/json")];
    if let Some(b) = browser {
        headers.push(("cookie", b.cookie.as_str()));
        if csrf {
            headers.push(("x-csrf-token", b.csrf.as_str()));
        }
    }
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    f.request_from(addr, method, uri, &headers, body).await
}

async fn sign_in(f: &Fixture, user: &str, password: &str) -> Result<Browser, Reply> {
    let reply = call(
        f,
        Method::POST,
        "/api/v1/session",
        None,
        false,
        Some(json!({"user": user, "password": password})),
    )
    .await;
    if reply.status != StatusCode::OK {
        return Err(reply);
    }
    Ok(Browser {
        cookie: cookie_of(&reply),
        csrf: reply.body["csrf_token"].as_str().expect("csrf").to_owned(),
    })
}

async fn set_up_admin(f: &Fixture) -> Browser {
    let open = call(f, Method::GET, "/api/v1/setup", None, false, None).await;
    assert_eq!(open.body["needed"], true, "{}", open.text);
    let token = accounts::prepare_setup(&f.state.store, chrono::Utc::now())
        .await
        .expect("setup token")
        .expect("no users yet");
    let wrong = call(
        f,
        Method::POST,
        "/api/v1/setup",
        None,
        false,
        Some(json!({"token": "guess", "user": "root", "password": "long enough pass"})),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{}", wrong.text);
    assert!(
        wrong.body["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("token:")
    );
    let done = call(
        f,
        Method::POST,
        "/api/v1/setup",
        None,
        false,
        Some(json!({"token": token, "user": "root", "password": "long enough pass"})),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let set_cookie = done.headers["set-cookie"].to_str().expect("ascii");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "no TLS here: {set_cookie}");
    assert_eq!(done.body["role"], "admin");
    let again = call(
        f,
        Method::POST,
        "/api/v1/setup",
        None,
        false,
        Some(json!({"token": token, "user": "second", "password": "long enough pass"})),
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::BAD_REQUEST,
        "the link is used up: {}",
        again.text
    );
    let closed = call(f, Method::GET, "/api/v1/setup", None, false, None).await;
    assert_eq!(closed.body["needed"], false);
    assert!(
        accounts::prepare_setup(&f.state.store, chrono::Utc::now())
            .await
            .expect("store")
            .is_none(),
        "no new link once a user exists"
    );
    Browser {
        cookie: cookie_of(&done),
        csrf: done.body["csrf_token"].as_str().expect("csrf").to_owned(),
    }
}

#[tokio::test]
async fn first_admin_adds_users_whose_roles_hold_and_whose_changes_need_csrf() {
    each_store!(|f| {
        let admin = set_up_admin(&f).await;
        let me = call(
            &f,
            Method::GET,
            "/api/v1/session",
            Some(&admin),
            false,
            None,
        )
        .await;
        assert_eq!(me.body["user"], "root");
        assert_eq!(me.body["csrf_token"].as_str(), Some(admin.csrf.as_str()));

        let new_viewer = json!({"name": "vera", "role": "viewer", "password": "viewer password"});
        let forged = call(
            &f,
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            false,
            Some(new_viewer.clone()),
        )
        .await;
        assert_eq!(
            forged.status,
            StatusCode::FORBIDDEN,
            "no CSRF token: {}",
            forged.text
        );
        assert!(forged.text.contains("x-csrf-token"), "{}", forged.text);
        let wrong_csrf = Browser {
            cookie: admin.cookie.clone(),
            csrf: "0".repeat(64),
        };
        let forged = call(
            &f,
            Method::POST,
            "/api/v1/users",
            Some(&wrong_csrf),
            true,
            Some(new_viewer.clone()),
        )
        .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text);
        let added = call(
            &f,
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            true,
            Some(new_viewer.clone()),
        )
        .await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
        assert!(added.body.get("password_hash").is_none(), "{}", added.text);
        let twice = call(
            &f,
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            true,
            Some(new_viewer),
        )
        .await;
        assert_eq!(twice.status, StatusCode::CONFLICT);
        let short = call(
            &f,
            Method::POST,
            "/api/v1/users",
            Some(&admin),
            true,
            Some(json!({"name": "x", "role": "viewer", "password": "short"})),
        )
        .await;
        assert_eq!(short.status, StatusCode::BAD_REQUEST);
        assert!(
            short.body["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("password:"),
            "{}",
            short.text
        );

        let viewer = sign_in(&f, "vera", "viewer password")
            .await
            .expect("viewer signs in");
        let agents = call(
            &f,
            Method::GET,
            "/api/v1/agents",
            Some(&viewer),
            false,
            None,
        )
        .await;
        assert_eq!(
            agents.status,
            StatusCode::OK,
            "a viewer reads: {}",
            agents.text
        );
        let write = call(
            &f,
            Method::POST,
            "/api/v1/users",
            Some(&viewer),
            true,
            Some(json!({"name": "eve", "role": "admin", "password": "escalated pass"})),
        )
        .await;
        assert_eq!(
            write.status,
            StatusCode::FORBIDDEN,
            "a viewer's write: {}",
            write.text
        );
        let users = call(&f, Method::GET, "/api/v1/users", Some(&viewer), false, None).await;
        assert_eq!(users.status, StatusCode::FORBIDDEN);

        // Promoted, the same session may write; demoted again, it may not.
        let promote = call(
            &f,
            Method::PATCH,
            "/api/v1/users/vera",
            Some(&admin),
            true,
            Some(json!({"role": "operator"})),
        )
        .await;
        assert_eq!(promote.status, StatusCode::OK, "{}", promote.text);
        assert_eq!(promote.body["role"], "operator");
        let command = json!({"kind": "mounts"});
        let as_operator = call(
            &f,
            Method::POST,
            "/api/v1/agents/none/commands",
            Some(&viewer),
            true,
            Some(command),
        )
        .await;
        assert!(
            ![StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&as_operator.status),
            "past the role check: {}",
            as_operator.text
        );

        // The last admin stays.
        let demote_self = call(
            &f,
            Method::PATCH,
            "/api/v1/users/root",
            Some(&admin),
            true,
            Some(json!({"disabled": true})),
        )
        .await;
        assert_eq!(
            demote_self.status,
            StatusCode::CONFLICT,
            "{}",
            demote_self.text
        );
        let delete_self = call(
            &f,
            Method::DELETE,
            "/api/v1/users/root",
            Some(&admin),
            true,
            None,
        )
        .await;
        assert_eq!(delete_self.status, StatusCode::CONFLICT);
        let missing = call(
            &f,
            Method::DELETE,
            "/api/v1/users/nobody",
            Some(&admin),
            true,
            None,
        )
        .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);

        // Disabling ends the user's sessions and refuses their logins.
        let disable = call(
            &f,
            Method::PATCH,
            "/api/v1/users/vera",
            Some(&admin),
            true,
            Some(json!({"disabled": true})),
        )
        .await;
        assert_eq!(disable.status, StatusCode::OK, "{}", disable.text);
        let ended = call(
            &f,
            Method::GET,
            "/api/v1/agents",
            Some(&viewer),
            false,
            None,
        )
        .await;
        assert_eq!(ended.status, StatusCode::UNAUTHORIZED, "{}", ended.text);
        let refused = sign_in(&f, "vera", "viewer password")
            .await
            .err()
            .expect("disabled");
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

        let audit = call(
            &f,
            Method::GET,
            "/api/v1/audit?limit=1000",
            Some(&admin),
            false,
            None,
        )
        .await;
        let actions: Vec<&str> = audit.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["action"].as_str().unwrap_or(""))
            .collect();
        for wanted in [
            "setup",
            "user-added",
            "user-changed",
            "login",
            "login-failed",
        ] {
            assert!(actions.contains(&wanted), "{wanted} in {actions:?}");
        }
        let change = audit.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|e| {
                e["action"] == "user-changed"
                    && e["detail"].as_str().unwrap_or("").contains("operator")
            })
            .expect("the promotion is recorded");
        assert_eq!(change["actor"], "admin:root");
        assert_eq!(change["from_addr"], "192.0.2.7");
    });
}

#[tokio::test]
async fn failed_logins_are_refused_alike_then_throttled_and_sign_out_is_real() {
    each_store!(|f| {
        let admin = set_up_admin(&f).await;
        let unknown = sign_in(&f, "ghost", "whatever it is")
            .await
            .err()
            .expect("unknown user");
        let wrong = sign_in(&f, "root", "not the password")
            .await
            .err()
            .expect("wrong password");
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            unknown.body, wrong.body,
            "the answers do not tell which names exist"
        );
        for _ in 0..accounts::MAX_LOGIN_FAILURES_PER_USER {
            let _ = sign_in(&f, "root", "not the password").await;
        }
        let throttled = sign_in(&f, "root", "long enough pass")
            .await
            .err()
            .expect("throttled");
        assert_eq!(
            throttled.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            throttled.text
        );
        assert!(throttled.headers.contains_key("retry-after"));
        assert_eq!(throttled.body["code"], "auth_throttled");

        // Another session of the same admin (made in the store: the account is throttled).
        let second = {
            let store = &f.state.store;
            let hash = store.user("root").await.expect("store").expect("root");
            assert!(hash.password_hash.starts_with("$argon2id$"));
            let token = accounts::prepare_setup(store, chrono::Utc::now())
                .await
                .expect("store");
            assert!(token.is_none());
            admin_second_session(&f).await
        };
        let sessions = call(
            &f,
            Method::GET,
            "/api/v1/account/sessions",
            Some(&admin),
            false,
            None,
        )
        .await;
        assert_eq!(
            sessions.body["items"].as_array().map(Vec::len),
            Some(2),
            "{}",
            sessions.text
        );
        assert_eq!(
            sessions.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .filter(|s| s["current"] == true)
                .count(),
            1
        );

        let out = call(
            &f,
            Method::DELETE,
            "/api/v1/session",
            Some(&second),
            false,
            None,
        )
        .await;
        assert_eq!(out.status, StatusCode::FORBIDDEN, "sign-out needs CSRF too");
        let out = call(
            &f,
            Method::DELETE,
            "/api/v1/session",
            Some(&second),
            true,
            None,
        )
        .await;
        assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.text);
        assert!(
            out.headers["set-cookie"]
                .to_str()
                .expect("ascii")
                .contains("Max-Age=0")
        );
        let gone = call(
            &f,
            Method::GET,
            "/api/v1/session",
            Some(&second),
            false,
            None,
        )
        .await;
        assert_eq!(
            gone.status,
            StatusCode::UNAUTHORIZED,
            "the server forgot it: {}",
            gone.text
        );
        let still = call(
            &f,
            Method::GET,
            "/api/v1/session",
            Some(&admin),
            false,
            None,
        )
        .await;
        assert_eq!(still.status, StatusCode::OK);

        let everywhere = call(
            &f,
            Method::DELETE,
            "/api/v1/account/sessions",
            Some(&admin),
            true,
            None,
        )
        .await;
        assert_eq!(everywhere.status, StatusCode::OK, "{}", everywhere.text);
        let gone = call(
            &f,
            Method::GET,
            "/api/v1/session",
            Some(&admin),
            false,
            None,
        )
        .await;
        assert_eq!(gone.status, StatusCode::UNAUTHORIZED);

        // An API token is not a session.
        let token_session = f.get("/api/v1/session", &f.admin).await;
        assert_eq!(token_session.status, StatusCode::FORBIDDEN);
    });
}

/// Opens a second session for `root` the way a login does, past the login throttle.
async fn admin_second_session(f: &Fixture) -> Browser {
    let user = f
        .state
        .store
        .user("root")
        .await
        .expect("store")
        .expect("root");
    let secret = "ab".repeat(32);
    let record = spectra_server::store::SessionRecord {
        id_hash: spectra_server::auth::sha256_hex(secret.as_bytes()),
        user: user.name.clone(),
        csrf_token: "cd".repeat(32),
        created_at: chrono::Utc::now(),
        last_seen: chrono::Utc::now(),
        from_addr: None,
    };
    let audit = accounts::audit_entry("root", "login", "root", "test", None, chrono::Utc::now());
    f.state
        .store
        .create_session(&record, &audit)
        .await
        .expect("session");
    Browser {
        cookie: format!("{}={secret}", accounts::SESSION_COOKIE),
        csrf: record.csrf_token,
    }
}

#[tokio::test]
async fn a_password_change_proves_the_old_one_and_ends_other_sessions() {
    each_store!(|f| {
        let admin = set_up_admin(&f).await;
        let other = admin_second_session(&f).await;
        let wrong = call(
            &f,
            Method::POST,
            "/api/v1/account/password",
            Some(&admin),
            true,
            Some(json!({"current_password": "nope nope nope", "new_password": "a new long one"})),
        )
        .await;
        assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
        assert!(
            wrong.body["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("current_password:")
        );
        let changed = call(
            &f,
            Method::POST,
            "/api/v1/account/password",
            Some(&admin),
            true,
            Some(json!({"current_password": "long enough pass", "new_password": "a new long one"})),
        )
        .await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
        let renewed = Browser {
            cookie: cookie_of(&changed),
            csrf: changed.body["csrf_token"]
                .as_str()
                .expect("csrf")
                .to_owned(),
        };
        for ended in [&admin, &other] {
            let reply = call(&f, Method::GET, "/api/v1/session", Some(ended), false, None).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        }
        let reply = call(
            &f,
            Method::GET,
            "/api/v1/session",
            Some(&renewed),
            false,
            None,
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(sign_in(&f, "root", "long enough pass").await.is_err());
        assert!(sign_in(&f, "root", "a new long one").await.is_ok());
    });
}

#[tokio::test]
async fn idle_and_old_sessions_end() {
    each_store!(|f| {
        let _ = set_up_admin(&f).await;
        let browser = admin_second_session(&f).await;
        let secret = browser.cookie.split_once('=').expect("cookie").1.to_owned();
        let later = chrono::Utc::now() + accounts::SESSION_IDLE + chrono::Duration::minutes(1);
        let ended = accounts::session(&f.state.store, &secret, later).await;
        assert!(
            matches!(ended, Err(accounts::AccountError::SessionEnded)),
            "{ended:?}"
        );
        let reply = call(
            &f,
            Method::GET,
            "/api/v1/session",
            Some(&browser),
            false,
            None,
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "removed when found idle"
        );
        let later = chrono::Utc::now() + accounts::SESSION_LIFETIME + chrono::Duration::minutes(1);
        let pruned = f
            .state
            .store
            .prune_sessions(
                later - accounts::SESSION_IDLE,
                later - accounts::SESSION_LIFETIME,
            )
            .await
            .expect("prune");
        assert_eq!(pruned, 1, "the setup's session, past its lifetime");
    });
}
