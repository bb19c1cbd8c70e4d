//! Token validation: one positive case per algorithm, key rotation, and a
//! negative corpus where every token must be refused.

use engine::token::{KeySet, Principal, TokenConfig, TokenError, TokenValidator};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jwt");
const SECRET: &[u8] = b"hs256-shared-secret-for-tests-only";

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{FIX}/{name}")).unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> serde_json::Value {
    json!({"sub": "user-1", "session_id": "sess-1", "iss": "gateway", "aud": "control", "exp": now() + 600, "iat": now()})
}

fn validator() -> TokenValidator {
    let keys = KeySet::from_jwks(&String::from_utf8(fixture("jwks.json")).unwrap()).unwrap();
    assert_eq!(keys.len(), 4);
    TokenValidator::new(
        TokenConfig {
            issuer: "gateway".into(),
            audience: "control".into(),
            algorithms: vec![
                Algorithm::HS256,
                Algorithm::RS256,
                Algorithm::ES256,
                Algorithm::EdDSA,
            ],
            hs256_secret: Some(SECRET.to_vec()),
            leeway_secs: 30,
            max_len: 8192,
        },
        keys,
    )
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &serde_json::Value) -> String {
    let key = match alg {
        Algorithm::HS256 => EncodingKey::from_secret(SECRET).unwrap(),
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&fixture(if kid == Some("rsa-2") {
            "rsa2.pem"
        } else {
            "rsa1.pem"
        }))
        .unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(&fixture("ec1.pk8.pem")).unwrap(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&fixture("ed1.pem")).unwrap(),
        other => panic!("{other:?}"),
    };
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_owned);
    encode(&h, claims, &key).unwrap()
}

/// RS256 with key rsa-1 and the header `edit` makes.
fn sign_with(edit: impl FnOnce(&mut Header), claims: &serde_json::Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("rsa-1".into());
    edit(&mut h);
    encode(
        &h,
        claims,
        &EncodingKey::from_rsa_pem(&fixture("rsa1.pem")).unwrap(),
    )
    .unwrap()
}

fn b64(v: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

#[test]
fn each_supported_algorithm_is_accepted() {
    let v = validator();
    let want = Principal {
        sub: "user-1".into(),
        session_id: "sess-1".into(),
    };
    for (alg, kid) in [
        (Algorithm::HS256, None),
        (Algorithm::RS256, Some("rsa-1")),
        (Algorithm::ES256, Some("ec-1")),
        (Algorithm::EdDSA, Some("ed-1")),
    ] {
        assert_eq!(
            v.validate(&sign(alg, kid, &claims())),
            Ok(want.clone()),
            "{alg:?}"
        );
    }
}

#[test]
fn key_rotation_by_kid() {
    let v = validator();
    let old = sign(Algorithm::RS256, Some("rsa-1"), &claims());
    let new = sign(Algorithm::RS256, Some("rsa-2"), &claims());
    assert!(v.validate(&old).is_ok() && v.validate(&new).is_ok());
    // The Gateway retires rsa-1: only rsa-2 (and the others) stay published.
    let jwks: serde_json::Value = serde_json::from_slice(&fixture("jwks.json")).unwrap();
    let kept: Vec<_> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["kid"] != "rsa-1")
        .cloned()
        .collect();
    v.set_keys(KeySet::from_jwks(&json!({ "keys": kept }).to_string()).unwrap());
    assert_eq!(v.validate(&old), Err(TokenError::UnknownKey));
    assert!(v.validate(&new).is_ok());
}

#[test]
fn the_negative_corpus_is_refused() {
    let v = validator();
    let c = claims();
    let with = |k: &str, val: serde_json::Value| {
        let mut c = claims();
        c[k] = val;
        c
    };
    let without = |k: &str| {
        let mut c = claims();
        c.as_object_mut().unwrap().remove(k);
        c
    };
    // alg: none, unsigned.
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(c.to_string().as_bytes())
    );
    // HS256 "signed" with the RSA public key (key-family confusion).
    let confused = encode(
        &Header::new(Algorithm::HS256),
        &c,
        &EncodingKey::from_secret(&fixture("rsa1.pub.pem")).unwrap(),
    )
    .unwrap();
    // A key location in the header: never followed, always refused.
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("rsa-1".into());
    h.jku = Some("https://attacker.example/jwks.json".into());
    let jku = encode(
        &h,
        &c,
        &EncodingKey::from_rsa_pem(&fixture("rsa1.pem")).unwrap(),
    )
    .unwrap();
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some("rsa-1".into());
    h.x5u = Some("https://attacker.example/cert.pem".into());
    let x5u = encode(
        &h,
        &c,
        &EncodingKey::from_rsa_pem(&fixture("rsa1.pem")).unwrap(),
    )
    .unwrap();
    // An RSA kid with an EC signature claimed.
    let mut h = Header::new(Algorithm::ES256);
    h.kid = Some("rsa-1".into());
    let wrong_family = encode(
        &h,
        &c,
        &EncodingKey::from_ec_pem(&fixture("ec1.pk8.pem")).unwrap(),
    )
    .unwrap();
    let good = sign(Algorithm::RS256, Some("rsa-1"), &c);
    let mut tampered = good.clone();
    tampered.insert(good.len() - 5, 'A');

    let corpus: Vec<(&str, String, TokenError)> = vec![
        ("alg none", none, TokenError::Malformed),
        (
            "HS256 with the RSA public key",
            confused,
            TokenError::BadSignature,
        ),
        (
            "expired",
            sign(
                Algorithm::RS256,
                Some("rsa-1"),
                &with("exp", json!(now() - 3600)),
            ),
            TokenError::Expired,
        ),
        (
            "not yet valid",
            sign(
                Algorithm::RS256,
                Some("rsa-1"),
                &with("nbf", json!(now() + 3600)),
            ),
            TokenError::NotYetValid,
        ),
        (
            "wrong issuer",
            sign(
                Algorithm::RS256,
                Some("rsa-1"),
                &with("iss", json!("someone")),
            ),
            TokenError::WrongIssuer,
        ),
        (
            "wrong audience",
            sign(
                Algorithm::RS256,
                Some("rsa-1"),
                &with("aud", json!("grafana")),
            ),
            TokenError::WrongAudience,
        ),
        (
            "missing sub",
            sign(Algorithm::RS256, Some("rsa-1"), &without("sub")),
            TokenError::MissingClaim("sub".into()),
        ),
        (
            "missing session_id",
            sign(Algorithm::RS256, Some("rsa-1"), &without("session_id")),
            TokenError::MissingClaim("session_id".into()),
        ),
        (
            "missing exp",
            sign(Algorithm::RS256, Some("rsa-1"), &without("exp")),
            TokenError::MissingClaim("exp".into()),
        ),
        (
            "unknown kid",
            sign(Algorithm::RS256, Some("rsa-9"), &c),
            TokenError::UnknownKey,
        ),
        (
            "no kid",
            sign(Algorithm::EdDSA, None, &c),
            TokenError::UnknownKey,
        ),
        ("jku header", jku, TokenError::UntrustedKeyLocation),
        ("x5u header", x5u, TokenError::UntrustedKeyLocation),
        (
            "key family confusion",
            wrong_family,
            TokenError::AlgorithmNotAllowed,
        ),
        ("tampered signature", tampered, TokenError::BadSignature),
        (
            "malformed base64",
            "eyJhbGciOi!!!.e30.sig".into(),
            TokenError::Malformed,
        ),
        ("not a jwt", "hello".into(), TokenError::Malformed),
        ("empty", String::new(), TokenError::Malformed),
        (
            "oversize",
            format!("{good}{}", "A".repeat(9000)),
            TokenError::TooLarge,
        ),
        // Refused whatever the signature (RFC 7515 §4.1.11, RFC 8725 §3.11).
        (
            "crit header",
            sign_with(|h| h.crit = Some(vec!["exp".into()]), &c),
            TokenError::CriticalHeader,
        ),
        (
            "crit b64 (the one jsonwebtoken knows)",
            sign_with(
                |h| {
                    h.crit = Some(vec!["b64".into()]);
                    h.extras.insert("b64", true);
                },
                &c,
            ),
            TokenError::CriticalHeader,
        ),
        (
            "typ of another kind of JWT",
            sign_with(|h| h.typ = Some("dpop+jwt".into()), &c),
            TokenError::TypeNotAllowed,
        ),
        (
            "typ not a string",
            sign_with(
                |h| {
                    h.typ = None;
                    h.extras.insert("typ", 1);
                },
                &c,
            ),
            TokenError::TypeNotAllowed,
        ),
        (
            "cty (nested token)",
            sign_with(|h| h.cty = Some("JWT".into()), &c),
            TokenError::NestedToken,
        ),
        (
            "iat in the future beyond the leeway",
            sign(
                Algorithm::RS256,
                Some("rsa-1"),
                &with("iat", json!(now() + 3600)),
            ),
            TokenError::IssuedInFuture,
        ),
    ];
    for (name, token, want) in corpus {
        assert_eq!(v.validate(&token), Err(want), "{name}");
    }
}

#[test]
fn access_token_types_and_a_recent_iat_are_accepted() {
    let v = validator();
    for typ in [
        "JWT",
        "jwt",
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "application/JWT",
    ] {
        assert!(
            v.validate(&sign_with(|h| h.typ = Some(typ.into()), &claims()))
                .is_ok(),
            "{typ}"
        );
    }
    assert!(v.validate(&sign_with(|h| h.typ = None, &claims())).is_ok());
    // Within the 30 s leeway: a Gateway clock slightly ahead is tolerated.
    let mut c = claims();
    c["iat"] = json!(now() + 20);
    assert!(v
        .validate(&sign(Algorithm::RS256, Some("rsa-1"), &c))
        .is_ok());
}

#[test]
fn an_algorithm_outside_the_allow_list_is_refused() {
    let keys = KeySet::from_jwks(&String::from_utf8(fixture("jwks.json")).unwrap()).unwrap();
    let v = TokenValidator::new(
        TokenConfig {
            issuer: "gateway".into(),
            audience: "control".into(),
            algorithms: vec![Algorithm::RS256],
            hs256_secret: None,
            leeway_secs: 30,
            max_len: 8192,
        },
        keys,
    );
    assert_eq!(
        v.validate(&sign(Algorithm::HS256, None, &claims())),
        Err(TokenError::AlgorithmNotAllowed)
    );
    assert_eq!(
        v.validate(&sign(Algorithm::EdDSA, Some("ed-1"), &claims())),
        Err(TokenError::AlgorithmNotAllowed)
    );
    assert!(v
        .validate(&sign(Algorithm::RS256, Some("rsa-1"), &claims()))
        .is_ok());
    assert!(!format!(
        "{:?}",
        TokenConfig {
            issuer: "i".into(),
            audience: "a".into(),
            algorithms: vec![],
            hs256_secret: Some(b"topsecret".to_vec()),
            leeway_secs: 0,
            max_len: 1
        }
    )
    .contains("topsecret"));
}
