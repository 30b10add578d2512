use rusqlite::params;

use crate::{Store, StoreError};

/// A product in the catalog, bilingual.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub id: i64,
    pub sku: String,
    pub category: String,
    pub name_en: String,
    pub name_zh: String,
    pub description_en: String,
    pub description_zh: String,
    pub price_cents: i64,
    pub currency: String,
    /// What the price is per: `month`, `year`, `unit`.
    pub unit: String,
    pub attributes: serde_json::Value,
}

impl Store {
    /// Inserts or replaces a product by SKU. Returns its id.
    pub fn upsert_product(&self, p: &Product) -> Result<i64, StoreError> {
        let conn = self.conn();
        let id = conn.query_row(
            "INSERT INTO products (sku, category, name_en, name_zh, description_en, description_zh,
                                   price_cents, currency, unit, attributes)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (sku) DO UPDATE SET category = excluded.category,
                 name_en = excluded.name_en, name_zh = excluded.name_zh,
                 description_en = excluded.description_en, description_zh = excluded.description_zh,
                 price_cents = excluded.price_cents, currency = excluded.currency,
                 unit = excluded.unit, attributes = excluded.attributes
             RETURNING id",
            params![
                p.sku,
                p.category,
                p.name_en,
                p.name_zh,
                p.description_en,
                p.description_zh,
                p.price_cents,
                p.currency,
                p.unit,
                p.attributes.to_string()
            ],
            |r| r.get(0),
        )?;
        Ok(id)
    }

    /// The catalog, by category then SKU.
    pub fn products(&self) -> Result<Vec<Product>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, sku, category, name_en, name_zh, description_en, description_zh,
                    price_cents, currency, unit, attributes
             FROM products ORDER BY category, sku",
        )?;
        let rows = stmt
            .query_map([], |r| {
                let attributes: String = r.get(10)?;
                Ok(Product {
                    id: r.get(0)?,
                    sku: r.get(1)?,
                    category: r.get(2)?,
                    name_en: r.get(3)?,
                    name_zh: r.get(4)?,
                    description_en: r.get(5)?,
                    description_zh: r.get(6)?,
                    price_cents: r.get(7)?,
                    currency: r.get(8)?,
                    unit: r.get(9)?,
                    attributes: serde_json::from_str(&attributes)
                        .unwrap_or(serde_json::Value::Null),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
