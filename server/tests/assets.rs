//! Bytes on the wire and caching: HTML and JSON compressed per request,
//! the event stream never; /pkg files served as precompressed on disk and,
//! with hashed names, cached for a year; everything else `no-store`.

mod common;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use common::{app, app_with, body_json, TestApp};
use http_body_util::BodyExt;
use std::io::Read;
use std::path::Path;
use std::time::Duration;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn header<'a>(res: &'a Response<Body>, name: &str) -> Option<&'a str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

async fn bytes(res: Response<Body>) -> Vec<u8> {
    res.into_body().collect().await.unwrap().to_bytes().to_vec()
}

async fn get(a: &TestApp, uri: &str, accept_encoding: Option<&str>) -> Response<Body> {
    let mut req = Request::get(uri).header("authorization", format!("Bearer {}", a.admin));
    if let Some(e) = accept_encoding {
        req = req.header("accept-encoding", e);
    }
    a.send(req.body(Body::empty()).unwrap()).await
}

fn gunzip(b: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(b)
        .read_to_string(&mut s)
        .unwrap();
    s
}

fn unbrotli(b: &[u8]) -> String {
    let mut out = Vec::new();
    brotli_decompressor::BrotliDecompress(&mut &b[..], &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn a_page_is_compressed_and_not_stored() {
    let a = app().await;
    let res = get(&a, "/tenants", Some("gzip, deflate, br")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-encoding"), Some("br"));
    assert_eq!(header(&res, "cache-control"), Some("no-store"));
    assert!(header(&res, "vary").unwrap().contains("accept-encoding"));
    let html = unbrotli(&bytes(res).await);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");

    // A client that asks for nothing gets the plain page.
    let res = get(&a, "/tenants", None).await;
    assert_eq!(header(&res, "content-encoding"), None);
    assert!(String::from_utf8(bytes(res).await)
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
}

#[tokio::test]
async fn a_rest_answer_is_compressed_and_not_stored() {
    let a = app().await;
    let res = get(&a, "/admin/v1/iam/users", Some("gzip")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-encoding"), Some("gzip"));
    assert_eq!(header(&res, "cache-control"), Some("no-store"));
    let body: serde_json::Value = serde_json::from_str(&gunzip(&bytes(res).await)).unwrap();
    assert!(body.is_object() || body.is_array(), "{body}");

    // Error answers too: the JSON envelope, compressed, never cached.
    let res = get(&a, "/admin/v1/nothing-here", Some("gzip")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&res, "cache-control"), Some("no-store"));
}

#[tokio::test]
async fn a_server_function_answer_is_not_stored() {
    let a = app().await;
    let res = a
        .send_admin(
            Request::post("/api/status/get_server_status")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("accept-encoding", "br")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "cache-control"), Some("no-store"));
    let raw = bytes_of_maybe_br(res).await;
    let v: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(v["mode"], "dev");
}

/// Small answers stay uncompressed (below the threshold); larger ones are br.
async fn bytes_of_maybe_br(res: Response<Body>) -> String {
    let br = header(&res, "content-encoding") == Some("br");
    let b = bytes(res).await;
    if br {
        unbrotli(&b)
    } else {
        String::from_utf8(b).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_is_never_compressed() {
    let a = app().await;
    let res = get(&a, "/admin/v1/fleet/events", Some("br, gzip")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, "content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(header(&res, "content-encoding"), None);
    // The first event arrives at once and readable: nothing buffers it.
    let mut body = res.into_body();
    let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
        .await
        .expect("no event within 5 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap();
    assert!(text.starts_with("event: "), "{text}");
}

/// A built site as cargo-leptos leaves it with `hash-files` and
/// `--precompress`: hashed names, `.br`/`.gz` beside each file, hash.txt.
fn hashed_site(root: &Path) {
    let pkg = root.join("pkg");
    std::fs::create_dir_all(&pkg).unwrap();
    let wasm = b"\0asm fake module".repeat(64);
    std::fs::write(pkg.join("control.WASMHASH.wasm"), &wasm).unwrap();
    std::fs::write(pkg.join("control.WASMHASH.wasm.br"), b"brotli bytes").unwrap();
    std::fs::write(pkg.join("control.WASMHASH.wasm.gz"), b"gzip bytes").unwrap();
    std::fs::write(pkg.join("control.JSHASH.js"), b"export default 1;").unwrap();
    std::fs::write(pkg.join("control.CSSHASH.css"), b"body{}").unwrap();
    std::fs::write(
        root.join("hash.txt"),
        "js: JSHASH\nwasm: WASMHASH\ncss: CSSHASH\n",
    )
    .unwrap();
}

#[tokio::test]
async fn hashed_pkg_files_are_served_precompressed_and_immutable() {
    let site = tempfile::tempdir().unwrap();
    hashed_site(site.path());
    let root = site.path().to_str().unwrap().to_owned();
    let a = app_with(|c| c.server.site_root = root).await;

    let res = get(&a, "/pkg/control.WASMHASH.wasm", Some("gzip, br")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-encoding"), Some("br"));
    assert_eq!(header(&res, "content-type"), Some("application/wasm"));
    assert_eq!(header(&res, "cache-control"), Some(IMMUTABLE));
    assert!(header(&res, "vary").unwrap().contains("accept-encoding"));
    // The file on disk as it is, not compressed again.
    assert_eq!(bytes(res).await, b"brotli bytes");

    let res = get(&a, "/pkg/control.WASMHASH.wasm", Some("gzip")).await;
    assert_eq!(header(&res, "content-encoding"), Some("gzip"));
    assert_eq!(bytes(res).await, b"gzip bytes");

    let res = get(&a, "/pkg/control.WASMHASH.wasm", None).await;
    assert_eq!(header(&res, "content-encoding"), None);
    assert_eq!(bytes(res).await.len(), 16 * 64);

    // A file without a precompressed twin is sent as it is, never
    // compressed per request.
    let res = get(&a, "/pkg/control.JSHASH.js", Some("br")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-encoding"), None);
    assert_eq!(header(&res, "cache-control"), Some(IMMUTABLE));

    // The page names the hashed files (the hash file is in the site root).
    let html = String::from_utf8(bytes(get(&a, "/tenants", None).await).await).unwrap();
    assert!(html.contains("/pkg/control.JSHASH.js"), "{html}");
    assert!(html.contains("/pkg/control.WASMHASH.wasm"), "{html}");
    assert!(html.contains("/pkg/control.CSSHASH.css"), "{html}");
}

#[tokio::test]
async fn a_missing_pkg_file_is_a_json_404_that_is_not_cached() {
    let site = tempfile::tempdir().unwrap();
    hashed_site(site.path());
    let root = site.path().to_str().unwrap().to_owned();
    let a = app_with(|c| c.server.site_root = root).await;
    for uri in [
        "/pkg/control.OLDHASH.wasm",
        "/pkg/../hash.txt",
        "/pkg/%2e%2e/hash.txt",
    ] {
        let res = get(&a, uri, Some("br")).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(header(&res, "cache-control"), Some("no-store"), "{uri}");
        assert_eq!(body_json(res).await["code"], "not_found", "{uri}");
    }
}

#[tokio::test]
async fn unhashed_pkg_files_are_revalidated() {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(site.path().join("pkg")).unwrap();
    std::fs::write(site.path().join("pkg/control.js"), b"export default 1;").unwrap();
    let root = site.path().to_str().unwrap().to_owned();
    let a = app_with(|c| c.server.site_root = root).await;
    let res = get(&a, "/pkg/control.js", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "cache-control"), Some("no-cache"));
    let html = String::from_utf8(bytes(get(&a, "/tenants", None).await).await).unwrap();
    assert!(html.contains("/pkg/control.js"), "{html}");
    assert!(html.contains("/pkg/control.css"), "{html}");
}
