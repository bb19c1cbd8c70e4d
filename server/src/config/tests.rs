use super::*;
use std::io::Write;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_load_without_file_or_env() {
    let c = Config::load_from(None, env(&[])).unwrap();
    assert_eq!(c, Config::default());
}

#[test]
fn env_overrides_file_overrides_defaults() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "[server]\nlisten = \"127.0.0.1:4000\"\nrequest_timeout_ms = 5000\n[log]\nlevel = \"debug\"").unwrap();
    let c = Config::load_from(
        Some(f.path()),
        env(&[
            ("CONTROL_SERVER_LISTEN", "127.0.0.1:5000"),
            ("PATH", "/bin"),
        ]),
    )
    .unwrap();
    assert_eq!(c.server.listen, "127.0.0.1:5000".parse().unwrap());
    assert_eq!(c.server.request_timeout_ms, 5000);
    assert_eq!(c.log.level, "debug");
    assert_eq!(
        c.server.body_limit_bytes,
        ServerConfig::default().body_limit_bytes
    );
}

#[test]
fn file_variant_reads_a_secret_and_strips_the_newline() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "s3cr3t-value").unwrap();
    let c = Config::load_from(
        None,
        env(&[("CONTROL_NATS_PASSWORD_FILE", f.path().to_str().unwrap())]),
    )
    .unwrap();
    assert_eq!(c.nats.password.as_ref().unwrap().expose(), "s3cr3t-value");
    assert!(
        !format!("{c:?}").contains("s3cr3t"),
        "Debug must redact secrets"
    );
}

#[test]
fn unknown_keys_fail_and_name_the_key() {
    let e = Config::load_from(None, env(&[("CONTROL_SERVER_LISTN", "x")])).unwrap_err();
    assert!(e.to_string().contains("CONTROL_SERVER_LISTN"), "{e}");
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "[server]\nlistne = \"127.0.0.1:1\"").unwrap();
    let e = Config::load_from(Some(f.path()), env(&[])).unwrap_err();
    assert!(e.to_string().contains("listne"), "{e}");
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "[sever]\nlisten = \"127.0.0.1:1\"").unwrap();
    let e = Config::load_from(Some(f.path()), env(&[])).unwrap_err();
    assert!(e.to_string().contains("sever"), "{e}");
}

#[test]
fn bad_values_fail_and_name_the_key() {
    let e =
        Config::load_from(None, env(&[("CONTROL_SERVER_REQUEST_TIMEOUT_MS", "soon")])).unwrap_err();
    assert!(
        e.to_string().contains("CONTROL_SERVER_REQUEST_TIMEOUT_MS"),
        "{e}"
    );
    let e = Config::load_from(None, env(&[("CONTROL_SERVER_LISTEN", "not-an-addr")])).unwrap_err();
    assert!(e.to_string().contains("CONTROL_SERVER_LISTEN"), "{e}");
    let e = Config::load_from(None, env(&[("CONTROL_STORE_BACKEND", "postgres")])).unwrap_err();
    assert!(e.to_string().contains("CONTROL_STORE_BACKEND"), "{e}");
    let e = Config::load_from(None, env(&[("CONTROL_STORE_BACKEND", "nats")])).unwrap_err();
    assert!(e.to_string().contains("nats.url"), "{e}");
    let e =
        Config::load_from(None, env(&[("CONTROL_SERVER_REQUEST_TIMEOUT_MS", "0")])).unwrap_err();
    assert!(e.to_string().contains("server.request_timeout_ms"), "{e}");
    let e = Config::load_from(
        None,
        env(&[
            ("CONTROL_STORE_BACKEND", "nats"),
            ("CONTROL_NATS_URL", "nats://u:p@h:4222"),
        ]),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("credentials") && !e.to_string().contains("u:p"),
        "{e}"
    );
}

#[test]
fn missing_secret_file_and_double_source_fail() {
    let e =
        Config::load_from(None, env(&[("CONTROL_NATS_TOKEN_FILE", "/nonexistent/x")])).unwrap_err();
    assert!(e.to_string().contains("CONTROL_NATS_TOKEN_FILE"), "{e}");
    let mut f = tempfile::NamedTempFile::new().unwrap();
    writeln!(f, "a").unwrap();
    let e = Config::load_from(
        None,
        env(&[
            ("CONTROL_NATS_TOKEN", "b"),
            ("CONTROL_NATS_TOKEN_FILE", f.path().to_str().unwrap()),
        ]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("both set"), "{e}");
}

#[test]
fn reserved_variables_are_not_config_keys() {
    assert!(Config::load_from(
        None,
        env(&[
            ("CONTROL_TEST_NATS_URL", "nats://x"),
            ("CONTROL_CONFIG", "/x"),
            ("CONTROL_GIT_SHA", "abc")
        ])
    )
    .is_ok());
}

#[test]
fn every_config_field_has_an_env_key() {
    let full = Config {
        nats: NatsConfig {
            url: Some("nats://h:1".into()),
            user: Some("u".into()),
            password: Some(Secret("p".into())),
            token: Some(Secret("t".into())),
            creds_file: Some("/c".into()),
            tls_required: true,
            ca_file: Some("/ca.pem".into()),
        },
        auth: AuthConfig {
            gateway_url: Some("http://gw".into()),
            jwks_url: Some("http://gw/jwks".into()),
            gateway_ca_file: Some("/ca.pem".into()),
            hs256_secret: Some(Secret("s".into())),
            ..AuthConfig::default()
        },
        audit: AuditConfig {
            hmac_key: Some(Secret("k".into())),
        },
        config: super::RegistryConfig {
            dir: Some("/cfg".into()),
            ..Default::default()
        },
        grafana: super::GrafanaConfig {
            url: Some("http://grafana:3000".into()),
            token: Some(Secret("g".into())),
            dashboard_uid: Some("ops".into()),
        },
        traces: super::TracesConfig {
            endpoint: Some("http://tempo:4318/v1/traces".into()),
            ..Default::default()
        },
        swarm: super::SwarmConfig {
            tls_addr: Some("tcp://m:2376".into()),
            tls_ca_file: Some("/ca.pem".into()),
            tls_cert_file: Some("/cert.pem".into()),
            tls_key_file: Some("/key.pem".into()),
            ..Default::default()
        },
        ..Config::default()
    };
    let table = toml::Table::try_from(full).unwrap();
    let mut n = 0;
    for (section, v) in &table {
        for key in v.as_table().unwrap().keys() {
            n += 1;
            assert!(
                KEYS.iter().any(|(s, k, _)| s == section && k == key),
                "{section}.{key} has no CONTROL_ variable"
            );
        }
    }
    assert_eq!(n, KEYS.len());
}

#[test]
fn auth_settings_are_checked_and_name_the_key() {
    for (pairs, key) in [
        (vec![("CONTROL_AUTH_ALGORITHMS", "none")], "auth.algorithms"),
        (vec![("CONTROL_AUTH_ALGORITHMS", "")], "auth.algorithms"),
        (
            vec![("CONTROL_AUTH_ALGORITHMS", "HS256")],
            "auth.hs256_secret",
        ),
        (
            vec![
                ("CONTROL_AUTH_ALGORITHMS", "HS256"),
                ("CONTROL_AUTH_HS256_SECRET", "short"),
            ],
            "auth.hs256_secret",
        ),
        (
            vec![("CONTROL_AUTH_GATEWAY_URL", "gateway:8080")],
            "auth.gateway_url",
        ),
        (
            vec![("CONTROL_AUTH_PUBLIC_ORIGINS", "https://a.example/path")],
            "auth.public_origins",
        ),
        (
            vec![("CONTROL_AUTH_PRINCIPAL_CACHE_MS", "0")],
            "auth.principal_cache_ms",
        ),
        (
            vec![("CONTROL_AUDIT_HMAC_KEY", "too-short")],
            "audit.hmac_key",
        ),
        (
            vec![("CONTROL_AUTH_LOGIN_PER_USER_PER_MINUTE", "0")],
            "auth.login_per_user_per_minute",
        ),
        (
            vec![("CONTROL_AUTH_LOGIN_PER_SOURCE_PER_MINUTE", "0")],
            "auth.login_per_source_per_minute",
        ),
        (
            vec![("CONTROL_AUTH_CLIENT_IP_HEADER", "x forwarded")],
            "auth.client_ip_header",
        ),
    ] {
        let e = Config::load_from(None, env(&pairs)).unwrap_err();
        assert!(e.to_string().contains(key), "{pairs:?}: {e}");
    }
    let c = Config::load_from(
        None,
        env(&[
            ("CONTROL_AUTH_ALGORITHMS", "EdDSA, RS256,HS256"),
            ("CONTROL_AUTH_HS256_SECRET", &"s".repeat(32)),
            ("CONTROL_AUTH_GATEWAY_URL", "http://gateway:8080/"),
            (
                "CONTROL_AUTH_PUBLIC_ORIGINS",
                "https://control.example, https://b.example:8443",
            ),
        ]),
    )
    .unwrap();
    assert_eq!(c.auth.algorithm_list().unwrap().len(), 3);
    assert_eq!(
        c.auth.effective_jwks_url().as_deref(),
        Some("http://gateway:8080/.well-known/jwks.json")
    );
    assert_eq!(c.auth.origin_list().len(), 2);
    assert_eq!(
        (
            c.auth.login_per_user_per_minute,
            c.auth.login_per_source_per_minute
        ),
        (5, 120),
        "login rate defaults"
    );
    assert!(
        !format!("{c:?}").contains(&"s".repeat(32)),
        "secret in Debug"
    );
}

#[test]
fn nats_urls_parse() {
    assert_eq!(
        nats_host_port("nats://127.0.0.1:4222").unwrap(),
        ("127.0.0.1".into(), 4222)
    );
    assert_eq!(
        nats_host_port("nats://nats").unwrap(),
        ("nats".into(), 4222)
    );
    assert!(nats_host_port("http://x").is_err());
    assert!(nats_host_port("nats://:4222").is_err());
    assert!(nats_host_port("nats://h:99999").is_err());
}

#[test]
fn a_tls_swarm_needs_its_address_and_files() {
    let e = Config::load_from(None, env(&[("CONTROL_SWARM_CONNECT", "tls")])).unwrap_err();
    assert!(e.to_string().contains("swarm.tls_addr"), "{e}");
    let e = Config::load_from(
        None,
        env(&[
            ("CONTROL_SWARM_CONNECT", "tls"),
            ("CONTROL_SWARM_TLS_ADDR", "tcp://m:2376"),
            ("CONTROL_SWARM_TLS_CA_FILE", "/ca.pem"),
        ]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("swarm.tls_cert_file"), "{e}");
    let e = Config::load_from(None, env(&[("CONTROL_SWARM_CONNECT", "ssh")])).unwrap_err();
    assert!(e.to_string().contains("CONTROL_SWARM_CONNECT"), "{e}");
    let c = Config::load_from(None, env(&[("CONTROL_SWARM_CONNECT", "none")])).unwrap();
    assert_eq!(c.swarm.connect().unwrap(), None);
    assert!(Config::load_from(None, env(&[("CONTROL_SWARM_POLL_MS", "0")])).is_err());
}

#[test]
fn trace_settings_are_checked_and_name_the_key() {
    let load = |pairs: &[(&str, &str)]| {
        Config::load_from(
            None,
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    };
    let c = load(&[
        ("CONTROL_TRACES_ENDPOINT", "http://tempo:4318/v1/traces"),
        ("CONTROL_TRACES_SAMPLE_RATIO", "0.25"),
    ])
    .unwrap();
    assert_eq!(
        c.traces.endpoint.as_deref(),
        Some("http://tempo:4318/v1/traces")
    );
    assert_eq!(c.traces.sample_ratio, 0.25);
    assert_eq!(Config::default().traces.endpoint, None, "off by default");
    for (pairs, key) in [
        (
            vec![("CONTROL_TRACES_ENDPOINT", "https://tempo:4318/v1/traces")],
            "traces.endpoint",
        ),
        (
            vec![("CONTROL_TRACES_ENDPOINT", "tempo:4318")],
            "traces.endpoint",
        ),
        (
            vec![("CONTROL_TRACES_SAMPLE_RATIO", "1.5")],
            "traces.sample_ratio",
        ),
        (
            vec![("CONTROL_TRACES_SERVICE_NAME", " ")],
            "traces.service_name",
        ),
        (
            vec![("CONTROL_TRACES_TIMEOUT_MS", "0")],
            "traces.timeout_ms",
        ),
    ] {
        match load(&pairs) {
            Err(ConfigError::Invalid { key: k, .. }) => assert_eq!(k, key, "{pairs:?}"),
            other => panic!("{pairs:?}: {other:?}"),
        }
    }
}
