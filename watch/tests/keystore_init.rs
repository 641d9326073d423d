//! `lpwatch keystore-init`: creates livepeer's account in an empty keystore (0700 directory, 0600 v3
//! file that an independent implementation decrypts with the password file's trimmed contents), leaves
//! an existing one alone, refuses an empty or missing password file, honours --light-kdf, never prints
//! the password; and end to end, the livepeer stand-in given the same password FILE unlocks the account
//! and answers `/ethAddr` with it (with an empty keystore, upstream v0.9.1 and the stand-in never can).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, standin_path, wait_for, Proc};
use sha3::{Digest, Keccak256};

/// Runs `lpwatch keystore-init` (plus `extra`) and returns its output.
fn keystore_init(keystore: &Path, password_file: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lpwatch"))
        .arg("keystore-init")
        .arg("--keystore")
        .arg(keystore)
        .arg("--password-file")
        .arg(password_file)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run lpwatch keystore-init")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The address a successful run printed after `prefix` (`created account ` or `existing account `).
fn printed_address(out: &Output, prefix: &str) -> String {
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "keystore-init failed: {:?}\n{stdout}{}", out.status, text(&out.stderr));
    let line = stdout.trim_end();
    let address = line.strip_prefix(prefix).unwrap_or_else(|| panic!("expected `{prefix}0x...`, got {line:?}"));
    assert!(address.len() == 42 && address.starts_with("0x"), "{address}");
    assert_eq!(address, eip55(&address[2..].to_lowercase()), "not EIP-55 checksummed");
    address.to_string()
}

/// EIP-55 spelling of a lower-case hex address, computed here from its definition.
fn eip55(lower_hex: &str) -> String {
    let hash = Keccak256::digest(lower_hex.as_bytes());
    let spelled: String = lower_hex
        .chars()
        .enumerate()
        .map(|(i, c)| {
            let nibble = if i % 2 == 0 { hash[i / 2] >> 4 } else { hash[i / 2] & 0xf };
            if nibble >= 8 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    format!("0x{spelled}")
}

fn key_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn key_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn creates_a_standard_account_once_that_decrypts_with_the_trimmed_password() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = dir.path().join("data").join("keystore");
    let password = dir.path().join("eth-password");
    std::fs::write(&password, "pw\n").unwrap();

    let started = Instant::now();
    let out = keystore_init(&keystore, &password, &[]);
    println!("keystore-init with standard scrypt (n=262144, p=1): {:?}", started.elapsed());
    let address = printed_address(&out, "created account ");

    assert_eq!(mode(&keystore), 0o700);
    let files = key_files(&keystore);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(mode(&files[0]), 0o600);
    let lower = address[2..].to_lowercase();
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("UTC--") && name.ends_with(&format!("Z--{lower}")), "{name}");
    let json = key_json(&files[0]);
    assert_eq!(json["version"], 3);
    assert_eq!(json["address"], lower.as_str());
    assert_eq!(json["crypto"]["cipher"], "aes-128-ctr");
    assert_eq!(json["crypto"]["kdf"], "scrypt");
    assert_eq!(json["crypto"]["kdfparams"]["n"], 262_144);
    assert_eq!(json["crypto"]["kdfparams"]["p"], 1);
    assert_eq!(json["crypto"]["kdfparams"]["r"], 8);

    // An independent v3 implementation opens it with the trimmed contents, not with them as written.
    let secret = eth_keystore::decrypt_key(&files[0], "pw").expect("eth-keystore decrypts with \"pw\"");
    let key = lpbake_keystore::SecretKey::from_slice(&secret).unwrap();
    assert_eq!(lpbake_keystore::checksummed(&lpbake_keystore::address(&key)), address);
    assert!(eth_keystore::decrypt_key(&files[0], "pw\n").is_err());

    // A second run changes nothing and reports the same account.
    let before = std::fs::read(&files[0]).unwrap();
    let again = keystore_init(&keystore, &password, &[]);
    assert_eq!(printed_address(&again, "existing account "), address);
    assert_eq!(key_files(&keystore), files);
    assert_eq!(std::fs::read(&files[0]).unwrap(), before);
}

#[test]
fn light_kdf_and_the_password_stays_secret() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = dir.path().join("keystore");
    let password = dir.path().join("eth-password");
    let secret = "Zq9-unique-s3cret";
    std::fs::write(&password, format!("  {secret}\t\n")).unwrap();
    let out = keystore_init(&keystore, &password, &["--light-kdf"]);
    printed_address(&out, "created account ");
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!all.contains(secret), "the password was printed: {all}");

    let files = key_files(&keystore);
    assert_eq!(files.len(), 1, "{files:?}");
    let json = key_json(&files[0]);
    assert_eq!(
        (json["crypto"]["kdfparams"]["n"].as_u64(), json["crypto"]["kdfparams"]["p"].as_u64()),
        (Some(4096), Some(6))
    );
    assert!(eth_keystore::decrypt_key(&files[0], secret).is_ok());
}

#[test]
fn empty_or_missing_password_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let keystore = dir.path().join("keystore");
    let blank = dir.path().join("eth-password");
    std::fs::write(&blank, " \n\t\n").unwrap();
    let out = keystore_init(&keystore, &blank, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&blank.display().to_string()) && stderr.contains("empty"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(!keystore.exists() || key_files(&keystore).is_empty(), "a key was written");

    let missing = dir.path().join("no-such-file");
    let out = keystore_init(&keystore, &missing, &[]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(!keystore.exists() || key_files(&keystore).is_empty(), "a key was written");
}

/// keystore-init, then the stand-in on a chain network with `-ethPassword <file>` and the same data dir:
/// it unlocks the account and `/ethAddr` is the printed address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standin_unlocks_the_account_from_the_password_file() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let password = dir.path().join("eth-password");
    std::fs::write(&password, "pw\n").unwrap();
    let address = printed_address(&keystore_init(&data_dir.join("keystore"), &password, &[]), "created account ");

    let cli = format!("127.0.0.1:{}", free_port());
    let service = format!("127.0.0.1:{}", free_port());
    let log_path = dir.path().join("livepeer.log");
    let started = Instant::now();
    let child = Command::new(standin_path())
        .args(["-orchestrator", "-transcoder", "-network", "arbitrum-one-mainnet"])
        // The stand-in never dials -ethUrl; a closed port keeps traffic on loopback.
        .args(["-ethUrl", "http://127.0.0.1:1"])
        .arg("-dataDir")
        .arg(&data_dir)
        .arg("-ethPassword")
        .arg(&password)
        .args(["-cliAddr", &cli, "-serviceAddr", &service, "-httpAddr", &service])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("spawn the livepeer stand-in");
    let mut node = Proc::new(child, "livepeer");

    let client = reqwest::Client::new();
    let url = format!("http://{cli}/ethAddr");
    let answer = wait_for("the stand-in's /ethAddr", Duration::from_secs(60), Duration::from_millis(20), || {
        let (client, url) = (&client, &url);
        async move {
            let resp = client.get(url).timeout(Duration::from_secs(2)).send().await.ok()?;
            Some((resp.status().as_u16(), resp.text().await.ok()?))
        }
    })
    .await;
    println!("stand-in start to /ethAddr with a standard-scrypt unlock: {:?}", started.elapsed());
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(node.alive(), "the stand-in exited:\n{log}");
    assert_eq!(answer, (200, address.clone()), "{log}");
    assert!(log.contains(&format!("Unlocked ETH account: {address}")), "{log}");
    assert!(!log.contains("No Ethereum account found"), "{log}");
    assert_eq!(key_files(&data_dir.join("keystore")).len(), 1);
}
