use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Millis;

/// Where a lead field's value came from. The order is the precedence: a value may only be
/// replaced by one from the same or a higher source (salesperson > CRM > AI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum FieldSource {
    /// Extracted by the AI from the conversation.
    Ai,
    /// Pulled from the team's CRM.
    Crm,
    /// Typed or confirmed by a salesperson.
    Salesperson,
}

stable_names!(FieldSource { Ai => "ai", Crm => "crm", Salesperson => "salesperson" });

/// A lead field's current value with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct FieldValue {
    pub value: String,
    pub source: FieldSource,
    /// 0..=1; a person's entry is 1.
    pub confidence: f32,
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub at: Millis,
}

/// What the provenance rule says about a proposed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldDecision {
    /// The field was empty or held a value of the same or lower precedence.
    Accept,
    /// The value equals what is stored from the same source: nothing to do.
    Unchanged,
    /// A higher-precedence source set the field; the proposal must be dropped.
    KeepExisting { existing: FieldSource },
}

/// The lead fields collected in a conversation, keyed by field name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LeadProfile {
    pub fields: BTreeMap<String, FieldValue>,
}

impl LeadProfile {
    /// The provenance rule: may `source` set `field` to `value`?
    pub fn decide(&self, field: &str, value: &str, source: FieldSource) -> FieldDecision {
        match self.fields.get(field) {
            None => FieldDecision::Accept,
            Some(existing) if existing.source > source => {
                FieldDecision::KeepExisting { existing: existing.source }
            }
            Some(existing) if existing.source == source && existing.value == value => {
                FieldDecision::Unchanged
            }
            Some(_) => FieldDecision::Accept,
        }
    }

    /// Applies a value that [`LeadProfile::decide`] accepted. Returns whether it changed anything.
    pub fn apply(&mut self, field: &str, value: FieldValue) -> bool {
        match self.decide(field, &value.value, value.source) {
            FieldDecision::Accept => {
                self.fields.insert(field.to_owned(), value);
                true
            }
            FieldDecision::Unchanged | FieldDecision::KeepExisting { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(v: &str, source: FieldSource) -> FieldValue {
        FieldValue { value: v.into(), source, confidence: 0.9, at: 0 }
    }

    #[test]
    fn ai_fills_an_empty_field() {
        let profile = LeadProfile::default();
        assert_eq!(profile.decide("phone", "13800138000", FieldSource::Ai), FieldDecision::Accept);
    }

    #[test]
    fn ai_never_overwrites_a_salesperson_or_crm_value() {
        let mut profile = LeadProfile::default();
        assert!(profile.apply("phone", value("13800138000", FieldSource::Salesperson)));
        assert!(!profile.apply("phone", value("13900000000", FieldSource::Ai)));
        assert!(!profile.apply("phone", value("13900000000", FieldSource::Crm)));
        assert_eq!(profile.fields["phone"].value, "13800138000");
        assert!(profile.apply("email", value("a@b.cn", FieldSource::Crm)));
        assert_eq!(
            profile.decide("email", "c@d.cn", FieldSource::Ai),
            FieldDecision::KeepExisting { existing: FieldSource::Crm }
        );
    }

    #[test]
    fn same_source_corrects_and_higher_source_overrides() {
        let mut profile = LeadProfile::default();
        assert!(profile.apply("budget", value("5万", FieldSource::Ai)));
        assert!(profile.apply("budget", value("8万", FieldSource::Ai)));
        assert!(!profile.apply("budget", value("8万", FieldSource::Ai)));
        assert!(profile.apply("budget", value("10万", FieldSource::Salesperson)));
        assert_eq!(profile.fields["budget"].source, FieldSource::Salesperson);
    }

    #[test]
    fn source_names_round_trip() {
        for s in [FieldSource::Ai, FieldSource::Crm, FieldSource::Salesperson] {
            assert_eq!(FieldSource::parse(s.as_str()), Some(s));
        }
        assert_eq!(FieldSource::parse("robot"), None);
    }
}
