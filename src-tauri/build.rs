// tauri.conf.json sits beside the root Cargo.toml (the design card's layout), which is where
// tauri-build looks; the capabilities live under src-tauri/.
include!("command_list.rs");

fn main() {
    let attributes = tauri_build::Attributes::new()
        .capabilities_path_pattern("./src-tauri/capabilities/**/*")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri-build failed: {e:#}");
    }
}
