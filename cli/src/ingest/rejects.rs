//! The reject file of `--skip-bad-rows`: `<input>.rejects.csv` with the
//! columns `line, column, reason, row`.
//!
//! Invariants: the file is created on the first rejected row only (a clean
//! input leaves no file behind); `line` is the input's physical line, as in
//! the error message that row would have given without `--skip-bad-rows`.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Where rejected rows of `path` go: `<input>.rejects.csv` next to the input,
/// or `stdin.rejects.csv` in the current directory.
pub fn reject_path(path: &Path) -> PathBuf {
    if path.as_os_str() == "-" {
        return PathBuf::from("stdin.rejects.csv");
    }
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".rejects.csv");
    path.with_file_name(name)
}

/// The reject file, created on the first rejected row.
pub(super) struct Rejects {
    path: PathBuf,
    writer: Option<csv::Writer<File>>,
    pub(super) count: u64,
}

impl Rejects {
    pub(super) fn new(path: PathBuf) -> Rejects {
        Rejects {
            path,
            writer: None,
            count: 0,
        }
    }

    pub(super) fn write(
        &mut self,
        line: u64,
        column: Option<u64>,
        reason: &str,
        row: &str,
    ) -> anyhow::Result<()> {
        if self.writer.is_none() {
            let file = File::create(&self.path)
                .with_context(|| format!("create reject file {}", self.path.display()))?;
            let mut w = csv::Writer::from_writer(file);
            w.write_record(["line", "column", "reason", "row"])?;
            self.writer = Some(w);
        }
        if let Some(w) = &mut self.writer {
            let line = line.to_string();
            let column = column.map(|c| c.to_string()).unwrap_or_default();
            w.write_record([line.as_str(), column.as_str(), reason, row])
                .with_context(|| format!("write reject file {}", self.path.display()))?;
        }
        self.count += 1;
        Ok(())
    }

    pub(super) fn finish(self) -> anyhow::Result<Option<PathBuf>> {
        match self.writer {
            Some(mut w) => {
                w.flush()
                    .with_context(|| format!("write reject file {}", self.path.display()))?;
                Ok(Some(self.path))
            }
            None => Ok(None),
        }
    }
}
