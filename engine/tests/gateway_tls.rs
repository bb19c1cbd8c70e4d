//! The Gateway client over https: a Gateway whose certificate is signed by
//! an internal CA is refused until that CA is configured, then answers.
//! Fixtures: tests/fixtures/tls (test-only, see its README).

use engine::gateway::{Forward, GatewayClient, GatewayError};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls")).join(name)
}

/// An https server on 127.0.0.1 answering `/iam/me` with a fixed body.
async fn tls_gateway() -> String {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let app =
        axum::Router::new().route("/iam/me", axum::routing::get(|| async { r#"{"ok":true}"# }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                // A client that refuses our certificate ends the handshake.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let svc = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    format!("https://127.0.0.1:{}", addr.port())
}

#[tokio::test]
async fn an_internal_ca_is_trusted_only_when_configured() {
    let url = tls_gateway().await;
    let timeout = Duration::from_secs(5);
    let system_only = GatewayClient::new(&url, timeout).unwrap();
    let r = system_only
        .call(http::Method::GET, "/iam/me", &Forward::default(), None)
        .await;
    assert!(
        matches!(r, Err(GatewayError::Unreachable(_))),
        "an unknown CA must be refused: {r:?}"
    );
    let with_ca = GatewayClient::with_ca(&url, timeout, Some(&fixture("ca.pem"))).unwrap();
    let r = with_ca
        .call(http::Method::GET, "/iam/me", &Forward::default(), None)
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], br#"{"ok":true}"#);
}

#[test]
fn a_bad_ca_file_is_a_clear_error() {
    let missing = GatewayClient::with_ca(
        "https://127.0.0.1:1",
        Duration::from_secs(1),
        Some(&fixture("nope.pem")),
    );
    assert!(
        matches!(&missing, Err(GatewayError::BadUrl(m)) if m.contains("nope.pem")),
        "{:?}",
        missing.err()
    );
    let not_a_cert = GatewayClient::with_ca(
        "https://127.0.0.1:1",
        Duration::from_secs(1),
        Some(&fixture("README.md")),
    );
    assert!(
        matches!(&not_a_cert, Err(GatewayError::BadUrl(m)) if m.contains("no certificate")),
        "{:?}",
        not_a_cert.err()
    );
}
