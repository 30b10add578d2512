//! The customer chat page in a real browser: Debian's headless Chromium driven through
//! chromedriver (`.ci/setup` installs both). The visitor types a message and sends it, the page
//! shows it acknowledged, a reply pushed by the server appears, and after a reload the thread is
//! back.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use closer_channels::{
    Accepted, Contact, Hub, Inbound, Inbox, IngestError, Line, Server, ServerConfig, Speaker,
    ToCustomer,
};
use fantoccini::{ClientBuilder, Locator};

/// Answers every message at once with "已收到：<text>", as the console would after approval.
#[derive(Debug)]
struct Echo {
    hub: Arc<Hub>,
    threads: Mutex<HashMap<i64, Vec<Line>>>,
    contacts: Mutex<HashMap<String, i64>>,
}

impl Inbox for Echo {
    fn conversation_for(&self, contact: &Contact) -> Result<i64, IngestError> {
        let mut contacts = self.contacts.lock().expect("lock");
        let n = contacts.len() as i64 + 1;
        Ok(*contacts.entry(contact.key.clone()).or_insert(n))
    }

    fn history(&self, id: i64) -> Result<Vec<Line>, IngestError> {
        Ok(self.threads.lock().expect("lock").get(&id).cloned().unwrap_or_default())
    }

    fn accept(&self, m: Inbound) -> Result<Accepted, IngestError> {
        let reply = format!("已收到：{}", m.text);
        {
            let mut threads = self.threads.lock().expect("lock");
            let thread = threads.entry(m.conversation_id).or_default();
            thread.push(Line { from: Speaker::Customer, text: m.text.clone(), at: 1 });
            thread.push(Line { from: Speaker::Agent, text: reply.clone(), at: 2 });
        }
        let hub = Arc::clone(&self.hub);
        let id = m.conversation_id;
        std::thread::spawn(move || {
            hub.send(id, ToCustomer::Typing { on: true });
            std::thread::sleep(Duration::from_millis(300));
            hub.send(id, ToCustomer::Reply { text: reply, at: 2 });
        });
        Ok(Accepted::Queued)
    }
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_page_sends_and_receives_in_headless_chromium() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let hub = Arc::new(Hub::default());
    let echo = Arc::new(Echo {
        hub: Arc::clone(&hub),
        threads: Mutex::default(),
        contacts: Mutex::default(),
    });
    let server = Server::start(ServerConfig::loopback(0), echo, hub).expect("server");

    let port = free_port();
    let chromedriver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver runs (.ci/setup installs chromium-driver)");
    let _driver = Driver(chromedriver);
    let profile = tempfile_dir();
    let capabilities = serde_json::json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--user-data-dir={}", profile.display()), "--lang=zh-CN"],
        }
    });
    let capabilities = capabilities.as_object().cloned().expect("an object");
    let mut client = None;
    for _ in 0..50 {
        match ClientBuilder::rustls()
            .expect("tls")
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(c) => {
                client = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let c = client.expect("a WebDriver session");

    c.goto(&format!("{}?lang=zh", server.url())).await.expect("open the page");
    let online = c.wait().at_most(Duration::from_secs(20));
    online.for_element(Locator::Css("#status[data-state='online']")).await.expect("connected");
    assert_eq!(
        c.find(Locator::Id("send")).await.expect("send").text().await.expect("text"),
        "发送"
    );

    let input = c.find(Locator::Id("input")).await.expect("input");
    input.send_keys("你好，我想买云服务器").await.expect("type");
    c.find(Locator::Id("send")).await.expect("send").click().await.expect("click");
    let reply = c
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#messages li.agent"))
        .await
        .expect("the reply appears");
    assert_eq!(reply.text().await.expect("text"), "已收到：你好，我想买云服务器");
    let mine = c.find(Locator::Css("#messages li.customer")).await.expect("my message");
    assert_eq!(mine.text().await.expect("text"), "你好，我想买云服务器");
    let class = mine.attr("class").await.expect("class").unwrap_or_default();
    assert!(!class.contains("pending"), "acknowledged: {class}");

    // Reload: the same visitor, the thread from the server.
    c.refresh().await.expect("reload");
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css("#status[data-state='online']"))
        .await
        .expect("reconnected");
    let lines = c.find_all(Locator::Css("#messages li")).await.expect("lines");
    let mut texts = Vec::new();
    for line in lines {
        texts.push(line.text().await.expect("text"));
    }
    assert_eq!(texts, ["你好，我想买云服务器", "已收到：你好，我想买云服务器"]);

    // English.
    c.find(Locator::Id("lang")).await.expect("lang").click().await.expect("click");
    assert_eq!(
        c.find(Locator::Id("send")).await.expect("send").text().await.expect("text"),
        "Send"
    );
    c.close().await.expect("close the session");
    let _ = std::fs::remove_dir_all(&profile);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("closer-chromium-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}
