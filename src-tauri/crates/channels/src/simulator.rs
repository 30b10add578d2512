//! The customer simulator: scripted personas that chat in by themselves at a human pace, so the
//! demo inbox comes alive without a network. Each persona arrives a little after the one before,
//! "types" each turn (typing indicator, time proportional to the text), sends it through the same
//! [`Inbox`] as any customer, and waits for a reply — or a timeout, as a customer gives up
//! waiting — before its next turn.
//!
//! The personas cover the seeds' scenarios: a combined cloud-server need, an elderly appliance
//! buyer with a budget, SaaS concurrency then price, an angry complaint, a hesitant buyer, and an
//! English B2B buyer.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use closer_dialogue::Channel;

use crate::{Contact, Hub, Inbound, Inbox, IngestError, ToCustomer};

/// A simulated customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Persona {
    pub id: &'static str,
    pub name: &'static str,
    /// `zh` or `en`.
    pub language: &'static str,
    /// What they say, one message per turn.
    pub turns: &'static [&'static str],
}

/// The demo's personas.
pub const PERSONAS: &[Persona] = &[
    Persona {
        id: "cloud-combo",
        name: "王总（云服务器）",
        language: "zh",
        turns: &[
            "你好，我们公司想采购一批云服务器",
            "要性价比高的云服务器，还要支持异地备份，最好能对接ERP",
            "公司大概50个人用，预算每月两千左右",
            "异地备份是自动的吗？多久备份一次？",
            "好的，麻烦发个报价给我，邮箱是 wang.zong@example.com",
        ],
    },
    Persona {
        id: "elderly-appliance",
        name: "李阿姨",
        language: "zh",
        turns: &[
            "你好，我想给家里买台冰箱",
            "我年纪大了，要操作简单一点的",
            "预算三千块以内",
            "能送货上门吗？我住三楼没有电梯",
            "那我跟儿子商量一下，谢谢你啊",
        ],
    },
    Persona {
        id: "saas-concurrency",
        name: "陈经理",
        language: "zh",
        turns: &[
            "你们的SaaS系统支持多少人同时在线？",
            "我们大概有200个并发用户，高峰期会不会卡？",
            "那价格怎么算？按人头还是按年付？",
            "有点贵啊，年付能打折吗？",
        ],
    },
    Persona {
        id: "angry-complaint",
        name: "赵先生",
        language: "zh",
        turns: &[
            "你们的服务器又宕机了！这个月已经第三次了！",
            "我要投诉！耽误了我们一整天的生意",
            "马上让你们经理联系我，电话 13800138000",
        ],
    },
    Persona {
        id: "hesitant",
        name: "小周",
        language: "zh",
        turns: &[
            "在吗",
            "我看了你们的备份服务，但不太确定需不需要",
            "我再想想吧，现在也不是很急",
            "有没有免费试用？",
        ],
    },
    Persona {
        id: "english-b2b",
        name: "Emma Clarke (Northwind Logistics)",
        language: "en",
        turns: &[
            "Hi, we're a 120-person logistics company looking at your cloud servers.",
            "We need off-site backup and an integration with our ERP. Is that possible?",
            "What would 100 seats on an annual plan cost?",
            "Please send a proposal to procurement@northwind.example.com",
        ],
    },
];

/// How fast simulated customers are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Between one persona's arrival and the next's.
    pub arrival_gap: Duration,
    /// Before typing a turn (reading the reply, thinking).
    pub think: Duration,
    /// Typing speed.
    pub chars_per_second: f64,
    /// How long a persona waits for a reply before going on anyway.
    pub reply_timeout: Duration,
}

impl Pace {
    /// About a person's pace: a few seconds per turn.
    pub fn human() -> Self {
        Self {
            arrival_gap: Duration::from_secs(4),
            think: Duration::from_secs(2),
            chars_per_second: 8.0,
            reply_timeout: Duration::from_secs(60),
        }
    }

    /// For tests: no waiting beyond a moment.
    pub fn fast() -> Self {
        Self {
            arrival_gap: Duration::from_millis(20),
            think: Duration::from_millis(5),
            chars_per_second: 10_000.0,
            reply_timeout: Duration::from_millis(300),
        }
    }

    fn typing(&self, text: &str) -> Duration {
        Duration::from_secs_f64(text.chars().count() as f64 / self.chars_per_second.max(0.1))
    }
}

/// A simulator run.
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Keys this run's conversations apart from other runs' (the same run key resumes the same
    /// conversations and does not resend turns already taken).
    pub run: String,
    pub personas: Vec<Persona>,
    pub pace: Pace,
}

/// Counts, for the console, the CLI and tests.
#[derive(Debug, Default)]
pub struct Progress {
    /// Personas that have a conversation.
    pub arrived: AtomicUsize,
    /// Turns taken in.
    pub sent: AtomicUsize,
    /// Replies received.
    pub replies: AtomicUsize,
    /// Turns after which no reply came in time.
    pub timeouts: AtomicUsize,
    /// Personas done with all their turns.
    pub finished: AtomicUsize,
    /// Turns or arrivals the inbox refused.
    pub failures: AtomicUsize,
}

/// A running simulator; dropping it stops the personas.
#[derive(Debug)]
pub struct Simulator {
    progress: Arc<Progress>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Simulator {
    /// Starts every persona of `config`; replies reach them through `hub`.
    pub fn start(
        inbox: Arc<dyn Inbox>,
        hub: Arc<Hub>,
        config: SimulatorConfig,
    ) -> Result<Self, std::io::Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("closer-simulator")
            .enable_all()
            .build()?;
        let progress = Arc::new(Progress::default());
        for (n, persona) in config.personas.iter().copied().enumerate() {
            let arrival = config.pace.arrival_gap * n as u32;
            runtime.spawn(persona_run(
                Arc::clone(&inbox),
                Arc::clone(&hub),
                Arc::clone(&progress),
                config.run.clone(),
                persona,
                config.pace,
                arrival,
            ));
        }
        tracing::info!(personas = config.personas.len(), run = %config.run, "simulator started");
        Ok(Self { progress, runtime: Some(runtime) })
    }

    pub fn progress(&self) -> &Arc<Progress> {
        &self.progress
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, IngestError> + Send + 'static,
) -> Result<T, IngestError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| Err(IngestError::new("internal", "the inbox call failed")))
}

async fn persona_run(
    inbox: Arc<dyn Inbox>,
    hub: Arc<Hub>,
    progress: Arc<Progress>,
    run: String,
    persona: Persona,
    pace: Pace,
    arrival: Duration,
) {
    tokio::time::sleep(arrival).await;
    let contact = Contact {
        channel: Channel::Simulator,
        key: format!("{run}:{}", persona.id),
        name: persona.name.to_owned(),
        language: persona.language.to_owned(),
    };
    let conversation_id = {
        let inbox = Arc::clone(&inbox);
        match blocking(move || inbox.conversation_for(&contact)).await {
            Ok(id) => id,
            Err(e) => {
                tracing::warn!(persona = persona.id, "simulated customer could not arrive: {e}");
                progress.failures.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    };
    progress.arrived.fetch_add(1, Ordering::Relaxed);
    let mut session = hub.attach(conversation_id);
    for (n, text) in persona.turns.iter().enumerate() {
        tokio::time::sleep(if n == 0 { Duration::ZERO } else { pace.think }).await;
        inbox.typing(conversation_id, true);
        tokio::time::sleep(pace.typing(text)).await;
        inbox.typing(conversation_id, false);
        let inbound = Inbound {
            conversation_id,
            text: (*text).to_owned(),
            dedup: Some((format!("simulator:{run}:{}", persona.id), n.to_string())),
        };
        let taken = {
            let inbox = Arc::clone(&inbox);
            blocking(move || inbox.accept(inbound)).await
        };
        match taken {
            Ok(crate::Accepted::Queued) => {
                progress.sent.fetch_add(1, Ordering::Relaxed);
            }
            // Taken by an earlier run with this key: go on to the next turn.
            Ok(crate::Accepted::Duplicate) => continue,
            Err(e) => {
                tracing::warn!(persona = persona.id, "simulated turn refused: {e}");
                progress.failures.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        }
        let waited = tokio::time::timeout(pace.reply_timeout, async {
            while let Some(what) = session.receiver.recv().await {
                if matches!(what, ToCustomer::Reply { .. }) {
                    return true;
                }
            }
            false
        })
        .await;
        match waited {
            Ok(true) => {
                progress.replies.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                progress.timeouts.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    progress.finished.fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_personas_cover_the_seed_scenarios() {
        let all: String = PERSONAS.iter().flat_map(|p| p.turns.iter().copied()).collect();
        for needle in [
            "性价比高的云服务器，还要支持异地备份，最好能对接ERP",
            "预算三千",
            "并发",
            "投诉",
            "再想想",
            "ERP",
        ] {
            assert!(all.contains(needle), "no persona says {needle}");
        }
        assert!(PERSONAS.iter().any(|p| p.language == "en"));
        let mut ids: Vec<&str> = PERSONAS.iter().map(|p| p.id).collect();
        ids.dedup();
        assert_eq!(ids.len(), PERSONAS.len());
    }
}
