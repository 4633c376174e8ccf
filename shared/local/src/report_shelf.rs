//! The report pages as files: `dir/reports/<window>/<page>`, linked by their `file://` URL.

use std::path::{Path, PathBuf};

use justice_core::time::Millis;
use justice_service::report::ReportShelf;
use justice_service::OutboxError;

#[derive(Debug)]
pub struct LocalReportShelf {
    pub dir: PathBuf,
}

impl LocalReportShelf {
    pub fn new(dir: &Path) -> Self {
        LocalReportShelf {
            dir: dir.join("reports"),
        }
    }
}

impl ReportShelf for LocalReportShelf {
    async fn put(
        &self,
        window: &str,
        name: &str,
        html: String,
        _valid_ms: Millis,
    ) -> Result<String, OutboxError> {
        // A window is an RFC 3339 time: `:` is kept out of file names for other systems.
        let dir = self.dir.join(window.replace(':', "-"));
        let path = dir.join(name);
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, html))
            .map_err(|e| OutboxError::permanent(format!("{}: {e}", path.display())))?;
        let abs = std::path::absolute(&path).unwrap_or(path);
        Ok(format!("file://{}", abs.display()))
    }
}
