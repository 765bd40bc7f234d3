//! The HTTP side: the page, the JSON API and the live stream (server-sent events).
//! Every request names its tenant by its sign-in only; whatever a request says, it sees
//! and acts on its own tenant's calls. Actions are for operators, asked of the directory
//! again each time, and logged with who did them.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::Stream;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::auth::{is_operator, password_matches, split_login, Session, Sessions, Throttle};
use crate::config::{is_user, Config};
use crate::park::{Board, Update};

pub struct App {
    pub board: Arc<Board>,
    pub sessions: Sessions,
    pub throttle: Throttle,
    pub cfg: Config,
}

const COOKIE: &str = "callpark_board";
const PAGE: &str = include_str!("page.html");

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .route("/api/calls", get(calls))
        .route("/api/events", get(events))
        .route("/api/calls/{uuid}/pickup", post(pickup))
        .route("/api/calls/{uuid}/send", post(send_to))
        .route("/api/calls/{uuid}/hangup", post(hangup))
        .route("/api/park", post(park_mine))
        .layer(axum::middleware::from_fn(same_site_json))
        .with_state(app)
}

/// The page, never to be framed by another site.
async fn page() -> Response {
    (
        [
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(PAGE),
    )
        .into_response()
}

/// Every POST must be JSON (which no page of another site can send with the cookie
/// without the board's consent), and a browser that says where a request comes from
/// (`Sec-Fetch-Site`) must say this page.
async fn same_site_json(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if req.method() == axum::http::Method::POST {
        let h = req.headers();
        let json = h
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/json"));
        if !json {
            return ApiError(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "requests are JSON (Content-Type: application/json)".into(),
            )
            .into_response();
        }
        let site = h.get("sec-fetch-site").and_then(|v| v.to_str().ok()).unwrap_or("none");
        if !matches!(site, "same-origin" | "none") {
            return ApiError(StatusCode::FORBIDDEN, "a request from another site".into()).into_response();
        }
    }
    next.run(req).await
}

pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "ok": false, "error": self.1 }))).into_response()
    }
}

fn unavailable(e: String) -> ApiError {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, e)
}

/// The token of a request: the page's cookie, or `Authorization: Bearer <token>`.
fn token(headers: &HeaderMap) -> Option<String> {
    // A bearer token (API clients); any other Authorization (a proxy's Basic) leaves
    // the cookie to speak.
    if let Some(t) =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|b| b.strip_prefix("Bearer "))
    {
        return Some(t.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

impl App {
    fn session(&self, headers: &HeaderMap) -> Result<(String, Session), ApiError> {
        let t = token(headers).ok_or_else(|| ApiError(StatusCode::UNAUTHORIZED, "not signed in".into()))?;
        let s = self
            .sessions
            .get(&t)
            .ok_or_else(|| ApiError(StatusCode::UNAUTHORIZED, "the sign-in has ended: sign in again".into()))?;
        Ok((t, s))
    }

    /// The session of an operator, the directory asked again.
    async fn operator(&self, headers: &HeaderMap, what: &str) -> Result<Session, ApiError> {
        let (_, s) = self.session(headers)?;
        let op =
            is_operator(&self.board.esl, &self.cfg.operator_variable, &s.user, &s.domain).await.map_err(unavailable)?;
        if !op {
            crate::log(&format!("{}: {what} refused: not an operator", s.who()));
            return Err(ApiError(StatusCode::FORBIDDEN, "only operators act on parked calls".into()));
        }
        Ok(s)
    }
}

#[derive(Deserialize)]
struct Login {
    user: String,
    #[serde(default)]
    domain: String,
    password: String,
}

async fn login(State(app): State<Arc<App>>, Json(l): Json<Login>) -> Result<Response, ApiError> {
    let (user, domain) = split_login(&l.user, &l.domain).map_err(|e| ApiError(StatusCode::BAD_REQUEST, e))?;
    let who = format!("{user}@{domain}");
    if !app.throttle.allows(&who) {
        crate::log(&format!("{who}: sign-in refused (too many wrong passwords)"));
        return Err(ApiError(StatusCode::TOO_MANY_REQUESTS, "too many wrong passwords: try again in 5 minutes".into()));
    }
    let _turn = app.throttle.concurrent.acquire().await.map_err(|_| unavailable("stopping".into()))?;
    let ok = password_matches(&app.board.esl, &user, &domain, &l.password).await.map_err(unavailable)?;
    if !ok {
        app.throttle.failed(&who);
        crate::log(&format!("{who}: sign-in refused (wrong user or password)"));
        // A second per wrong guess, holding its turn.
        tokio::time::sleep(Duration::from_secs(1)).await;
        return Err(ApiError(StatusCode::UNAUTHORIZED, "wrong user or password".into()));
    }
    app.throttle.succeeded(&who);
    let operator =
        is_operator(&app.board.esl, &app.cfg.operator_variable, &user, &domain).await.map_err(unavailable)?;
    let (token, s) = app.sessions.open(&user, &domain, operator);
    crate::log(&format!("{}: signed in{}", s.who(), if operator { " (operator)" } else { "" }));
    let secs = app.sessions.ttl().as_secs();
    let secure = if app.cfg.secure_cookie { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={secs}{secure}");
    let body =
        json!({ "ok": true, "user": user, "domain": domain, "operator": operator, "token": token, "expires_in": secs });
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Ok((t, s)) = app.session(&headers) {
        app.sessions.close(&t);
        crate::log(&format!("{}: signed out", s.who()));
    }
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Json(json!({ "ok": true }))).into_response()
}

fn me_json(s: &Session) -> Value {
    let left = s.ends.saturating_duration_since(Instant::now()).as_secs();
    json!({ "user": s.user, "domain": s.domain, "operator": s.operator, "expires_in": left })
}

async fn me(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let (_, s) = app.session(&headers)?;
    Ok(Json(me_json(&s)))
}

async fn calls(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let (_, s) = app.session(&headers)?;
    let (up, total) = app.board.esl.link();
    let calls = app.board.calls(&s.domain).await.map_err(unavailable)?;
    Ok(Json(json!({ "tenant": s.domain, "calls": calls, "switch": { "up": up, "total": total } })))
}

async fn events(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let (token, s) = app.session(&headers)?;
    let rx = app.board.subscribe();
    app.board.refresh(&s.domain);
    let (up, total) = app.board.esl.link();
    let first = Event::default().event("link").data(json!({ "up": up, "total": total }).to_string());
    let state = (rx, Some(first), false, s, token, app);
    let stream = futures_util::stream::unfold(state, |(mut rx, first, ended, s, token, app)| async move {
        if ended {
            return None;
        }
        if let Some(f) = first {
            return Some((Ok(f), (rx, None, false, s, token, app)));
        }
        loop {
            // Woken at least every 5 s, to see whether the sign-in ended elsewhere.
            let left = s.ends.saturating_duration_since(Instant::now()).min(Duration::from_secs(5));
            let ev = match tokio::time::timeout(left, rx.recv()).await {
                Err(_) if s.ends > Instant::now() && app.sessions.get(&token).is_some() => None,
                Err(_) => Some(Event::default().event("expired").data("{}")),
                Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) if app.sessions.get(&token).is_none() => {
                    Some(Event::default().event("expired").data("{}"))
                }
                Ok(Ok(Update::Calls { tenant, calls })) if tenant == s.domain => {
                    Some(Event::default().event("calls").data(json!({ "calls": *calls }).to_string()))
                }
                Ok(Ok(Update::Link { up, total })) => {
                    Some(Event::default().event("link").data(json!({ "up": up, "total": total }).to_string()))
                }
                Ok(Ok(Update::Calls { .. })) => None,
                Ok(Err(RecvError::Lagged(_))) => {
                    app.board.refresh(&s.domain);
                    None
                }
                Ok(Err(RecvError::Closed)) => return None,
            };
            if let Some(ev) = ev {
                let end = s.ends <= Instant::now() || app.sessions.get(&token).is_none();
                return Some((Ok(ev), (rx, None, end, s, token, app)));
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Carries out an operator's command on one parked call of the operator's tenant.
async fn act(
    app: &App,
    headers: &HeaderMap,
    uuid: &str,
    verb: &str,
    to: Option<&str>,
) -> Result<Json<Value>, ApiError> {
    let s = app.operator(headers, verb).await?;
    let uuid = &uuid.to_ascii_lowercase();
    if !is_uuid(uuid) {
        return Err(ApiError(StatusCode::BAD_REQUEST, "not a call's uuid".into()));
    }
    // A call of another tenant, or no parked call: refused before the switch is asked.
    let calls = app.board.calls(&s.domain).await.map_err(unavailable)?;
    if !calls.iter().any(|c| c["uuid"].as_str() == Some(uuid)) {
        crate::log(&format!("{}: {verb} {uuid} refused: not a parked call of {}", s.who(), s.domain));
        return Err(ApiError(StatusCode::FORBIDDEN, format!("no parked call {uuid} in {}", s.domain)));
    }
    let cmd = match (verb, to) {
        ("hangup", _) => format!("callpark hangup {uuid} {} json", s.domain),
        (_, Some(to)) => format!("callpark retrieve {uuid} {to}@{} json", s.domain),
        _ => format!("callpark retrieve {uuid} {}@{} json", s.user, s.domain),
    };
    carry_out(app, &s, verb, uuid, &cmd, None).await
}

async fn carry_out(
    app: &App,
    s: &Session,
    verb: &str,
    what: &str,
    cmd: &str,
    node: Option<usize>,
) -> Result<Json<Value>, ApiError> {
    let out = match node {
        Some(n) => app.board.esl.api_on(n, cmd).await,
        None => app.board.esl.api(cmd).await,
    }
    .map_err(unavailable)?;
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|_| json!({ "ok": false, "error": out.trim() }));
    let ok = v["ok"].as_bool() == Some(true);
    let said = if ok { v["done"].as_str() } else { v["error"].as_str() }.unwrap_or("").to_string();
    crate::log(&format!("{}: {verb} {what}: {}{said}", s.who(), if ok { "" } else { "refused: " }));
    app.board.refresh(&s.domain);
    if ok {
        Ok(Json(json!({ "ok": true, "done": said })))
    } else {
        Err(ApiError(StatusCode::CONFLICT, said))
    }
}

async fn pickup(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    act(&app, &headers, &uuid, "pick-up", None).await
}

#[derive(Deserialize)]
struct SendTo {
    to: String,
}

async fn send_to(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    Json(b): Json<SendTo>,
) -> Result<Json<Value>, ApiError> {
    // A user of the operator's own tenant: a domain in it is not taken.
    let to = b.to.trim();
    if !is_user(to) {
        return Err(ApiError(
            StatusCode::BAD_REQUEST,
            "send to a user of your tenant: letters, digits, '.', '-', '_', '+'".into(),
        ));
    }
    act(&app, &headers, &uuid, "send", Some(to)).await
}

async fn hangup(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    act(&app, &headers, &uuid, "hangup", None).await
}

/// Parks the call the signed-in user is on, at the user's own extension, as `*68` would:
/// the other party of the user's call is parked, the user is its parking user. The
/// user's leg is the one whose channel the directory authenticated as the user (or that
/// was dialed to the user), looked for on every node; more than one is refused.
async fn park_mine(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let s = app.operator(&headers, "park").await?;
    let me = s.who();
    let esl = &app.board.esl;
    let mut found: Vec<(usize, String)> = Vec::new();
    for node in esl.up_nodes() {
        let out = esl.api_on(node, "show calls as json").await.map_err(unavailable)?;
        let v: Value = serde_json::from_str(out.trim()).unwrap_or(Value::Null);
        for r in v["rows"].as_array().into_iter().flatten() {
            for (mine, presence, other) in [("uuid", "presence_id", "b_uuid"), ("b_uuid", "b_presence_id", "uuid")] {
                let (Some(mine), Some(other)) = (r[mine].as_str(), r[other].as_str()) else { continue };
                if !r[presence].as_str().unwrap_or("").eq_ignore_ascii_case(&me) || !is_uuid(mine) || !is_uuid(other) {
                    continue;
                }
                // The presence is a variable a dialplan may set: the leg must be the user's.
                let dump = esl.api_on(node, &format!("uuid_dump {mine} json")).await.map_err(unavailable)?;
                let d: Value = serde_json::from_str(dump.trim()).unwrap_or(Value::Null);
                let is = |u: &str, dom: &str| {
                    d[u].as_str().is_some_and(|x| x == s.user)
                        && d[dom].as_str().is_some_and(|x| x.eq_ignore_ascii_case(&s.domain))
                };
                let authenticated =
                    is("variable_user_name", "variable_domain_name") && d["variable_sip_authorized"] == "true";
                if authenticated || is("variable_dialed_user", "variable_dialed_domain") {
                    found.push((node, other.to_string()));
                }
            }
        }
    }
    let other = match found.as_slice() {
        [one] => one.clone(),
        [] => {
            crate::log(&format!("{me}: park refused: on no call"));
            return Err(ApiError(StatusCode::CONFLICT, "you are on no call to park".into()));
        }
        _ => {
            crate::log(&format!("{me}: park refused: on {} calls", found.len()));
            return Err(ApiError(StatusCode::CONFLICT, "you are on more than one call: park it from the phone".into()));
        }
    };
    let cmd = format!("callpark park {} {}@{} json", other.1, s.user, s.domain);
    carry_out(&app, &s, "park", &other.1, &cmd, Some(other.0)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_and_tokens() {
        assert!(is_uuid("0b0f6b0c-6a3e-4d3b-9d5b-1e2f3a4b5c6d"));
        assert!(!is_uuid("0b0f6b0c-6a3e-4d3b-9d5b-1e2f3a4b5c6d json"));
        assert!(!is_uuid("102"));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=b; callpark_board=abc".parse().unwrap());
        assert_eq!(token(&h).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic eDp5".parse().unwrap());
        assert_eq!(token(&h).as_deref(), Some("abc"), "a proxy's Basic leaves the cookie");
        h.insert(header::AUTHORIZATION, "Bearer xyz".parse().unwrap());
        assert_eq!(token(&h).as_deref(), Some("xyz"));
    }
}
