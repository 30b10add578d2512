//! The store's products as the dialogue engine sees them ([`closer_dialogue::Catalog`]): the
//! names and aliases a customer uses, plans grouped under one product, and the facts a reply may
//! quote (prices with their unit and currency, specifications).
//!
//! Key decisions:
//! - **A family of SKUs is one product with plans.** SKUs sharing the part before their last
//!   `-` (`SAAS-STARTER`, `SAAS-TEAM`, `SAAS-ENT`) become one product (`SAAS`) whose plans are
//!   the SKUs (`starter`, `team`, `ent`): the family's name is the words the members' names share
//!   ("CRM 云服务"), a plan's name what follows ("企业版", "Enterprise"), so "那这个的年费" after
//!   "企业版" resolves to the enterprise plan and "不是这个，是企业版" corrects to it. A SKU alone in
//!   its family is a product of its own, named as in the store.
//! - **Aliases live in the product's attributes** (the store has no column for them):
//!   `aliases` are the SKU's other names (a plan's in a family, the product's otherwise),
//!   `family_aliases` the family's ("CRM", "客服系统"). Neither is a fact to quote.
//! - **Prices are facts with their unit**: `price` (`12800 CNY / year`) and, for a recurring
//!   price, `price_year` / `price_month` (`12800 CNY`), so "年费" and "多少钱" both find one.

use std::collections::BTreeMap;

use closer_dialogue::{AttributeTerm, Catalog, CatalogProduct, Plan};
use closer_store::Product;

/// Attribute keys that name a product rather than describe it.
const ALIAS_KEYS: &[&str] = &["aliases", "family_aliases"];

/// The dialogue catalog of the store's products (see the module documentation).
pub fn dialogue_catalog(products: &[Product]) -> Catalog {
    let mut families: Vec<(String, Vec<&Product>)> = Vec::new();
    for p in products {
        let family = family_of(&p.sku);
        match families.iter_mut().find(|(f, _)| *f == family) {
            Some((_, members)) => members.push(p),
            None => families.push((family, vec![p])),
        }
    }
    let products = families
        .into_iter()
        .flat_map(|(family, members)| match members.as_slice() {
            [one] => vec![single(one)],
            [_, _, ..] => vec![grouped(&family, &members)],
            [] => Vec::new(),
        })
        .collect();
    Catalog { products, terms: AttributeTerm::defaults() }
}

/// `SAAS-TEAM` → `SAAS`; `HOME-FRIDGE-460` → `HOME-FRIDGE`; `ERP` → `ERP`.
fn family_of(sku: &str) -> String {
    sku.rsplit_once('-').map_or(sku, |(family, _)| family).to_owned()
}

fn single(p: &Product) -> CatalogProduct {
    let mut aliases = strings(&p.attributes, "aliases");
    aliases.extend(strings(&p.attributes, "family_aliases"));
    dedup(&mut aliases);
    CatalogProduct {
        id: p.sku.clone(),
        name_zh: p.name_zh.clone(),
        name_en: p.name_en.clone(),
        aliases,
        plans: Vec::new(),
        attributes: facts(p),
    }
}

fn grouped(family: &str, members: &[&Product]) -> CatalogProduct {
    let names_zh: Vec<&str> = members.iter().map(|p| p.name_zh.as_str()).collect();
    let names_en: Vec<&str> = members.iter().map(|p| p.name_en.as_str()).collect();
    let name_zh = shared_words(&names_zh);
    let name_en = shared_words(&names_en);
    let mut aliases: Vec<String> =
        members.iter().flat_map(|p| strings(&p.attributes, "family_aliases")).collect();
    dedup(&mut aliases);
    let plans = members
        .iter()
        .map(|p| {
            let (zh, zh_detail) = plan_name(&p.name_zh, &name_zh);
            let (en, en_detail) = plan_name(&p.name_en, &name_en);
            let mut plan_aliases = strings(&p.attributes, "aliases");
            // "S2（2核4G）": the detail in brackets names the plan too.
            plan_aliases.extend(zh_detail.into_iter().chain(en_detail).filter(|d| d != &zh));
            dedup(&mut plan_aliases);
            Plan {
                id: p
                    .sku
                    .strip_prefix(family)
                    .unwrap_or(&p.sku)
                    .trim_start_matches('-')
                    .to_lowercase(),
                name_zh: zh,
                name_en: en,
                aliases: plan_aliases,
                attributes: facts(p),
            }
        })
        .collect();
    // What every member shares is a fact of the product.
    let mut attributes = BTreeMap::new();
    if let Some(first) = members.first() {
        for (key, value) in facts(first) {
            if members.iter().all(|p| facts(p).get(&key) == Some(&value)) {
                attributes.insert(key, value);
            }
        }
    }
    CatalogProduct { id: family.to_owned(), name_zh, name_en, aliases, plans, attributes }
}

/// The whole words (split at spaces) the names begin with in common: "CRM 云服务 入门版" and
/// "CRM 云服务 团队版" share "CRM 云服务".
fn shared_words(names: &[&str]) -> String {
    let split: Vec<Vec<&str>> = names.iter().map(|n| n.split_whitespace().collect()).collect();
    let Some(first) = split.first() else { return String::new() };
    let n = (0..first.len())
        .take_while(|&i| split.iter().all(|words| words.get(i) == first.get(i)))
        .count();
    first[..n].join(" ")
}

/// A member's plan name: what follows the family's name, without a bracketed detail, which is
/// returned apart ("云服务器 S2（2核4G）" → "S2", "2核4G").
fn plan_name(name: &str, family: &str) -> (String, Option<String>) {
    let rest = name.strip_prefix(family).unwrap_or(name).trim();
    let open = rest.find(['(', '（']);
    match open {
        Some(i) if i > 0 => {
            let detail = rest[i..]
                .trim_start_matches(['(', '（'])
                .trim_end_matches([')', '）'])
                .trim()
                .to_owned();
            let detail = (!detail.is_empty()).then_some(detail);
            (rest[..i].trim().to_owned(), detail)
        }
        _ => (rest.to_owned(), None),
    }
}

/// The product's facts by attribute key: its price with unit and currency, and its attributes
/// as text (lists joined, absent values left out).
fn facts(p: &Product) -> BTreeMap<String, String> {
    let mut facts = BTreeMap::new();
    let amount = money(p.price_cents);
    let currency = p.currency.as_str();
    match p.unit.as_str() {
        unit @ ("month" | "year") => {
            facts.insert(format!("price_{unit}"), format!("{amount} {currency}"));
            facts.insert("price".to_owned(), format!("{amount} {currency} / {unit}"));
        }
        _ => {
            facts.insert("price".to_owned(), format!("{amount} {currency}"));
        }
    }
    facts.insert("unit".to_owned(), p.unit.clone());
    facts.insert("category".to_owned(), p.category.clone());
    if let Some(map) = p.attributes.as_object() {
        for (key, value) in map {
            if ALIAS_KEYS.contains(&key.as_str()) {
                continue;
            }
            if let Some(text) = as_text(value) {
                facts.insert(key.clone(), text);
            }
        }
    }
    facts
}

fn as_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(as_text).collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        other => Some(other.to_string()),
    }
}

/// Cents as a plain amount: `1280000` → `12800`, `4999` → `49.99`.
fn money(cents: i64) -> String {
    let (units, rest) = (cents / 100, (cents % 100).abs());
    if rest == 0 { units.to_string() } else { format!("{units}.{rest:02}") }
}

fn strings(attributes: &serde_json::Value, key: &str) -> Vec<String> {
    attributes
        .get(key)
        .and_then(|v| v.as_array())
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str())
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn dedup(items: &mut Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    items.retain(|i| seen.insert(i.to_lowercase()));
}

#[cfg(test)]
mod tests {
    use closer_dialogue::FocusChange;
    use closer_dialogue::focus::resolve;

    use super::*;

    fn demo() -> Catalog {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = closer_store::Store::open_in(dir.path()).expect("store");
        crate::demo::seed(&store, 0).expect("seed");
        dialogue_catalog(&store.products().expect("products"))
    }

    fn product<'a>(catalog: &'a Catalog, id: &str) -> &'a CatalogProduct {
        catalog.products.iter().find(|p| p.id == id).unwrap_or_else(|| panic!("no {id}"))
    }

    #[test]
    fn saas_skus_are_plans_of_one_product() {
        let catalog = demo();
        let saas = product(&catalog, "SAAS");
        assert_eq!((saas.name_zh.as_str(), saas.name_en.as_str()), ("CRM 云服务", "CRM SaaS"));
        let plans: Vec<(&str, &str, &str)> = saas
            .plans
            .iter()
            .map(|p| (p.id.as_str(), p.name_zh.as_str(), p.name_en.as_str()))
            .collect();
        assert_eq!(
            plans,
            [
                ("ent", "企业版", "Enterprise"),
                ("starter", "入门版", "Starter"),
                ("team", "团队版", "Team")
            ]
        );
        let ent = &saas.plans[0];
        assert_eq!(ent.attributes["price_year"], "48000 CNY");
        assert_eq!(ent.attributes["price"], "48000 CNY / year");
        assert_eq!(ent.attributes["concurrency"], "2000");
        assert!(!ent.attributes.contains_key("seats"), "an unlimited (null) value is left out");
        assert!(ent.aliases.contains(&"旗舰版".to_owned()));
        assert!(saas.aliases.contains(&"CRM".to_owned()));
        assert_eq!(saas.attributes.get("unit").map(String::as_str), Some("year"));
        assert!(!saas.attributes.contains_key("price"), "prices differ by plan");
        assert!(!ent.attributes.contains_key("aliases"), "names are not facts");
    }

    #[test]
    fn cloud_servers_are_plans_named_by_size() {
        let catalog = demo();
        let cvm = product(&catalog, "CVM");
        assert_eq!((cvm.name_zh.as_str(), cvm.name_en.as_str()), ("云服务器", "Cloud Server"));
        let s4 = cvm.plans.iter().find(|p| p.id == "s4").expect("s4");
        assert_eq!((s4.name_zh.as_str(), s4.name_en.as_str()), ("S4", "S4"));
        assert!(s4.aliases.contains(&"4核8G".to_owned()), "{:?}", s4.aliases);
        assert_eq!(s4.attributes["price_month"], "239 CNY");
        assert_eq!(s4.attributes["vcpu"], "4");
    }

    #[test]
    fn single_skus_keep_their_names_and_facts() {
        let catalog = demo();
        let erp = product(&catalog, "ERP-LINK");
        assert_eq!(erp.name_zh, "ERP 对接套件");
        assert!(erp.plans.is_empty());
        assert_eq!(erp.attributes["price"], "8800 CNY");
        assert_eq!(erp.attributes["systems"], "Kingdee, Yonyou, SAP B1");
        let fridge = product(&catalog, "HOME-FRIDGE-460");
        assert!(fridge.aliases.contains(&"冰箱".to_owned()));
        assert_eq!(fridge.attributes["price"], "5299 CNY");
        assert_eq!(
            catalog.products.len(),
            7,
            "11 SKUs: 3 servers and 3 SaaS plans fold into 2 products"
        );
    }

    #[test]
    fn the_demo_catalog_resolves_the_seed_phrases() {
        let catalog = demo();
        let r = resolve(&catalog, None, "你们的企业版支持多少并发？");
        let f = r.focus.expect("enterprise in focus");
        assert_eq!((f.product.as_str(), f.plan.as_deref()), ("SAAS", Some("ent")));
        let r = resolve(&catalog, Some(&f), "那这个的年费是多少");
        assert_eq!(r.change, Some(FocusChange::FollowUp));
        assert_eq!(
            r.focus.as_ref().map(|f| f.attributes["price_year"].as_str()),
            Some("48000 CNY")
        );
        let team = resolve(&catalog, None, "团队版多少钱").focus.expect("team");
        let r = resolve(&catalog, Some(&team), "不是这个，是企业版");
        assert_eq!(r.change, Some(FocusChange::Corrected));
        assert_eq!(r.focus.and_then(|f| f.plan).as_deref(), Some("ent"));
        let r = resolve(&catalog, None, "How much is the Enterprise plan per year?");
        let f = r.focus.expect("enterprise");
        assert_eq!((f.plan.as_deref(), f.asked.as_deref()), (Some("ent"), Some("price_year")));
        assert_eq!(f.name, "CRM SaaS Enterprise");
        let r = resolve(&catalog, None, "给我妈买个冰箱，有什么推荐");
        assert_eq!(r.focus.map(|f| f.product).as_deref(), Some("HOME-FRIDGE-460"));
        let r = resolve(&catalog, None, "4核8G的云服务器一个月多少钱");
        let f = r.focus.expect("s4");
        assert_eq!((f.plan.as_deref(), f.asked.as_deref()), (Some("s4"), Some("price_month")));
    }

    #[test]
    fn money_keeps_cents_only_when_there_are_some() {
        assert_eq!(money(1_280_000), "12800");
        assert_eq!(money(4999), "49.99");
        assert_eq!(money(3005), "30.05");
    }
}
