//! `lpbake push`: copies built images (`OUT/oci/<image>/`) to an OCI registry through oci-client.
//! Blobs the registry lacks (asked with HEAD) are mounted from a repository this push already
//! filled, or streamed from the layout, verified while read: one PUT up to 16 MiB, PATCH chunks
//! above. Manifests go up with their exact bytes, so digests stay those of `images.json`. Each
//! image's SPDX SBOM becomes an OCI 1.1 referrer, also listed in the referrers tag-schema fallback
//! index for registries without the referrers API. Credentials come from the user's Docker config;
//! plain http is spoken only to loopback registries.

use crate::digest::{Digest, VerifyingReader};
use crate::error::{Error, IoContext, Result};
use crate::fetch::MANIFEST_TYPES;
use crate::image::MANIFEST_TYPE;
use crate::json::canonical;
use crate::output::{read_summary, SUMMARY};
use crate::report::Reporter;
use crate::sbom;
use base64::Engine as _;
use bytes::Bytes;
use futures_util::Stream;
use indicatif::ProgressBar;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The empty JSON blob that is the config of artifact manifests, and its media type.
const EMPTY: &[u8] = b"{}";
const EMPTY_TYPE: &str = "application/vnd.oci.empty.v1+json";
const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// Blobs up to this size are streamed in one PUT; larger ones go as a series of PATCHes, so a
/// dropped connection costs one chunk, not the whole blob.
const MONOLITHIC_MAX: u64 = 1 << 30;
/// Bytes read per stream item: oci-client's (fixed) PATCH size, so each item is one chunk.
const CHUNK: usize = 4 << 20;

/// What one push did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct PushStats {
    pub blobs_uploaded: usize,
    /// Blobs the registry copied from another repository of this push instead of an upload.
    pub blobs_mounted: usize,
    pub blobs_present: usize,
    pub bytes_uploaded: u64,
    /// Manifests and indexes written (each once, however many tags point at it).
    pub manifests: usize,
}

/// Pushes every image listed in OUT/images.json (or only `images` if non-empty) to
/// `target` = "HOST[:PORT][/prefix]": repository `<prefix>/<image>` (or `<image>`), tagged with
/// each tag's part after ':' from images.json's "tags" (e.g. `0.9.1` and `latest`), and each image's
/// SBOM (OUT/<image>.spdx.json) as an OCI 1.1 referrer: an artifact manifest (artifactType
/// application/spdx+json, config = the empty descriptor application/vnd.oci.empty.v1+json "{}",
/// one layer = the SBOM blob, `subject` = the image manifest descriptor), pushed by digest; because
/// registries without the referrers API (Debian's docker-registry) need it, also maintain the
/// referrers tag-schema fallback (tag `sha256-<hex of image manifest>` pointing at an OCI index
/// listing the referrer), per the OCI distribution spec 1.1.
pub fn push(
    out: &Path,
    target: &str,
    images: &[String],
    insecure: bool,
    report: &Reporter,
) -> Result<BTreeMap<String, PushStats>> {
    // Everything that can be refused is refused before any network traffic.
    let registry = repository(target, "image")?.resolve_registry().to_string();
    if insecure && !crate::urls::is_loopback_registry(&registry) {
        return Err(Error::Push {
            what: format!("registry {registry}"),
            msg: format!(
                "--insecure (plain http) is refused for {registry}: only 127.0.0.1, localhost and [::1] are allowed"
            ),
            fix: format!("drop --insecure: {registry} is spoken to over https"),
        });
    }
    let summary = read_summary(out);
    let names: Vec<&String> = if images.is_empty() { summary.keys().collect() } else { images.iter().collect() };
    if names.is_empty() {
        return Err(Error::config(out.join(SUMMARY), None, "no built images", "run `lpbake build` first"));
    }
    let mut work = Vec::new();
    for name in names {
        let entry = summary.get(name).ok_or_else(|| {
            let known = summary.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
            Error::config(
                out.join(SUMMARY),
                None,
                format!("no image `{name}` was built"),
                format!("push one of: {known}"),
            )
        })?;
        work.push((name.clone(), Built::load(out, name, entry)?, repository(target, name)?));
    }
    let config = docker_config_file();
    let creds = credentials(&config, &registry)?;

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().at("tokio runtime")?;
    rt.block_on(async {
        let mut pusher = Pusher::new(registry, config, creds)?;
        let mut stats = BTreeMap::new();
        for (name, built, repo) in &work {
            stats.insert(name.clone(), pusher.image(name, built, repo, report).await?);
        }
        Ok(stats)
    })
}

/// `repo` at tag `tag`.
fn tagged(repo: &Reference, tag: &str) -> Reference {
    Reference::with_tag(repo.registry().into(), repo.repository().into(), tag.into())
}

/// Repository `<target>/<image>` as a reference; `target` is `HOST[:PORT][/prefix]`.
fn repository(target: &str, image: &str) -> Result<Reference> {
    let text = format!("{}/{image}", target.trim_end_matches('/'));
    text.parse().map_err(|e| Error::Push {
        what: format!("push target {target}"),
        msg: format!("`{text}` is not a repository name: {e}"),
        fix: "give the target as HOST[:PORT][/prefix], lowercase, e.g. 127.0.0.1:5000/livepeer".into(),
    })
}

/// An OCI descriptor as lpbake writes it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    media_type: String,
    digest: Digest,
    size: u64,
}

/// A blob to push, read from `path` (or the empty blob when `None`) and verified while read.
struct Blob {
    digest: Digest,
    size: u64,
    path: Option<PathBuf>,
}

impl Blob {
    fn what(&self) -> String {
        self.path.as_ref().map_or_else(|| "the empty blob".into(), |p| p.display().to_string())
    }

    fn reader(&self) -> io::Result<Box<dyn Read + Send>> {
        let inner: Box<dyn Read + Send> = match &self.path {
            Some(p) => Box::new(BufReader::with_capacity(1 << 16, File::open(p)?)),
            None => Box::new(EMPTY),
        };
        Ok(Box::new(VerifyingReader::new(inner, self.digest, self.what())))
    }
}

/// One built image, as its layout and `images.json` describe it.
struct Built {
    manifest: Vec<u8>,
    subject: Descriptor,
    tags: Vec<String>,
    /// Config, layers, the empty blob and the SBOM, once each.
    blobs: Vec<Blob>,
    /// The SBOM's artifact manifest.
    referrer: Vec<u8>,
}

impl Built {
    fn load(out: &Path, name: &str, entry: &Value) -> Result<Self> {
        #[derive(Deserialize)]
        struct Summary {
            manifest: Digest,
            sbom: Digest,
            tags: Vec<String>,
        }
        #[derive(Deserialize)]
        struct Index {
            manifests: Vec<Descriptor>,
        }
        #[derive(Deserialize)]
        struct Manifest {
            config: Descriptor,
            layers: Vec<Descriptor>,
        }
        let rebuild = || format!("rebuild it: `lpbake build --out {}`", out.display());
        let bad = |file: &Path, msg: String| Error::config(file, None, msg, rebuild());
        let summary: Summary = serde_json::from_value(entry.clone())
            .map_err(|e| bad(&out.join(SUMMARY), format!("entry `{name}` is malformed: {e}")))?;

        let layout = out.join("oci").join(name);
        let index_path = layout.join("index.json");
        let index: Index = serde_json::from_slice(&std::fs::read(&index_path).at(&index_path)?)
            .map_err(|e| bad(&index_path, format!("not an OCI index: {e}")))?;
        let [subject] = <[Descriptor; 1]>::try_from(index.manifests)
            .map_err(|m| bad(&index_path, format!("lists {} manifests, expected exactly one", m.len())))?;
        if !MANIFEST_TYPES.contains(&subject.media_type.as_str()) {
            return Err(bad(&index_path, format!("lists a {}, not an image manifest", subject.media_type)));
        }
        if subject.digest != summary.manifest {
            let msg = format!("lists manifest {}, but {SUMMARY} says {}", subject.digest, summary.manifest);
            return Err(bad(&index_path, msg));
        }
        let blob_path = |d: &Digest| layout.join("blobs/sha256").join(d.hex());
        let manifest_path = blob_path(&subject.digest);
        let mut manifest = Vec::new();
        File::open(&manifest_path)
            .and_then(|f| {
                VerifyingReader::new(f, subject.digest, manifest_path.display().to_string()).read_to_end(&mut manifest)
            })
            .at(&manifest_path)?;
        let parsed: Manifest = serde_json::from_slice(&manifest)
            .map_err(|e| bad(&manifest_path, format!("not an image manifest: {e}")))?;

        let sbom_path = out.join(format!("{name}.spdx.json"));
        let sbom_size = std::fs::metadata(&sbom_path).at(&sbom_path)?.len();
        let mut blobs: Vec<Blob> = Vec::new();
        for d in std::iter::once(&parsed.config).chain(&parsed.layers) {
            if !blobs.iter().any(|b| b.digest == d.digest) {
                blobs.push(Blob { digest: d.digest, size: d.size, path: Some(blob_path(&d.digest)) });
            }
        }
        blobs.push(Blob { digest: Digest::of(EMPTY), size: EMPTY.len() as u64, path: None });
        blobs.push(Blob { digest: summary.sbom, size: sbom_size, path: Some(sbom_path) });

        let referrer = canonical(&json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "artifactType": sbom::MEDIA_TYPE,
            "config": {"mediaType": EMPTY_TYPE, "digest": Digest::of(EMPTY), "size": EMPTY.len()},
            "layers": [{
                "mediaType": sbom::MEDIA_TYPE,
                "digest": summary.sbom,
                "size": sbom_size,
                "annotations": {"org.opencontainers.image.title": format!("{name}.spdx.json")},
            }],
            "subject": subject,
        }));
        let tags = summary.tags.iter().filter_map(|t| t.rsplit_once(':')).map(|(_, tag)| tag.to_string()).collect();
        Ok(Built { manifest, subject, tags, blobs, referrer })
    }
}

/// One registry session.
struct Pusher {
    client: Client,
    registry: String,
    /// The Docker config file the credentials were looked up in.
    config: PathBuf,
    creds: Credentials,
    /// A repository of this push that holds each blob: where to mount it from.
    known: BTreeMap<Digest, Reference>,
}

impl Pusher {
    fn new(registry: String, config: PathBuf, creds: Credentials) -> Result<Self> {
        let protocol = if crate::urls::is_loopback_registry(&registry) {
            ClientProtocol::HttpsExcept(vec![registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let client = Client::try_from(ClientConfig {
            protocol,
            use_monolithic_push: true,
            connect_timeout: Some(Duration::from_secs(15)),
            ..Default::default()
        })
        .map_err(|e| Error::Push {
            what: format!("registry {registry}"),
            msg: chain(&e),
            fix: "report this bug".into(),
        })?;
        Ok(Pusher { client, registry, config, creds, known: BTreeMap::new() })
    }

    async fn image(&mut self, name: &str, b: &Built, repo: &Reference, report: &Reporter) -> Result<PushStats> {
        let mut stats = PushStats::default();
        let at = format!("{}/{}", repo.registry(), repo.repository());
        self.client.auth(repo, &self.creds.auth, RegistryOperation::Push).await.map_err(|e| self.fail(repo, e))?;

        let mut missing = Vec::new();
        for blob in &b.blobs {
            let there =
                self.client.blob_exists(repo, &blob.digest.to_string()).await.map_err(|e| self.fail(repo, e))?;
            if there {
                stats.blobs_present += 1;
                self.known.insert(blob.digest, repo.clone());
            } else {
                missing.push(blob);
            }
        }
        report.step(format!("pushing {name} to {at}: {} of {} blobs missing", missing.len(), b.blobs.len()));
        for blob in missing {
            if self.mount(repo, blob).await {
                stats.blobs_mounted += 1;
            } else {
                self.upload(repo, blob, report).await?;
                stats.blobs_uploaded += 1;
                stats.bytes_uploaded += blob.size;
            }
            self.known.insert(blob.digest, repo.clone());
        }

        let media_type = &b.subject.media_type;
        self.put(&repo.clone_with_digest(b.subject.digest.to_string()), &b.manifest, media_type).await?;
        for tag in &b.tags {
            self.put(&tagged(repo, tag), &b.manifest, media_type).await?;
        }
        let referrer = Digest::of(&b.referrer);
        self.put(&repo.clone_with_digest(referrer.to_string()), &b.referrer, MANIFEST_TYPE).await?;
        stats.manifests += 2;
        let entry = json!({
            "mediaType": MANIFEST_TYPE,
            "artifactType": sbom::MEDIA_TYPE,
            "digest": referrer,
            "size": b.referrer.len(),
        });
        if self.add_referrer(repo, b.subject.digest, entry).await? {
            stats.manifests += 1;
        }
        report.step(format!("pushed {at}@{} ({}; SBOM referrer {referrer})", b.subject.digest, b.tags.join(", ")));
        Ok(stats)
    }

    /// Asks the registry to copy `blob` from another repository of this push; false if it won't.
    async fn mount(&self, repo: &Reference, blob: &Blob) -> bool {
        match self.known.get(&blob.digest) {
            Some(from) if from != repo => self.client.mount_blob(repo, from, &blob.digest.to_string()).await.is_ok(),
            _ => false,
        }
    }

    async fn upload(&self, repo: &Reference, blob: &Blob, report: &Reporter) -> Result<()> {
        let reader = blob.reader().at(blob.what())?;
        let bar = report.bytes(Some(blob.size), format!("{} {}", repo.repository(), &blob.digest.hex()[..12]));
        let failed = Arc::new(Mutex::new(None));
        let stream = chunks(reader, bar.clone(), failed.clone());
        let digest = blob.digest.to_string();
        let sent = if blob.size <= MONOLITHIC_MAX {
            self.client.push_blob_stream(repo, stream, &digest, Some(blob.size)).await.map(drop)
        } else {
            self.client.push_blob_stream_chunked(repo, stream).await.map(drop)
        };
        bar.finish_and_clear();
        // A read error (a blob that is not its digest) broke the upload off before its commit.
        if let Some(e) = failed.lock().expect("no panics while held").take() {
            return Err(Error::io(blob.what(), e));
        }
        sent.map_err(|e| self.fail(repo, e))
    }

    /// Puts manifest `bytes` (their exact bytes) at `r`, a digest or a tag.
    async fn put(&self, r: &Reference, bytes: &[u8], media_type: &str) -> Result<()> {
        let content_type = media_type.parse().expect("manifest media types are checked header values");
        self.client.push_manifest_raw(r, bytes.to_vec(), content_type).await.map_err(|e| self.fail(r, e))?;
        Ok(())
    }

    /// Adds `entry` to the referrers tag-schema index of `subject` (tag `sha256-<hex>`), keeping
    /// the referrers already listed there; false when it was listed already.
    async fn add_referrer(&self, repo: &Reference, subject: Digest, entry: Value) -> Result<bool> {
        let tag = tagged(repo, &format!("sha256-{}", subject.hex()));
        let mut manifests: Vec<Value> = match self.client.pull_manifest_raw(&tag, &self.creds.auth, &[INDEX_TYPE]).await
        {
            Ok((bytes, _)) => serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["manifests"].as_array().cloned())
                .ok_or_else(|| {
                    self.fail_msg(&tag, "this tag is not the OCI index the referrers tag schema wants".into())
                })?,
            Err(e) if status(&e) == Some(404) => Vec::new(),
            Err(e) => return Err(self.fail(&tag, e)),
        };
        if manifests.iter().any(|m| m["digest"] == entry["digest"]) {
            return Ok(false);
        }
        manifests.push(entry);
        let index = canonical(&json!({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": manifests}));
        self.put(&tag, &index, INDEX_TYPE).await?;
        Ok(true)
    }

    fn fail_msg(&self, r: &Reference, msg: String) -> Error {
        let fix = "check the registry's log; pushing again only sends what is still missing".into();
        Error::Push { what: format!("registry {}, repository {}", self.registry, r.repository()), msg, fix }
    }

    /// One clear error for a failed registry call: what happened and what to do.
    fn fail(&self, r: &Reference, e: OciDistributionError) -> Error {
        let (reg, repo, config) = (&self.registry, r.repository(), self.config.display());
        let (msg, fix) = match status(&e) {
            Some(401) => (
                format!("the registry wants valid credentials (lpbake used: {}): {}", self.creds.source, chain(&e)),
                format!("log in with `docker login {reg}` (lpbake reads {config})"),
            ),
            Some(403) => (
                format!("the registry denied access (credentials: {}): {}", self.creds.source, chain(&e)),
                format!("use an account that may push to {repo} (`docker login {reg}`), or push under another prefix"),
            ),
            _ if matches!(&e, OciDistributionError::RequestError(r) if r.is_connect() || r.is_timeout()) => (
                format!("the registry is not answering: {}", chain(&e)),
                "check the address and that the registry runs (the test registry: `make deps`); loopback registries \
                 are spoken to over http, all others over https"
                    .into(),
            ),
            _ => return self.fail_msg(r, chain(&e)),
        };
        Error::Push { what: format!("registry {reg}, repository {repo}"), msg, fix }
    }
}

/// `reader` as a stream of `CHUNK`-sized pieces. A read error (such as a digest mismatch at the
/// end) ends the stream with an error, which aborts the upload, and is kept in `failed`.
fn chunks(
    reader: Box<dyn Read + Send>,
    bar: ProgressBar,
    failed: Arc<Mutex<Option<io::Error>>>,
) -> impl Stream<Item = Result<Bytes, OciDistributionError>> + Send + 'static {
    let mut reader = Some(reader);
    futures_util::stream::iter(std::iter::from_fn(move || {
        let mut buf = Vec::with_capacity(CHUNK);
        match reader.as_mut()?.by_ref().take(CHUNK as u64).read_to_end(&mut buf) {
            Ok(0) => None,
            Ok(n) => {
                bar.inc(n as u64);
                Some(Ok(Bytes::from(buf)))
            }
            Err(e) => {
                reader = None;
                let msg = e.to_string();
                *failed.lock().expect("no panics while held") = Some(e);
                Some(Err(OciDistributionError::GenericError(Some(msg))))
            }
        }
    }))
}

/// The HTTP status behind a registry error, where there is one.
fn status(e: &OciDistributionError) -> Option<u16> {
    match e {
        OciDistributionError::ServerError { code, .. } => Some(*code),
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().find_map(|e| match e.code {
            OciErrorCode::Unauthorized => Some(401),
            OciErrorCode::Denied => Some(403),
            OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown | OciErrorCode::NotFound => Some(404),
            _ => None,
        }),
        OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => Some(401),
        OciDistributionError::RequestError(r) => r.status().map(|s| s.as_u16()),
        _ => None,
    }
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

/// Credentials for one registry and where they came from (named in errors; the secret never is).
struct Credentials {
    auth: RegistryAuth,
    source: String,
}

/// Where Docker keeps its client config: `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`.
fn docker_config_file() -> PathBuf {
    match std::env::var_os("DOCKER_CONFIG") {
        Some(dir) => PathBuf::from(dir).join("config.json"),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".docker/config.json"),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct AuthEntry {
    auth: Option<String>,
    username: Option<String>,
    password: Option<String>,
    identitytoken: Option<String>,
}

impl AuthEntry {
    /// An identity token goes as the password of user `<token>`, as credential helpers hand it out.
    fn to_auth(&self) -> std::result::Result<Option<RegistryAuth>, &'static str> {
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        if let Some(token) = nonempty(&self.identitytoken) {
            return Ok(Some(RegistryAuth::Basic(nonempty(&self.username).unwrap_or("<token>".into()), token)));
        }
        if let Some(auth) = nonempty(&self.auth) {
            let decoded =
                base64::engine::general_purpose::STANDARD.decode(auth.trim()).map_err(|_| "`auth` is not base64")?;
            let text = String::from_utf8(decoded).map_err(|_| "`auth` is not UTF-8 once decoded")?;
            let (user, pass) = text.split_once(':').ok_or("`auth` does not decode to user:password")?;
            return Ok(Some(RegistryAuth::Basic(user.into(), pass.into())));
        }
        Ok(nonempty(&self.username).zip(nonempty(&self.password)).map(|(u, p)| RegistryAuth::Basic(u, p)))
    }
}

fn is_docker_hub(host: &str) -> bool {
    matches!(host, "docker.io" | "index.docker.io" | "registry-1.docker.io")
}

/// Whether Docker config key `key` (`127.0.0.1:5000`, `https://index.docker.io/v1/`) names `registry`.
fn names_registry(key: &str, registry: &str) -> bool {
    let rest = key.strip_prefix("https://").or_else(|| key.strip_prefix("http://")).unwrap_or(key);
    let host = rest.split('/').next().unwrap_or(rest);
    host == registry || (is_docker_hub(host) && is_docker_hub(registry))
}

/// The credentials for `registry` in Docker config `file`: its credential helper (`credHelpers`,
/// else `credsStore`), else its `auths` entry, else anonymous.
fn credentials(file: &Path, registry: &str) -> Result<Credentials> {
    let anonymous =
        |why: String| Ok(Credentials { auth: RegistryAuth::Anonymous, source: format!("anonymous ({why})") });
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return anonymous(format!("no {}", file.display())),
        Err(e) => return Err(Error::io(file, e)),
    };
    let config: DockerConfig = serde_json::from_slice(&bytes).map_err(|e| {
        let msg = format!("not a Docker config: {e}");
        Error::config(
            file,
            Some(e.line()),
            msg,
            "fix it, or point DOCKER_CONFIG at the directory of another config.json",
        )
    })?;
    let helper = config.cred_helpers.iter().find(|(k, _)| names_registry(k, registry)).map(|(_, h)| h);
    if let Some(helper) = helper.or(config.creds_store.as_ref()) {
        let program = format!("docker-credential-{helper}");
        let server = if is_docker_hub(registry) { "https://index.docker.io/v1/" } else { registry };
        let fix = format!("install {program}, or remove it from {}", file.display());
        let found = ask_helper(Path::new(&program), server).map_err(|msg| Error::Push {
            what: format!("credentials for {registry}"),
            msg,
            fix,
        })?;
        if let Some(auth) = found {
            return Ok(Credentials { auth, source: format!("{program}, named in {}", file.display()) });
        }
    }
    let Some((key, entry)) = config.auths.iter().find(|(k, _)| names_registry(k, registry)) else {
        return anonymous(format!("no entry for {registry} in {}", file.display()));
    };
    let fix = format!("log in again: `docker login {registry}`");
    match entry.to_auth().map_err(|msg| Error::config(file, None, format!("auths.\"{key}\": {msg}"), fix))? {
        Some(auth) => Ok(Credentials { auth, source: format!("auths.\"{key}\" in {}", file.display()) }),
        None => anonymous(format!("auths.\"{key}\" in {} holds no credentials", file.display())),
    }
}

/// Asks a Docker credential helper for `server`'s credentials: `<program> get` with the server
/// URL on stdin answers `{"Username": …, "Secret": …}`; `None` when it has none for `server`.
fn ask_helper(program: &Path, server: &str) -> std::result::Result<Option<RegistryAuth>, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Reply {
        username: String,
        secret: String,
    }
    let name = program.display();
    let run = || -> io::Result<std::process::Output> {
        let mut child = Command::new(program)
            .arg("get")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        child.stdin.take().expect("stdin is piped").write_all(server.as_bytes())?;
        child.wait_with_output()
    };
    let out = run().map_err(|e| format!("cannot run `{name} get`: {e}"))?;
    if !out.status.success() {
        let said = format!("{} {}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let said = said.trim();
        if said.contains("credentials not found") {
            return Ok(None);
        }
        return Err(format!("`{name} get` failed ({}): {said}", out.status));
    }
    // The error names only the position: serde's message could quote the secret.
    let reply: Reply = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("`{name} get` answered no credentials JSON (line {}, column {})", e.line(), e.column()))?;
    Ok((!reply.secret.is_empty()).then_some(RegistryAuth::Basic(reply.username, reply.secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(config: &str, registry: &str) -> Credentials {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(&file, config).unwrap();
        credentials(&file, registry).unwrap_or_else(|e| panic!("{e}"))
    }

    fn basic(user: &str, pass: &str) -> RegistryAuth {
        RegistryAuth::Basic(user.into(), pass.into())
    }

    #[test]
    fn docker_config_auths() {
        // `auth`: base64 of user:password; keys with a scheme and path name their host.
        let c = creds(r#"{"auths":{"https://reg.example:5000/v1/":{"auth":"dTpwOmFzcw=="}}}"#, "reg.example:5000");
        assert_eq!(c.auth, basic("u", "p:ass"));
        assert!(c.source.contains("auths.\"https://reg.example:5000/v1/\""), "{}", c.source);

        let c = creds(r#"{"auths":{"reg.example":{"username":"u","password":"p"}}}"#, "reg.example");
        assert_eq!(c.auth, basic("u", "p"));

        let c = creds(r#"{"auths":{"https://index.docker.io/v1/":{"identitytoken":"t"}}}"#, "index.docker.io");
        assert_eq!(c.auth, basic("<token>", "t"));

        // No match: another host, another port, or an entry without credentials.
        for registry in ["other.example", "reg.example:5000"] {
            let c = creds(r#"{"auths":{"reg.example":{"auth":"dTpw"}}}"#, registry);
            assert_eq!(c.auth, RegistryAuth::Anonymous);
            assert!(c.source.contains(&format!("no entry for {registry}")), "{}", c.source);
        }
        assert_eq!(creds(r#"{"auths":{"reg.example":{}}}"#, "reg.example").auth, RegistryAuth::Anonymous);

        let missing = credentials(Path::new("/nonexistent/config.json"), "reg.example").unwrap();
        assert_eq!(missing.auth, RegistryAuth::Anonymous);
    }

    #[test]
    fn docker_config_errors_name_the_file_and_never_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(&file, r#"{"auths":{"reg.example":{"auth":"c2VjcmV0"}}}"#).unwrap();
        let msg = credentials(&file, "reg.example").err().unwrap().to_string();
        assert!(msg.contains(&file.display().to_string()) && msg.contains("user:password"), "{msg}");
        assert!(!msg.contains("secret") && !msg.contains("c2VjcmV0"), "{msg}");
    }

    #[test]
    fn credential_helper_protocol() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-test");
        let script = r#"#!/bin/sh
[ "$1" = get ] || exit 3
read -r server
if [ "$server" = reg.example:5000 ]; then
  echo '{"ServerURL":"reg.example:5000","Username":"u","Secret":"s"}'
else
  echo "credentials not found in native keychain"; exit 1
fi
"#;
        std::fs::write(&helper, script).unwrap();
        std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        assert_eq!(ask_helper(&helper, "reg.example:5000").unwrap(), Some(basic("u", "s")));
        assert_eq!(ask_helper(&helper, "other.example").unwrap(), None);
        let err = ask_helper(&dir.path().join("docker-credential-none"), "x").unwrap_err();
        assert!(err.contains("docker-credential-none"), "{err}");
    }

    #[test]
    fn insecure_is_refused_for_remote_registries_before_any_traffic() {
        let out = Path::new("/nonexistent");
        let report = Reporter::new(crate::report::Mode::Quiet);
        let msg = push(out, "registry.example.com/team", &[], true, &report).unwrap_err().to_string();
        assert!(msg.contains("--insecure") && msg.contains("registry.example.com"), "{msg}");
        for loopback in ["127.0.0.1:5000", "127.0.0.2:5000", "localhost", "localhost:5000", "[::1]", "[::1]:5000"] {
            assert!(crate::urls::is_loopback_registry(loopback), "{loopback}");
        }
        for remote in ["example.com", "localhost.example.com:5000"] {
            assert!(!crate::urls::is_loopback_registry(remote), "{remote}");
        }
    }
}
