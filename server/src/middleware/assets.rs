//! Static assets and what every answer says about encoding and caching.
//!
//! - `/pkg` (wasm, JS, CSS of the built site) is served as cargo-leptos
//!   precompressed it (`--precompress`: `.br`/`.gz` beside each file), never
//!   compressed again per request. With content-hashed names (`hash-files`)
//!   a file never changes under its name, so it is cached for a year.
//! - HTML and JSON answers are compressed per request (brotli, gzip). Only
//!   those: an event stream must not be (an encoder holds events back), and
//!   the assets are compressed already.
//! - An answer that does not say otherwise is `no-store`: pages, server
//!   functions and REST answers hold an operator's data.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;
use leptos::config::LeptosOptions;
use std::path::{Path, PathBuf};
use tower::layer::util::{Identity, Stack};
use tower::ServiceBuilder;
use tower_http::compression::predicate::{And, Predicate, SizeAbove};
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const NO_STORE: &str = "no-store";
/// Unhashed asset names (a build without `hash-files`) may change under
/// the same name: revalidate every time.
const REVALIDATE: &str = "no-cache";
/// Below this a compressed answer saves nothing worth the CPU.
const MIN_COMPRESS_BYTES: u16 = 256;

/// The hash file cargo-leptos writes with `hash-files = true` (the hashed
/// names of the wasm, JS and CSS). Looked for in the site root first (where
/// an image puts it beside the site), then beside the binary (where
/// cargo-leptos writes it). `None`: the site has unhashed names.
pub fn hash_file(site_root: &str) -> Option<PathBuf> {
    let beside_exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("hash.txt")));
    std::iter::once(Path::new(site_root).join("hash.txt"))
        .chain(beside_exe)
        .find(|p| p.is_file())
        // Absolute: leptos joins it to the binary's directory.
        .map(|p| std::path::absolute(&p).unwrap_or(p))
}

/// The service for `/pkg/{*file}` (the whole path is looked up under the
/// site root): precompressed files, cached for a year when their names are
/// content-hashed.
pub fn pkg(options: &LeptosOptions) -> Router {
    let dir = Path::new(options.site_root.as_ref());
    let cache = HeaderValue::from_static(if options.hash_files {
        IMMUTABLE
    } else {
        REVALIDATE
    });
    Router::new()
        .fallback_service(ServeDir::new(dir).precompressed_br().precompressed_gzip())
        .layer(axum::middleware::map_response(move |mut res: Response| {
            let cache = cache.clone();
            async move {
                // A missing file must not be remembered as missing for a year.
                if res.status().is_success() || res.status() == StatusCode::NOT_MODIFIED {
                    let h = res.headers_mut();
                    h.insert(CACHE_CONTROL, cache);
                    // The same name answers br, gzip or identity bytes.
                    h.append(VARY, HeaderValue::from_static("accept-encoding"));
                }
                res
            }
        }))
}

/// Compress only HTML and JSON (see the module comment).
#[derive(Clone, Copy, Debug, Default)]
pub struct HtmlOrJson;

impl Predicate for HtmlOrJson {
    fn should_compress<B: axum::body::HttpBody>(&self, res: &http::Response<B>) -> bool {
        is_html_or_json(res.headers())
    }
}

fn is_html_or_json(h: &HeaderMap) -> bool {
    let ct = h
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or("").trim();
    essence == "text/html" || essence == "application/json" || essence.ends_with("+json")
}

pub type Layers = Stack<
    SetResponseHeaderLayer<HeaderValue>,
    Stack<CompressionLayer<And<SizeAbove, HtmlOrJson>>, Identity>,
>;

/// Compression and the `no-store` default, for the whole router (outermost,
/// so that error bodies written by inner layers are compressed too).
pub fn layers() -> ServiceBuilder<Layers> {
    ServiceBuilder::new()
        .layer(
            CompressionLayer::new()
                .br(true)
                .gzip(true)
                .no_deflate()
                .no_zstd()
                .compress_when(SizeAbove::new(MIN_COMPRESS_BYTES).and(HtmlOrJson)),
        )
        .layer(SetResponseHeaderLayer::if_not_present(
            CACHE_CONTROL,
            HeaderValue::from_static(NO_STORE),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn only_html_and_json_are_compressed() {
        assert!(is_html_or_json(&ct("text/html; charset=utf-8")));
        assert!(is_html_or_json(&ct("application/json")));
        assert!(is_html_or_json(&ct("Application/Problem+JSON")));
        assert!(!is_html_or_json(&ct("text/event-stream")));
        assert!(!is_html_or_json(&ct("application/wasm")));
        assert!(!is_html_or_json(&ct("text/javascript")));
        assert!(!is_html_or_json(&HeaderMap::new()));
    }

    #[test]
    fn the_hash_file_in_the_site_root_wins() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        let in_root = dir.path().join("hash.txt");
        assert_ne!(hash_file(root).as_ref(), Some(&in_root));
        std::fs::write(dir.path().join("hash.txt"), "js: abc\n").unwrap();
        let found = hash_file(root).unwrap();
        assert!(found.is_absolute());
        assert_eq!(found, in_root);
    }
}
