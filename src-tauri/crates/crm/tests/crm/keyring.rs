//! The real Secret Service (gnome-keyring) in a private D-Bus session: a round trip through the
//! crate's `Keyring`, and the typed error without a session. The test re-runs itself inside
//! `dbus-run-session` (the child does the work; the parent checks it passed).

use std::process::Command;

use closer_crm::{Keyring, SecretError, Sensitive};

const CHILD: &str = "CLOSER_CRM_KEYRING_CHILD";

#[test]
fn keyring_child() {
    if std::env::var_os(CHILD).is_none() {
        return; // only meaningful inside the D-Bus session started below
    }
    let keyring = Keyring::new("app.closer.console.test");
    keyring.set("crm.bottlecrm.token", &Sensitive::new("bcrm_pat_canary")).expect("set");
    assert_eq!(keyring.get("crm.bottlecrm.token").expect("get").expose(), "bcrm_pat_canary");
    keyring.set("crm.bottlecrm.token", &Sensitive::new("bcrm_pat_rotated")).expect("rotate");
    assert_eq!(keyring.get("crm.bottlecrm.token").expect("get").expose(), "bcrm_pat_rotated");
    keyring.delete("crm.bottlecrm.token").expect("delete");
    assert!(matches!(keyring.get("crm.bottlecrm.token"), Err(SecretError::Missing { .. })));
    println!("KEYRING-CHILD-OK");
}

#[test]
fn secret_service_round_trip_under_gnome_keyring() {
    let exe = std::env::current_exe().expect("exe");
    let script = format!(
        "echo -n test | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; \
         exec '{}' --exact keyring::keyring_child --nocapture",
        exe.display()
    );
    let home = tempfile::tempdir().expect("home");
    let out = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", &script])
        .env(CHILD, "1")
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .expect("dbus-run-session (apt: dbus, gnome-keyring)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("KEYRING-CHILD-OK"),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn no_session_bus_is_a_typed_error_not_a_fallback() {
    let exe = std::env::current_exe().expect("exe");
    let out = Command::new(exe)
        .args(["--exact", "keyring::no_bus_child", "--nocapture"])
        .env(CHILD, "1")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("NO-BUS-OK"), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn no_bus_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let err = Keyring::new("app.closer.console.test").get("crm.x").expect_err("no bus, no secret");
    assert!(matches!(err, SecretError::Unavailable { .. }), "{err:?}");
    println!("NO-BUS-OK");
}
