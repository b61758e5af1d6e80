//! `--www DIR`: static files, only regular files under the directory.
//!
//! tower-http's `ServeDir` refuses `..` in a path but follows symbolic links
//! wherever they point, so a link left in the directory serves any file the
//! collector can read. Here the path is resolved (links included) and
//! served only when it is a regular file inside the directory as resolved
//! at start; `ServeFile` then answers it (content type, ranges, HEAD).

use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// The static directory, resolved once.
#[derive(Clone, Debug)]
pub struct StaticRoot(PathBuf);

impl StaticRoot {
    /// Resolves `dir`; fails when it is not a directory.
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        let root = dir.canonicalize()?;
        if !root.is_dir() {
            return Err(std::io::Error::other("not a directory"));
        }
        Ok(Self(root))
    }

    /// The file a URL path names, if it is a regular file under the root;
    /// `Err` with the path to redirect to for a directory named without its
    /// trailing slash.
    pub async fn resolve(&self, url_path: &str) -> Option<Result<PathBuf, String>> {
        let decoded = percent_encoding::percent_decode_str(url_path).decode_utf8().ok()?;
        let relative = Path::new(decoded.trim_start_matches('/'));
        if decoded.contains('\0')
            || !relative.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return None;
        }
        let mut resolved = tokio::fs::canonicalize(self.0.join(relative)).await.ok()?;
        if !resolved.starts_with(&self.0) {
            return None;
        }
        if tokio::fs::metadata(&resolved).await.ok()?.is_dir() {
            if !decoded.ends_with('/') {
                return Some(Err(format!("{url_path}/")));
            }
            resolved = tokio::fs::canonicalize(resolved.join("index.html")).await.ok()?;
            if !resolved.starts_with(&self.0) {
                return None;
            }
        }
        tokio::fs::symlink_metadata(&resolved).await.ok()?.is_file().then_some(Ok(resolved))
    }

    /// Answers a request for a static file.
    pub async fn serve(self, req: Request<Body>) -> Response {
        match self.resolve(req.uri().path()).await {
            Some(Ok(file)) => match ServeFile::new(file).oneshot(req).await {
                Ok(res) => res.into_response(),
                Err(never) => match never {},
            },
            Some(Err(location)) => (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, location)]).into_response(),
            None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_regular_files_under_the_root() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<p>hi</p>").unwrap();
        std::fs::create_dir(dir.path().join("app")).unwrap();
        std::fs::write(dir.path().join("app/index.html"), "app").unwrap();
        std::fs::write(dir.path().join("a b.js"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), dir.path().join("leak.txt")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("a b.js"), dir.path().join("inside.js")).unwrap();
        let root = StaticRoot::new(dir.path()).unwrap();
        let base = dir.path().canonicalize().unwrap();
        assert_eq!(root.resolve("/").await, Some(Ok(base.join("index.html"))));
        assert_eq!(root.resolve("/app").await, Some(Err("/app/".into())));
        assert_eq!(root.resolve("/app/").await, Some(Ok(base.join("app/index.html"))));
        assert_eq!(root.resolve("/a%20b.js").await, Some(Ok(base.join("a b.js"))));
        // A link to a file inside is that file; links out are refused.
        assert_eq!(root.resolve("/inside.js").await, Some(Ok(base.join("a b.js"))));
        assert_eq!(root.resolve("/leak.txt").await, None);
        assert_eq!(root.resolve("/out/secret.txt").await, None);
        assert_eq!(root.resolve("/../etc/passwd").await, None);
        assert_eq!(root.resolve("/%2e%2e/etc/passwd").await, None);
        assert_eq!(root.resolve("/missing").await, None);
    }
}
