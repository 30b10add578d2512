//! End to end: the real `closer-desktop` binary in a real window (under Xvfb when no display is
//! set), driven over WebDriver through tauri-driver and WebKitWebDriver, on a fresh data
//! directory that the app seeds with the demo data. Built only with `--features e2e`; `.ci/test`
//! installs what it needs and runs it. Screenshots land in `<target>/e2e-screenshots/`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const APP: &str = env!("CARGO_BIN_EXE_closer-desktop");
const WAIT: Duration = Duration::from_secs(60);
/// A customer message waits for the NLU and the model to load (once) and to write.
const TURN_WAIT: Duration = Duration::from_secs(240);

/// Processes and directories that live as long as the test.
struct Session {
    children: Vec<Child>,
    _home: tempfile::TempDir,
    data: tempfile::TempDir,
    port: u16,
    display: String,
}

impl Drop for Session {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tool(env: &str, name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os(env) {
        return PathBuf::from(path);
    }
    let candidates = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect::<Vec<_>>())
        .unwrap_or_default();
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not found: install it (see .ci/setup) or set {env}"))
}

fn start() -> Session {
    let home = tempfile::tempdir().expect("home");
    let data = tempfile::tempdir().expect("data");
    let mut children = Vec::new();
    let display = match std::env::var("DISPLAY") {
        Ok(d) if !d.is_empty() => d,
        _ => {
            let n = (90..200)
                .find(|n| !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists())
                .expect("a free display");
            let xvfb = Command::new(tool("XVFB", "Xvfb"))
                .args([
                    format!(":{n}"),
                    "-screen".into(),
                    "0".into(),
                    "1280x800x24".into(),
                    "-nolisten".into(),
                    "tcp".into(),
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start Xvfb");
            children.push(xvfb);
            wait_for("Xvfb", || Path::new(&format!("/tmp/.X11-unix/X{n}")).exists());
            format!(":{n}")
        }
    };
    // The driver's, WebKit's, the app's and the session bus's output go to a log beside the
    // screenshots.
    let log = std::fs::File::create(screenshot_dir().join("driver.log")).expect("driver log");
    // A private D-Bus session, so nothing leaks into (or out of) the developer's own.
    let mut bus = Command::new(tool("DBUS_DAEMON", "dbus-daemon"))
        .args(["--session", "--nofork", "--print-address=1"])
        .stdout(Stdio::piped())
        .stderr(log.try_clone().expect("log handle"))
        .spawn()
        .expect("start dbus-daemon");
    let mut bus_address = String::new();
    BufReader::new(bus.stdout.take().expect("bus stdout"))
        .read_line(&mut bus_address)
        .expect("bus address");
    children.push(bus);
    let port = free_port();
    let driver = Command::new(tool("TAURI_DRIVER", "tauri-driver"))
        .args(["--port", &port.to_string(), "--native-port", &free_port().to_string()])
        .arg("--native-driver")
        .arg(tool("WEBKIT_WEBDRIVER", "WebKitWebDriver"))
        .env("DISPLAY", &display)
        .env("DBUS_SESSION_BUS_ADDRESS", bus_address.trim())
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        // No desktop portal or accessibility bus on a virtual display: keep GTK from asking.
        .env("GTK_USE_PORTAL", "0")
        .env("NO_AT_BRIDGE", "1")
        .env("RUST_LOG", "info")
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect("start tauri-driver");
    children.push(driver);
    wait_for("tauri-driver", || TcpStream::connect(("127.0.0.1", port)).is_ok());
    Session { children, _home: home, data, port, display }
}

async fn connect(session: &Session) -> Client {
    // Two rustls crypto providers are compiled in (fantoccini's and reqwest's): pick one. The
    // WebDriver connection itself is plain HTTP on loopback.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("wry"));
    caps.insert(
        "tauri:options".into(),
        json!({ "application": APP, "args": ["--data-dir", session.data.path()] }),
    );
    ClientBuilder::rustls()
        .expect("tls")
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", session.port))
        .await
        .unwrap_or_else(|e| panic!("WebDriver session on display {}: {e}", session.display))
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("..").join("e2e-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn screenshot(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
    assert!(
        png.len() > 10_000,
        "{name} is suspiciously small ({} bytes): a blank window?",
        png.len()
    );
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    println!("screenshot: {}", path.display());
}

async fn texts(client: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in client.find_all(Locator::Css(css)).await.expect("find_all") {
        out.push(e.text().await.expect("text"));
    }
    out
}

async fn text_of(client: &Client, css: &str) -> String {
    let element = client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    element.text().await.unwrap_or_else(|e| panic!("text of {css}: {e}"))
}

async fn wait_until<F, Fut>(what: &str, ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_up_to(WAIT, what, ready).await
}

async fn wait_up_to<F, Fut>(limit: Duration, what: &str, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !ready().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Calls an app command from inside the page with a raw body, as the console does.
async fn invoke_raw(client: &Client, command: &str, body: &str) -> Value {
    let script = "const [cmd, body, done] = arguments;
        window.__TAURI_INTERNALS__.invoke(cmd, new TextEncoder().encode(body))
            .then(ok => done({ ok }), err => done({ err }));";
    client.execute_async(script, vec![json!(command), json!(body)]).await.expect("invoke")
}

async fn open_row(client: &Client, name: &str) -> i64 {
    let rows = client.find_all(Locator::Css("[data-testid=conversation-row]")).await.expect("rows");
    for row in rows {
        let row_name = row
            .find(Locator::Css(".customer-name"))
            .await
            .expect("name")
            .text()
            .await
            .expect("text");
        if row_name.trim() == name {
            let id = row
                .attr("data-id")
                .await
                .expect("attr")
                .expect("data-id")
                .parse()
                .expect("numeric id");
            row.click().await.expect("click row");
            return id;
        }
    }
    panic!("no inbox row for {name}");
}

async fn lead_sources(client: &Client) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for f in client.find_all(Locator::Css("[data-testid=lead-field]")).await.expect("fields") {
        out.insert(
            f.attr("data-field").await.expect("attr").unwrap_or_default(),
            f.attr("data-source").await.expect("attr").unwrap_or_default(),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_window() {
    let session = start();
    let client = connect(&session).await;

    // 1. The seeded inbox is listed.
    wait_until("the seeded inbox", || async {
        client
            .find_all(Locator::Css("[data-testid=conversation-row]"))
            .await
            .map(|r| r.len() >= 6)
            .unwrap_or(false)
    })
    .await;
    let names = texts(&client, "[data-testid=conversation-row] .customer-name").await;
    for expected in ["王先生", "李阿姨", "Emily Carter", "Daniel Brooks"] {
        assert!(names.iter().any(|n| n.trim() == expected), "{expected} missing from {names:?}");
    }
    let stages = texts(&client, "[data-testid=conversation-row] .stage").await;
    assert_eq!(stages.len(), names.len());
    screenshot(&client, "01-inbox").await;

    // 2. Opening a conversation shows its messages and lead fields with their sources.
    let emily = open_row(&client, "Emily Carter").await;
    wait_until("Emily's messages", || async {
        texts(&client, "[data-testid=message] .message-text")
            .await
            .iter()
            .any(|t| t.contains("comparing CRM tools"))
    })
    .await;
    let sources = lead_sources(&client).await;
    assert_eq!(sources.get("budget").map(String::as_str), Some("ai"), "{sources:?}");
    assert_eq!(sources.get("email").map(String::as_str), Some("salesperson"), "{sources:?}");
    screenshot(&client, "02-conversation").await;

    open_row(&client, "赵经理").await;
    wait_until("赵经理's lead", || async {
        lead_sources(&client).await.get("company").map(String::as_str) == Some("crm")
    })
    .await;

    // 3. Switching language changes the interface text.
    let title = "[data-testid=inbox-title]";
    let before = text_of(&client, title).await;
    client
        .find(Locator::Css("[data-testid=lang-switch]"))
        .await
        .expect("switch")
        .click()
        .await
        .expect("click");
    wait_until("the other language", || async { text_of(&client, title).await != before }).await;
    let after = text_of(&client, title).await;
    let pair: std::collections::BTreeSet<_> = [before.trim(), after.trim()].into_iter().collect();
    assert_eq!(pair, ["Inbox", "收件箱"].into_iter().collect(), "{before:?} → {after:?}");
    screenshot(&client, "03-language-switched").await;

    // 4. Bad input through the real IPC path is a typed error and changes nothing.
    assert_eq!(
        client.execute("return typeof window.__TAURI__", vec![]).await.expect("exec"),
        json!("undefined")
    );
    let open = format!(r#"{{"conversationId":{emily}}}"#);
    let count = |v: &Value| v["ok"]["messages"].as_array().map(Vec::len).expect("messages");
    let before = count(&invoke_raw(&client, "open_conversation", &open).await);
    let lone = invoke_raw(
        &client,
        "send_reply",
        &format!(r#"{{"conversationId":{emily},"text":"hi \ud800"}}"#),
    )
    .await;
    assert_eq!(lone["err"]["code"], "invalid_argument", "{lone}");
    let big = invoke_raw(
        &client,
        "send_reply",
        &format!(r#"{{"conversationId":{emily},"text":"{}"}}"#, "x".repeat(70_000)),
    )
    .await;
    assert_eq!(big["err"]["code"], "too_large", "{big}");
    let malformed = invoke_raw(&client, "send_reply", "{\"conversationId\":").await;
    assert_eq!(malformed["err"]["code"], "invalid_argument", "{malformed}");
    let unknown = invoke_raw(&client, "drop_all_tables", "{}").await;
    assert!(unknown.get("err").is_some(), "an unlisted command must be refused: {unknown}");
    assert_eq!(count(&invoke_raw(&client, "open_conversation", &open).await), before);

    // 5. The live path: a customer message shows its annotation and the policy's action, the
    //    suggestions stream in, and sending one puts it in the thread.
    open_row(&client, "Emily Carter").await;
    wait_until("Emily's conversation", || async {
        texts(&client, "[data-testid=message] .message-text")
            .await
            .iter()
            .any(|t| t.contains("comparing CRM tools"))
    })
    .await;
    let started = Instant::now();
    let input = client.find(Locator::Css("[data-testid=customer-input]")).await.expect("input");
    input.send_keys("How much is the Team plan per month?").await.expect("type");
    client
        .find(Locator::Css("[data-testid=customer-send]"))
        .await
        .expect("receive button")
        .click()
        .await
        .expect("click receive");
    wait_up_to(TURN_WAIT, "a suggestion", || async {
        client
            .find_all(Locator::Css("[data-testid=suggestion][data-state=ready]"))
            .await
            .map(|s| !s.is_empty())
            .unwrap_or(false)
    })
    .await;
    println!("customer message to first ready suggestion: {:?}", started.elapsed());
    wait_until("the message's annotation", || async {
        !texts(&client, "[data-testid=annotation] [data-testid=sentiment]").await.is_empty()
    })
    .await;
    // The decision arrives with the finished turn (after every suggestion is written).
    wait_up_to(TURN_WAIT, "the policy's action", || async {
        !texts(&client, "[data-testid=decision-action]").await.is_empty()
    })
    .await;
    screenshot(&client, "04-suggestions").await;
    let suggestion =
        text_of(&client, "[data-testid=suggestion] [data-testid=suggestion-text]").await;
    client
        .find(Locator::Css("[data-testid=suggestion] [data-testid=suggestion-send]"))
        .await
        .expect("send button")
        .click()
        .await
        .expect("click send");
    wait_until("the sent suggestion in the thread", || async {
        let roles = client
            .find_all(Locator::Css("[data-testid=message][data-role=salesperson] .message-text"))
            .await
            .unwrap_or_default();
        let mut found = false;
        for r in roles {
            found |= r.text().await.map(|t| t.trim() == suggestion.trim()).unwrap_or(false);
        }
        found
    })
    .await;
    screenshot(&client, "05-suggestion-sent").await;

    // 6. The manager's strategy page renders in the real window. (Leaving it for the dashboard or
    // the settings stalls WebKitGTK's automation under Xvfb — an open problem, see the issue
    // notes — so the window test stops here.)
    client
        .find(Locator::Css("[data-testid=nav-strategy]"))
        .await
        .expect("nav")
        .click()
        .await
        .expect("click nav");
    wait_until("strategy", || async {
        client.find(Locator::Css("[data-testid=strategy-editor]")).await.is_ok()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    screenshot(&client, "06-strategy").await;

    client.close().await.expect("close session");
}
