//! Product facts for the composer, retrieved by embedding search over the catalog: each product
//! becomes a short fact sheet in Chinese and in English, both are embedded once with the NLU's
//! encoder, and a customer message gets the products whose sheets are nearest to it (the product
//! in focus always first). The prompt then carries only facts that exist in the catalog.

use closer_store::Product;

/// One product's fact sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub sku: String,
    pub zh: String,
    pub en: String,
}

impl Fact {
    /// The sheet of a catalog product: name, description, price with its unit, attributes.
    pub fn of(p: &Product) -> Self {
        let price = p.price_cents as f64 / 100.0;
        let price =
            if price.fract() == 0.0 { format!("{price:.0}") } else { format!("{price:.2}") };
        let (unit_zh, unit_en) = match p.unit.as_str() {
            "month" => ("月", "month"),
            "year" => ("年", "year"),
            "unit" => ("台", "unit"),
            other => (other, other),
        };
        // The description already says what the attributes say, in words a reply can quote.
        Self {
            sku: p.sku.clone(),
            zh: format!(
                "{}：{} 价格 {price} {}/{unit_zh}。",
                p.name_zh, p.description_zh, p.currency
            ),
            en: format!(
                "{}: {} Price {price} {} per {unit_en}.",
                p.name_en, p.description_en, p.currency
            ),
        }
    }

    /// The sheet in the reply's language (`zh` or anything else for English).
    pub fn text(&self, language: &str) -> &str {
        if language == "zh" { &self.zh } else { &self.en }
    }
}

/// The catalog's fact sheets and their embeddings.
#[derive(Debug, Clone)]
pub struct FactIndex {
    facts: Vec<Fact>,
    /// Per fact, the vectors of its Chinese and English sheets.
    vectors: Vec<[Vec<f32>; 2]>,
}

impl FactIndex {
    /// Embeds every product's sheets with `embed` (one call, batched).
    pub fn build<E>(
        products: &[Product],
        embed: impl FnOnce(&[&str]) -> Result<Vec<Vec<f32>>, E>,
    ) -> Result<Self, E> {
        let facts: Vec<Fact> = products.iter().map(Fact::of).collect();
        let texts: Vec<&str> = facts.iter().flat_map(|f| [f.zh.as_str(), f.en.as_str()]).collect();
        let mut embedded = embed(&texts)?.into_iter();
        let mut vectors = Vec::with_capacity(facts.len());
        while let (Some(zh), Some(en)) = (embedded.next(), embedded.next()) {
            vectors.push([zh, en]);
        }
        Ok(Self { facts, vectors })
    }

    pub fn len(&self) -> usize {
        self.facts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
    }

    /// Up to `k` facts for a message whose embedding is `query`: the product in focus first (if it
    /// is in the catalog), then the nearest by cosine similarity (vectors are L2-normalised).
    pub fn search(&self, query: &[f32], k: usize, focus: Option<&str>) -> Vec<&Fact> {
        let dot = |v: &[f32]| v.iter().zip(query).map(|(a, b)| a * b).sum::<f32>();
        let mut scored: Vec<(f32, &Fact)> = self
            .facts
            .iter()
            .zip(&self.vectors)
            .map(|(f, [zh, en])| (dot(zh).max(dot(en)), f))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut out: Vec<&Fact> = Vec::with_capacity(k);
        if let Some(fact) = focus.and_then(|sku| self.facts.iter().find(|f| f.sku == sku)) {
            out.push(fact);
        }
        for (_, fact) in scored {
            if out.len() >= k {
                break;
            }
            if !out.iter().any(|f| f.sku == fact.sku) {
                out.push(fact);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_products() -> Vec<Product> {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = closer_store::Store::open_in(dir.path()).expect("store");
        crate::demo::seed(&store, 1_700_000_000_000).expect("seed");
        store.products().expect("products")
    }

    #[test]
    fn a_fact_sheet_has_the_price_with_its_unit_and_no_aliases() {
        let products = demo_products();
        let s2 = products.iter().find(|p| p.sku == "CVM-S2").expect("CVM-S2");
        let fact = Fact::of(s2);
        assert!(fact.zh.contains("99 CNY/月"), "{}", fact.zh);
        assert!(fact.en.contains("Price 99 CNY per month"), "{}", fact.en);
        assert!(fact.zh.contains("80GB SSD"), "{}", fact.zh);
        assert!(!fact.zh.contains("2C4G"), "aliases are not facts: {}", fact.zh);
    }

    /// With the real encoder: each need of a combined request finds its product, in both
    /// languages, and the product in focus always comes first.
    #[test]
    fn retrieval_finds_the_product_for_each_need() {
        let models = crate::default_models_dir();
        let encoder = closer_nlu::encoder::Encoder::load(&models, crate::nlu::ENCODER_ID)
            .expect("run `closer models fetch multilingual-e5-small`");
        let index = FactIndex::build(&demo_products(), |t| encoder.embed(t)).expect("index");
        assert_eq!(index.len(), 11);
        let top = |q: &str, focus: Option<&str>| -> Vec<String> {
            let v = encoder.embed(&[q]).expect("embed").remove(0);
            index.search(&v, 3, focus).into_iter().map(|f| f.sku.clone()).collect()
        };
        let cases = [
            ("数据要做异地备份", "BAK-GEO"),
            ("能和我们的ERP系统对接吗", "ERP-LINK"),
            ("家里想换一台大容量冰箱", "HOME-FRIDGE-460"),
            ("we need a washing machine for a family of five", "HOME-WASH-10"),
            ("do you offer off-site backup for our data?", "BAK-GEO"),
        ];
        for (q, sku) in cases {
            let found = top(q, None);
            assert!(found.contains(&sku.to_owned()), "{q}: {found:?}");
        }
        assert_eq!(top("多少钱", Some("SAAS-ENT"))[0], "SAAS-ENT");
    }
}
