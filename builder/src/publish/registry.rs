//! `lpbake push`: copies built images (`OUT/oci/<image>/`) to an OCI registry through oci-client.
//! Blobs the registry lacks (asked with HEAD) are mounted from a repository this push already
//! filled, or streamed from the layout, verified while read: one PUT up to `MONOLITHIC_MAX`
//! (1 GiB), PATCH chunks above. Manifests go up with their exact bytes, so digests stay those of
//! `images.json`. Each image's SPDX SBOM becomes an OCI 1.1 referrer, also listed in the referrers
//! tag-schema fallback index for registries without the referrers API. Plain http is spoken only
//! to loopback registries, as the one URL policy (`urls`) decides.

use crate::digest::{Digest, VerifyingReader};
use crate::error::{Error, IoContext, Result};
use crate::oci::media::{self, descriptor};
use crate::oci::{index, manifest};
use crate::publish::credentials::{credentials, Credentials};
use crate::publish::layout::{self, Layout};
use crate::report::Reporter;
use crate::urls;
use bytes::Bytes;
use futures_util::Stream;
use indicatif::ProgressBar;
use lpbake_rules::read::{self, ReadError};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::{Client, Reference, RegistryOperation};
use oci_spec::image::{Descriptor, MediaType};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    docker_config: &Path,
    report: &Reporter,
) -> Result<BTreeMap<String, PushStats>> {
    // Everything that can be refused is refused before any network traffic.
    let registry = repository(target, "image")?.resolve_registry().to_string();
    if insecure && !urls::is_loopback_registry(&registry) {
        return Err(Error::Push {
            what: format!("registry {registry}"),
            msg: format!(
                "--insecure (plain http) is refused for {registry}: only loopback registries (127.0.0.0/8, ::1, localhost) are spoken to over http"
            ),
            fix: format!("drop --insecure: {registry} is spoken to over https"),
        });
    }
    let layout = Layout::open(out)?;
    let mut work = Vec::new();
    for (name, _) in layout.select(images)? {
        let image = Prepared::new(layout.image(&name)?);
        work.push((repository(target, &name)?, image));
    }
    let config = docker_config.join("config.json");
    let creds = credentials(&config, &registry)?;

    crate::runtime::block_on(async {
        let mut pusher = Pusher::new(registry, config, creds)?;
        let mut stats = BTreeMap::new();
        for (repo, image) in &work {
            stats.insert(image.name.clone(), pusher.image(image, repo, report).await?);
        }
        Ok(stats)
    })?
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
            // A file of the build output: a regular file, read no further than its size.
            Some(p) => {
                Box::new(BufReader::with_capacity(1 << 16, read::open(p, self.size).map_err(ReadError::into_io)?))
            }
            None => Box::new(media::EMPTY_BLOB),
        };
        Ok(Box::new(VerifyingReader::new(inner, self.digest, self.what())))
    }
}

impl From<&layout::BlobFile> for Blob {
    fn from(f: &layout::BlobFile) -> Self {
        Blob { digest: f.digest, size: f.size, path: Some(f.path.clone()) }
    }
}

/// One image ready to push: its blobs, tags and the SBOM's artifact manifest.
struct Prepared {
    name: String,
    manifest: Vec<u8>,
    subject: Descriptor,
    /// The tag part of each `images.json` tag (`0.9.1`, `latest`).
    tags: Vec<String>,
    /// Config, layers, the empty blob and the SBOM, once each.
    blobs: Vec<Blob>,
    /// The SBOM's artifact manifest.
    referrer: Vec<u8>,
}

impl Prepared {
    fn new(image: layout::Image) -> Self {
        let mut blobs: Vec<Blob> = image.blobs.iter().map(Blob::from).collect();
        let empty = media::EMPTY_BLOB;
        blobs.push(Blob { digest: Digest::of(empty), size: empty.len() as u64, path: None });
        blobs.push(Blob::from(&image.sbom));
        let referrer = manifest::sbom_referrer(&image.name, image.subject.clone(), image.sbom.digest, image.sbom.size);
        let tags = image.tags.iter().filter_map(|t| t.rsplit_once(':')).map(|(_, tag)| tag.to_string()).collect();
        Prepared { name: image.name, manifest: image.manifest, subject: image.subject, tags, blobs, referrer }
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
        let protocol = if urls::registry_scheme(&registry) == "http" {
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

    async fn image(&mut self, b: &Prepared, repo: &Reference, report: &Reporter) -> Result<PushStats> {
        let name = &b.name;
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

        let media_type = b.subject.media_type().to_string();
        let subject = b.subject.digest().to_string();
        self.put(&repo.clone_with_digest(subject.clone()), &b.manifest, &media_type).await?;
        for tag in &b.tags {
            self.put(&tagged(repo, tag), &b.manifest, &media_type).await?;
        }
        let referrer = Digest::of(&b.referrer);
        self.put(&repo.clone_with_digest(referrer.to_string()), &b.referrer, media::MANIFEST).await?;
        stats.manifests += 2;
        let mut entry = descriptor(media::MANIFEST, referrer, b.referrer.len() as u64);
        entry.set_artifact_type(Some(MediaType::from(media::SPDX)));
        if self.add_referrer(repo, &subject, entry).await? {
            stats.manifests += 1;
        }
        report.step(format!("pushed {at}@{subject} ({}; SBOM referrer {referrer})", b.tags.join(", ")));
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
    async fn add_referrer(&self, repo: &Reference, subject: &str, entry: Descriptor) -> Result<bool> {
        let hex = subject.strip_prefix("sha256:").unwrap_or(subject);
        let tag = tagged(repo, &format!("sha256-{hex}"));
        let mut manifests = match self.client.pull_manifest_raw(&tag, &self.creds.auth, &[media::INDEX]).await {
            Ok((bytes, _)) => index::parse(&bytes).map(|i| i.manifests().clone()).map_err(|_| {
                self.fail_msg(&tag, "this tag is not the OCI index the referrers tag schema wants".into())
            })?,
            Err(e) if status(&e) == Some(404) => Vec::new(),
            Err(e) => return Err(self.fail(&tag, e)),
        };
        if manifests.iter().any(|m| m.digest() == entry.digest()) {
            return Ok(false);
        }
        manifests.push(entry);
        self.put(&tag, &index::listing(manifests), media::INDEX).await?;
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
