//! The node's Ethereum account on a chain network: a v3 key file created in `<dataDir>/keystore`, the same
//! `/ethAddr` after a restart, upstream's unlock failure on a wrong password, upstream's v0.9.1 handling
//! of a password file on a fresh keystore, `/signMessage` signing as the account, and `/ethAddr` off-chain. `-ethUrl` points at a closed port:
//! the stand-in never dials it.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{command, free_port, get, post_form, write_file, Node, BIN};
use k256::elliptic_curve::sec1::ToEncodedPoint;
use sha3::{Digest, Keccak256};

const NETWORK: &str = "arbitrum-one-mainnet";

/// Starts an orchestrator on `NETWORK` with `data_dir` and `-ethPassword password`; returns it and its CLI.
fn start(data_dir: &Path, password: &str, extra: &[&str]) -> (Node, String) {
    let cli = format!("127.0.0.1:{}", free_port());
    let service = format!("127.0.0.1:{}", free_port());
    let data = data_dir.display().to_string();
    let mut args = vec![
        "-orchestrator",
        "-transcoder",
        "-network",
        NETWORK,
        "-ethUrl",
        "http://127.0.0.1:1",
        "-dataDir",
        &data,
        "-ethPassword",
        password,
        "-cliAddr",
        &cli,
        "-serviceAddr",
        &service,
        "-httpAddr",
        &service,
    ];
    args.extend_from_slice(extra);
    let node = Node::spawn_in(tempfile::tempdir().unwrap(), command(BIN, &args), &[]);
    (node, cli)
}

/// `/ethAddr` of a node that is ready, checked to be 200 and `0x` + 40 hex digits.
fn eth_addr(node: &mut Node, cli: &str) -> String {
    node.wait_ready(cli);
    let reply = get(cli, "/ethAddr").unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    let addr = reply.body;
    assert!(addr.len() == 42 && addr.starts_with("0x"), "{addr}");
    assert!(addr[2..].chars().all(|c| c.is_ascii_hexdigit()), "{addr}");
    addr
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

/// The lower-case hex address of a raw secp256k1 secret key.
fn address_of(secret: &[u8]) -> String {
    let key = k256::SecretKey::from_slice(secret).unwrap();
    let point = key.public_key().to_encoded_point(false);
    hex::encode(&Keccak256::digest(&point.as_bytes()[1..])[12..])
}

fn key_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn stop(mut node: Node) {
    node.signal("TERM");
    assert_eq!(node.wait_exit(Duration::from_secs(5)).and_then(|s| s.code()), Some(0));
}

#[test]
fn account_is_created_on_the_data_dir_and_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");

    // First start: a literal password; the node creates the account.
    let (mut node, cli) = start(&data_dir, "s3cret", &[]);
    let first = eth_addr(&mut node, &cli);
    assert_eq!(first, eip55(&first[2..].to_lowercase()), "not EIP-55 checksummed");
    assert!(node.log().contains("No Ethereum account found. Creating a new account"), "{}", node.log());
    assert!(node.log().contains(&format!("Using Ethereum account: {first}")));
    assert!(node.log().contains(&format!("Unlocked ETH account: {first}")));
    stop(node);

    let keystore = data_dir.join("keystore");
    assert_eq!(std::fs::metadata(&keystore).unwrap().permissions().mode() & 0o777, 0o700);
    let files = key_files(&keystore);
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().to_string();
    let lower = first[2..].to_lowercase();
    assert!(name.starts_with("UTC--") && name.ends_with(&format!("Z--{lower}")), "{name}");
    assert_eq!(std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777, 0o600);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    assert_eq!(json["version"], 3);
    assert_eq!(json["address"], lower.as_str());
    assert_eq!(json["crypto"]["cipher"], "aes-128-ctr");
    assert_eq!(json["crypto"]["kdf"], "scrypt");
    assert_eq!(
        (json["crypto"]["kdfparams"]["n"].as_u64(), json["crypto"]["kdfparams"]["p"].as_u64()),
        (Some(4096), Some(6))
    );

    // An independent implementation decrypts the file to the key of that address.
    let secret = eth_keystore::decrypt_key(&files[0], "s3cret").expect("eth-keystore decrypts the key file");
    assert_eq!(address_of(&secret), lower);
    assert!(eth_keystore::decrypt_key(&files[0], "other").is_err());

    // Second start: the password from a file (trimmed, as common.ReadFromFile): the same account.
    let password_file = write_file(dir.path(), "eth-password", "s3cret\n");
    let (mut node, cli) = start(&data_dir, &password_file, &[]);
    assert_eq!(eth_addr(&mut node, &cli), first);
    assert!(!node.log().contains("Creating a new account"));
    stop(node);
    assert_eq!(key_files(&keystore).len(), 1);

    // A wrong password: upstream's error; the starter returns, so the process exits 0.
    let wrong = write_file(dir.path(), "wrong-password", "nope\n");
    let (mut node, _) = start(&data_dir, &wrong, &[]);
    let status = node.wait_exit(Duration::from_secs(10)).expect("exits on a wrong password");
    assert_eq!(status.code(), Some(0));
    assert!(
        node.log().contains("Error unlocking Ethereum account: could not decrypt key with given password"),
        "{}",
        node.log()
    );

    // -ethAcctAddr naming the account selects it; -ethKeystorePath naming its key file does too.
    let (mut node, cli) = start(&data_dir, "s3cret", &["-ethAcctAddr", &lower]);
    assert_eq!(eth_addr(&mut node, &cli), first);
    stop(node);
    let keyfile = files[0].display().to_string();
    let (mut node, cli) = start(&data_dir, "s3cret", &["-ethKeystorePath", &keyfile]);
    assert_eq!(eth_addr(&mut node, &cli), first);
    stop(node);
    assert_eq!(key_files(&keystore).len(), 1);
}

#[test]
fn password_file_on_a_fresh_keystore_fails_as_upstream_v0_9_1() {
    // Upstream encrypts a new key with the -ethPassword value as given (the path), then unlocks with the
    // file's content: the first start on a fresh data dir fails, and so does every later one.
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let password_file = write_file(dir.path(), "eth-password", "s3cret\n");
    for _ in 0..2 {
        let (mut node, _) = start(&data_dir, &password_file, &[]);
        let status = node.wait_exit(Duration::from_secs(10)).expect("exits");
        assert_eq!(status.code(), Some(0));
        assert!(node.log().contains("Error unlocking Ethereum account: could not decrypt key with given password"));
    }
    let files = key_files(&data_dir.join("keystore"));
    assert_eq!(files.len(), 1);
    assert!(eth_keystore::decrypt_key(&files[0], &password_file).is_ok(), "encrypted with the path");
}

#[test]
fn an_account_that_is_not_in_the_keystore_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let (mut node, cli) = start(&data_dir, "pw", &[]);
    let first = eth_addr(&mut node, &cli);
    stop(node);
    let (mut node, cli) = start(&data_dir, "pw", &["-ethAcctAddr", "0x0000000000000000000000000000000000000001"]);
    assert_ne!(eth_addr(&mut node, &cli), first);
    stop(node);
    assert_eq!(key_files(&data_dir.join("keystore")).len(), 2);
}

#[test]
fn keystore_path_must_exist_and_offchain_has_no_account() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing").display().to_string();
    let (mut node, _) = start(&dir.path().join("data"), "pw", &["-ethKeystorePath", &missing]);
    assert_eq!(node.wait_exit(Duration::from_secs(10)).and_then(|s| s.code()), Some(1));
    assert!(node.log().contains("provided -ethKeystorePath was not found"));

    let cli = format!("127.0.0.1:{}", free_port());
    let mut node = Node::start(&["-orchestrator", "-transcoder", "-cliAddr", &cli, "-ethPassword", "pw"], &[]);
    node.wait_ready(&cli);
    let reply = get(&cli, "/ethAddr").unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (500, "missing ETH client\n"));
    assert!(!node.path("data").join("keystore").exists());
}

#[test]
fn sign_message_signs_eip191_text_as_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let (mut node, cli) = start(&dir.path().join("data"), "s3cret", &[]);
    let addr = eth_addr(&mut node, &cli);
    let text = "lpshare: a key & a test";
    let (status, sig) = post_form(&cli, "/signMessage", "", "message=lpshare%3A+a+key+%26+a+test").unwrap();
    assert_eq!((status, sig.len()), (200, 65), "{}", String::from_utf8_lossy(&sig));
    assert!(sig[64] == 27 || sig[64] == 28, "v = {}", sig[64]);
    // Recovered here from the definitions: keccak256("\x19Ethereum Signed Message:\n" + len + text).
    let mut hash = Keccak256::new();
    hash.update(format!("\x19Ethereum Signed Message:\n{}{text}", text.len()).as_bytes());
    let signature = k256::ecdsa::Signature::from_slice(&sig[..64]).unwrap();
    let recid = k256::ecdsa::RecoveryId::from_byte(sig[64] - 27).unwrap();
    let key = k256::ecdsa::VerifyingKey::recover_from_prehash(&hash.finalize(), &signature, recid).unwrap();
    let point = key.to_encoded_point(false);
    assert_eq!(hex::encode(&Keccak256::digest(&point.as_bytes()[1..])[12..]), addr[2..].to_lowercase());
    let (status, body) = post_form(&cli, "/signMessage", "SigFormat: data/typed\r\n", "message=%7B%7D").unwrap();
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    stop(node);
}
