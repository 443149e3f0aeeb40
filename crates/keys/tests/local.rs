//! Local file backend: permissions, versioning, persistence, atomicity, AEAD, names.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use keys::{BackendConfig, KeyBackend, KeysError, LocalConfig};

/// A fresh key directory that the backend creates itself (under a temp dir, which may
/// be 0755 here and would rightly be refused).
struct TmpKeys {
    _root: tempfile::TempDir,
    dir: PathBuf,
}

impl TmpKeys {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("keys");
        Self { _root: root, dir }
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

fn config(dir: &Path) -> BackendConfig {
    BackendConfig::Local(LocalConfig {
        dir: dir.to_path_buf(),
        signing_key: "genesis-signing".into(),
        encryption_key: "permesi-data".into(),
    })
}

async fn open(dir: &Path) -> KeyBackend {
    KeyBackend::open(config(dir)).await.unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn signing_file(dir: &Path) -> PathBuf {
    dir.join("genesis-signing.ed25519.json")
}

fn encryption_file(dir: &Path) -> PathBuf {
    dir.join("permesi-data.xchacha20poly1305.json")
}

fn verify(public_key: [u8; 32], msg: &[u8], sig: [u8; 64]) -> bool {
    VerifyingKey::from_bytes(&public_key)
        .unwrap()
        .verify(msg, &Signature::from_bytes(&sig))
        .is_ok()
}

#[tokio::test]
async fn first_start_creates_private_dir_and_files() {
    let tmp = TmpKeys::new();
    let dir = tmp.path().join("state").join("keys");
    let backend = open(&dir).await;
    assert_eq!(backend.kind(), "local");

    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("secrets")), 0o700);
    assert_eq!(mode(&signing_file(&dir)), 0o600);
    assert_eq!(mode(&encryption_file(&dir)), 0o600);

    backend.secrets().put("opaque-seed", b"seed").await.unwrap();
    assert_eq!(mode(&dir.join("secrets").join("opaque-seed")), 0o600);

    backend.signer().rotate().await.unwrap();
    assert_eq!(
        mode(&signing_file(&dir)),
        0o600,
        "rewritten file stays 0600"
    );
    backend.check().await.unwrap();
}

#[tokio::test]
async fn rotation_keeps_old_versions_verifiable() {
    let tmp = TmpKeys::new();
    let signer = open(tmp.path()).await.signer();

    let v1 = signer.versions().await.unwrap();
    assert_eq!(v1.len(), 1);
    assert_eq!(v1[0].version, 1);
    let sig1 = signer.sign(1, b"token one").await.unwrap();

    let new = signer.rotate().await.unwrap();
    assert_eq!(new.version, 2);
    let all = signer.versions().await.unwrap();
    assert_eq!(all.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(all[0], v1[0], "version 1 unchanged by rotation");
    assert_eq!(all[1], new);
    assert_ne!(all[0].public_key, all[1].public_key);

    // Old signatures and new signatures by the old version still verify.
    assert!(verify(all[0].public_key, b"token one", sig1));
    let sig1b = signer.sign(1, b"later").await.unwrap();
    assert!(verify(all[0].public_key, b"later", sig1b));
    // Exactly the requested version signs.
    let sig2 = signer.sign(2, b"token two").await.unwrap();
    assert!(verify(all[1].public_key, b"token two", sig2));
    assert!(!verify(all[0].public_key, b"token two", sig2));

    for bad in [0, 3, u32::MAX] {
        assert!(
            matches!(signer.sign(bad, b"x").await, Err(KeysError::NotFound(_))),
            "version {bad}"
        );
    }
}

#[tokio::test]
async fn reopen_after_restart_gives_the_same_keys() {
    let tmp = TmpKeys::new();
    let (versions, ct, sig) = {
        let b = open(tmp.path()).await;
        b.signer().rotate().await.unwrap();
        let ct = b.cipher().encrypt(b"payload", b"aad").await.unwrap();
        b.secrets().put("seed", &[0, 159, 146, 150]).await.unwrap();
        (
            b.signer().versions().await.unwrap(),
            ct,
            b.signer().sign(2, b"m").await.unwrap(),
        )
    };
    let b = open(tmp.path()).await;
    assert_eq!(b.signer().versions().await.unwrap(), versions);
    assert_eq!(
        b.signer().sign(2, b"m").await.unwrap(),
        sig,
        "Ed25519 is deterministic"
    );
    assert_eq!(b.cipher().decrypt(&ct, b"aad").await.unwrap(), b"payload");
    assert_eq!(
        b.secrets().get("seed").await.unwrap().unwrap(),
        [0, 159, 146, 150]
    );
}

#[tokio::test]
async fn rotation_by_another_process_is_seen() {
    let tmp = TmpKeys::new();
    let service = open(tmp.path()).await;
    let cli = open(tmp.path()).await;
    let new = cli.signer().rotate().await.unwrap();
    assert_eq!(new.version, 2);
    // Signing with a version newer than the loaded ones rereads the file.
    let sig = service.signer().sign(2, b"m").await.unwrap();
    assert!(verify(new.public_key, b"m", sig));
    // The listing rereads the file too.
    let newer = cli.signer().rotate().await.unwrap();
    assert_eq!(
        service.signer().versions().await.unwrap().last(),
        Some(&newer)
    );
}

#[tokio::test]
async fn writes_leave_no_temp_files() {
    let tmp = TmpKeys::new();
    let b = open(tmp.path()).await;
    for _ in 0..3 {
        b.signer().rotate().await.unwrap();
    }
    b.secrets().put("a", b"1").await.unwrap();
    b.secrets().put("a", b"2").await.unwrap();

    let mut names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "genesis-signing.ed25519.json",
            "permesi-data.xchacha20poly1305.json",
            "secrets"
        ]
    );
    let secrets: Vec<_> = std::fs::read_dir(tmp.path().join("secrets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(secrets, ["a"]);
    assert_eq!(b.secrets().get("a").await.unwrap().unwrap(), b"2");
    // The rewritten key file is complete, valid JSON with all four versions.
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(signing_file(tmp.path())).unwrap()).unwrap();
    assert_eq!(file["versions"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn encrypt_decrypt_binds_aad_and_detects_tampering() {
    let tmp = TmpKeys::new();
    let cipher = open(tmp.path()).await.cipher();

    let ct = cipher.encrypt(b"totp secret", b"user:42").await.unwrap();
    assert!(ct.starts_with("local:v1:"), "{ct}");
    let ct2 = cipher.encrypt(b"totp secret", b"user:42").await.unwrap();
    assert_ne!(ct, ct2, "random nonce");
    assert_eq!(
        cipher.decrypt(&ct, b"user:42").await.unwrap(),
        b"totp secret"
    );
    // Empty plaintext and empty aad round-trip too.
    let empty = cipher.encrypt(b"", b"").await.unwrap();
    assert_eq!(cipher.decrypt(&empty, b"").await.unwrap(), b"");

    // Wrong or missing aad.
    assert!(matches!(
        cipher.decrypt(&ct, b"user:43").await,
        Err(KeysError::Decrypt)
    ));
    assert!(matches!(
        cipher.decrypt(&ct, b"").await,
        Err(KeysError::Decrypt)
    ));

    // Every flipped byte of nonce, ciphertext or tag is detected.
    let payload = URL_SAFE_NO_PAD
        .decode(ct.strip_prefix("local:v1:").unwrap())
        .unwrap();
    for i in 0..payload.len() {
        let mut p = payload.clone();
        p[i] ^= 0x01;
        let tampered = format!("local:v1:{}", URL_SAFE_NO_PAD.encode(&p));
        assert!(
            matches!(
                cipher.decrypt(&tampered, b"user:42").await,
                Err(KeysError::Decrypt)
            ),
            "byte {i}"
        );
    }
    // Truncated, malformed, foreign.
    let truncated = format!(
        "local:v1:{}",
        URL_SAFE_NO_PAD.encode(&payload[..payload.len() - 1])
    );
    for bad in [
        truncated.as_str(),
        "local:v1:!!",
        "garbage",
        "vault:v1:abcd",
        "",
    ] {
        assert!(
            matches!(
                cipher.decrypt(bad, b"user:42").await,
                Err(KeysError::Decrypt)
            ),
            "{bad}"
        );
    }
    // A version that does not exist.
    let future = ct.replacen("local:v1:", "local:v9:", 1);
    assert!(matches!(
        cipher.decrypt(&future, b"user:42").await,
        Err(KeysError::NotFound(_))
    ));
}

#[tokio::test]
async fn encryption_rotation_keeps_old_ciphertexts_readable() {
    let tmp = TmpKeys::new();
    let dir = tmp.path();
    let b = open(dir).await;
    let old = b.cipher().encrypt(b"old", b"a").await.unwrap();
    // Rotate the encryption key as an operator would: append a version to the file.
    let path = encryption_file(dir);
    let mut file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let mut v2 = file["versions"][0].clone();
    v2["version"] = 2.into();
    v2["secret"] = URL_SAFE_NO_PAD.encode([7u8; 32]).into();
    file["versions"].as_array_mut().unwrap().push(v2);
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();

    let b = open(dir).await;
    let new = b.cipher().encrypt(b"new", b"a").await.unwrap();
    assert!(new.starts_with("local:v2:"), "{new}");
    assert_eq!(b.cipher().decrypt(&old, b"a").await.unwrap(), b"old");
    assert_eq!(b.cipher().decrypt(&new, b"a").await.unwrap(), b"new");
}

#[tokio::test]
async fn secrets_round_trip_and_names_are_checked() {
    let tmp = TmpKeys::new();
    let secrets = open(tmp.path()).await.secrets();
    assert_eq!(secrets.get("opaque-seed").await.unwrap(), None);
    secrets.put("opaque-seed", &[1, 2, 3]).await.unwrap();
    assert_eq!(
        secrets.get("opaque-seed").await.unwrap(),
        Some(vec![1, 2, 3])
    );

    for bad in [
        "..",
        "../escape",
        "a/b",
        "/etc/passwd",
        ".",
        ".hidden",
        "",
        "a\\b",
        "x\0",
    ] {
        assert!(
            matches!(secrets.put(bad, b"v").await, Err(KeysError::InvalidName(_))),
            "put {bad:?}"
        );
        assert!(
            matches!(secrets.get(bad).await, Err(KeysError::InvalidName(_))),
            "get {bad:?}"
        );
    }
    assert!(!tmp.path().join("escape").exists());
    assert!(!tmp.path().parent().unwrap().join("escape").exists());
}

#[tokio::test]
async fn key_names_are_checked() {
    let tmp = TmpKeys::new();
    let cfg = BackendConfig::Local(LocalConfig {
        dir: tmp.path().to_path_buf(),
        signing_key: "../outside".into(),
        encryption_key: "data".into(),
    });
    assert!(matches!(
        KeyBackend::open(cfg).await,
        Err(KeysError::InvalidName(_))
    ));
}

#[tokio::test]
async fn refuses_group_or_world_accessible_dir_and_files() {
    let tmp = TmpKeys::new();
    let dir = tmp.path().join("keys");
    drop(open(&dir).await);

    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(matches!(
        KeyBackend::open(config(&dir)).await,
        Err(KeysError::Config(_))
    ));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();

    let b = open(&dir).await;
    std::fs::set_permissions(signing_file(&dir), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(b.check().await, Err(KeysError::Config(_))));
    assert!(matches!(
        KeyBackend::open(config(&dir)).await,
        Err(KeysError::Config(_))
    ));
}

#[tokio::test]
async fn corrupt_or_missing_key_file_fails_check_and_open() {
    let tmp = TmpKeys::new();
    let b = open(tmp.path()).await;
    b.check().await.unwrap();

    std::fs::write(signing_file(tmp.path()), b"{not json").unwrap();
    assert!(matches!(b.check().await, Err(KeysError::Corrupt(_))));
    assert!(matches!(
        KeyBackend::open(config(tmp.path())).await,
        Err(KeysError::Corrupt(_))
    ));

    // A file whose versions skip a number is refused.
    drop(b);
    let tmp = TmpKeys::new();
    drop(open(tmp.path()).await);
    let path = signing_file(tmp.path());
    let mut file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    file["versions"][0]["version"] = 2.into();
    std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
    assert!(matches!(
        KeyBackend::open(config(tmp.path())).await,
        Err(KeysError::Corrupt(_))
    ));

    let tmp = TmpKeys::new();
    let b = open(tmp.path()).await;
    std::fs::remove_file(encryption_file(tmp.path())).unwrap();
    assert!(b.check().await.is_err());
}

#[tokio::test]
async fn debug_never_prints_key_material() {
    let tmp = TmpKeys::new();
    let b = open(tmp.path()).await;
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(signing_file(tmp.path())).unwrap()).unwrap();
    let secret = file["versions"][0]["secret"].as_str().unwrap().to_owned();
    let efile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(encryption_file(tmp.path())).unwrap()).unwrap();
    let esecret = efile["versions"][0]["secret"].as_str().unwrap().to_owned();
    let raw = URL_SAFE_NO_PAD.decode(&secret).unwrap();

    let dbg = format!("{b:?} {:?} {:?} {:?}", b.signer(), b.cipher(), b.secrets());
    assert!(dbg.contains("genesis-signing"), "{dbg}");
    assert!(!dbg.contains(&secret) && !dbg.contains(&esecret), "{dbg}");
    assert!(!dbg.contains(&format!("{:?}", &raw[..8])), "{dbg}");
}
