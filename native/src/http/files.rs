//! Static files: a request path to a file under the web root, never outside it, and the content
//! type of what is found.

use std::path::{Path, PathBuf};

/// Where a request path leads.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// This file, inside the root.
    File(PathBuf),
    /// The path is malformed (bad percent escape, not UTF-8, a NUL).
    BadRequest,
    /// The path tries to leave the root (`..`, a backslash, a link pointing out).
    Forbidden,
    /// Nothing there.
    NotFound,
}

/// Maps a request target (`/dir/file.js?v=1`) to a file under `root`. Percent escapes are
/// decoded before the path is checked, so `%2e%2e` is `..` and refused like it.
pub(crate) fn resolve(root: &Path, target: &str) -> Resolved {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    if !path.starts_with('/') {
        return Resolved::BadRequest;
    }
    let Some(decoded) = percent_decode(path) else {
        return Resolved::BadRequest;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return Resolved::BadRequest;
    };
    if decoded.contains('\0') {
        return Resolved::BadRequest;
    }
    let mut file = root.to_path_buf();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Resolved::Forbidden,
            // A backslash or drive prefix means another path on some systems: never ours.
            s if s.contains('\\') || s.contains(':') => return Resolved::Forbidden,
            s => file.push(s),
        }
    }
    let (Ok(root), Ok(mut file)) = (root.canonicalize(), file.canonicalize()) else {
        return Resolved::NotFound;
    };
    if file.is_dir() {
        file.push("index.html");
        match file.canonicalize() {
            Ok(f) => file = f,
            Err(_) => return Resolved::NotFound,
        }
    }
    // A symbolic link inside the root may point anywhere.
    if !file.starts_with(&root) {
        return Resolved::Forbidden;
    }
    if file.is_file() {
        Resolved::File(file)
    } else {
        Resolved::NotFound
    }
}

/// Decodes `%XX` escapes; `None` for a malformed escape.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The content type for a file, by its extension.
pub(crate) fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("wasm") => "application/wasm",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes_decode_or_fail() {
        assert_eq!(percent_decode("/a%20b").as_deref(), Some(&b"/a b"[..]));
        assert_eq!(percent_decode("/%2E%2e/").as_deref(), Some(&b"/../"[..]));
        assert_eq!(percent_decode("/%2"), None);
        assert_eq!(percent_decode("/%zz"), None);
    }

    #[test]
    fn traversal_is_refused_before_the_disk_is_asked() {
        let root = Path::new("/nonexistent-root");
        for target in [
            "/../etc/passwd",
            "/a/../../b",
            "/%2e%2e/x",
            "/.%2E/x",
            "/a%2f..%2fb",
        ] {
            assert_eq!(resolve(root, target), Resolved::Forbidden, "{target}");
        }
        assert_eq!(resolve(root, "/a\\..\\b"), Resolved::Forbidden);
        assert_eq!(resolve(root, "/%00"), Resolved::BadRequest);
        assert_eq!(resolve(root, "relative"), Resolved::BadRequest);
        assert_eq!(resolve(root, "/missing.js"), Resolved::NotFound);
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(Path::new("a/b.wasm")), "application/wasm");
        assert_eq!(
            content_type(Path::new("INDEX.HTML")),
            "text/html; charset=utf-8"
        );
        assert_eq!(
            content_type(Path::new("x.js")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("noext")), "application/octet-stream");
    }
}
