// The customer chat page: one WebSocket to /ws, the visitor token kept in localStorage so a
// reload or a dropped connection comes back to the same conversation and its history. Messages
// not yet acknowledged are resent with the same id after a reconnect (the server takes each id
// once). No frameworks, no inline script (the page's CSP forbids it).
"use strict";

const TEXT = {
  zh: {
    title: "在线咨询", placeholder: "请输入您的问题…", send: "发送", typing: "客服正在输入…",
    connecting: "连接中…", online: "在线", offline: "已断开，正在重连…", other: "EN",
    errors: {
      too_large: "消息太长了，请分几条发送。", rate_limited: "发送太快了，请稍等片刻。",
      malformed: "消息格式有误。", not_utf8: "消息编码有误。", empty: "不能发送空消息。",
      too_many_errors: "连接已关闭，请刷新页面。", busy: "客服繁忙，请稍后再试。",
    },
  },
  en: {
    title: "Chat with us", placeholder: "Type your question…", send: "Send", typing: "Agent is typing…",
    connecting: "Connecting…", online: "Online", offline: "Disconnected, reconnecting…", other: "中文",
    errors: {
      too_large: "That message is too long; please split it.", rate_limited: "You are sending too fast; please wait a moment.",
      malformed: "The message could not be read.", not_utf8: "The message encoding is invalid.", empty: "An empty message cannot be sent.",
      too_many_errors: "The connection was closed; please reload the page.", busy: "We are busy; please try again shortly.",
    },
  },
};

const params = new URLSearchParams(location.search);
let lang = params.get("lang") || localStorage.getItem("closer.lang") || (navigator.language.startsWith("zh") ? "zh" : "en");
if (!TEXT[lang]) lang = "zh";
const $ = (id) => document.getElementById(id);
const pending = new Map(); // id -> {text, li}
const shown = new Set(); // "at|text" of agent replies on screen
let socket = null;
let retry = 0;
let typingTimer = null;
let typingSent = false;

function t() { return TEXT[lang]; }

function applyLanguage() {
  document.documentElement.lang = lang;
  $("title").textContent = t().title;
  $("input").placeholder = t().placeholder;
  $("send").textContent = t().send;
  $("typing").textContent = t().typing;
  $("lang").textContent = t().other;
  setStatus($("status").dataset.state);
}

function setStatus(state) {
  $("status").dataset.state = state;
  $("status").textContent = t()[state] || "";
}

function add(from, text, extra) {
  const li = document.createElement("li");
  li.className = from + (extra ? " " + extra : "");
  li.textContent = text;
  $("messages").appendChild(li);
  $("messages").scrollTop = $("messages").scrollHeight;
  return li;
}

function showError(code, message) {
  const e = $("error");
  e.textContent = t().errors[code] || message || code;
  e.dataset.code = code;
  e.hidden = false;
}

function send(frame) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
}

function connect() {
  setStatus("connecting");
  const visitor = localStorage.getItem("closer.visitor");
  const q = new URLSearchParams({ lang });
  if (visitor) q.set("visitor", visitor);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/ws?${q}`);
  socket.onmessage = (event) => {
    let frame;
    try { frame = JSON.parse(event.data); } catch { return; }
    switch (frame.type) {
      case "welcome": {
        retry = 0;
        setStatus("online");
        localStorage.setItem("closer.visitor", frame.visitor);
        $("messages").replaceChildren();
        shown.clear();
        for (const line of frame.history) {
          add(line.from, line.text);
          if (line.from === "agent") shown.add(line.at + "|" + line.text);
        }
        for (const [id, p] of pending) {
          p.li = add("customer", p.text, "pending");
          send({ type: "message", id, text: p.text });
        }
        break;
      }
      case "ack": {
        const p = pending.get(frame.id);
        if (p) { p.li.classList.remove("pending"); pending.delete(frame.id); }
        break;
      }
      case "reply": {
        const key = frame.at + "|" + frame.text;
        if (!shown.has(key)) { shown.add(key); add("agent", frame.text); }
        $("typing").hidden = true;
        break;
      }
      case "typing":
        $("typing").hidden = !frame.on;
        break;
      case "error": {
        showError(frame.code, frame.message);
        const p = frame.id && pending.get(frame.id);
        if (p) { p.li.classList.remove("pending"); p.li.classList.add("refused"); pending.delete(frame.id); }
        break;
      }
    }
  };
  socket.onclose = () => {
    setStatus("offline");
    retry = Math.min(retry + 1, 6);
    setTimeout(connect, 250 * 2 ** retry);
  };
}

$("composer").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("input").value.trim();
  if (!text) return;
  const id = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).slice(0, 64);
  pending.set(id, { text, li: add("customer", text, "pending") });
  $("error").hidden = true;
  send({ type: "message", id, text });
  $("input").value = "";
  if (typingSent) { send({ type: "typing", on: false }); typingSent = false; }
});

$("input").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});

$("input").addEventListener("input", () => {
  if (!typingSent) { send({ type: "typing", on: true }); typingSent = true; }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => { send({ type: "typing", on: false }); typingSent = false; }, 3000);
});

$("lang").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("closer.lang", lang);
  applyLanguage();
});

applyLanguage();
connect();
