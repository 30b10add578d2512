//! The NLU's tables: intent examples a manager added, and the heads trained in the app with the
//! one adopted per kind.

use closer_dialogue::Millis;
use rusqlite::{OptionalExtension, Row, params};

use crate::{Store, StoreError, audit};

/// What a head classifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NluHeadKind {
    Intent,
    Sentiment,
}

impl NluHeadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NluHeadKind::Intent => "intent",
            NluHeadKind::Sentiment => "sentiment",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "intent" => Some(NluHeadKind::Intent),
            "sentiment" => Some(NluHeadKind::Sentiment),
            _ => None,
        }
    }
}

/// A labelled message a manager added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentExample {
    pub id: i64,
    pub label: String,
    pub text: String,
    /// `zh` or `en`.
    pub lang: String,
    pub added_by: String,
    pub added_at: Millis,
}

/// A head to record (not adopted yet).
#[derive(Debug, Clone, PartialEq)]
pub struct NewNluHead {
    pub kind: NluHeadKind,
    pub encoder: String,
    /// The head file, relative to the data directory.
    pub path: String,
    pub data_digest: String,
    pub examples: i64,
    pub labels: Vec<String>,
    /// Its scores on the test set, as the caller measured them.
    pub scores: serde_json::Value,
    pub created_at: Millis,
}

/// A recorded head.
#[derive(Debug, Clone, PartialEq)]
pub struct NluHeadRow {
    pub id: i64,
    pub kind: NluHeadKind,
    pub encoder: String,
    pub path: String,
    pub data_digest: String,
    pub examples: i64,
    pub labels: Vec<String>,
    pub scores: serde_json::Value,
    pub created_at: Millis,
    /// Since when it is the active head of its kind; `None` if it is not.
    pub adopted_at: Option<Millis>,
}

const HEAD_COLUMNS: &str =
    "id, kind, encoder, path, data_digest, examples, labels, scores, created_at, adopted_at";

fn head_row(r: &Row<'_>) -> rusqlite::Result<(NluHeadRow, String)> {
    let kind: String = r.get(1)?;
    let labels: String = r.get(6)?;
    let scores: String = r.get(7)?;
    Ok((
        NluHeadRow {
            id: r.get(0)?,
            kind: NluHeadKind::Intent,
            encoder: r.get(2)?,
            path: r.get(3)?,
            data_digest: r.get(4)?,
            examples: r.get(5)?,
            labels: serde_json::from_str(&labels).unwrap_or_default(),
            scores: serde_json::from_str(&scores).unwrap_or(serde_json::Value::Null),
            created_at: r.get(8)?,
            adopted_at: r.get(9)?,
        },
        kind,
    ))
}

fn with_kind((mut row, kind): (NluHeadRow, String)) -> Result<NluHeadRow, StoreError> {
    row.kind = NluHeadKind::parse(&kind)
        .ok_or_else(|| StoreError::BadValue(format!("NLU head kind {kind:?}")))?;
    Ok(row)
}

impl Store {
    /// Adds a labelled example. Returns false (and changes nothing) if the same text is already
    /// an example of that label.
    pub fn add_intent_example(
        &self,
        label: &str,
        text: &str,
        lang: &str,
        actor: &str,
        at: Millis,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let added = tx.execute(
            "INSERT INTO intent_examples (label, text, lang, added_by, added_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (label, text) DO NOTHING",
            params![label, text, lang, actor, at],
        )? == 1;
        if added {
            let id = tx.last_insert_rowid();
            audit::append(
                &tx,
                at,
                actor,
                "nlu.example_added",
                &format!("intent_example:{id}"),
                &serde_json::json!({ "label": label, "lang": lang }),
            )?;
        }
        tx.commit()?;
        Ok(added)
    }

    /// Every manager-added example, oldest first.
    pub fn intent_examples(&self) -> Result<Vec<IntentExample>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, label, text, lang, added_by, added_at FROM intent_examples ORDER BY id",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(IntentExample {
                    id: r.get(0)?,
                    label: r.get(1)?,
                    text: r.get(2)?,
                    lang: r.get(3)?,
                    added_by: r.get(4)?,
                    added_at: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// How many manager-added examples each label has, by label.
    pub fn intent_example_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT label, count(*) FROM intent_examples GROUP BY label ORDER BY label")?;
        let rows =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Records a trained head (not adopted). Returns its id.
    pub fn insert_nlu_head(&self, head: &NewNluHead) -> Result<i64, StoreError> {
        let conn = self.conn();
        let labels = serde_json::to_string(&head.labels)
            .map_err(|e| StoreError::BadValue(format!("head labels: {e}")))?;
        let id = conn.query_row(
            "INSERT INTO nlu_heads (kind, encoder, path, data_digest, examples, labels, scores, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
            params![
                head.kind.as_str(),
                head.encoder,
                head.path,
                head.data_digest,
                head.examples,
                labels,
                head.scores.to_string(),
                head.created_at
            ],
            |r| r.get(0),
        )?;
        Ok(id)
    }

    /// One recorded head.
    pub fn nlu_head(&self, id: i64) -> Result<Option<NluHeadRow>, StoreError> {
        let conn = self.conn();
        conn.query_row(
            &format!("SELECT {HEAD_COLUMNS} FROM nlu_heads WHERE id = ?1"),
            [id],
            head_row,
        )
        .optional()?
        .map(with_kind)
        .transpose()
    }

    /// The adopted head of a kind, if one is.
    pub fn adopted_nlu_head(&self, kind: NluHeadKind) -> Result<Option<NluHeadRow>, StoreError> {
        let conn = self.conn();
        conn.query_row(
            &format!(
                "SELECT {HEAD_COLUMNS} FROM nlu_heads WHERE kind = ?1 AND adopted_at IS NOT NULL"
            ),
            [kind.as_str()],
            head_row,
        )
        .optional()?
        .map(with_kind)
        .transpose()
    }

    /// Makes head `id` the active one of its kind (the previous one stops being adopted) and
    /// audits it. Returns the head, or `None` if there is no such head.
    pub fn adopt_nlu_head(
        &self,
        id: i64,
        actor: &str,
        at: Millis,
    ) -> Result<Option<NluHeadRow>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let Some(kind) = tx
            .query_row("SELECT kind FROM nlu_heads WHERE id = ?1", [id], |r| r.get::<_, String>(0))
            .optional()?
        else {
            return Ok(None);
        };
        let previous: Option<i64> = tx
            .query_row(
                "SELECT id FROM nlu_heads WHERE kind = ?1 AND adopted_at IS NOT NULL",
                [&kind],
                |r| r.get(0),
            )
            .optional()?;
        tx.execute(
            "UPDATE nlu_heads SET adopted_at = NULL WHERE kind = ?1 AND adopted_at IS NOT NULL",
            [&kind],
        )?;
        tx.execute("UPDATE nlu_heads SET adopted_at = ?2 WHERE id = ?1", params![id, at])?;
        audit::append(
            &tx,
            at,
            actor,
            "nlu.head_adopted",
            &format!("nlu_head:{id}"),
            &serde_json::json!({ "kind": kind, "previous": previous }),
        )?;
        let row = tx
            .query_row(
                &format!("SELECT {HEAD_COLUMNS} FROM nlu_heads WHERE id = ?1"),
                [id],
                head_row,
            )
            .map_err(StoreError::from)
            .and_then(with_kind)?;
        tx.commit()?;
        Ok(Some(row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(digest: &str) -> NewNluHead {
        NewNluHead {
            kind: NluHeadKind::Intent,
            encoder: "multilingual-e5-small".into(),
            path: format!("heads/intent-{digest}.safetensors"),
            data_digest: digest.into(),
            examples: 10,
            labels: vec!["greeting".into(), "goodbye".into()],
            scores: serde_json::json!({ "all": { "microF1": 0.9 } }),
            created_at: 5,
        }
    }

    #[test]
    fn examples_are_unique_per_label_and_audited() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_in(dir.path()).expect("open");
        assert!(
            store.add_intent_example("ask_invoice", "能开发票吗", "zh", "manager", 1).expect("add")
        );
        assert!(
            !store
                .add_intent_example("ask_invoice", "能开发票吗", "zh", "manager", 2)
                .expect("again")
        );
        assert!(
            store
                .add_intent_example("after_sales", "能开发票吗", "zh", "manager", 3)
                .expect("other label")
        );
        assert!(
            store
                .add_intent_example("ask_invoice", "Can I get an invoice?", "en", "m", 4)
                .expect("en")
        );
        let examples = store.intent_examples().expect("list");
        assert_eq!(examples.len(), 3);
        assert_eq!((examples[0].label.as_str(), examples[0].added_at), ("ask_invoice", 1));
        assert_eq!(
            store.intent_example_counts().expect("counts"),
            [("after_sales".to_string(), 1), ("ask_invoice".to_string(), 2)]
        );
        let audit = store.audit_log(10).expect("audit");
        assert_eq!(audit.iter().filter(|a| a.action == "nlu.example_added").count(), 3);
        // The table checks what the app checks too.
        assert!(store.add_intent_example("ask_invoice", "x", "fr", "m", 5).is_err());
        assert!(store.add_intent_example(&"x".repeat(41), "x", "en", "m", 5).is_err());
    }

    #[test]
    fn one_head_of_a_kind_is_adopted_at_a_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_in(dir.path()).expect("open");
        assert_eq!(store.adopted_nlu_head(NluHeadKind::Intent).expect("none"), None);
        let a = store.insert_nlu_head(&head("aaaa")).expect("a");
        let b = store.insert_nlu_head(&head("bbbb")).expect("b");
        let row = store.nlu_head(a).expect("read").expect("a exists");
        assert_eq!((row.kind, row.adopted_at, row.examples), (NluHeadKind::Intent, None, 10));
        assert_eq!(row.labels, ["greeting", "goodbye"]);
        assert_eq!(row.scores["all"]["microF1"], 0.9);

        let adopted = store.adopt_nlu_head(a, "manager", 10).expect("adopt a").expect("a");
        assert_eq!(adopted.adopted_at, Some(10));
        store.adopt_nlu_head(b, "manager", 20).expect("adopt b");
        let active = store.adopted_nlu_head(NluHeadKind::Intent).expect("active").expect("b");
        assert_eq!((active.id, active.adopted_at), (b, Some(20)));
        assert_eq!(store.nlu_head(a).expect("a").expect("a").adopted_at, None);
        assert_eq!(store.adopted_nlu_head(NluHeadKind::Sentiment).expect("none"), None);
        // Rolling back is adopting the older one again.
        store.adopt_nlu_head(a, "manager", 30).expect("adopt a again");
        assert_eq!(store.adopted_nlu_head(NluHeadKind::Intent).expect("a").map(|h| h.id), Some(a));
        assert_eq!(store.adopt_nlu_head(999, "manager", 40).expect("missing"), None);
        let audit = store.audit_log(10).expect("audit");
        let adoptions: Vec<_> = audit.iter().filter(|e| e.action == "nlu.head_adopted").collect();
        assert_eq!(adoptions.len(), 3);
        assert_eq!(adoptions[0].detail["previous"], b);
    }
}
