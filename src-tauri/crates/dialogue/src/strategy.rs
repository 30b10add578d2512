//! The part of a strategy the policy reads.
//!
//! [`StrategyView`] is deliberately minimal: how proactive to be, the confidence threshold, the
//! lead-field schema, which objections the playbook covers and the promotions with their
//! eligibility. The full strategy document — persona, tone, goals, examples, playbook texts, call
//! scripts; versioned, drafted, published and rolled back by managers — comes later (issue 5) and
//! will produce this view; persona and tone matter to the composer, not to the policy.

use serde::{Deserialize, Serialize};

use crate::{FieldSpec, Stage};

/// How often the AI asks for a missing lead field on its own initiative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proactivity {
    /// At most every fourth customer turn.
    Low,
    /// At most every third customer turn.
    #[default]
    Balanced,
    /// At most every other customer turn (never two asks in a row, whatever the setting).
    High,
}

stable_names!(Proactivity { Low => "low", Balanced => "balanced", High => "high" });

impl Proactivity {
    /// The fewest customer turns between two asks: 2 means "not in two replies in a row".
    pub fn min_turns_between_asks(self) -> u32 {
        match self {
            Proactivity::Low => 4,
            Proactivity::Balanced => 3,
            Proactivity::High => 2,
        }
    }
}

/// Who may be offered a promotion. Empty lists mean "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionEligibility {
    /// Funnel stages in which it may be offered.
    #[serde(default)]
    pub stages: Vec<Stage>,
    /// Product ids it applies to: the product in focus must be one of them.
    #[serde(default)]
    pub products: Vec<String>,
}

/// A promotion the manager allows the AI to offer (the words are the composer's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    pub id: String,
    #[serde(default)]
    pub eligibility: PromotionEligibility,
}

/// What the policy needs from the strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StrategyView {
    pub proactivity: Proactivity,
    /// Below this top-intent confidence the engine hands off instead of guessing (0.8).
    pub confidence_threshold: f32,
    /// This many misunderstood customer turns in a row (no intent, or top intent below the
    /// threshold) hand off as "repeated misunderstanding" (2).
    pub misunderstanding_limit: u32,
    /// The lead-field schema; the `required` ones are asked for, in this order.
    pub fields: Vec<FieldSpec>,
    /// The objection intents the playbook has an entry for (`objection_price`, …).
    pub playbook: Vec<String>,
    pub promotions: Vec<Promotion>,
    /// How many promotions one conversation may be offered (1).
    pub max_promotions: u32,
    /// Whether auto mode may send an objection reply without a person (false).
    pub auto_send_objections: bool,
}

impl Default for StrategyView {
    fn default() -> Self {
        StrategyView {
            proactivity: Proactivity::default(),
            confidence_threshold: 0.8,
            misunderstanding_limit: 2,
            fields: Vec::new(),
            playbook: Vec::new(),
            promotions: Vec::new(),
            max_promotions: 1,
            auto_send_objections: false,
        }
    }
}

impl StrategyView {
    /// The required fields, in schema order.
    pub fn required_fields(&self) -> impl Iterator<Item = &FieldSpec> {
        self.fields.iter().filter(|f| f.required)
    }

    /// Whether the playbook covers an objection.
    pub fn covers(&self, objection: &str) -> bool {
        self.playbook.iter().any(|p| p == objection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_a_partial_view() {
        let view: StrategyView =
            serde_json::from_str(r#"{"proactivity":"high","playbook":["objection_price"]}"#)
                .expect("parses");
        assert_eq!(view.proactivity, Proactivity::High);
        assert!((view.confidence_threshold - 0.8).abs() < f32::EPSILON);
        assert_eq!(view.max_promotions, 1);
        assert!(view.covers("objection_price") && !view.covers("objection_trust"));
    }

    #[test]
    fn proactivity_gaps_never_allow_two_asks_in_a_row() {
        for p in Proactivity::ALL {
            assert!(p.min_turns_between_asks() >= 2);
            assert_eq!(Proactivity::parse(p.as_str()), Some(*p));
        }
    }
}
