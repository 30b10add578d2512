//! The HTTP server of the customer channels: the chat page and its WebSocket, and the webhook.
//! It runs on a tokio runtime of its own (two workers), so it works the same under the desktop
//! shell, the CLI and tests; dropping the [`Server`] stops it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::sync::oneshot;

use crate::callback::Replier;
use crate::limits::{Limits, RateLimiter};
use crate::webhook::WebhookConfig;
use crate::{Hub, Inbox, widget};

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen: 127.0.0.1 unless the LAN was opted into ([`ServerConfig::lan`]).
    pub addr: SocketAddr,
    /// Origins besides the page's own that may open a visitor WebSocket (a company site that
    /// embeds the chat), e.g. `https://shop.example.com`.
    pub allowed_origins: Vec<String>,
    pub limits: Limits,
    /// The inbound webhook at `POST /webhook` and its reply callbacks, when configured.
    pub webhook: Option<WebhookConfig>,
}

impl ServerConfig {
    /// Loopback only (the default); port 0 picks a free one.
    pub fn loopback(port: u16) -> Self {
        Self {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
            allowed_origins: Vec::new(),
            limits: Limits::default(),
            webhook: None,
        }
    }

    /// Every interface, so customers on the local network can reach the chat page (opt-in).
    pub fn lan(port: u16) -> Self {
        Self {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            ..Self::loopback(port)
        }
    }
}

/// What every request handler shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub inbox: Arc<dyn Inbox>,
    pub hub: Arc<Hub>,
    pub limits: Limits,
    pub rate: Arc<RateLimiter>,
    pub allowed_origins: Arc<Vec<String>>,
    /// Whether the server listens beyond loopback (then any Host may be same-origin).
    pub lan: bool,
    pub webhook: Option<Arc<WebhookConfig>>,
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    hub: Arc<Hub>,
    replier: Option<Replier>,
    shutdown: Option<oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Server {
    /// Binds and starts serving; replies go out through `hub`.
    pub fn start(
        config: ServerConfig,
        inbox: Arc<dyn Inbox>,
        hub: Arc<Hub>,
    ) -> Result<Self, std::io::Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("closer-channels")
            .enable_all()
            .build()?;
        let replier = match &config.webhook {
            Some(webhook) if !webhook.callbacks.is_empty() => Some(
                Replier::start(
                    runtime.handle(),
                    &webhook.callbacks,
                    Arc::new(webhook.secret.clone()),
                    webhook.retry,
                    Arc::clone(&inbox),
                )
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?,
            ),
            _ => None,
        };
        let listener = std::net::TcpListener::bind(config.addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Shared {
            inbox,
            hub: Arc::clone(&hub),
            rate: Arc::new(RateLimiter::new(&config.limits)),
            limits: config.limits,
            allowed_origins: Arc::new(config.allowed_origins),
            lan: !config.addr.ip().is_loopback(),
            webhook: config.webhook.map(Arc::new),
        };
        let app = Router::new()
            .route("/", get(widget::page))
            .route("/chat.js", get(widget::script))
            .route("/chat.css", get(widget::style))
            .route("/health", get(|| async { "ok" }))
            .route("/ws", get(widget::upgrade))
            .route("/webhook", post(crate::webhook::receive))
            .layer(DefaultBodyLimit::max(config.limits.max_frame_bytes))
            .with_state(shared);
        let (tx, rx) = oneshot::channel::<()>();
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        runtime.spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("the channels server stopped: {e}");
            }
        });
        tracing::info!(%addr, "customer channels listening");
        Ok(Self { addr, hub, replier, shutdown: Some(tx), runtime: Some(runtime) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The chat page's address (`http://127.0.0.1:PORT/` on loopback).
    pub fn url(&self) -> String {
        let host = if self.addr.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            self.addr.ip()
        };
        format!("http://{}/", SocketAddr::new(host, self.addr.port()))
    }

    pub fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    /// Posts replies to webhook platforms, when callbacks are configured.
    pub fn replier(&self) -> Option<&Replier> {
        self.replier.as_ref()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            // Safe from inside another runtime too (tests drop it there).
            runtime.shutdown_background();
        }
    }
}
