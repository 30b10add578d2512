//! CRM credentials in the OS keyring (Secret Service on Linux), never in SQLite, logs or IPC.
//!
//! A missing entry, a locked keyring and an absent keyring service are distinct typed errors:
//! there is no fallback store, so a token is either where the user put it or the sync stops
//! with a reason the UI can show.

use std::fmt;

use zeroize::Zeroizing;

/// A secret value. It cannot be serialized, prints as `<redacted>`, and is wiped on drop.
#[derive(Clone)]
pub struct Sensitive(Zeroizing<String>);

impl Sensitive {
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Why a secret could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("no CRM credential named {name:?} in the keyring: enter it in the CRM settings")]
    Missing { name: String },
    #[error("the keyring is locked: unlock it to let Closer read {name:?} ({detail})")]
    Locked { name: String, detail: String },
    #[error("no keyring service is available ({detail}): Closer stores CRM tokens only there")]
    Unavailable { detail: String },
    #[error("the keyring refused {name:?}: {detail}")]
    Refused { name: String, detail: String },
}

/// Where the CRM credentials live: one keyring service (the app identifier), one entry per
/// credential (`crm.bottlecrm.token`, `crm.hubspot.token`, `crm.webhook.secret` …).
#[derive(Debug, Clone)]
pub struct Keyring {
    service: String,
}

impl Keyring {
    pub fn new(service: impl Into<String>) -> Self {
        Self { service: service.into() }
    }

    fn entry(&self, name: &str) -> Result<keyring::Entry, SecretError> {
        keyring::Entry::new(&self.service, name).map_err(|e| map_error(name, e))
    }

    pub fn get(&self, name: &str) -> Result<Sensitive, SecretError> {
        let entry = self.entry(name)?;
        entry.get_password().map(Sensitive::new).map_err(|e| map_error(name, e))
    }

    pub fn set(&self, name: &str, value: &Sensitive) -> Result<(), SecretError> {
        self.entry(name)?.set_password(value.expose()).map_err(|e| map_error(name, e))
    }

    /// Removes a credential; removing one that is not there is not an error.
    pub fn delete(&self, name: &str) -> Result<(), SecretError> {
        match self.entry(name)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(map_error(name, e)),
        }
    }
}

/// Maps keyring's errors onto ours. The detail never contains the secret (keyring's errors
/// carry platform messages, not values).
pub(crate) fn map_error(name: &str, e: keyring::Error) -> SecretError {
    let name = name.to_owned();
    match e {
        keyring::Error::NoEntry => SecretError::Missing { name },
        keyring::Error::NoStorageAccess(d) => SecretError::Locked { name, detail: d.to_string() },
        keyring::Error::PlatformFailure(d) => SecretError::Unavailable { detail: d.to_string() },
        other => SecretError::Refused { name, detail: other.to_string() },
    }
}

/// Where an adapter reads a credential from, each time it sends (so a rotated token is picked
/// up without a restart).
#[derive(Debug, Clone)]
pub enum Credential {
    /// The OS keyring entry `name` (the app's way).
    Keyring { keyring: Keyring, name: String },
    /// A value held by the caller; for tests and one-off tools, never chosen implicitly.
    Fixed(std::sync::Arc<std::sync::RwLock<Sensitive>>),
}

impl Credential {
    pub fn keyring(keyring: &Keyring, name: &str) -> Self {
        Self::Keyring { keyring: keyring.clone(), name: name.to_owned() }
    }

    pub fn fixed(value: &str) -> Self {
        Self::Fixed(std::sync::Arc::new(std::sync::RwLock::new(Sensitive::new(value))))
    }

    /// Replaces a fixed value (a rotation, in tests). No effect on a keyring credential.
    pub fn rotate_fixed(&self, value: &str) {
        if let Self::Fixed(v) = self
            && let Ok(mut guard) = v.write()
        {
            *guard = Sensitive::new(value);
        }
    }

    pub fn read(&self) -> Result<Sensitive, SecretError> {
        match self {
            Self::Keyring { keyring, name } => keyring.get(name),
            Self::Fixed(v) => v
                .read()
                .map(|g| g.clone())
                .map_err(|_| SecretError::Unavailable { detail: "poisoned".into() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_never_prints() {
        let s = Sensitive::new("bcrm_pat_canary");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert!(!format!("{:?}", Credential::fixed("bcrm_pat_canary")).contains("canary"));
    }

    #[test]
    fn keyring_errors_map_to_typed_errors() {
        assert!(matches!(map_error("t", keyring::Error::NoEntry), SecretError::Missing { .. }));
        let locked = keyring::Error::NoStorageAccess("locked collection".into());
        assert!(matches!(map_error("t", locked), SecretError::Locked { .. }));
        let gone = keyring::Error::PlatformFailure("no D-Bus session".into());
        let err = map_error("t", gone);
        assert!(matches!(err, SecretError::Unavailable { .. }));
        assert!(err.to_string().contains("no keyring service"));
    }

    #[test]
    fn mock_keyring_round_trip_and_locked_error() {
        // keyring's mock: one entry, its own in-memory credential.
        keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
        let entry = keyring::Entry::new("app.closer.test", "crm.token").expect("entry");
        assert!(matches!(entry.get_password(), Err(keyring::Error::NoEntry)));
        entry.set_password("s3cret").expect("set");
        assert_eq!(entry.get_password().expect("get"), "s3cret");
        let mock: &keyring::mock::MockCredential =
            entry.get_credential().downcast_ref().expect("a mock credential");
        mock.set_error(keyring::Error::NoStorageAccess("locked".into()));
        let err = entry.get_password().map_err(|e| map_error("crm.token", e));
        assert!(matches!(err, Err(SecretError::Locked { .. })));
    }
}
