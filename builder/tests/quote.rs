//! Quoting, checked by the programs that read each language, with generated strings: shell
//! words evaluated by `sh` and by an interactive `bash` (as when pasted); units rendered from a
//! node whose ExecStart words, Environment value and Description are generated, read by
//! `systemd-analyze verify` and by systemd's own parser (`systemd --test` dumps what it loaded);
//! ssh networks loaded by `nft` into a network namespace and listed back; chrony servers read by
//! `chronyd -p`; fstab entries by `findmnt` (libmount); sysusers.d lines by `systemd-sysusers`.
//! Each value is either refused by the renderer or read back exactly, and no line is gained.

mod common;

use lpbake::quote;
use lpbake::render::{self, Node, Volume};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A runner of `cases` cases that writes no regression files into the source tree.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

/// Strings of up to `max` characters, rich in what the languages treat specially.
fn text(max: usize) -> impl Strategy<Value = String> {
    let specials = vec![
        '$', '%', '\\', '"', '\'', '`', ';', '\n', '\r', '\t', '\0', '#', '!', ' ', '{', '}', '*', '~', '=', ':', ',',
        '-', '/', '\u{7f}', '\u{85}', '\u{a0}', '\u{2028}', 'é',
    ];
    let c =
        prop_oneof![6 => proptest::char::range(' ', '~'), 3 => proptest::sample::select(specials), 1 => any::<char>()];
    proptest::collection::vec(c, 0..max).prop_map(String::from_iter)
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// The node of the repository's appliance.
fn repo_node() -> Node {
    render::node(&lpbake::spec::load(&common::repo().join("images")).unwrap()).unwrap()
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}: run `make deps`"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// --- shell --------------------------------------------------------------------------------------

/// What `script` prints when pasted into an interactive bash (history expansion on).
fn pasted_into_bash(script: &str) -> Vec<u8> {
    let mut child = Command::new(common::tool("bash"))
        .args(["--norc", "--noprofile", "-i"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    child.wait_with_output().unwrap().stdout
}

#[test]
fn shell_words_round_trip_through_sh_and_a_pasted_bash() {
    let sh = common::tool("sh");
    runner(256)
        .run(&text(24), |s| {
            let word = quote::shell_word(&s);
            let in_quotes = quote::shell_in_double_quotes(&s);
            prop_assert_eq!(word.is_err(), has_control(&s), "shell_word refuses exactly control characters");
            prop_assert_eq!(in_quotes.is_err(), has_control(&s) || s.contains('!'));
            if let Ok(w) = word {
                let out = run(Command::new(&sh).arg("-c").arg(format!("printf '%s' {w}")));
                prop_assert_eq!(&out.stdout, s.as_bytes(), "sh read {} back otherwise", w);
                prop_assert_eq!(pasted_into_bash(&format!("printf '%s' {w}\n")), s.as_bytes(), "bash -i: {}", w);
            }
            if let Ok(q) = in_quotes {
                let script = format!("X=x; printf '%s' \"${{X}}{q}\"\n");
                prop_assert_eq!(run(Command::new(&sh).arg("-c").arg(&script)).stdout, format!("x{s}").into_bytes());
                prop_assert_eq!(pasted_into_bash(&script), format!("x{s}").into_bytes(), "bash -i: {}", q);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

// --- systemd ------------------------------------------------------------------------------------

const UNIT: &str = "livepeer.service";
const VAR: &str = "LPBAKE_QUOTE_TEST";

/// The keys of a unit file's directive lines, in order.
fn directive_keys(unit: &str) -> Vec<&str> {
    unit.lines().filter(|l| !l.is_empty() && !l.starts_with(['#', '['])).map(|l| l.split('=').next().unwrap()).collect()
}

/// What systemd's test mode dumps for `unit` loaded from `root` (as nobody when run as root:
/// systemd refuses test mode as root).
fn systemd_dump(root: &Path, unit: &str) -> String {
    let systemd = Path::new("/usr/lib/systemd/systemd");
    assert!(systemd.is_file(), "{} is missing: run `make deps` (Debian package systemd)", systemd.display());
    let mut cmd = if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new(common::tool("setpriv"));
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(systemd);
        c
    } else {
        Command::new(systemd)
    };
    // The trailing `:` adds the host's unit directories after the rendered ones.
    let path = format!("{}:", root.join("etc/systemd/system").display());
    cmd.env("SYSTEMD_UNIT_PATH", path).env("HOME", "/");
    cmd.args(["--test", "--system", "--no-pager", "--log-target=console"]).arg(format!("--unit={unit}"));
    let out = run(&mut cmd);
    assert!(out.status.success(), "systemd --test: {}", stderr(&out));
    let dump = stdout(&out);
    let start = dump.find(&format!("\t-> Unit {unit}:\n")).unwrap_or_else(|| panic!("no {unit} in {dump}"));
    let block = &dump[start + 1..];
    block[..block.find("\n\t-> Unit ").unwrap_or(block.len())].to_string()
}

/// The words of a command line as systemd's dump prints them (`shell_maybe_quote`: a word as it
/// is, or in double quotes with `\` before `"\`$` and C escapes, octal for other bytes).
fn dumped_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ' ' {
            continue;
        }
        if c != '"' {
            let mut w = String::from(c);
            while let Some(c) = chars.next_if(|c| *c != ' ') {
                w.push(c);
            }
            words.push(w);
            continue;
        }
        let mut bytes = Vec::new();
        loop {
            match chars.next().expect("a closing quote") {
                '"' => break,
                '\\' => match chars.next().unwrap() {
                    'a' => bytes.push(7),
                    'b' => bytes.push(8),
                    'f' => bytes.push(12),
                    'n' => bytes.push(b'\n'),
                    'r' => bytes.push(b'\r'),
                    't' => bytes.push(b'\t'),
                    'v' => bytes.push(11),
                    d @ '0'..='7' => {
                        let digits: String = [d, chars.next().unwrap(), chars.next().unwrap()].iter().collect();
                        bytes.push(u8::from_str_radix(&digits, 8).unwrap());
                    }
                    c => bytes.extend(c.to_string().as_bytes()),
                },
                c => bytes.extend(c.to_string().as_bytes()),
            }
        }
        words.push(String::from_utf8(bytes).unwrap());
    }
    words
}

#[test]
fn units_with_generated_words_and_values_verify_and_read_back_exactly() {
    let analyze = common::tool("systemd-analyze");
    let base = repo_node();
    let dir = common::unit_root(&base);
    let root = dir.path().join("root");
    let unit_file = root.join("etc/systemd/system").join(UNIT);
    let with = |description: &str, value: &str, words: &[String]| {
        let mut n = base.clone();
        let u = n.services.get_mut(UNIT).unwrap();
        u.description = description.to_string();
        u.service.env.insert(VAR.into(), value.to_string());
        u.argv.truncate(1);
        u.argv.extend(words.iter().cloned());
        n
    };
    let cases = (text(16), text(16), proptest::collection::vec(text(12), 0..4));
    runner(40)
        .run(&cases, |(description, value, words)| {
            let rendered = render::files(&with(&description, &value, &words));
            let refused = has_control(&description)
                || description.ends_with('\\')
                || description.starts_with(' ')
                || description.ends_with(' ')
                || value.contains('\0')
                || words.iter().any(|w| w.contains('\0'));
            let tree = match rendered {
                Err(e) => {
                    prop_assert!(refused, "refused a value systemd can hold: {e}");
                    prop_assert!(e.to_string().contains("/etc/systemd/system/livepeer.service"), "{e}");
                    return Ok(());
                }
                Ok(tree) => tree,
            };
            prop_assert!(!refused, "wrote a value systemd cannot hold");
            let text = tree.text(&format!("/etc/systemd/system/{UNIT}")).unwrap();
            let plain = render::files(&with("x", "x", &vec!["x".to_string(); words.len()])).unwrap();
            let plain = plain.text(&format!("/etc/systemd/system/{UNIT}")).unwrap().to_string();
            prop_assert_eq!(directive_keys(text), directive_keys(&plain), "the unit gained or lost a line:\n{}", text);
            std::fs::write(&unit_file, text).unwrap();
            let verify = run(Command::new(&analyze).arg("verify").arg(format!("--root={}", root.display())).arg(UNIT));
            prop_assert!(
                verify.status.success() && stderr(&verify).trim().is_empty(),
                "systemd-analyze verify: {}\n{}",
                stderr(&verify),
                text
            );
            let dump = systemd_dump(&root, UNIT);
            // An empty Description= is the unit's name.
            let shown = if description.is_empty() { UNIT } else { &description };
            prop_assert!(dump.contains(&format!("\n\t\tDescription: {shown}\n")), "{}", dump);
            prop_assert!(dump.contains(&format!("\n\t\tEnvironment: {VAR}={value}\n")), "{}", dump);
            let exec = dump.split("\t\t-> ExecStart:\n\t\t\tCommand Line: ").nth(1).unwrap();
            // systemd keeps `$$` until it starts the program, which turns it into `$`.
            let argv = std::iter::once(&base.services[UNIT].argv[0]).chain(&words);
            let want: Vec<String> = argv.map(|w| w.replace('$', "$$")).collect();
            prop_assert_eq!(dumped_words(exec.lines().next().unwrap()), want);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

// --- nftables -----------------------------------------------------------------------------------

/// An interval `[first, last]` of addresses, v4 or v6 (as u128).
type Span = (bool, u128, u128);

fn spans_of(net: &ipnet::IpNet) -> Span {
    match net {
        ipnet::IpNet::V4(n) => (false, u32::from(n.network()).into(), u32::from(n.broadcast()).into()),
        ipnet::IpNet::V6(n) => (true, u128::from(n.network()), u128::from(n.broadcast())),
    }
}

/// `spans` sorted, with touching and overlapping ones merged.
fn merged(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort();
    let mut out: Vec<Span> = Vec::new();
    for s in spans {
        match out.last_mut() {
            Some(l) if l.0 == s.0 && l.2.checked_add(1).is_none_or(|next| s.1 <= next) => l.2 = l.2.max(s.2),
            _ => out.push(s),
        }
    }
    out
}

/// The address spans of nft's JSON set elements.
fn nft_spans(set: &serde_json::Value, v6: bool) -> Vec<Span> {
    let addr = |v: &serde_json::Value| -> u128 {
        let s = v.as_str().unwrap();
        if v6 {
            s.parse::<std::net::Ipv6Addr>().unwrap().into()
        } else {
            u32::from(s.parse::<std::net::Ipv4Addr>().unwrap()).into()
        }
    };
    let elems = set["nftables"][1]["set"]["elem"].as_array().cloned().unwrap_or_default();
    elems
        .iter()
        .map(|e| {
            if let Some(p) = e.get("prefix") {
                let net: ipnet::IpNet = format!("{}/{}", p["addr"].as_str().unwrap(), p["len"]).parse().unwrap();
                spans_of(&net)
            } else if let Some(r) = e.get("range") {
                (v6, addr(&r[0]), addr(&r[1]))
            } else {
                (v6, addr(e), addr(e))
            }
        })
        .collect()
}

/// A network as text: valid, with host bits, or anything.
fn network() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (any::<u32>(), 0u8..=32).prop_map(|(a, p)| ipnet::Ipv4Net::new(a.into(), p).unwrap().trunc().to_string()),
        3 => (any::<u128>(), 0u8..=128).prop_map(|(a, p)| ipnet::Ipv6Net::new(a.into(), p).unwrap().trunc().to_string()),
        2 => (0u32..=0x00ff_ffff, 8u8..=32).prop_map(|(a, p)| format!("10.{}.{}.{}/{p}", a >> 16, (a >> 8) & 255, a & 255)),
        1 => text(20),
    ]
}

#[test]
fn generated_ssh_networks_load_into_nft_as_exactly_those_addresses() {
    let nft = common::tool("nft");
    let unshare = common::tool("unshare");
    let base = repo_node();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nftables.conf");
    runner(48)
        .run(&proptest::collection::vec(network(), 0..6), |nets| {
            let mut n = base.clone();
            n.firewall.ssh_allow = nets.iter().cloned().collect();
            let parsed: Vec<Option<ipnet::IpNet>> =
                nets.iter().map(|s| s.parse::<ipnet::IpNet>().ok().filter(|n| n.trunc() == *n)).collect();
            let tree = match render::files(&n) {
                Err(e) => {
                    prop_assert!(parsed.iter().any(Option::is_none), "refused networks nft can hold: {e}");
                    prop_assert!(e.to_string().contains("/etc/nftables.conf") && e.to_string().contains("fix:"));
                    return Ok(());
                }
                Ok(t) => t,
            };
            prop_assert!(parsed.iter().all(Option::is_some), "wrote a set element that is no network");
            std::fs::write(&file, tree.text("/etc/nftables.conf").unwrap()).unwrap();
            let check = run(Command::new(&nft).arg("-c").arg("-f").arg(&file));
            prop_assert!(check.status.success(), "nft -c: {}", stderr(&check));
            let list = format!(
                "{nft} -f {f} && {nft} -j list set inet lpbake ssh_v4 && echo && {nft} -j list set inet lpbake ssh_v6",
                nft = nft.display(),
                f = file.display()
            );
            let loaded = run(Command::new(&unshare).args(["-n", "sh", "-c", &list]));
            prop_assert!(loaded.status.success(), "nft in a network namespace: {}", stderr(&loaded));
            let text = stdout(&loaded);
            let (v4, v6) = text.split_once("\n\n").unwrap();
            let mut got = nft_spans(&serde_json::from_str(v4).unwrap(), false);
            got.extend(nft_spans(&serde_json::from_str(v6).unwrap(), true));
            let want: Vec<Span> = parsed.iter().flatten().map(spans_of).collect();
            prop_assert_eq!(merged(got), merged(want));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

// --- chrony -------------------------------------------------------------------------------------

#[test]
fn generated_chrony_servers_are_refused_or_read_back_by_chronyd() {
    let chronyd = common::tool("chronyd");
    let base = repo_node();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chrony.conf");
    let name = prop_oneof![3 => "[a-z0-9.-]{1,20}", 3 => text(20), 1 => "[a-z]{250,260}"];
    runner(64)
        .run(&proptest::collection::vec(name, 1..4), |servers| {
            let mut n = base.clone();
            n.chrony.servers = servers.clone();
            let refused = servers
                .iter()
                .any(|s| s.is_empty() || s.len() > 255 || s.contains(|c: char| c.is_whitespace() || c.is_control()));
            let tree = match render::files(&n) {
                Err(e) => {
                    prop_assert!(refused, "refused a server name chrony can hold: {e}");
                    prop_assert!(e.to_string().contains("/etc/chrony/chrony.conf") && e.to_string().contains("fix:"));
                    return Ok(());
                }
                Ok(t) => t,
            };
            prop_assert!(!refused, "wrote a server name chrony cannot hold");
            let text = tree.text("/etc/chrony/chrony.conf").unwrap();
            std::fs::write(&file, text).unwrap();
            let out = run(Command::new(&chronyd).arg("-p").arg("-f").arg(&file));
            prop_assert!(out.status.success(), "chronyd -p: {}", stderr(&out));
            let want: Vec<&str> = text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
            let printed = stdout(&out);
            prop_assert_eq!(printed.lines().collect::<Vec<_>>(), want.clone());
            let servers: Vec<String> = servers.iter().map(|s| format!("server {s} iburst")).collect();
            prop_assert_eq!(&want[..servers.len()], &servers[..]);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

// --- fstab, sysusers ----------------------------------------------------------------------------

#[test]
fn generated_volumes_are_refused_or_read_back_by_libmount() {
    let findmnt = common::tool("findmnt");
    let base = repo_node();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fstab");
    let field = |s: &str| s.is_empty() || has_control(s) || s.starts_with('#');
    runner(128)
        .run(&(text(16), text(16)), |(label, mount)| {
            let mut n = base.clone();
            let options = vec!["nofail".to_string(), "noatime".to_string()];
            n.volumes = BTreeMap::from([(mount.clone(), Volume { label: label.clone(), options })]);
            let refused = field(&mount) || has_control(&label);
            let tree = match render::files(&n) {
                Err(e) => {
                    prop_assert!(refused, "refused a volume fstab can hold: {e}");
                    prop_assert!(e.to_string().contains("/etc/fstab") && e.to_string().contains("fix:"));
                    return Ok(());
                }
                Ok(t) => t,
            };
            prop_assert!(!refused, "wrote a field fstab cannot hold");
            std::fs::write(&file, tree.text("/etc/fstab").unwrap()).unwrap();
            let out = run(Command::new(&findmnt)
                .args(["--fstab", "-J", "-o", "SOURCE,TARGET,FSTYPE,OPTIONS", "--tab-file"])
                .arg(&file));
            prop_assert!(out.status.success(), "findmnt: {}", stderr(&out));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let fs = v["filesystems"].as_array().unwrap();
            prop_assert_eq!(fs.len(), 2, "{}", v);
            prop_assert_eq!(&fs[1]["source"], &serde_json::json!(format!("LABEL={label}")));
            prop_assert_eq!(&fs[1]["target"], &serde_json::json!(mount));
            prop_assert_eq!(&fs[1]["options"], &serde_json::json!("nofail,noatime"));
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn generated_user_descriptions_are_refused_or_read_back_by_sysusers() {
    let sysusers = common::tool("systemd-sysusers");
    let base = repo_node();
    runner(48)
        .run(&text(16), |description| {
            let mut n = base.clone();
            n.users.get_mut("livepeer").unwrap().description = description.clone();
            let refused =
                description.is_empty() || description == "-" || has_control(&description) || description.contains(':');
            let tree = match render::files(&n) {
                Err(e) => {
                    prop_assert!(refused, "refused a description sysusers can hold: {e}");
                    prop_assert!(e.to_string().contains("/usr/lib/sysusers.d/lpbake.conf"), "{e}");
                    return Ok(());
                }
                Ok(t) => t,
            };
            prop_assert!(!refused, "wrote a description sysusers cannot hold");
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            std::fs::create_dir_all(root.join("etc")).unwrap();
            std::fs::create_dir_all(root.join("usr/lib/sysusers.d")).unwrap();
            std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
            std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
            let conf = tree.text("/usr/lib/sysusers.d/lpbake.conf").unwrap();
            std::fs::write(root.join("usr/lib/sysusers.d/lpbake.conf"), conf).unwrap();
            let out = run(Command::new(&sysusers).arg(format!("--root={}", root.display())));
            prop_assert!(
                out.status.success() && !stderr(&out).contains("lpbake.conf"),
                "systemd-sysusers: {}",
                stderr(&out)
            );
            let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
            let want = format!("livepeer:x:935:935:{description}:/var/lib/livepeer/data:/usr/sbin/nologin\n");
            prop_assert!(passwd.contains(&want), "{}", passwd);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// The example of the issue for every file the renderer writes a value into: a newline that
/// would start a directive of its own is refused, naming the file.
#[test]
fn a_newline_never_starts_a_directive_in_a_rendered_file() {
    let evil = "x\nExecStartPost=/bin/sh -c 'touch /pwned'";
    type Edit = Box<dyn Fn(&mut Node)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "/etc/systemd/system/livepeer.service",
            Box::new(|n| n.services.get_mut(UNIT).unwrap().description = evil.into()),
        ),
        (
            "/etc/systemd/system/livepeer.service",
            Box::new(|n| {
                let u = n.services.get_mut(UNIT).unwrap();
                u.settings.insert("TimeoutStopSec".into(), vec!["30\\".to_string()]);
            }),
        ),
        ("/etc/chrony/chrony.conf", Box::new(|n| n.chrony.servers = vec!["a\nlogdir /tmp".into()])),
        ("/etc/fstab", Box::new(|n| n.volumes.values_mut().next().unwrap().label = "a\nLABEL=b / ext4".into())),
        (
            "/etc/sysctl.d/60-lpbake.conf",
            Box::new(|n| {
                n.sysctl.insert("a".into(), "1\nkernel.x = 1".into());
            }),
        ),
        (
            "/etc/systemd/journald.conf.d/60-lpbake.conf",
            Box::new(|n| {
                n.journald.insert("Storage".into(), "x\nForwardToWall=yes".into());
            }),
        ),
        ("/etc/security/limits.d/lpbake.conf", Box::new(|n| n.login_limits[0].value = "1\n* hard nofile 1".into())),
        (
            "/usr/lib/sysusers.d/lpbake.conf",
            Box::new(|n| n.users.get_mut("livepeer").unwrap().description = evil.into()),
        ),
        (
            "/etc/nftables.conf",
            Box::new(|n| {
                n.firewall.ssh_allow.insert("0.0.0.0/0 }\n\t\ttcp dport 7935 accept #".into());
            }),
        ),
    ];
    for (file, edit) in cases {
        let mut n = repo_node();
        edit(&mut n);
        let err = render::files(&n).err().unwrap_or_else(|| panic!("{file}: the value was written"));
        let msg = err.to_string();
        assert!(msg.contains(file) && msg.contains("fix:") && !msg.contains("touch"), "{file}: {msg}");
    }
}

#[test]
fn overlapping_ssh_networks_still_give_a_ruleset_nft_loads() {
    let nft = common::tool("nft");
    let mut n = repo_node();
    n.firewall.ssh_allow = ["10.0.0.0/8", "10.1.0.0/16", "2001:db8::/32", "2001:db8:1::/48"].map(String::from).into();
    let dir = tempfile::tempdir().unwrap();
    let file: PathBuf = dir.path().join("nftables.conf");
    std::fs::write(&file, render::files(&n).unwrap().text("/etc/nftables.conf").unwrap()).unwrap();
    let out = run(Command::new(&nft).arg("-c").arg("-f").arg(&file));
    assert!(out.status.success(), "nft -c: {}", stderr(&out));
}
