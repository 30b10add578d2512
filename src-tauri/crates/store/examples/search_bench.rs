//! Message search at inbox scale (issue 6: 1,000 conversations, 100,000 messages): seeds a real
//! SQLite file, then times each kind of query (median and worst of 20 runs, limit 50):
//! `cargo run --release -p closer-store --example search_bench [conversations] [messages each]`.

use std::time::Instant;

use closer_dialogue::{Channel, Event, Role};
use closer_store::{NewConversation, SearchOrder, SearchQuery, Store};

const ZH: &[&str] = &[
    "你好，这款扫地机器人多少钱？",
    "标准版价格是{n}元，现在下单送优惠券。",
    "太贵了，能便宜点吗",
    "我们公司要采购{n}台，有批量折扣吗？",
    "发票可以开增值税专用发票吗",
    "什么时候能发货？深圳仓库有现货吗",
    "我的电话是138{n}，下午联系我",
    "和竞品比续航怎么样？",
];
const EN: &[&str] = &[
    "What is the price for {n} units?",
    "Bulk pricing please, we need a quote by Friday.",
    "Can you ship to Hamburg within two weeks?",
    "The Pro plan is {n} per month, billed yearly.",
    "Is there a discount for schools?",
    "Thanks, I will talk to my manager and get back to you.",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let conversations: i64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1_000);
    let per: i64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(100);
    let dir = tempfile::tempdir()?;
    let store = Store::open_in(dir.path())?;
    let started = Instant::now();
    for c in 0..conversations {
        let zh = c % 3 != 0;
        let id = store.create_conversation(&NewConversation {
            channel: if c % 2 == 0 { Channel::Widget } else { Channel::Webhook },
            customer_name: format!("客户{c}"),
            language: if zh { "zh" } else { "en" }.into(),
            at: c * 1_000,
        })?;
        let events: Vec<Event> = (0..per)
            .map(|i| {
                let pool = if zh { ZH } else { EN };
                let n = (c * 7919 + i * 104_729) % 100_000_000;
                let text = pool[((c + i) as usize) % pool.len()].replace("{n}", &n.to_string());
                let role = if i % 2 == 0 { Role::Customer } else { Role::Salesperson };
                Event::Message { role, text, at: c * 1_000 + i }
            })
            .collect();
        store.record_all(id, &events, "bench")?;
    }
    let seeded = started.elapsed();
    let bytes = std::fs::metadata(store.path())?.len();
    println!(
        "seeded {conversations} conversations x {per} messages = {} messages in {:.1} s ({} MB file)",
        conversations * per,
        seeded.as_secs_f64(),
        bytes / 1_000_000
    );
    // The hourly retention job's work when nothing is due (no retention set, audit clean).
    let t = Instant::now();
    let purge = store.purge(conversations * 1_000 + 1, "bench")?;
    println!(
        "purge with nothing due: {:.0} ms ({} erased, {} audit rows rewritten)",
        t.elapsed().as_secs_f64() * 1e3,
        purge.erased.len(),
        purge.audit_rows_rewritten
    );
    // One customer's erasure at this size (rows, index, VACUUM, WAL truncated).
    let lead = store.lead_of_conversation(1)?;
    let t = Instant::now();
    let erasure = store.erase_lead(lead, "bench", conversations * 1_000 + 2)?;
    println!(
        "erasure of one lead ({} indexed messages): {:.0} ms, WAL truncated: {}",
        erasure.rows["message_fts"],
        t.elapsed().as_secs_f64() * 1e3,
        erasure.wal_truncated
    );
    let cases: &[(&str, &str, SearchOrder)] = &[
        ("zh, 3+ chars (trigram index)", "优惠券", SearchOrder::Newest),
        ("zh, 3+ chars, ranked", "扫地机器人", SearchOrder::Relevance),
        ("zh, 2 chars (bounded LIKE)", "价格", SearchOrder::Newest),
        ("zh, 1 char (bounded LIKE)", "贵", SearchOrder::Newest),
        ("zh, 2 chars, no match (full bounded scan)", "鑫淼", SearchOrder::Newest),
        ("en, one word", "price", SearchOrder::Newest),
        ("en, two words, ranked", "bulk quote", SearchOrder::Relevance),
        ("en + short term", "pro 5", SearchOrder::Newest),
        ("a rare number", "1387919", SearchOrder::Newest),
        ("no match, 3+ chars", "zzzqqq", SearchOrder::Newest),
    ];
    println!("{:<44} {:>6} {:>10} {:>10}", "query", "hits", "median ms", "max ms");
    for (name, text, order) in cases {
        let query =
            SearchQuery { text: (*text).into(), limit: 50, order: *order, ..Default::default() };
        let mut times = Vec::new();
        let mut hits = 0;
        for _ in 0..20 {
            let t = Instant::now();
            hits = store.search_messages(&query)?.len();
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        println!("{name:<44} {hits:>6} {:>10.2} {:>10.2}", times[10], times[19]);
    }
    Ok(())
}
