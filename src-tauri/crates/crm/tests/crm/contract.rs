//! HubSpot-style and webhook adapters against local servers.
//!
//! HubSpot itself cannot run here (no network beyond the package registries, and it is a hosted
//! service), so `hubspot_contract` is a stand-in that follows HubSpot's documented behaviour for
//! `POST /crm/v3/objects/contacts/batch/upsert` with `idProperty=email`: 200 when every input
//! succeeds, 207 with `results` and per-record `errors` otherwise, 401 for a bad token, 429 with
//! `Retry-After` past the limit, and `X-HubSpot-RateLimit-*` headers on every answer.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

#[derive(Default)]
pub struct HubSpotState {
    pub contacts: HashMap<String, (String, Value)>,
    pub requests: Vec<Instant>,
    /// Answer the next request(s) with 429 and this Retry-After.
    pub throttle_next: Vec<u64>,
    pub max: usize,
    pub window: Duration,
    pub over_limit: usize,
}

pub type Shared = Arc<Mutex<HubSpotState>>;

pub fn hubspot_contract(
    token: &'static str,
    max: usize,
    window: Duration,
) -> (axum::Router, Shared) {
    let state = Arc::new(Mutex::new(HubSpotState { max, window, ..HubSpotState::default() }));
    let router = axum::Router::new()
        .route(
            "/crm/v3/objects/contacts/batch/upsert",
            axum::routing::post(
                move |State(s): State<Shared>, headers: HeaderMap, Json(body): Json<Value>| async move {
                    upsert(&s, token, &headers, &body)
                },
            ),
        )
        .route(
            "/crm/v3/objects/contacts/{id}",
            axum::routing::get(
                move |State(s): State<Shared>,
                      headers: HeaderMap,
                      axum::extract::Path(id): axum::extract::Path<String>,
                      axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>| async move {
                    read_contact(&s, token, &headers, &id, q.get("properties").map(String::as_str))
                },
            ),
        )
        .with_state(state.clone());
    (router, state)
}

/// `GET /crm/v3/objects/contacts/{id}?properties=a,b`: the contact's asked-for properties (HubSpot
/// answers only the properties named, plus a few defaults; 404 for an unknown id).
fn read_contact(
    s: &Shared,
    token: &str,
    headers: &HeaderMap,
    id: &str,
    properties: Option<&str>,
) -> Response {
    let st = s.lock().expect("state");
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {token}")) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"category": "INVALID_AUTHENTICATION"})))
            .into_response();
    }
    let Some((email, (_, props))) = st.contacts.iter().find(|(_, (cid, _))| cid == id) else {
        return (StatusCode::NOT_FOUND, Json(json!({"category": "OBJECT_NOT_FOUND"})))
            .into_response();
    };
    let mut out = serde_json::Map::new();
    out.insert("email".into(), json!(email));
    out.insert("hs_object_id".into(), json!(id));
    for name in properties.unwrap_or("").split(',').filter(|n| !n.is_empty()) {
        if let Some(v) = props.get(name) {
            out.insert(name.into(), v.clone());
        }
    }
    Json(json!({"id": id, "properties": out, "archived": false})).into_response()
}

fn upsert(s: &Shared, token: &str, headers: &HeaderMap, body: &Value) -> Response {
    let mut st = s.lock().expect("state");
    let now = Instant::now();
    st.requests.push(now);
    let window = st.window;
    let in_window = st.requests.iter().filter(|t| now.duration_since(**t) < window).count();
    let remaining = st.max.saturating_sub(in_window);
    let limits = [
        ("x-hubspot-ratelimit-max", st.max.to_string()),
        ("x-hubspot-ratelimit-remaining", remaining.to_string()),
        ("x-hubspot-ratelimit-interval-milliseconds", window.as_millis().to_string()),
    ];
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {token}")) {
        return (
            StatusCode::UNAUTHORIZED,
            limits,
            Json(json!({"status": "error",
            "category": "INVALID_AUTHENTICATION"})),
        )
            .into_response();
    }
    if !st.throttle_next.is_empty() || in_window > st.max {
        let after = if st.throttle_next.is_empty() { 1 } else { st.throttle_next.remove(0) };
        if in_window > st.max {
            st.over_limit += 1;
        }
        let mut h = limits.to_vec();
        h.push(("retry-after", after.to_string()));
        let mut resp = (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"status": "error",
            "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"})),
        )
            .into_response();
        for (k, v) in h {
            resp.headers_mut().insert(k, v.parse().expect("header"));
        }
        return resp;
    }
    let mut results = Vec::new();
    let mut errors = Vec::new();
    for input in body["inputs"].as_array().into_iter().flatten() {
        assert_eq!(input["idProperty"], "email", "upsert by email");
        let id = input["id"].as_str().unwrap_or_default().to_owned();
        if !id.contains('@') {
            errors.push(json!({"status": "error", "category": "VALIDATION_ERROR",
                "message": format!("Property values were not valid: email {id:?}"),
                "context": {"ids": [id]}}));
            continue;
        }
        // HubSpot matches emails case-insensitively.
        let key = id.to_lowercase();
        let next = format!("{}", 1000 + st.contacts.len());
        let created = !st.contacts.contains_key(&key);
        let entry = st.contacts.entry(key.clone()).or_insert((next, json!({})));
        entry.1 = input["properties"].clone();
        results.push(json!({"id": entry.0, "properties": {"email": key}, "new": created}));
    }
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::MULTI_STATUS };
    (
        status,
        limits,
        Json(json!({"status": "COMPLETE", "results": results,
        "numErrors": errors.len(), "errors": errors})),
    )
        .into_response()
}

/// A webhook receiver: checks signatures, counts deliveries per idempotency key, and answers
/// with the scripted statuses first.
#[derive(Default)]
pub struct WebhookState {
    pub deliveries: Vec<(String, Value)>,
    pub bad_signatures: usize,
    /// Every signed request's idempotency key, answered or not.
    pub attempts: Vec<String>,
    pub script: Vec<u16>,
}

pub fn webhook_receiver(secret: &'static [u8]) -> (axum::Router, Arc<Mutex<WebhookState>>) {
    let state = Arc::new(Mutex::new(WebhookState::default()));
    let router = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                move |State(s): State<Arc<Mutex<WebhookState>>>,
                      headers: HeaderMap,
                      body: String| async move {
                    let mut st = s.lock().expect("state");
                    let h = |k: &str| {
                        headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
                    };
                    let ts: u64 = h("x-closer-timestamp").parse().unwrap_or(0);
                    if !closer_crm::webhook::verify(
                        secret,
                        ts,
                        body.as_bytes(),
                        &h("x-closer-signature"),
                    ) {
                        st.bad_signatures += 1;
                        return StatusCode::UNAUTHORIZED;
                    }
                    st.attempts.push(h("idempotency-key"));
                    if !st.script.is_empty() {
                        let code = st.script.remove(0);
                        return StatusCode::from_u16(code).expect("status");
                    }
                    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    st.deliveries.push((h("idempotency-key"), v));
                    StatusCode::OK
                },
            ),
        )
        .with_state(state.clone());
    (router, state)
}
