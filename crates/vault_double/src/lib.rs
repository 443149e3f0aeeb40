//! An HTTP double of the parts of Vault's API the backend uses, written from Vault's
//! documentation: `/v1/` paths, `X-Vault-Token`, `{"errors":[...]}` bodies, 403 on a
//! bad or missing token, base64 payloads, `vault:v<N>:` prefixes, and every success
//! answer in Vault's response envelope (`request_id`, `lease_id`, `renewable`,
//! `lease_duration`, `data`, `wrap_info`, `warnings`, `auth`).
//!
//! Test code only: a dev-dependency of `keys` (its Vault backend tests) and of the services
//! (their own tests with `keys_backend = vault`); never a dependency of product code.
#![allow(clippy::unwrap_used, missing_docs, missing_debug_implementations)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use ed25519_dalek::SigningKey;
use rand::RngCore;
use rand::rngs::OsRng;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Notify;

pub const ROLE_ID: &str = "role-genesis";
pub const SECRET_ID: &str = "secret-id-value";
pub const SIGNING_KEY: &str = "genesis-ed25519";
pub const ENCRYPTION_KEY: &str = "permesi-chacha";
/// Transit key of type `ecdsa-p256`.
pub const ES256_KEY: &str = "permesi-es256";
/// Transit key of type `rsa-2048`.
pub const RS256_KEY: &str = "permesi-rs256";

/// One version of an RSA key: its PKCS#8 private key and PKIX public key (DER).
pub struct RsaVersion {
    pub pkcs8: Vec<u8>,
    pub spki: Vec<u8>,
}

impl RsaVersion {
    fn generate() -> Self {
        use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
        let key = rsa::RsaPrivateKey::new(&mut rand_rsa::rng(), 2048).unwrap();
        Self {
            pkcs8: key.to_pkcs8_der().unwrap().as_bytes().to_vec(),
            spki: key.to_public_key().to_public_key_der().unwrap().into_vec(),
        }
    }
}

/// How the double answers everything but AppRole login.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// 403 `permission denied` (a policy that forbids the path).
    Deny,
    /// 500 with an errors body.
    Fail,
    /// Never answers.
    Hang,
}

pub struct Inner {
    pub mode: Mode,
    /// When set, every request (login included) hangs.
    pub hang_all: bool,
    pub tokens: HashSet<String>,
    /// Policies of tokens issued by [`Double::issue_token`] (others report `default, genesis`).
    pub policies: HashMap<String, Vec<String>>,
    pub token_ttl: u64,
    pub renewable: bool,
    pub logins: u32,
    pub renewals: u32,
    pub signing: Vec<(SigningKey, OffsetDateTime)>,
    pub encryption: Vec<[u8; 32]>,
    pub ecdsa: Vec<(p256::ecdsa::SigningKey, OffsetDateTime)>,
    /// Made on first use (RSA generation is slow, and most tests never ask).
    pub rsa: Vec<(RsaVersion, OffsetDateTime)>,
    pub kv: HashMap<String, Value>,
    /// Vault Agent behaviour: requests without a token get this one injected.
    pub agent_token: Option<String>,
    /// Every request: method, path, the X-Vault-Token it carried, JSON body.
    pub requests: Vec<(String, String, Option<String>, Value)>,
}

#[derive(Clone)]
pub struct Double {
    pub inner: Arc<Mutex<Inner>>,
    pub events: Arc<Notify>,
}

impl Default for Double {
    fn default() -> Self {
        Self::new()
    }
}

impl Double {
    pub fn new() -> Self {
        let created = OffsetDateTime::parse("2026-01-02T03:04:05.123456789Z", &Rfc3339).unwrap();
        Self {
            inner: Arc::new(Mutex::new(Inner {
                mode: Mode::Normal,
                hang_all: false,
                tokens: HashSet::new(),
                policies: HashMap::new(),
                token_ttl: 3600,
                renewable: true,
                logins: 0,
                renewals: 0,
                signing: vec![(SigningKey::generate(&mut OsRng), created)],
                encryption: vec![random_key()],
                ecdsa: vec![(new_ecdsa(), created)],
                rsa: Vec::new(),
                kv: HashMap::new(),
                agent_token: None,
                requests: Vec::new(),
            })),
            events: Arc::new(Notify::new()),
        }
    }

    /// A new valid token holding `policies` (as `vault token create -policy=...` would make).
    pub fn issue_token(&self, policies: &[&str]) -> String {
        let token = format!(
            "hvs.{}",
            base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                random_key()
            )
        );
        self.with(|s| {
            s.tokens.insert(token.clone());
            s.policies.insert(
                token.clone(),
                policies.iter().map(|p| (*p).to_owned()).collect(),
            );
        });
        token
    }

    /// Revokes `token` (`vault token revoke`).
    pub fn revoke_token(&self, token: &str) {
        self.with(|s| {
            s.tokens.remove(token);
        });
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    pub fn set_mode(&self, mode: Mode) {
        self.with(|s| s.mode = mode);
    }

    /// Serves on 127.0.0.1; returns `http://127.0.0.1:<port>`.
    pub async fn serve_tcp(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = self.router();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}")
    }

    /// Serves on a Unix socket at `path`, like a Vault Agent with `use_auto_auth_token`.
    pub fn serve_unix(&self, path: &Path) -> String {
        let token = "agent-injected-token".to_owned();
        self.with(|s| {
            s.tokens.insert(token.clone());
            s.agent_token = Some(token);
        });
        let listener = tokio::net::UnixListener::bind(path).unwrap();
        let app = self.router();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("unix://{}", path.display())
    }

    fn router(&self) -> axum::Router {
        axum::Router::new()
            .fallback(handle)
            .with_state(self.clone())
    }
}

fn new_ecdsa() -> p256::ecdsa::SigningKey {
    loop {
        if let Ok(key) = p256::ecdsa::SigningKey::from_slice(&random_key()) {
            return key;
        }
    }
}

/// PEM of a DER `PUBLIC KEY` (PKIX), 64 characters a line, as Vault prints it.
fn public_key_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    OsRng.fill_bytes(&mut k);
    k
}

fn errors(status: StatusCode, msgs: &[&str]) -> Response {
    (status, axum::Json(json!({ "errors": msgs }))).into_response()
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// Vault's response envelope (`request_id` ... `auth`) around `data` and `auth`.
fn envelope(data: Value, auth: Value) -> Response {
    let mut body = json!({
        "request_id": "5e3e6d44-0d5b-4b0e-9d5c-2f6b1c0e7a11", "lease_id": "", "renewable": false,
        "lease_duration": 0, "wrap_info": null, "warnings": null, "mount_type": ""
    });
    body["data"] = data;
    body["auth"] = auth;
    ok(body)
}

/// A `data` answer (secrets engines, token lookup).
fn data(data: Value) -> Response {
    envelope(data, Value::Null)
}

/// An `auth` answer (logins, token renewal).
fn auth(auth: Value) -> Response {
    envelope(Value::Null, auth)
}

/// The `auth` block Vault returns for a token (client_token ... num_uses).
fn auth_block(token: &str, ttl: u64, renewable: bool) -> Value {
    json!({
        "client_token": token, "accessor": format!("acc-{token}"),
        "policies": ["default", "genesis"], "token_policies": ["default", "genesis"],
        "identity_policies": null, "metadata": {"role_name": "genesis"},
        "lease_duration": ttl, "renewable": renewable, "entity_id": "e-genesis",
        "token_type": "service", "orphan": true, "mfa_requirement": null, "num_uses": 0
    })
}

fn b64(v: &Value, field: &str) -> Option<Vec<u8>> {
    STANDARD.decode(v.get(field)?.as_str()?).ok()
}

async fn handle(
    State(d): State<Double>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return errors(StatusCode::BAD_REQUEST, &["failed to parse JSON input"]),
        }
    };
    let token_header = headers
        .get("x-vault-token")
        .map(|v| v.to_str().unwrap().to_owned());
    let Some(path) = uri.path().strip_prefix("/v1/").map(str::to_owned) else {
        return errors(StatusCode::NOT_FOUND, &[]);
    };
    let (mode, hang_all) = d.with(|s| {
        s.requests.push((
            method.to_string(),
            path.clone(),
            token_header.clone(),
            body.clone(),
        ));
        (s.mode, s.hang_all)
    });
    d.events.notify_waiters();
    if hang_all {
        std::future::pending::<()>().await;
    }

    if method == Method::POST && path == "auth/approle/login" {
        return login(&d, &body);
    }
    match mode {
        Mode::Hang => std::future::pending::<()>().await,
        Mode::Fail => return errors(StatusCode::INTERNAL_SERVER_ERROR, &["internal error"]),
        Mode::Deny => return errors(StatusCode::FORBIDDEN, &["permission denied"]),
        Mode::Normal => {}
    }
    let token = token_header.or_else(|| d.with(|s| s.agent_token.clone()));
    let valid = token
        .as_ref()
        .is_some_and(|t| d.with(|s| s.tokens.contains(t)));
    if !valid {
        return errors(StatusCode::FORBIDDEN, &["permission denied"]);
    }
    let token = token.unwrap();
    let segs: Vec<&str> = path.split('/').collect();
    let resp = match (method.as_str(), segs.as_slice()) {
        ("POST", ["auth", "token", "renew-self"]) => renew(&d, &token),
        ("GET", ["auth", "token", "lookup-self"]) => lookup_self(&d, &token),
        ("GET", ["transit", "keys", name]) => read_key(&d, name),
        ("POST", ["transit", "keys", name, "rotate"]) => rotate(&d, name),
        ("POST", ["transit", "sign", name]) => sign(&d, name, None, &body),
        ("POST", ["transit", "sign", name, hash]) => sign(&d, name, Some(hash), &body),
        ("POST", ["transit", "encrypt", name]) => encrypt(&d, name, &body),
        ("POST", ["transit", "decrypt", name]) => decrypt(&d, name, &body),
        ("GET", ["secret", "data", rest @ ..]) => kv_get(&d, &rest.join("/")),
        ("POST" | "PUT", ["secret", "data", rest @ ..]) => kv_put(&d, &rest.join("/"), &body),
        _ => errors(StatusCode::NOT_FOUND, &[]),
    };
    d.events.notify_waiters();
    resp
}

fn login(d: &Double, body: &Value) -> Response {
    if body.get("role_id").and_then(Value::as_str) != Some(ROLE_ID)
        || body.get("secret_id").and_then(Value::as_str) != Some(SECRET_ID)
    {
        return errors(StatusCode::BAD_REQUEST, &["invalid role or secret ID"]);
    }
    let resp = d.with(|s| {
        s.logins += 1;
        let token = format!("hvs.token-{}", s.logins);
        // A login revokes the token from two logins ago (the previous one stays valid
        // while its holder switches), so a client stuck on an old token fails.
        if s.logins >= 3 {
            s.tokens.remove(&format!("hvs.token-{}", s.logins - 2));
        }
        s.tokens.insert(token.clone());
        auth_block(&token, s.token_ttl, s.renewable)
    });
    d.events.notify_waiters();
    auth(resp)
}

fn renew(d: &Double, token: &str) -> Response {
    d.with(|s| {
        if !s.renewable {
            return errors(StatusCode::BAD_REQUEST, &["lease is not renewable"]);
        }
        s.renewals += 1;
        auth(auth_block(token, s.token_ttl, true))
    })
}

fn lookup_self(d: &Double, token: &str) -> Response {
    d.with(|s| {
        let policies = s
            .policies
            .get(token)
            .cloned()
            .unwrap_or_else(|| vec!["default".to_owned(), "genesis".to_owned()]);
        data(json!({
            "accessor": format!("acc-{token}"), "creation_time": 1_767_323_045,
            "creation_ttl": s.token_ttl, "display_name": "approle", "entity_id": "e-genesis",
            "expire_time": "2026-01-02T04:04:05.123456789Z", "explicit_max_ttl": 0,
            "id": token, "identity_policies": null, "issue_time": "2026-01-02T03:04:05.123456789Z",
            "meta": {"role_name": "genesis"}, "num_uses": 0, "orphan": true,
            "path": "auth/approle/login", "policies": policies,
            "renewable": s.renewable, "ttl": s.token_ttl, "type": "service"
        }))
    })
}

fn read_key(d: &Double, name: &str) -> Response {
    d.with(|s| {
        if name == RS256_KEY {
            ensure_rsa(s);
        }
        match key_info(s, name) {
            Some(info) => data(info),
            None => errors(StatusCode::NOT_FOUND, &[]),
        }
    })
}

/// The `data` of `GET transit/keys/:name`, as Vault documents it.
fn key_info(s: &Inner, name: &str) -> Option<Value> {
    match name {
        SIGNING_KEY => {
            let keys: serde_json::Map<String, Value> = s
                .signing
                .iter()
                .enumerate()
                .map(|(i, (k, created))| {
                    (
                        (i + 1).to_string(),
                        json!({
                            "certificate_chain": "",
                            "name": "ed25519",
                            "public_key": STANDARD.encode(k.verifying_key().to_bytes()),
                            "creation_time": created.format(&Rfc3339).unwrap(),
                        }),
                    )
                })
                .collect();
            Some(json!({
                "name": SIGNING_KEY, "type": "ed25519", "keys": keys,
                "latest_version": s.signing.len(), "min_available_version": 0,
                "min_decryption_version": 1, "min_encryption_version": 0,
                "deletion_allowed": false, "derived": false, "exportable": false,
                "allow_plaintext_backup": false, "auto_rotate_period": 0, "imported_key": false,
                "supports_encryption": false, "supports_decryption": false,
                "supports_derivation": true, "supports_signing": true
            }))
        }
        ES256_KEY => {
            use p256::pkcs8::EncodePublicKey as _;
            let keys = s.ecdsa.iter().map(|(k, created)| {
                let der = k.verifying_key().to_public_key_der().unwrap();
                (public_key_pem(der.as_bytes()), "P-256", *created)
            });
            Some(asymmetric_info(ES256_KEY, "ecdsa-p256", keys))
        }
        RS256_KEY => {
            let keys = s
                .rsa
                .iter()
                .map(|(k, created)| (public_key_pem(&k.spki), "rsa-2048", *created));
            Some(asymmetric_info(RS256_KEY, "rsa-2048", keys))
        }
        ENCRYPTION_KEY => {
            let keys: serde_json::Map<String, Value> = (1..=s.encryption.len())
                .map(|v| (v.to_string(), json!(1_767_323_045)))
                .collect();
            Some(json!({
                "name": ENCRYPTION_KEY, "type": "chacha20-poly1305", "keys": keys,
                "latest_version": s.encryption.len(), "min_available_version": 0,
                "min_decryption_version": 1, "min_encryption_version": 0,
                "deletion_allowed": false, "derived": false, "exportable": false,
                "allow_plaintext_backup": false, "auto_rotate_period": 0, "imported_key": false,
                "convergent_encryption": false,
                "supports_encryption": true, "supports_decryption": true,
                "supports_derivation": true, "supports_signing": false
            }))
        }
        _ => None,
    }
}

/// The `data` of `GET transit/keys/:name` for an asymmetric signing key.
fn asymmetric_info(
    name: &str,
    key_type: &str,
    versions: impl Iterator<Item = (String, &'static str, OffsetDateTime)>,
) -> Value {
    let keys: serde_json::Map<String, Value> = versions
        .enumerate()
        .map(|(i, (pem, key_name, created))| {
            (
                (i + 1).to_string(),
                json!({
                    "certificate_chain": "", "name": key_name, "public_key": pem,
                    "creation_time": created.format(&Rfc3339).unwrap(),
                }),
            )
        })
        .collect();
    let latest = keys.len();
    json!({
        "name": name, "type": key_type, "keys": keys,
        "latest_version": latest, "min_available_version": 0,
        "min_decryption_version": 1, "min_encryption_version": 0,
        "deletion_allowed": false, "derived": false, "exportable": false,
        "allow_plaintext_backup": false, "auto_rotate_period": 0, "imported_key": false,
        "supports_encryption": key_type.starts_with("rsa"),
        "supports_decryption": key_type.starts_with("rsa"),
        "supports_derivation": false, "supports_signing": true
    })
}

/// The RSA key exists from the start as far as clients can tell; its first version is made
/// when first touched.
fn ensure_rsa(s: &mut Inner) {
    if s.rsa.is_empty() {
        s.rsa
            .push((RsaVersion::generate(), OffsetDateTime::now_utc()));
    }
}

fn rotate(d: &Double, name: &str) -> Response {
    d.with(|s| match name {
        ES256_KEY => {
            s.ecdsa.push((new_ecdsa(), OffsetDateTime::now_utc()));
            data(key_info(s, name).unwrap())
        }
        RS256_KEY => {
            ensure_rsa(s);
            s.rsa
                .push((RsaVersion::generate(), OffsetDateTime::now_utc()));
            data(key_info(s, name).unwrap())
        }
        SIGNING_KEY => {
            s.signing
                .push((SigningKey::generate(&mut OsRng), OffsetDateTime::now_utc()));
            data(key_info(s, name).unwrap())
        }
        ENCRYPTION_KEY => {
            s.encryption.push(random_key());
            data(key_info(s, name).unwrap())
        }
        _ => errors(StatusCode::BAD_REQUEST, &["key not found"]),
    })
}

/// `POST transit/sign/:name(/:hash_algorithm)`: Ed25519 signs the input itself; ECDSA and RSA
/// hash it with `hash_algorithm` (only `sha2-256` here). RSA pads with `signature_algorithm`
/// (`pss`, Vault's default, or `pkcs1v15`); ECDSA marshals as `asn1` (DER, base64, the
/// default) or `jws` (`r || s`, unpadded base64url).
fn sign(d: &Double, name: &str, hash_in_path: Option<&str>, body: &Value) -> Response {
    use ed25519_dalek::Signer as _;
    let field = |name: &str| body.get(name).and_then(Value::as_str);
    let Some(input) = b64(body, "input") else {
        return errors(
            StatusCode::BAD_REQUEST,
            &["unable to decode input as base64"],
        );
    };
    if body.get("prehashed").and_then(Value::as_bool) == Some(true) {
        return errors(
            StatusCode::BAD_REQUEST,
            &["prehashed input: not in this double"],
        );
    }
    let hash = hash_in_path
        .or(field("hash_algorithm"))
        .unwrap_or("sha2-256");
    if name != SIGNING_KEY && hash != "sha2-256" {
        return errors(StatusCode::BAD_REQUEST, &["unsupported hash algorithm"]);
    }
    d.with(|s| {
        if name == RS256_KEY {
            ensure_rsa(s);
        }
        let latest = match name {
            SIGNING_KEY => s.signing.len(),
            ES256_KEY => s.ecdsa.len(),
            RS256_KEY => s.rsa.len(),
            _ => return errors(StatusCode::BAD_REQUEST, &["signing key not found"]),
        } as u64;
        let version = body
            .get("key_version")
            .and_then(Value::as_u64)
            .unwrap_or(latest);
        if version == 0 || version > latest {
            return errors(
                StatusCode::BAD_REQUEST,
                &["requested version for signing does not exist"],
            );
        }
        let i = usize::try_from(version - 1).unwrap();
        let signature = match name {
            SIGNING_KEY => STANDARD.encode(s.signing[i].0.sign(&input).to_bytes()),
            ES256_KEY => {
                let sig: p256::ecdsa::Signature =
                    p256::ecdsa::signature::Signer::sign(&s.ecdsa[i].0, &input);
                match field("marshaling_algorithm").unwrap_or("asn1") {
                    "asn1" => STANDARD.encode(sig.to_der().as_bytes()),
                    "jws" => {
                        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig.to_bytes())
                    }
                    _ => {
                        return errors(
                            StatusCode::BAD_REQUEST,
                            &["unsupported marshaling algorithm"],
                        );
                    }
                }
            }
            _ => {
                let padding: &'static dyn ring::signature::RsaEncoding =
                    match field("signature_algorithm").unwrap_or("pss") {
                        "pss" => &ring::signature::RSA_PSS_SHA256,
                        "pkcs1v15" => &ring::signature::RSA_PKCS1_SHA256,
                        _ => {
                            return errors(
                                StatusCode::BAD_REQUEST,
                                &["unsupported signature algorithm"],
                            );
                        }
                    };
                let pair = ring::rsa::KeyPair::from_pkcs8(&s.rsa[i].0.pkcs8).unwrap();
                let mut sig = vec![0u8; pair.public().modulus_len()];
                pair.sign(padding, &ring::rand::SystemRandom::new(), &input, &mut sig)
                    .unwrap();
                STANDARD.encode(sig)
            }
        };
        data(json!({
            "signature": format!("vault:v{version}:{signature}"),
            "key_version": version
        }))
    })
}

fn cipher_for(key: &[u8; 32]) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(key.into())
}

fn encrypt(d: &Double, name: &str, body: &Value) -> Response {
    if name != ENCRYPTION_KEY {
        return errors(StatusCode::BAD_REQUEST, &["encryption key not found"]);
    }
    let (Some(pt), Some(aad)) = (b64(body, "plaintext"), b64(body, "associated_data")) else {
        return errors(
            StatusCode::BAD_REQUEST,
            &["failed to base64-decode plaintext"],
        );
    };
    d.with(|s| {
        let version = s.encryption.len();
        let mut nonce = [0u8; 12];
        OsRng.fill_bytes(&mut nonce);
        let ct = cipher_for(&s.encryption[version - 1])
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &pt,
                    aad: &aad,
                },
            )
            .unwrap();
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&ct);
        data(json!({
            "ciphertext": format!("vault:v{version}:{}", STANDARD.encode(raw)),
            "key_version": version
        }))
    })
}

fn decrypt(d: &Double, name: &str, body: &Value) -> Response {
    if name != ENCRYPTION_KEY {
        return errors(StatusCode::BAD_REQUEST, &["encryption key not found"]);
    }
    let ct = body.get("ciphertext").and_then(Value::as_str).unwrap_or("");
    let aad = b64(body, "associated_data").unwrap_or_default();
    let parsed = ct
        .strip_prefix("vault:v")
        .and_then(|r| r.split_once(':'))
        .and_then(|(v, p)| Some((v.parse::<usize>().ok()?, STANDARD.decode(p).ok()?)));
    let Some((version, raw)) = parsed else {
        return errors(StatusCode::BAD_REQUEST, &["invalid ciphertext: no prefix"]);
    };
    d.with(|s| {
        if version == 0 || version > s.encryption.len() || raw.len() < 12 {
            return errors(StatusCode::BAD_REQUEST, &["invalid key version"]);
        }
        let (nonce, ct) = raw.split_at(12);
        match cipher_for(&s.encryption[version - 1])
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
        {
            Ok(pt) => data(json!({ "plaintext": STANDARD.encode(pt) })),
            Err(_) => errors(
                StatusCode::BAD_REQUEST,
                &["cipher: message authentication failed"],
            ),
        }
    })
}

fn kv_get(d: &Double, path: &str) -> Response {
    d.with(|s| match s.kv.get(path) {
        Some(value) => data(json!({
            "data": value,
            "metadata": { "created_time": "2026-01-02T03:04:05Z", "custom_metadata": null,
                          "deletion_time": "", "destroyed": false, "version": 1 }
        })),
        None => errors(StatusCode::NOT_FOUND, &[]),
    })
}

fn kv_put(d: &Double, path: &str, body: &Value) -> Response {
    let Some(value) = body.get("data").filter(|v| v.is_object()) else {
        return errors(StatusCode::BAD_REQUEST, &["no data provided"]);
    };
    d.with(|s| {
        s.kv.insert(path.to_owned(), value.clone());
        data(
            json!({ "created_time": "2026-01-02T03:04:05Z", "custom_metadata": null,
                     "deletion_time": "", "destroyed": false, "version": 1 }),
        )
    })
}
