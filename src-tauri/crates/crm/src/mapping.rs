//! Lead field → CRM field, from the strategy's lead-field schema (`FieldSpec::crm_field`).
//! Fields without a mapping are not sent; values read back from the CRM are mapped the other way
//! and recorded by the caller as CRM-sourced.

use std::collections::BTreeMap;

use closer_dialogue::nlu::FieldSpec;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldMap {
    /// lead field → CRM field
    to_crm: BTreeMap<String, String>,
}

impl FieldMap {
    /// The mapping the manager set in the strategy's lead-field schema.
    pub fn from_specs(specs: &[FieldSpec]) -> Self {
        Self::from_pairs(specs.iter().filter_map(|s| Some((s.key.clone(), s.crm_field.clone()?))))
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        let to_crm = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(_, v): &(String, String)| !v.trim().is_empty())
            .collect();
        Self { to_crm }
    }

    /// The lead's fields under their CRM names; unmapped fields are left out.
    pub fn to_crm(&self, fields: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        fields.iter().filter_map(|(k, v)| Some((self.to_crm.get(k)?.clone(), v.clone()))).collect()
    }

    /// CRM values under their lead field names (for recording them as CRM-sourced).
    pub fn from_crm(&self, crm: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        self.to_crm
            .iter()
            .filter_map(|(lead, crm_name)| Some((lead.clone(), crm.get(crm_name)?.clone())))
            .collect()
    }

    /// Every mapped CRM field name.
    pub fn crm_names(&self) -> impl Iterator<Item = &str> {
        self.to_crm.values().map(String::as_str)
    }

    /// The CRM name of a lead field.
    pub fn crm_name(&self, lead_field: &str) -> Option<&str> {
        self.to_crm.get(lead_field).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_both_ways_and_drops_unmapped_fields() {
        let map =
            FieldMap::from_pairs([("name", "first_name"), ("budget", ""), ("email", "email")]);
        let lead: BTreeMap<String, String> =
            [("name", "Ann"), ("budget", "5k"), ("email", "a@x.io")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let crm = map.to_crm(&lead);
        assert_eq!(crm.len(), 2);
        assert_eq!(crm["first_name"], "Ann");
        assert!(!crm.contains_key("budget"));
        let mut back = crm.clone();
        back.insert("rating".into(), "HOT".into());
        let lead_back = map.from_crm(&back);
        assert_eq!(lead_back.get("name").map(String::as_str), Some("Ann"));
        assert_eq!(lead_back.len(), 2);
    }
}
