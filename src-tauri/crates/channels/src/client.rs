//! A chat-widget visitor as a program: connects to `/ws`, sends messages, reads frames. The load
//! bench, the CLI and the tests use it; it speaks exactly the protocol the page speaks.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::Line;

/// Why the client stopped.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connect: {0}")]
    Connect(String),
    #[error("the server closed the connection")]
    Closed,
    #[error("no frame within {0:?}")]
    Timeout(Duration),
    #[error("unexpected frame: {0}")]
    Unexpected(String),
}

/// One connected visitor.
#[derive(Debug)]
pub struct Visitor {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The visitor's token (keep it to come back to the same conversation).
    pub token: String,
    /// The thread as the welcome frame gave it.
    pub history: Vec<Line>,
}

impl Visitor {
    /// Connects to the server at `base` (`http://127.0.0.1:PORT/`) as a new visitor (`token`
    /// None) or a returning one; `origin` is sent as a browser would.
    pub async fn connect(
        base: &str,
        token: Option<&str>,
        lang: &str,
        origin: Option<&str>,
    ) -> Result<Self, ClientError> {
        let mut url = format!("{}ws?lang={lang}", base.replacen("http", "ws", 1));
        if let Some(token) = token {
            url.push_str("&visitor=");
            url.push_str(token);
        }
        let mut request =
            url.into_client_request().map_err(|e| ClientError::Connect(e.to_string()))?;
        if let Some(origin) = origin {
            let value = origin.parse().map_err(|_| ClientError::Connect("bad origin".into()))?;
            request.headers_mut().insert("origin", value);
        }
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| ClientError::Connect(e.to_string()))?;
        let mut visitor = Self { socket, token: String::new(), history: Vec::new() };
        let welcome = visitor.next(Duration::from_secs(30)).await?;
        if welcome["type"] != "welcome" {
            return Err(ClientError::Unexpected(welcome.to_string()));
        }
        visitor.token = welcome["visitor"].as_str().unwrap_or_default().to_owned();
        visitor.history = serde_json::from_value(welcome["history"].clone())
            .map_err(|e| ClientError::Unexpected(e.to_string()))?;
        Ok(visitor)
    }

    /// Sends a chat message with the client's id for it.
    pub async fn say(&mut self, id: &str, text: &str) -> Result<(), ClientError> {
        let frame = serde_json::json!({ "type": "message", "id": id, "text": text });
        self.send(Message::Text(frame.to_string().into())).await
    }

    /// Sends any frame (tests send malformed ones).
    pub async fn send(&mut self, message: Message) -> Result<(), ClientError> {
        self.socket.send(message).await.map_err(|_| ClientError::Closed)
    }

    /// The next JSON frame from the server.
    pub async fn next(&mut self, timeout: Duration) -> Result<Value, ClientError> {
        loop {
            let frame = tokio::time::timeout(timeout, self.socket.next())
                .await
                .map_err(|_| ClientError::Timeout(timeout))?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    return serde_json::from_str(text.as_str())
                        .map_err(|_| ClientError::Unexpected(text.as_str().to_owned()));
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Binary(_))) => {
                    return Err(ClientError::Unexpected("a binary frame".into()));
                }
                Some(Ok(Message::Close(_)) | Err(_)) | None => return Err(ClientError::Closed),
            }
        }
    }

    /// Frames until one of `kind` (`ack`, `reply`, `error`, `typing`); the others are dropped.
    pub async fn next_of(&mut self, kind: &str, timeout: Duration) -> Result<Value, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = self.next(left).await?;
            if frame["type"] == kind {
                return Ok(frame);
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// The frame type [`Visitor::send`] takes.
pub use tokio_tungstenite::tungstenite::Message as Frame;
