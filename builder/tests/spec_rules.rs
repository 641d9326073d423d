//! The spec reader under hostile input: credentials in source URLs, unbounded or special files
//! named `*.toml`, file names that would become paths outside the output, runtime config that
//! exposes the livepeer CLI API or carries a secret, member paths outside the archive, ids out
//! of range or in root's group. Each is refused at read time with an error naming the file,
//! line and key, and the fix; generated spec files (`generated`) check the class.

use std::path::Path;

const TOOL: &str = r#"[component]
version = "1"
license = "MIT"
[component.source]
url = "https://example.org/tool.tar.gz"
[[component.install]]
from = "tool/bin/tool"
to = "/usr/local/bin/tool"
mode = 0o755
[image]
base = "scratch"
components = ["tool"]
user = "65532:65532"
entrypoint = ["/usr/local/bin/tool"]
cmd = ["-network", "offchain"]
ports = ["8935/tcp"]
[image.env]
HOME = "/var/lib/tool"
"#;

/// The error of loading a spec directory holding `files`, or the empty string if it loads.
fn load_err(files: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    load_dir(dir.path())
}

fn load_dir(dir: &Path) -> String {
    match lpbake::spec::load(dir) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

/// `TOOL` with `from` replaced by `to`, which must occur.
fn tool_with(from: &str, to: &str) -> String {
    assert!(TOOL.contains(from), "{from}");
    TOOL.replacen(from, to, 1)
}

#[test]
fn the_base_spec_loads() {
    assert_eq!(load_err(&[("tool.toml", TOOL)]), "");
}

#[test]
fn credentials_in_source_urls_are_refused() {
    for (line, from, to) in [
        (5, "https://example.org/tool.tar.gz", "https://user:token@example.org/tool.tar.gz"),
        (5, "https://example.org/tool.tar.gz", "https://example.org/tool.tar.gz?access_token=ghp_abc"),
        (5, "https://example.org/tool.tar.gz", "https://example.org/tool.tar.gz?X-Amz-Signature=abc"),
        (
            6,
            "url = \"https://example.org/tool.tar.gz\"",
            "url = \"https://example.org/tool.tar.gz\"\nchecksums = \"https://bot:pw@example.org/sums.txt\"",
        ),
    ] {
        let err = load_err(&[("tool.toml", &tool_with(from, to))]);
        assert!(err.contains(&format!("tool.toml:{line}")), "{to}: {err}");
        assert!(err.contains("component.source.") && err.contains("credential"), "{to}: {err}");
        assert!(err.contains("fix:"), "{err}");
        assert!(
            !err.contains("ghp_abc") && !err.contains(":pw@") && !err.contains(":token@"),
            "secret repeated: {err}"
        );
    }
}

#[test]
fn plain_http_to_a_remote_host_is_refused_at_read_time() {
    for url in ["http://example.org/tool.tar.gz", "http://127.0.0.1.example/tool.tar.gz"] {
        let err = load_err(&[("tool.toml", &tool_with("https://example.org/tool.tar.gz", url))]);
        assert!(err.contains("tool.toml:5") && err.contains("plain http"), "{url}: {err}");
    }
    let ok = tool_with("https://example.org/tool.tar.gz", "http://127.0.0.1:8080/tool.tar.gz");
    assert_eq!(load_err(&[("tool.toml", &ok)]), "");
}

/// Runs `f` on another thread and fails if it has not returned within 10 s (a FIFO read hangs).
fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(std::time::Duration::from_secs(10)).expect("the spec read did not return within 10 s")
}

#[test]
fn special_files_named_toml_are_refused_without_reading() {
    // A link to /dev/zero: an endless read.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tool.toml"), TOOL).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.toml")).unwrap();
    let path = dir.path().to_path_buf();
    let err = within_10s(move || load_dir(&path));
    assert!(err.contains("zero.toml") && err.contains("not a regular file") && err.contains("fix:"), "{err}");

    // A FIFO: opening it waits for a writer.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tool.toml"), TOOL).unwrap();
    let fifo = dir.path().join("pipe.toml");
    let status = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo (coreutils) runs");
    assert!(status.success());
    let path = dir.path().to_path_buf();
    let err = within_10s(move || load_dir(&path));
    assert!(err.contains("pipe.toml") && err.contains("not a regular file"), "{err}");
}

#[test]
fn oversized_spec_files_are_refused() {
    let big = format!("{TOOL}\n# {}\n", "x".repeat(2 << 20));
    let err = load_err(&[("tool.toml", &big)]);
    assert!(err.contains("tool.toml") && err.contains("larger than") && err.contains("fix:"), "{err}");
}

#[test]
fn names_that_would_escape_the_output_are_refused() {
    for name in ["...toml", "a..b.toml", "Tool.toml", "-x.toml", "a b.toml"] {
        let err = load_err(&[("tool.toml", TOOL), (name, "")]);
        let stem = name.trim_end_matches(".toml");
        assert!(err.contains(&format!("`{stem}` is not a valid image or component name")), "{name}: {err}");
        assert!(err.contains("rename the file"), "{name}: {err}");
    }
}

#[test]
fn the_livepeer_cli_port_is_never_exposed() {
    for (line, from, to) in [
        (16, "ports = [\"8935/tcp\"]", "ports = [\"8935/tcp\", \"7935/tcp\"]"),
        (16, "ports = [\"8935/tcp\"]", "ports = [\"7935/udp\"]"),
        (
            15,
            "cmd = [\"-network\", \"offchain\"]",
            "cmd = [\"-network\", \"offchain\", \"-cliAddr\", \"0.0.0.0:7935\"]",
        ),
        (15, "cmd = [\"-network\", \"offchain\"]", "cmd = [\"-cliAddr=:7935\"]"),
        (18, "HOME = \"/var/lib/tool\"", "LP_CLIADDR = \"0.0.0.0:7935\""),
        (
            16,
            "cmd = [\"-network\", \"offchain\"]\nports = [\"8935/tcp\"]",
            "cmd = [\"-cliAddr\", \"127.0.0.1:9000\"]\nports = [\"9000/tcp\"]",
        ),
    ] {
        let err = load_err(&[("tool.toml", &tool_with(from, to))]);
        assert!(err.contains(&format!("tool.toml:{line}")), "{to}: {err}");
        assert!(err.contains("CLI API") && err.contains("fix:"), "{to}: {err}");
    }
    let ok = tool_with("cmd = [\"-network\", \"offchain\"]", "cmd = [\"-cliAddr\", \"127.0.0.1:7935\"]");
    assert_eq!(load_err(&[("tool.toml", &ok)]), "");
}

#[test]
fn secrets_in_env_and_argv_are_refused() {
    for (line, from, to) in [
        (18, "HOME = \"/var/lib/tool\"", "ETH_PASSWORD = \"hunter2\""),
        (18, "HOME = \"/var/lib/tool\"", "LP_ETHPASSWORD = \"hunter2\""),
        (18, "HOME = \"/var/lib/tool\"", "RPC_API_TOKEN = \"hunter2\""),
        (15, "cmd = [\"-network\", \"offchain\"]", "cmd = [\"-ethPassword\", \"hunter2\"]"),
        (15, "cmd = [\"-network\", \"offchain\"]", "cmd = [\"-orchSecret=hunter2\"]"),
        (
            14,
            "entrypoint = [\"/usr/local/bin/tool\"]",
            "entrypoint = [\"/usr/local/bin/tool\", \"-ethPassword\", \"hunter2\"]",
        ),
    ] {
        let err = load_err(&[("tool.toml", &tool_with(from, to))]);
        assert!(err.contains(&format!("tool.toml:{line}")), "{to}: {err}");
        assert!(err.contains("credential file") || err.contains("image.credentials"), "{to}: {err}");
        assert!(!err.contains("hunter2"), "the refusal must not repeat the secret: {err}");
    }
    let ok = tool_with(
        "cmd = [\"-network\", \"offchain\"]",
        "cmd = [\"-ethPassword\", \"/run/credentials/tool.service/eth-password\", \"-orchSecret\", \"/run/secrets/orch-secret\"]",
    );
    assert_eq!(load_err(&[("tool.toml", &ok)]), "");
}

/// The spec of a spec directory holding only `tool.toml` = `text`.
fn load_tool(text: &str) -> lpbake::Result<lpbake::spec::Spec> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tool.toml"), text).unwrap();
    lpbake::spec::load(dir.path())
}

#[test]
fn from_is_normalized_as_archive_members_are() {
    // `x/./y` names the member `x/y`: the unpack normalizes every entry the same way.
    for spelling in ["x/./y", "./x//y", "x/y/"] {
        let spec = load_tool(&tool_with("tool/bin/tool", spelling)).unwrap();
        assert_eq!(spec.components["tool"].install[0].from.as_deref(), Some("x/y"), "{spelling}");
    }
}

#[test]
fn from_outside_the_archive_or_naming_its_root_is_refused() {
    for (from, what) in [("./", "archive root"), (".", "archive root"), ("/x/y", "absolute"), ("x/../../y", "`..`")] {
        let err = load_err(&[("tool.toml", &tool_with("tool/bin/tool", from))]);
        assert!(err.contains("tool.toml:7: component.install.from:") && err.contains(what), "{from}: {err}");
        assert!(err.contains("fix:"), "{err}");
    }
}

#[test]
fn a_user_in_root_group_is_refused() {
    let err = load_err(&[("tool.toml", &tool_with("65532:65532", "65532:0"))]);
    assert!(err.contains("tool.toml:13: image.user:") && err.contains("group 0"), "{err}");
    assert!(err.contains("fix:"), "{err}");
}

#[test]
fn ids_65535_and_above_are_refused() {
    for user in ["65535:65535", "65532:65535", "4294967295:1", "65536:65536"] {
        let err = load_err(&[("tool.toml", &tool_with("65532:65532", user))]);
        assert!(err.contains("tool.toml:13: image.user:") && err.contains("out of range"), "{user}: {err}");
    }
    let owner = tool_with("mode = 0o755", "mode = 0o755\nowner = \"0:65535\"");
    let err = load_err(&[("tool.toml", &owner)]);
    assert!(err.contains("tool.toml:10: component.install.owner:") && err.contains("out of range"), "{err}");
    let ok = tool_with("mode = 0o755", "mode = 0o755\nowner = \"65534:0\"");
    assert_eq!(load_err(&[("tool.toml", &ok)]), "");
}

#[test]
fn replace_is_off_unless_the_spec_says_so() {
    let spec = load_tool(TOOL).unwrap();
    assert!(!spec.components["tool"].install[0].replace);
    let spec = load_tool(&tool_with("mode = 0o755", "mode = 0o755\nreplace = true")).unwrap();
    assert!(spec.components["tool"].install[0].replace);
}

/// Generated spec files: every one either loads into a spec that obeys the rules of ids, paths
/// and modes, or is refused with an error naming the file, the line of the key at fault, the key
/// and the fix.
mod generated {
    use proptest::prelude::*;

    /// One `[[component.install]]`, as written.
    #[derive(Debug, Clone)]
    struct Install {
        from: Option<String>,
        to: String,
        mode: Option<u32>,
        owner: Option<String>,
        replace: Option<bool>,
    }

    #[derive(Debug, Clone)]
    struct File {
        name: String,
        plain_file: bool,
        installs: Vec<Install>,
        user: String,
    }

    /// Mostly ids in range, sometimes 0, out of range or not ids at all.
    fn ids() -> impl Strategy<Value = String> {
        let id = prop_oneof![
            6 => prop::sample::select(vec!["1", "1000", "65532", "65534"]),
            2 => Just("0"),
            2 => prop::sample::select(vec!["65535", "65536", "4294967295", "4294967296"]),
            1 => prop::sample::select(vec!["x", "", "+1", "-1", " 1"]),
        ];
        prop_oneof![
            12 => (id.clone(), id).prop_map(|(u, g)| format!("{u}:{g}")),
            1 => prop::sample::select(vec!["1000", "1:1:1"]).prop_map(String::from),
        ]
    }

    /// A member path: mostly plain names, sometimes `.`, `..` or empty components, `./` or `/`
    /// before it, `/` after it.
    fn member() -> impl Strategy<Value = String> {
        let prefix = prop::sample::select(vec!["", "", "", "", "./", "./", "/"]);
        let part =
            prop_oneof![16 => prop::sample::select(vec!["a", "b"]), 1 => prop::sample::select(vec![".", "..", ""])];
        let suffix = prop::sample::select(vec!["", "", "/"]);
        (prefix, prop::collection::vec(part, 1..4), suffix).prop_map(|(p, c, s)| format!("{p}{}{s}", c.join("/")))
    }

    fn install() -> impl Strategy<Value = Install> {
        let to = prop_oneof![
            6 => prop::sample::select(vec!["/usr/local/bin/tool", "/usr/local/bin/tool2", "/etc/passwd", "/opt/t"]),
            1 => prop::sample::select(vec!["/usr/local/bin/", "usr/bin/tool", "/usr/./bin/tool", "/usr//bin/tool", "/"]),
        ];
        let mode = prop::option::of(prop_oneof![
            6 => prop::sample::select(vec![0o755u32, 0o644, 0o4755, 0o7777]),
            1 => prop::sample::select(vec![0o10000u32, 0o100755]),
        ]);
        (prop::option::weighted(0.95, member()), to, mode, prop::option::of(ids()), prop::option::of(any::<bool>()))
            .prop_map(|(from, to, mode, owner, replace)| Install { from, to: to.into(), mode, owner, replace })
    }

    fn spec_file() -> impl Strategy<Value = File> {
        let name = prop_oneof![
            8 => prop::sample::select(vec!["tool", "go-livepeer", "t.1"]),
            1 => prop::sample::select(vec!["Tool", "a..b", "-x"]),
        ];
        (name, prop::bool::weighted(0.1), prop::collection::vec(install(), 1..3), ids())
            .prop_map(|(name, plain_file, installs, user)| File { name: name.into(), plain_file, installs, user })
    }

    impl File {
        fn text(&self) -> String {
            let mut t = String::from("[component]\nversion = \"1\"\nlicense = \"MIT\"\n[component.source]\n");
            t += "url = \"https://example.org/tool.tar.gz\"\n";
            if self.plain_file {
                t += "format = \"file\"\n";
            }
            for i in &self.installs {
                t += "[[component.install]]\n";
                if let Some(from) = &i.from {
                    t += &format!("from = \"{from}\"\n");
                }
                t += &format!("to = \"{}\"\n", i.to);
                if let Some(mode) = i.mode {
                    t += &format!("mode = 0o{mode:o}\n");
                }
                if let Some(owner) = &i.owner {
                    t += &format!("owner = \"{owner}\"\n");
                }
                if let Some(replace) = i.replace {
                    t += &format!("replace = {replace}\n");
                }
            }
            t += &format!("[image]\nbase = \"scratch\"\ncomponents = [\"{}\"]\nuser = \"{}\"\n", self.name, self.user);
            t
        }
    }

    /// `uid:gid` both in 0..=65534.
    fn in_range(uid: u32, gid: u32) -> bool {
        uid <= 65534 && gid <= 65534
    }

    /// An absolute path with no empty, `.` or `..` component.
    fn normalized_abs(p: &str) -> bool {
        p.strip_prefix('/').is_some_and(|r| !r.is_empty() && r.split('/').all(|c| !matches!(c, "" | "." | "..")))
    }

    /// A relative path with no empty, `.` or `..` component.
    fn normalized_member(p: &str) -> bool {
        !p.is_empty() && p.split('/').all(|c| !matches!(c, "" | "." | ".."))
    }

    /// The refusal of `text` (in file `name`.toml) names the file; unless it is about the
    /// file's name, the line of the key it names, which that line holds; and the fix.
    fn check_refusal(name: &str, text: &str, err: &str) -> Result<(), TestCaseError> {
        let file = format!("{name}.toml");
        prop_assert!(err.contains(&file) && err.contains("\n  fix: "), "{err}");
        if err.contains("is not a valid image or component name") {
            return Ok(());
        }
        let after = &err[err.find(&format!("{file}:")).expect("file:line") + file.len() + 1..];
        let (line, rest) = after.split_once(": ").expect("file:line: key");
        let line: usize = line.parse().map_err(|_| TestCaseError::fail(format!("no line: {err}")))?;
        let key = rest.split([':', ' ']).next().unwrap_or_default();
        prop_assert!(key.starts_with("component.") || key.starts_with("image."), "no key: {err}");
        let written = text.lines().nth(line - 1).unwrap_or_default();
        let field = key.rsplit('.').next().unwrap_or_default();
        // A refusal of a whole install (`from` missing) is placed at its `to`.
        let holds =
            written.starts_with(&format!("{field} =")) || (key == "component.install" && written.starts_with("to ="));
        prop_assert!(holds, "line {line} is `{written}`, not the key of: {err}");
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn generated_specs_load_by_the_rules_or_are_refused_with_file_line_key_and_fix(f in spec_file()) {
            let text = f.text();
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(format!("{}.toml", f.name)), &text).unwrap();
            let spec = match lpbake::spec::load(dir.path()) {
                Err(e) => return check_refusal(&f.name, &text, &e.to_string()),
                Ok(spec) => spec,
            };
            let comp = &spec.components[&f.name];
            prop_assert_eq!(comp.install.len(), f.installs.len());
            for (got, written) in comp.install.iter().zip(&f.installs) {
                prop_assert!(normalized_abs(&got.to), "{}", got.to);
                match &got.from {
                    Some(from) => prop_assert!(!f.plain_file && normalized_member(from), "{from}"),
                    None => prop_assert!(f.plain_file),
                }
                prop_assert!(got.mode.is_none_or(|m| m <= 0o7777), "{:?}", got.mode);
                prop_assert!(in_range(got.uid, got.gid), "{}:{}", got.uid, got.gid);
                prop_assert_eq!(got.replace, written.replace.unwrap_or(false));
            }
            let user = spec.images[&f.name].service.user;
            prop_assert!(in_range(user.uid, user.gid) && user.uid >= 1 && user.gid >= 1, "{user:?}");
        }
    }
}
