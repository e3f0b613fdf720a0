//! A test's folder, removed also when the test fails.

use std::path::PathBuf;

/// A folder for one test's files (`ingest-NAME-PID` in the temporary folder), made now and
/// removed when dropped, also when an assertion fails.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// Makes the folder.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ingest-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("making the test folder");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
