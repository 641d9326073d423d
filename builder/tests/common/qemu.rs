//! Booting a disk image under qemu for the VM test and the boot bench: TCG, OVMF, the root disk
//! on NVMe (as on EC2), extra volumes, the guest network `restrict=on` (it reaches nothing but
//! the port forwards to host loopback), a probe's report on the second serial port, and ACPI
//! power-off through QMP. [`probe_disk`] makes a test's own disk: a product `rootfs.tar` plus a
//! probe, written by lpbake's disk writer; a product image never holds a probe.

use super::tools::tool;
use lpbake::digest::Digest;
use lpbake::stage::{Content, Entry, Tree};
use lpbake::store::BlobStore;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Longest wait for a VM's probe to finish (TCG on two loaded cores is slow).
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(900);

/// The guest ports forwarded to host loopback by [`boot`].
pub const GUEST_PORTS: [u16; 4] = [8935, 7935, 7936, 7937];

/// Writes a disk into `out` (disk.raw, ...) from a root filesystem tarball `rootfs` plus `probe` (a
/// script run once at boot by a unit of its own) and `extra` files (path, contents; 0644, root's);
/// `store` holds the unpacked files.
pub fn probe_disk(
    rootfs: &Path,
    format: lpbake::unpack::Format,
    probe: &[u8],
    extra: &[(&str, &[u8])],
    store: &Path,
    out: &Path,
) {
    let store = BlobStore::create(store).unwrap();
    let sha = Digest::of_file(rootfs).unwrap();
    let members = lpbake::unpack::unpack_tree(
        rootfs,
        sha,
        &rootfs.display().to_string(),
        format,
        &lpbake::unpack::Limits::default(),
        &lpbake::unpack::Specials { under: vec!["dev".into()] },
        &store,
        BTreeMap::new(),
    )
    .unwrap();
    let mut tree = Tree::default();
    for m in members.values() {
        tree.add(&m.path, Entry::new(m.mode, m.uid, m.gid, Content::of(&m.kind)));
    }
    tree.add("/usr/local/libexec/lpbake-probe", Entry::generated(&store, probe, 0o755, 0, 0).unwrap());
    for (path, bytes) in extra {
        tree.add(path, Entry::generated(&store, bytes, 0o644, 0, 0).unwrap());
    }
    let unit = "[Unit]\nDescription=lpbake test probe (test disks only)\nAfter=livepeer.service lpwatch.service chrony.service\n\n[Service]\nType=simple\nExecStart=/usr/local/libexec/lpbake-probe\n\n[Install]\nWantedBy=multi-user.target\n";
    let unit_path = "/etc/systemd/system/lpbake-probe.service";
    tree.add(unit_path, Entry::generated(&store, unit.as_bytes(), 0o644, 0, 0).unwrap());
    tree.add(
        "/etc/systemd/system/multi-user.target.wants/lpbake-probe.service",
        Entry::new(0o777, 0, 0, Content::Symlink { target: unit_path.into() }),
    );
    let input = lpbake::disk::DiskInput {
        tree: &tree,
        store: &store,
        epoch: 1_700_000_000,
        seed: Digest::of(b"lpbake test disk"),
        root_size: None,
        name: "lpbake-test-disk".into(),
        base: rootfs.display().to_string(),
        tools: &lpbake::disk::Tools::detect().unwrap(),
    };
    std::fs::create_dir_all(out).unwrap();
    let quiet = lpbake::report::Reporter::new(lpbake::report::Mode::Quiet);
    lpbake::disk::write(&input, out, &quiet).unwrap();
}

/// A labelled ext4 volume made from `dir` (or empty).
pub fn volume(path: &Path, label: &str, dir: Option<&Path>, size: &str) {
    let mut c = Command::new(tool("mke2fs"));
    c.args(["-q", "-F", "-t", "ext4", "-L", label]);
    if let Some(d) = dir {
        c.arg("-d").arg(d);
    }
    let o = c.arg(path).arg(size).output().unwrap();
    succeeded(&o);
}

/// The data volume as an operator prepares it: the ETH password under credentials/ (root, 0700/0600).
pub fn data_volume(path: &Path, password: &str) {
    let src = tempfile::tempdir().unwrap();
    let creds = src.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("eth-password"), password).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::set_permissions(creds.join("eth-password"), std::fs::Permissions::from_mode(0o600)).unwrap();
    volume(path, "lp-data", Some(src.path()), "256M");
}

#[path = "../../../tests/support/free_port.rs"]
mod free_port;
use free_port::free_port;

/// What a VM's probe reported, and what the outside checks saw.
pub struct Run {
    pub facts: BTreeMap<String, String>,
    pub texts: BTreeMap<String, Vec<String>>,
    /// Forwarded host port of each guest port.
    pub answers: BTreeMap<u16, bool>,
    pub console: String,
    /// From qemu's start to the first report line starting with each key given to [`boot`]'s `marks`.
    pub marks: BTreeMap<String, Duration>,
}

impl Run {
    pub fn fact(&self, name: &str) -> &str {
        self.facts.get(name).map(String::as_str).unwrap_or_else(|| panic!("no fact {name}; console:\n{}", self.tail()))
    }
    pub fn text(&self, name: &str) -> String {
        self.texts.get(name).map(|l| l.join("\n")).unwrap_or_default()
    }
    pub fn tail(&self) -> String {
        let lines: Vec<&str> = self.console.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

/// Boots `root` (NVMe) with the optional data volume and the geth volume, waits for the probe's
/// DONE, probes the forwarded guest ports from host loopback, then powers the VM off.
pub fn boot(name: &str, root: &Path, data: Option<&Path>, geth: &Path) -> Run {
    let dir = root.parent().unwrap().join(format!("run-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let vars = dir.join("OVMF_VARS.fd");
    std::fs::copy(ovmf("OVMF_VARS_4M.fd"), &vars).unwrap();
    let (report, console, qmp) = (dir.join("report.log"), dir.join("console.log"), dir.join("qmp.sock"));
    let fwd: Vec<(u16, u16)> = GUEST_PORTS.iter().map(|&g| (free_port(), g)).collect();
    let hostfwd: String = fwd.iter().map(|(h, g)| format!(",hostfwd=tcp:127.0.0.1:{h}-:{g}")).collect();
    let mut c = Command::new(tool("qemu-system-x86_64"));
    c.args(["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "2048", "-nographic"]);
    c.args(["-no-reboot", "-monitor", "none", "-display", "none"]);
    c.arg("-drive").arg(format!("if=pflash,format=raw,unit=0,readonly=on,file={}", ovmf("OVMF_CODE_4M.fd").display()));
    c.arg("-drive").arg(format!("if=pflash,format=raw,unit=1,file={}", vars.display()));
    c.arg("-drive").arg(format!("if=none,id=root,format=raw,file={}", root.display()));
    c.args(["-device", "nvme,drive=root,serial=lpbake-root,bootindex=0"]);
    let mut extra = vec![("geth", geth)];
    if let Some(d) = data {
        extra.push(("data", d));
    }
    for (id, path) in extra {
        c.arg("-drive").arg(format!("if=none,id={id},format=raw,file={}", path.display()));
        c.arg("-device").arg(format!("nvme,drive={id},serial=lpbake-{id}"));
    }
    c.arg("-netdev").arg(format!("user,id=n0,restrict=on{hostfwd}"));
    c.args(["-device", "virtio-net-pci,netdev=n0"]);
    c.arg("-serial").arg(format!("file:{}", console.display()));
    c.arg("-serial").arg(format!("file:{}", report.display()));
    c.arg("-qmp").arg(format!("unix:{},server=on,wait=off", qmp.display()));
    let child = c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let mut vm = Vm { child, qmp, report: report.clone() };

    let start = Instant::now();
    let mut marks = BTreeMap::new();
    let done = loop {
        let text = std::fs::read_to_string(&report).unwrap_or_default();
        for line in text.lines().map(report_line) {
            if let Some(name) = line.strip_prefix("FACT ").and_then(|l| l.split(' ').next()) {
                marks.entry(name.to_string()).or_insert_with(|| start.elapsed());
            }
        }
        if text.lines().any(|l| report_line(l) == "DONE") {
            break text;
        }
        if let Ok(Some(status)) = vm.child.try_wait() {
            panic!("qemu exited ({status}) before the probe finished; console:\n{}", read_tail(&console));
        }
        assert!(
            start.elapsed() < BOOT_TIMEOUT,
            "no DONE from the probe within {BOOT_TIMEOUT:?}; console:\n{}",
            read_tail(&console)
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let done_after = start.elapsed();
    let answers = fwd.iter().map(|&(h, g)| (g, answers_http(h))).collect();
    vm.power_off();
    let mut run = Run { facts: BTreeMap::new(), texts: BTreeMap::new(), answers, console: read_tail(&console), marks };
    for line in done.lines().map(report_line) {
        if let Some(rest) = line.strip_prefix("FACT ") {
            let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
            run.facts.insert(k.into(), v.into());
        } else if let Some(rest) = line.strip_prefix("TEXT ") {
            let (k, v) = rest.split_once(' ').unwrap_or((rest, ""));
            run.texts.entry(k.into()).or_default().push(v.into());
        }
    }
    eprintln!("vm {name}: probe done after {:.0} s; facts: {:?}", done_after.as_secs_f64(), run.facts);
    run
}

/// A line of the report without what the firmware and the boot loader wrote before it on the
/// same port (escape sequences, a banner).
fn report_line(line: &str) -> &str {
    ["FACT ", "TEXT ", "DONE"].iter().filter_map(|k| line.find(k)).min().map_or(line, |at| &line[at..])
}

/// A running qemu; killed if the test ends without powering it off.
struct Vm {
    child: Child,
    qmp: PathBuf,
    /// The probe's report, which follows the guest's journal after DONE.
    report: PathBuf,
}

impl Vm {
    /// ACPI power-off through QMP (the guest shuts down and flushes its disks), waited for at
    /// most 120 s; then QMP `quit` (the plug pulled), which leaves the disks as they are.
    fn power_off(&mut self) {
        if !(self.qmp("system_powerdown") && self.exited_within(Duration::from_secs(120))) {
            eprintln!("the VM did not power off within 120 s: stopping it; its journal:\n{}", read_tail(&self.report));
            self.qmp("quit");
            if !self.exited_within(Duration::from_secs(30)) {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
    }

    /// Runs one QMP command: reads the greeting, negotiates, sends it, reads its answer.
    fn qmp(&self, command: &str) -> bool {
        use std::io::BufRead;
        let Ok(s) = std::os::unix::net::UnixStream::connect(&self.qmp) else { return false };
        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
        let mut r = std::io::BufReader::new(&s);
        let mut w = &s;
        let mut line = String::new();
        let mut answer = |r: &mut std::io::BufReader<&std::os::unix::net::UnixStream>| {
            line.clear();
            r.read_line(&mut line).is_ok() && !line.contains("\"error\"")
        };
        answer(&mut r)
            && w.write_all(b"{\"execute\":\"qmp_capabilities\"}\n").is_ok()
            && answer(&mut r)
            && w.write_all(format!("{{\"execute\":\"{command}\"}}\n").as_bytes()).is_ok()
            && (command == "quit" || answer(&mut r))
    }

    fn exited_within(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        false
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True if something answers an HTTP request on host port `port` (a forward to the guest):
/// any bytes back within 5 s. qemu accepts every forwarded connection itself, so a refused or
/// dropped guest port shows as a closed connection with no bytes, not as a refused connect.
fn answers_http(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(5)) else { return false };
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // A TLS ClientHello would be more polite to the TLS port; any bytes back is enough here, and
    // a TLS server answers a plain-text request with an alert or an HTTP 400.
    let _ = s.write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n");
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(n) if n > 0)
}

fn read_tail(path: &Path) -> String {
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).to_string();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(80)..].join("\n")
}

fn ovmf(name: &str) -> PathBuf {
    let p = Path::new("/usr/share/OVMF").join(name);
    assert!(p.is_file(), "{} is missing: run `make deps` (Debian package ovmf)", p.display());
    p
}

/// A sparse copy of `src` (the disk images are mostly holes).
pub fn copy_disk(src: &Path, dst: &Path) {
    succeeded(&Command::new("cp").arg("--sparse=always").arg(src).arg(dst).output().unwrap());
}

/// Panics with the command's output unless it succeeded.
fn succeeded(o: &std::process::Output) {
    assert!(o.status.success(), "command failed ({}): {}", o.status, String::from_utf8_lossy(&o.stderr));
}
