//! The `lpbake` command line: parses arguments, runs one command, and turns any error into one
//! clear message and a non-zero exit.

use clap::{Args, Parser, Subcommand};
use lpbake::build::{self, Options};
use lpbake::layer::Compression;
use lpbake::publish::layout::Layout;
use lpbake::publish::{daemon, registry};
use lpbake::report::{Mode, Reporter};
use std::path::PathBuf;
use std::process::ExitCode;

/// Bake reproducible Livepeer node artifacts from one declarative spec.
///
/// lpbake reads the component and image descriptions in images/*.toml, pins every input in
/// lpbake.lock (url + sha256 per file, digest per base image), and builds OCI images whose bytes
/// are the same on every machine and every run.
///
/// Typical use:
///   lpbake lock                       pin every input (commit lpbake.lock)
///   lpbake build --locked             build out/ from the pins, refusing to change them
///   lpbake build --offline --mirror M build with no network, inputs from mirror M
///   lpbake verify out                 rebuild and prove out/ matches the spec and lock
///   lpbake build --load               ...and load the images into the local Docker engine
///   lpbake push REGISTRY/prefix       publish them; only missing blobs are sent
#[derive(Parser)]
#[command(name = "lpbake", version, verbatim_doc_comment, max_term_width = 100)]
struct Cli {
    /// Print nothing but errors and warnings.
    #[arg(long, short, global = true, conflicts_with = "json")]
    quiet: bool,
    /// Print progress as JSON lines on stderr and the result as JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    /// Cache of downloads, unpacked files and layers [default: $XDG_CACHE_HOME/lpbake or ~/.cache/lpbake].
    #[arg(long, global = true, env = "LPBAKE_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// The Docker engine that `load` and `build --load` talk to.
    #[arg(long, global = true, env = "DOCKER_HOST", default_value = daemon::DEFAULT_HOST, value_name = "URL")]
    docker_host: String,
    /// Folder of the Docker client config.json that `push` takes credentials from [default: ~/.docker].
    #[arg(long, global = true, env = "DOCKER_CONFIG", value_name = "DIR")]
    docker_config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the images of the spec into --out (OCI layout, oci-archive, docker-archive, images.json).
    ///
    /// Output, under --out DIR: oci/<image>/ (OCI image layout), <image>.oci.tar,
    /// <image>.docker.tar (for `docker load`), <image>.spdx.json (SPDX 2.3 SBOM), images.json
    /// (manifest, config, layer and SBOM digests of each image), disk/ (the appliance), and
    /// contents.json (size and sha256 of every file lpbake wrote there).
    ///
    /// DIR may be missing, empty, or an earlier output: lpbake replaces only files its
    /// contents.json lists and refuses a DIR holding anything else. The new output is assembled
    /// beside DIR and swapped in whole: a failed or interrupted build leaves the previous output
    /// as it was. What is unchanged and intact (checked against contents.json) is carried over,
    /// layers are cached, and a rebuild with nothing changed writes nothing and says so.
    ///
    /// Missing pins are resolved and written to the lock (like cargo writes Cargo.lock) unless
    /// --locked is given. Timestamps come from SOURCE_DATE_EPOCH, else from the lock's epoch.
    #[command(verbatim_doc_comment)]
    Build(BuildArgs),
    /// Pin every input of the spec in the lock (missing pins only; --update re-resolves all).
    ///
    /// Sources with a `checksums` URL are pinned from that upstream file (e.g. livepeer's
    /// vX.Y.Z_checksums.txt); others by the sha256 of their download. Base images are pinned by
    /// the digest their tag points at now.
    Lock(LockArgs),
    /// Rebuild OUT from the spec and lock and prove every file in it is byte-for-byte identical.
    Verify(VerifyArgs),
    /// Load built images (OUT/<image>.docker.tar) into the Docker engine, tagged lpbake/<image>:<version> and :latest.
    ///
    /// Talks to the engine's API directly (no docker CLI needed); DOCKER_HOST is honoured.
    Load(LoadArgs),
    /// Push built images (and their SBOMs, as OCI referrers) to a registry: REGISTRY[/prefix].
    ///
    /// Images go to <REGISTRY>/<prefix>/<image>, tagged <version> and latest. Only blobs the
    /// registry lacks are sent, so a second push of the same images uploads nothing. Credentials
    /// come from the Docker config ($DOCKER_CONFIG/config.json or ~/.docker/config.json, including
    /// credential helpers).
    Push(PushArgs),
    /// Print the SPDX 2.3 SBOM of a built image (OUT/<image>.spdx.json, checked against images.json).
    Sbom(SbomArgs),
    /// Write the appliance's configuration tree into DIR, or print the node as JSON (--json).
    ///
    /// The tree is what the disk image gets on top of its base (from images/appliance.toml):
    /// systemd units for livepeer, lpwatch (and geth when enabled) with their enablement links,
    /// /etc/nftables.conf, chrony, limits.d, sysctl.d, journald.conf.d, /etc/fstab, sysusers.d,
    /// /etc/lpwatch/lpwatch.toml and the alert rules. DIR is replaced whole; it must be absent,
    /// empty, or a previous render.
    ///
    /// With --json, prints the node instead: for each service its argv, environment,
    /// credentials (names and /run/credentials/ paths, never values), limits, hardening
    /// directives, open ports and required mounts, plus the firewall, volumes, users, chrony,
    /// journald and sysctl settings and lpwatch's config. Keys are sorted and the same spec
    /// gives the same bytes: it is the parity input of the NixOS modules.
    ///
    /// With --compose, writes the local testnet instead: DIR/compose.yaml (orchestrator, a
    /// standalone transcoder, gateway, test stream, geth --dev, lpwatch beside each node,
    /// Prometheus, Alertmanager), DIR/compose.arbitrum.yaml (the arbitrum profile) and
    /// their config files in DIR/compose/, rendered from the same nodes. Only those files are
    /// replaced. The repository's own
    /// are `lpbake render --compose .`; `make up` runs them.
    #[command(verbatim_doc_comment)]
    Render(RenderArgs),
    /// Print the exact commands that turn a built disk (OUT/disk/) into an EC2 AMI.
    ///
    /// Two ways, with every value filled in from OUT/disk/image-info.json: `coldsnap upload` of
    /// disk.raw straight into an EBS snapshot, or `aws s3 cp` of disk.vhd and
    /// `aws ec2 import-snapshot`; then `aws ec2 register-image` with UEFI boot, ENA, NVMe and the
    /// root device. Nothing is run: read them, set the variables they name, and run them.
    AmiCommands(AmiArgs),
}

#[derive(Args)]
struct RenderArgs {
    /// Where to write the tree (not with --json).
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Write the compose testnet (compose.yaml, compose.arbitrum.yaml) into DIR instead.
    #[arg(long, conflicts_with = "json")]
    compose: bool,
    /// Folder of component and image descriptions (with appliance.toml).
    #[arg(long, default_value = "images", value_name = "DIR")]
    spec: PathBuf,
}

#[derive(Args)]
struct SbomArgs {
    /// The image, e.g. livepeer.
    image: String,
    /// Output folder of a previous `lpbake build`.
    #[arg(long, default_value = "out", value_name = "DIR")]
    out: PathBuf,
}

#[derive(Args)]
struct PushArgs {
    /// Where to: HOST[:PORT][/prefix], e.g. registry.example.org/livepeer or 127.0.0.1:5000/test.
    target: String,
    /// Images to push (default: every image in OUT/images.json).
    images: Vec<String>,
    /// Output folder of a previous `lpbake build`.
    #[arg(long, default_value = "out", value_name = "DIR")]
    out: PathBuf,
    /// Speak plain http: allowed only for 127.0.0.1, localhost and [::1].
    #[arg(long)]
    insecure: bool,
}

#[derive(Args)]
struct LoadArgs {
    /// Output folder of a previous `lpbake build`.
    #[arg(long, default_value = "out", value_name = "DIR")]
    out: PathBuf,
    /// Images to load (default: every image in OUT/images.json).
    images: Vec<String>,
}

#[derive(Args, Clone)]
struct Inputs {
    /// Folder of component and image descriptions.
    #[arg(long, default_value = "images", value_name = "DIR")]
    spec: PathBuf,
    /// The lock file with every pin.
    #[arg(long, default_value = "lpbake.lock", value_name = "FILE")]
    lock: PathBuf,
    /// Offline mirror: a folder with blobs/sha256/<hex> (an OCI layout works too).
    #[arg(long, value_name = "DIR")]
    mirror: Option<PathBuf>,
    /// Never touch the network: inputs come from the cache or --mirror only.
    #[arg(long)]
    offline: bool,
    /// Timestamp of every output, in seconds since 1970 [default: the lock's epoch].
    #[arg(long, env = "SOURCE_DATE_EPOCH", value_name = "SECONDS")]
    source_date_epoch: Option<u64>,
}

#[derive(Args)]
struct BuildArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// Output folder.
    #[arg(long, default_value = "out", value_name = "DIR")]
    out: PathBuf,
    /// Refuse to add or change pins: fail if the lock lacks one.
    #[arg(long)]
    locked: bool,
    /// Build only this image (repeatable); the output's other images are kept as they were.
    /// Default: every image of the spec.
    #[arg(long = "image", value_name = "NAME")]
    images: Vec<String>,
    /// Layer compression.
    #[arg(long, value_enum, default_value = "gzip")]
    compression: Compression,
    /// Then load the images into the Docker engine (see `lpbake load`).
    #[arg(long)]
    load: bool,
    /// What to build (repeatable, or comma-separated): `oci` (the images) and `disk` (the
    /// appliance: OUT/disk/rootfs.tar, disk.raw, disk.vhd, image-info.json). Default: the images,
    /// and the disk when the spec has an appliance.toml and no --image picks images. A target
    /// left out keeps its previous output as it was.
    #[arg(long = "target", value_enum, value_delimiter = ',', value_name = "TARGET")]
    targets: Vec<Target>,
}

/// A `--target` of `lpbake build`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Target {
    /// The OCI images.
    Oci,
    /// The appliance disk image.
    Disk,
}

#[derive(Args)]
struct AmiArgs {
    /// Output folder of a previous `lpbake build` with the disk target.
    #[arg(default_value = "out", value_name = "OUT")]
    out: PathBuf,
}

#[derive(Args)]
struct LockArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// Re-resolve every pin, not only missing ones.
    #[arg(long)]
    update: bool,
}

#[derive(Args)]
struct VerifyArgs {
    /// The build output to check.
    out: PathBuf,
    #[command(flatten)]
    inputs: Inputs,
    #[arg(long, value_enum, default_value = "gzip")]
    compression: Compression,
}

/// The user's home directory ("" when HOME is unset: paths under it are then relative).
fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
}

fn cache_dir(cli: &Option<PathBuf>) -> PathBuf {
    cli.clone()
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()).map(|d| PathBuf::from(d).join("lpbake"))
        })
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/lpbake")))
        .unwrap_or_else(|| PathBuf::from(".lpbake-cache"))
}

fn options(
    i: Inputs,
    cache: PathBuf,
    out: PathBuf,
    locked: bool,
    images: Vec<String>,
    compression: Compression,
    targets: &[Target],
) -> Options {
    Options {
        spec: i.spec,
        lock: i.lock,
        out,
        cache,
        mirror: i.mirror,
        offline: i.offline,
        locked,
        images,
        compression,
        source_date_epoch: i.source_date_epoch,
        targets: (!targets.is_empty())
            .then(|| build::Targets { oci: targets.contains(&Target::Oci), disk: targets.contains(&Target::Disk) }),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mode = if cli.json {
        Mode::Json
    } else if cli.quiet {
        Mode::Quiet
    } else {
        Mode::Human
    };
    let report = Reporter::new(mode);
    let cache = cache_dir(&cli.cache_dir);
    let docker_host = cli.docker_host;
    let docker_config = cli.docker_config.unwrap_or_else(|| home().join(".docker"));
    let json = cli.json;
    let result = match cli.command {
        Command::Build(a) => {
            let out = a.out.clone();
            let load_after = a.load;
            let opts = options(a.inputs, cache, a.out, a.locked, a.images, a.compression, &a.targets);
            build::run(&opts, &report).and_then(|o| {
                let loaded = if load_after { daemon::load(&out, &[], &docker_host, &report)? } else { Vec::new() };
                if !report.json() {
                    for (name, s) in &o.images.images {
                        let how = if o.unchanged.contains(name) { "(unchanged)" } else { "(built)" };
                        report.step(format!("{name}: {} {how}", s.manifest));
                    }
                    if o.written {
                        report.step(format!("wrote {}", out.display()));
                    }
                    if let Some(info) = &o.disk {
                        report.step(format!("disk: {} ({})", out.join(lpbake::appliance::DIR).display(), info.summary()));
                        report.step(format!("make an AMI of it: lpbake ami-commands {}", out.display()));
                    }
                }
                Ok(serde_json::json!({ "out": out, "images": o.images, "rebuilt": o.rebuilt, "unchanged": o.unchanged, "disk": o.disk, "written": o.written, "loaded": loaded }))
            })
        }
        Command::Load(a) => {
            daemon::load(&a.out, &a.images, &docker_host, &report).map(|tags| serde_json::json!({ "loaded": tags }))
        }
        Command::Sbom(a) => match Layout::open(&a.out).and_then(|l| l.sbom(&a.image)) {
            // The SBOM is the output, also with --json: print it as it is.
            Ok(bytes) => {
                print!("{}", String::from_utf8_lossy(&bytes));
                return ExitCode::SUCCESS;
            }
            Err(e) => Err(e),
        },
        Command::Push(a) => {
            registry::push(&a.out, &a.target, &a.images, a.insecure, &docker_config, &report).map(|stats| {
                for (name, s) in &stats {
                    report.step(format!(
                        "{name}: {} blob(s) uploaded ({} bytes), {} mounted, {} already there",
                        s.blobs_uploaded, s.bytes_uploaded, s.blobs_mounted, s.blobs_present
                    ));
                }
                serde_json::json!({ "target": a.target, "pushed": stats })
            })
        }
        Command::Render(a) => match render(a, json, &report) {
            // The node is the output, also with --json: print it as it is.
            Ok(Some(text)) => {
                print!("{text}");
                return ExitCode::SUCCESS;
            }
            Ok(None) => Ok(serde_json::json!({})),
            Err(e) => Err(e),
        },
        Command::Lock(a) => lock(a, cache, &report),
        Command::AmiCommands(a) => match lpbake::disk::ami_commands(&a.out.join(lpbake::appliance::DIR)) {
            // The commands are the output, also with --json.
            Ok(text) => {
                print!("{text}");
                return ExitCode::SUCCESS;
            }
            Err(e) => Err(e),
        },
        Command::Verify(a) => {
            let out = a.out.clone();
            lpbake::verify::run(&options(a.inputs, cache, a.out, true, Vec::new(), a.compression, &[]), &report).map(
                |n| {
                    report.step(format!("{}: all {n} files match the spec and lock", out.display()));
                    serde_json::json!({ "out": out, "verified_files": n })
                },
            )
        }
    };
    match result {
        Ok(v) => {
            if report.json() {
                println!("{v}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if report.json() {
                println!("{}", serde_json::json!({ "error": e.to_string() }));
            }
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `lpbake render`: the node's JSON with --json (returned), else the tree written into DIR.
fn render(a: RenderArgs, json: bool, report: &Reporter) -> lpbake::Result<Option<String>> {
    let spec = lpbake::spec::load(&a.spec)?;
    if a.compose {
        let dir = a.dir.unwrap_or_else(|| PathBuf::from("."));
        let files = lpbake::render::compose::render(&spec)?;
        for (name, text) in &files {
            lpbake::fsutil::write_atomic(&dir.join(name), text.as_bytes())?;
        }
        report.step(format!(
            "wrote {} files into {} (compose.yaml, compose.arbitrum.yaml, compose/)",
            files.len(),
            dir.display()
        ));
        return Ok(None);
    }
    let node = lpbake::render::node(&spec)?;
    if json {
        return Ok(Some(lpbake::render::json(&node)));
    }
    let Some(dir) = a.dir else {
        return Err(lpbake::Error::Output(
            "lpbake render needs a DIR to write the tree into\n  fix: `lpbake render DIR`, or `lpbake render --json` for the node as data".into(),
        ));
    };
    let tree = lpbake::render::files(&node)?;
    lpbake::render::write_dir(&tree, &dir)?;
    report.step(format!("wrote {} files into {}", tree.items.len(), dir.display()));
    Ok(None)
}

fn lock(a: LockArgs, cache: PathBuf, report: &Reporter) -> lpbake::Result<serde_json::Value> {
    use lpbake::error::IoContext;
    let store = lpbake::store::BlobStore::create(&cache).at(&cache)?;
    let fetcher = lpbake::fetch::Fetcher::new(store, a.inputs.mirror.as_deref(), a.inputs.offline, report.clone())?;
    let spec = lpbake::spec::load(&a.inputs.spec)?;
    let mut lock = lpbake::lock::Lock::open(&a.inputs.lock, a.inputs.source_date_epoch)?;
    let changes = lpbake::resolve::resolve(&spec, &mut lock, &fetcher, a.update, report)?;
    lock.save(&a.inputs.lock)?;
    for c in &changes {
        report.step(c);
    }
    report.step(format!("{}: {} change(s)", a.inputs.lock.display(), changes.len()));
    Ok(serde_json::json!({ "lock": a.inputs.lock, "changes": changes }))
}
