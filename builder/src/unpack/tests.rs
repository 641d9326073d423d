//! Tests of [`unpack`](super::unpack): one happy path per format, and one test per attack, each on
//! an archive built here byte by byte.

use super::*;
use ::tar::{EntryType, Header};
use std::fs;
use std::io::Write as _;

const NAME: &str = "https://example.org/pkg-v1.tar";

/// A temp dir with a blob store in it.
pub(super) struct Fixture {
    dir: tempfile::TempDir,
    store: BlobStore,
}

pub(super) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = BlobStore::create(dir.path().join("store")).unwrap();
    Fixture { dir, store }
}

impl Fixture {
    /// Writes `bytes` to a file and unpacks it, pinned to the digest of `bytes`.
    pub(super) fn unpack(
        &self,
        bytes: &[u8],
        format: Format,
        wanted: &[&str],
        limits: Limits,
    ) -> Result<BTreeMap<String, Member>, UnpackError> {
        self.unpack_pinned(bytes, Digest::of(bytes), format, wanted, limits)
    }

    fn unpack_pinned(
        &self,
        bytes: &[u8],
        pin: Digest,
        format: Format,
        wanted: &[&str],
        limits: Limits,
    ) -> Result<BTreeMap<String, Member>, UnpackError> {
        let path = self.dir.path().join("archive");
        fs::write(&path, bytes).unwrap();
        let wanted = wanted.iter().map(|w| w.to_string()).collect();
        unpack(&path, pin, NAME, format, &wanted, &limits, &self.store)
    }
}

/// One tar entry, written with raw header bytes so that `..` and absolute paths get through.
pub(super) struct Entry {
    path: String,
    ty: EntryType,
    mode: u32,
    link: String,
    data: Vec<u8>,
    /// uid, gid
    owner: (u64, u64),
    /// major, minor of a device
    dev: (u32, u32),
}

fn entry(path: &str, ty: EntryType, mode: u32, link: &str, data: &[u8]) -> Entry {
    Entry { path: path.into(), ty, mode, link: link.into(), data: data.to_vec(), owner: (0, 0), dev: (0, 0) }
}

pub(super) fn file(path: &str, mode: u32, data: &[u8]) -> Entry {
    entry(path, EntryType::Regular, mode, "", data)
}

pub(super) fn dir(path: &str) -> Entry {
    entry(path, EntryType::Directory, 0o755, "", b"")
}

pub(super) fn symlink(path: &str, target: &str) -> Entry {
    entry(path, EntryType::Symlink, 0o777, target, b"")
}

pub(super) fn hardlink(path: &str, target: &str) -> Entry {
    entry(path, EntryType::Link, 0o644, target, b"")
}

pub(super) fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut b = ::tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = Header::new_gnu();
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..e.path.len()].copy_from_slice(e.path.as_bytes());
        gnu.linkname[..e.link.len()].copy_from_slice(e.link.as_bytes());
        h.set_entry_type(e.ty);
        h.set_mode(e.mode);
        h.set_uid(e.owner.0);
        h.set_gid(e.owner.1);
        if matches!(e.ty, EntryType::Char | EntryType::Block) {
            h.set_device_major(e.dev.0).unwrap();
            h.set_device_minor(e.dev.1).unwrap();
        }
        h.set_size(e.data.len() as u64);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, &e.data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn xz(bytes: &[u8]) -> Vec<u8> {
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn zst(bytes: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(bytes, 3).unwrap()
}

/// Content larger than the copy buffer, so that copies take several reads.
fn big_content() -> Vec<u8> {
    (0..(BUF * 3 + 17)).map(|i| (i * 7 % 251) as u8).collect()
}

/// The tree every happy path carries: a root entry, a directory, an executable, a plain file,
/// a symlink, and an entry nobody wants; the two files are taken.
fn sample_tar() -> Vec<u8> {
    tar_of(&[
        dir("./"),
        dir("./pkg/"),
        file("./pkg/bin", 0o4755, &big_content()),
        file("./pkg/README", 0o644, b"hello\n"),
        symlink("./pkg/latest", "bin"),
        file("./pkg/other", 0o600, b"not wanted"),
    ])
}

const SAMPLE_WANTED: [&str; 2] = ["pkg/bin", "pkg/README"];

/// Checks what unpacking the sample tree must give, content included.
fn assert_sample(f: &Fixture, got: &BTreeMap<String, Member>, bin_mode: u32) {
    let file = |path: &str, mode: u32, content: &[u8]| Member {
        path: path.into(),
        mode,
        uid: 0,
        gid: 0,
        kind: MemberKind::File { sha256: Digest::of(content), size: content.len() as u64 },
    };
    let want: BTreeMap<String, Member> =
        [file("pkg/bin", bin_mode, &big_content()), file("pkg/README", 0o644, b"hello\n")]
            .into_iter()
            .map(|m| (m.path.clone(), m))
            .collect();
    assert_eq!(got, &want);
    assert_eq!(f.store.read_small(&Digest::of(&big_content())).unwrap(), big_content());
    assert_eq!(f.store.read_small(&Digest::of(b"hello\n")).unwrap(), b"hello\n");
    assert!(!f.store.contains(&Digest::of(b"not wanted")));
}

fn happy(bytes: &[u8], format: Format) {
    let f = fixture();
    let got = f.unpack(bytes, format, &SAMPLE_WANTED, Limits::default()).unwrap();
    assert_sample(&f, &got, 0o4755);
}

/// Unpacks a tar with default limits, wanting `wanted`, and returns the error.
fn refused(entries: &[Entry], wanted: &[&str]) -> UnpackError {
    refused_with(entries, wanted, Limits::default())
}

fn refused_with(entries: &[Entry], wanted: &[&str], limits: Limits) -> UnpackError {
    fixture().unpack(&tar_of(entries), Format::Tar, wanted, limits).unwrap_err()
}

/// The message names the archive and the offending entry.
fn assert_names(err: &UnpackError, path: &str) {
    let msg = err.to_string();
    assert!(msg.contains(NAME) && msg.contains(&format!("`{path}`")), "{msg}");
}

#[test]
fn detect_guesses_format_from_name_or_url() {
    let cases = [
        ("livepeer-linux-amd64.tar.gz", Some(Format::TarGz)),
        ("https://h/x.tgz?token=1", Some(Format::TarGz)),
        ("https://h/geth.tar.xz#frag", Some(Format::TarXz)),
        ("X.TAR.ZST", Some(Format::TarZst)),
        ("rootfs.tar", Some(Format::Tar)),
        ("https://h/ffmpeg.zip?a=b.tar", Some(Format::Zip)),
        ("pool/main/c/chrony_4.3-2_amd64.deb", Some(Format::Deb)),
        ("checksums.txt", None),
        ("https://h/download?file=x.tar.gz", None),
    ];
    for (name, want) in cases {
        assert_eq!(Format::detect(name), want, "{name}");
    }
}

#[test]
fn format_deserializes_from_its_names() {
    let parse = |s: &str| serde_json::from_str::<Format>(&format!("\"{s}\""));
    assert_eq!(parse("tar").unwrap(), Format::Tar);
    assert_eq!(parse("tar.gz").unwrap(), Format::TarGz);
    assert_eq!(parse("tgz").unwrap(), Format::TarGz);
    assert_eq!(parse("tar.xz").unwrap(), Format::TarXz);
    assert_eq!(parse("tar.zst").unwrap(), Format::TarZst);
    assert_eq!(parse("zip").unwrap(), Format::Zip);
    assert_eq!(parse("deb").unwrap(), Format::Deb);
    assert!(parse("rar").is_err());
}

#[test]
fn tar_happy_path() {
    happy(&sample_tar(), Format::Tar);
}

#[test]
fn tar_gz_happy_path() {
    happy(&gz(&sample_tar()), Format::TarGz);
}

#[test]
fn tar_xz_happy_path() {
    happy(&xz(&sample_tar()), Format::TarXz);
}

#[test]
fn tar_zst_happy_path() {
    happy(&zst(&sample_tar()), Format::TarZst);
}

#[test]
fn concatenated_compressed_streams_are_read_whole() {
    let tar = sample_tar();
    let (a, b) = tar.split_at(tar.len() / 2);
    happy(&[gz(a), gz(b)].concat(), Format::TarGz);
    happy(&[xz(a), xz(b)].concat(), Format::TarXz);
    happy(&[zst(a), zst(b)].concat(), Format::TarZst);
}

#[test]
fn zip_happy_path() {
    use ::zip::write::SimpleFileOptions;
    let opts = |mode| SimpleFileOptions::default().unix_permissions(mode);
    let mut w = ::zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    w.add_directory("pkg/", opts(0o755)).unwrap();
    w.start_file("pkg/bin", opts(0o755)).unwrap();
    w.write_all(&big_content()).unwrap();
    w.start_file("pkg/README", opts(0o644)).unwrap();
    w.write_all(b"hello\n").unwrap();
    w.add_symlink("pkg/latest", "bin", opts(0o777)).unwrap();
    w.start_file("pkg/other", opts(0o600)).unwrap();
    w.write_all(b"not wanted").unwrap();
    let bytes = w.finish().unwrap().into_inner();

    let f = fixture();
    let got = f.unpack(&bytes, Format::Zip, &SAMPLE_WANTED, Limits::default()).unwrap();
    assert_sample(&f, &got, 0o755);
}

/// A .deb as dpkg-deb builds it: debian-binary, control.tar.gz, data.tar.xz.
fn deb_of(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut b = ar::Builder::new(Vec::new());
    for (name, data) in members {
        b.append(&ar::Header::new(name.as_bytes().to_vec(), data.len() as u64), &data[..]).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn deb_happy_path() {
    let control = gz(&tar_of(&[dir("./"), file("./control", 0o644, b"Package: pkg\n")]));
    let deb = deb_of(&[
        ("debian-binary", b"2.0\n".to_vec()),
        ("control.tar.gz", control),
        ("data.tar.xz", xz(&sample_tar())),
    ]);
    happy(&deb, Format::Deb);
}

#[test]
fn deb_without_data_member_is_refused() {
    let deb = deb_of(&[("debian-binary", b"2.0\n".to_vec()), ("data.tar.bz2", b"BZh".to_vec())]);
    let err = fixture().unpack(&deb, Format::Deb, &["usr/bin/x"], Limits::default()).unwrap_err();
    assert!(matches!(&err, UnpackError::DebWithoutData { found, .. } if found.len() == 2), "{err}");
    assert!(err.to_string().contains("data.tar.bz2"), "{err}");
}

#[test]
fn parent_dir_component_is_refused() {
    // Not wanted, and still refused: every entry is checked.
    let err = refused(&[file("pkg/bin", 0o755, b"x"), file("pkg/../../etc/passwd", 0o644, b"root")], &["pkg/bin"]);
    assert!(matches!(err, UnpackError::ParentDir { .. }), "{err}");
    assert_names(&err, "pkg/../../etc/passwd");
}

#[test]
fn absolute_path_is_refused() {
    let err = refused(&[file("/etc/cron.d/evil", 0o644, b"* * * * * root sh")], &[]);
    assert!(matches!(err, UnpackError::Absolute { .. }), "{err}");
    assert_names(&err, "/etc/cron.d/evil");
}

#[test]
fn escaping_symlink_is_refused() {
    let err = refused(&[dir("a/"), symlink("a/b", "../../etc")], &[]);
    assert!(matches!(err, UnpackError::LinkEscapes { link: "symlink", .. }), "{err}");
    assert_names(&err, "a/b");
}

#[test]
fn absolute_symlink_target_is_refused() {
    let err = refused(&[symlink("bin/sh", "/bin/busybox")], &[]);
    assert!(matches!(err, UnpackError::LinkEscapes { link: "symlink", .. }), "{err}");
    assert!(err.to_string().contains("/bin/busybox"), "{err}");
}

#[test]
fn symlink_escaping_through_an_earlier_symlink_is_refused() {
    // Read lexically, "a/b -> ../etc" stays inside; but "a" is the root itself, so it does not.
    let err = refused(&[symlink("a", "."), symlink("a/b", "../etc")], &[]);
    assert!(matches!(err, UnpackError::LinkEscapes { link: "symlink", .. }), "{err}");
    assert_names(&err, "a/b");
}

#[test]
fn escaping_hardlink_is_refused() {
    // A tar hard link's target is relative to the archive root, not to the link's directory.
    let err = refused(&[dir("a/"), dir("a/b/"), hardlink("a/b/c", "../../etc/shadow")], &[]);
    assert!(matches!(err, UnpackError::LinkEscapes { link: "hard link", .. }), "{err}");
    assert_names(&err, "a/b/c");
}

#[test]
fn char_device_is_refused() {
    let dev = entry("dev/mem", EntryType::Char, 0o600, "", b"");
    let err = refused(&[dev], &[]);
    assert!(matches!(&err, UnpackError::Special { kind, .. } if kind == "character device"), "{err}");
    assert_names(&err, "dev/mem");
}

#[test]
fn fifo_is_refused() {
    let fifo = entry("run/pipe", EntryType::Fifo, 0o600, "", b"");
    let err = refused(&[fifo], &[]);
    assert!(matches!(&err, UnpackError::Special { kind, .. } if kind == "fifo"), "{err}");
}

#[test]
fn oversized_entry_is_refused() {
    let limits = Limits { max_entry_bytes: 100, ..Limits::default() };
    let err = refused_with(&[file("small", 0o644, &[1; 100]), file("big", 0o644, &[1; 101])], &[], limits);
    assert!(matches!(err, UnpackError::EntryTooLarge { size: 101, limit: 100, .. }), "{err}");
    assert_names(&err, "big");
}

#[test]
fn total_size_bomb_is_refused() {
    let limits = Limits { max_entry_bytes: 100, max_total_bytes: 250, ..Limits::default() };
    let entries = [file("a", 0o644, &[0; 100]), file("b", 0o644, &[0; 100]), file("c", 0o644, &[0; 100])];
    let err = refused_with(&entries, &[], limits);
    assert!(matches!(err, UnpackError::TotalTooLarge { limit: 250, .. }), "{err}");
    assert_names(&err, "c");
}

#[test]
fn too_many_entries_is_refused() {
    let limits = Limits { max_entries: 3, ..Limits::default() };
    let entries = [dir("a/"), dir("b/"), dir("c/"), dir("d/")];
    let err = refused_with(&entries, &[], limits);
    assert!(matches!(err, UnpackError::TooManyEntries { limit: 3, .. }), "{err}");
    assert_names(&err, "d/");
}

#[test]
fn missing_member_lists_paths_with_the_same_file_name() {
    let entries = [dir("livepeer-linux-amd64/"), file("livepeer-linux-amd64/livepeer", 0o755, b"elf")];
    let err = refused(&entries, &["livepeer"]);
    match &err {
        UnpackError::Missing { path, candidates, same_name: true, .. } => {
            assert_eq!(path, "livepeer");
            assert_eq!(candidates, &["livepeer-linux-amd64/livepeer"]);
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(err.to_string().contains("`livepeer-linux-amd64/livepeer`"), "{err}");
    assert_names(&err, "livepeer");
}

#[test]
fn missing_member_lists_the_first_entries() {
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
    let entries: Vec<Entry> = names.iter().map(|n| file(n, 0o644, b"")).collect();
    let err = refused(&entries, &["bin/livepeer"]);
    match &err {
        UnpackError::Missing { candidates, same_name: false, .. } => assert_eq!(candidates, &names[..10]),
        other => panic!("wrong error: {other}"),
    }
    assert_names(&err, "bin/livepeer");
}

#[test]
fn wanted_hardlink_is_refused() {
    let err = refused(&[file("bin/real", 0o755, b"elf"), hardlink("bin/alias", "bin/real")], &["bin/alias"]);
    match &err {
        UnpackError::HardLinkWanted { path, target, .. } => {
            assert_eq!((path.as_str(), target.as_str()), ("bin/alias", "bin/real"))
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(err.to_string().contains("not supported"), "{err}");
}

#[test]
fn wanted_symlink_is_refused_naming_its_target() {
    // Installed alone, `bin/livepeer -> ../libexec/livepeer` would dangle in the image.
    let entries =
        [dir("bin/"), file("libexec/livepeer", 0o755, b"elf"), symlink("bin/livepeer", "../libexec/livepeer")];
    let err = refused(&entries, &["bin/livepeer"]);
    match &err {
        UnpackError::SymlinkWanted { path, target, resolved, .. } => {
            assert_eq!(
                (path.as_str(), target.as_str(), resolved.as_str()),
                ("bin/livepeer", "../libexec/livepeer", "libexec/livepeer")
            )
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(err.to_string().contains("select `libexec/livepeer` instead"), "{err}");
    assert_names(&err, "bin/livepeer");
}

#[test]
fn wanted_directory_is_refused() {
    // Taken, it would become an empty directory in the image.
    let err = refused(&[dir("./pkg/"), file("./pkg/bin", 0o755, b"elf")], &["pkg"]);
    assert!(matches!(&err, UnpackError::DirWanted { path, .. } if path == "pkg"), "{err}");
    assert!(err.to_string().contains("install its files one by one"), "{err}");
    assert_names(&err, "pkg");
}

#[test]
fn a_double_slash_spelling_is_a_duplicate() {
    // `bin/livepeer` and `bin//livepeer` are one path: which copy is meant is ambiguous.
    let entries = [file("bin/livepeer", 0o755, b"first"), file("bin//livepeer", 0o755, b"second")];
    let err = refused(&entries, &["bin/livepeer"]);
    assert!(matches!(&err, UnpackError::Duplicate { path, .. } if path == "bin/livepeer"), "{err}");
    let err = fixture().tree(&entries, &Specials::default(), BTreeMap::new()).unwrap_err();
    assert!(matches!(&err, UnpackError::Duplicate { path, .. } if path == "bin/livepeer"), "{err}");
    let zip = zip_of(&[("bin/livepeer", b"first"), ("bin/./livepeer", b"second")]);
    let err = fixture().unpack(&zip, Format::Zip, &["bin/livepeer"], Limits::default()).unwrap_err();
    assert!(matches!(&err, UnpackError::Duplicate { path, .. } if path == "bin/livepeer"), "{err}");
}

#[test]
fn every_spelling_of_a_member_matches_it() {
    // What the spec writes as `from = "x/./y"` it passes on normalized, as `x/y`.
    for spelling in ["x/y", "./x/y", "x//y", "x/./y", "./x/./y"] {
        let f = fixture();
        let got = f.unpack(&tar_of(&[file(spelling, 0o755, b"y")]), Format::Tar, &["x/y"], Limits::default());
        assert_eq!(got.unwrap().keys().collect::<Vec<_>>(), ["x/y"], "{spelling}");
    }
}

/// A zip of regular files (name, content), names written as given.
pub(super) fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ::zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    for (name, data) in files {
        w.start_file(*name, ::zip::write::SimpleFileOptions::default().unix_permissions(0o644)).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn truncated_tar_gz_is_corrupt() {
    let whole = gz(&sample_tar());
    let cut = &whole[..whole.len() / 2];
    let err = fixture().unpack(cut, Format::TarGz, &SAMPLE_WANTED, Limits::default()).unwrap_err();
    assert!(matches!(err, UnpackError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(NAME), "{err}");
}

#[test]
fn wrong_sha256_is_refused() {
    let bytes = gz(&sample_tar());
    let pin = Digest::of(b"what the lock file says");
    let err = fixture().unpack_pinned(&bytes, pin, Format::TarGz, &SAMPLE_WANTED, Limits::default()).unwrap_err();
    match &err {
        UnpackError::Mismatch(m) => assert_eq!((m.expected, m.actual), (pin, Digest::of(&bytes))),
        other => panic!("wrong error: {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(NAME) && msg.contains(&pin.hex()) && msg.contains(&Digest::of(&bytes).hex()), "{msg}");
}

#[test]
fn tampered_archive_reports_the_mismatch_not_the_corruption() {
    let good = gz(&sample_tar());
    let mut bad = good.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    let err =
        fixture().unpack_pinned(&bad, Digest::of(&good), Format::TarGz, &SAMPLE_WANTED, Limits::default()).unwrap_err();
    assert!(matches!(err, UnpackError::Mismatch(_)), "{err}");
}

#[test]
fn zip_wrong_sha256_is_refused() {
    let mut w = ::zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    w.start_file("a", ::zip::write::SimpleFileOptions::default()).unwrap();
    let bytes = w.finish().unwrap().into_inner();
    let pin = Digest::of(b"x");
    let err = fixture().unpack_pinned(&bytes, pin, Format::Zip, &["a"], Limits::default()).unwrap_err();
    assert!(matches!(err, UnpackError::Mismatch(_)), "{err}");
}

#[test]
fn zip_parent_dir_component_is_refused() {
    let mut w = ::zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    w.start_file("../evil.sh", ::zip::write::SimpleFileOptions::default()).unwrap();
    w.write_all(b"#!/bin/sh").unwrap();
    let bytes = w.finish().unwrap().into_inner();
    let err = fixture().unpack(&bytes, Format::Zip, &[], Limits::default()).unwrap_err();
    assert!(matches!(err, UnpackError::ParentDir { .. }), "{err}");
    assert_names(&err, "../evil.sh");
}

#[test]
fn zip_entry_larger_than_its_declared_size_is_refused() {
    // A deflated entry of 1000 bytes whose headers claim 10. The zip crate stops reading at the
    // declared size; the Collector's own count (next test) is the second guard.
    let mut w = ::zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    w.start_file("liar", ::zip::write::SimpleFileOptions::default()).unwrap();
    w.write_all(&[b'z'; 1000]).unwrap();
    let mut bytes = w.finish().unwrap().into_inner();
    lie_about_sizes(&mut bytes, 10);

    let f = fixture();
    let err = f.unpack(&bytes, Format::Zip, &["liar"], Limits::default()).unwrap_err();
    assert!(matches!(err, UnpackError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("declared"), "{err}");
    assert!(!f.store.contains(&Digest::of(&[b'z'; 1000])));
}

#[test]
fn content_is_counted_as_read_not_as_declared() {
    let f = fixture();
    let wanted = BTreeSet::from(["liar".to_string()]);
    let limits = Limits { max_entry_bytes: 100, ..Limits::default() };
    let file = Path::new("archive");
    let header = || Meta { mode: 0o644, uid: 0, gid: 0, size: 10 };
    let mut c = Collector::new(NAME, file, Take::Members(&wanted), limits, &f.store);
    let pending = c.check("liar", Kind::File, header()).unwrap().unwrap();
    let err = c.store(pending, &mut &[0u8; 1000][..]).unwrap_err();
    assert!(matches!(err, UnpackError::EntryTooLarge { limit: 100, .. }), "{err}");
    assert_names(&err, "liar");

    let limits = Limits { max_total_bytes: 50, ..Limits::default() };
    let mut c = Collector::new(NAME, file, Take::Members(&wanted), limits, &f.store);
    let pending = c.check("liar", Kind::File, header()).unwrap().unwrap();
    let err = c.store(pending, &mut &[0u8; 1000][..]).unwrap_err();
    assert!(matches!(err, UnpackError::TotalTooLarge { limit: 50, .. }), "{err}");
}

/// Rewrites the uncompressed size in every local and central header of a one-entry zip.
fn lie_about_sizes(zip: &mut [u8], size: u32) {
    for i in 0..zip.len() - 4 {
        let at = match &zip[i..i + 4] {
            b"PK\x03\x04" => i + 22,
            b"PK\x01\x02" => i + 24,
            _ => continue,
        };
        zip[at..at + 4].copy_from_slice(&size.to_le_bytes());
    }
}

#[test]
fn wanted_member_present_twice_is_refused_in_every_format() {
    // The first copy would be streamed into a layer, the last kept in the store: no copy is
    // "the" member, whichever format carries it.
    let twice = tar_of(&[file("bin/tool", 0o755, b"first"), file("bin/tool", 0o755, b"second")]);
    for (bytes, format) in [(twice.clone(), Format::Tar), (gz(&twice), Format::TarGz), (zst(&twice), Format::TarZst)] {
        let err = fixture().unpack(&bytes, format, &["bin/tool"], Limits::default()).unwrap_err();
        assert!(matches!(err, UnpackError::Duplicate { .. }), "{format:?}: {err}");
        assert_names(&err, "bin/tool");
        let msg = err.to_string();
        assert!(msg.contains("more than once") && msg.contains("archive"), "{msg}");
    }
    // In a whole tree, a symlink twice is the same ambiguity; an unwanted path twice is not.
    let twice = [symlink("bin/a", "x"), symlink("bin/a", "y")];
    let err = fixture().tree(&twice, &Specials::default(), BTreeMap::new()).unwrap_err();
    assert!(matches!(err, UnpackError::Duplicate { .. }), "{err}");
    let f = fixture();
    let ok = f.unpack(
        &tar_of(&[file("other", 0o644, b"1"), file("other", 0o644, b"2"), file("bin/tool", 0o755, b"t")]),
        Format::Tar,
        &["bin/tool"],
        Limits::default(),
    );
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn duplicate_error_names_the_cache_file() {
    let f = fixture();
    let bytes = tar_of(&[file("a", 0o644, b"1"), file("a", 0o644, b"2")]);
    let err = f.unpack(&bytes, Format::Tar, &["a"], Limits::default()).unwrap_err();
    assert!(err.to_string().contains(&f.dir.path().join("archive").display().to_string()), "{err}");
}

impl Fixture {
    /// Unpacks the tar of `entries` whole on top of `lower`.
    pub(super) fn tree(
        &self,
        entries: &[Entry],
        specials: &Specials,
        lower: BTreeMap<String, Member>,
    ) -> Result<BTreeMap<String, Member>, UnpackError> {
        let bytes = gz(&tar_of(entries));
        let path = self.dir.path().join("layer.tar.gz");
        fs::write(&path, &bytes).unwrap();
        unpack_tree(&path, Digest::of(&bytes), NAME, Format::TarGz, &Limits::default(), specials, &self.store, lower)
    }
}

fn paths(tree: &BTreeMap<String, Member>) -> Vec<&str> {
    tree.keys().map(String::as_str).collect()
}

#[test]
fn tree_keeps_owners_modes_links_and_hard_links() {
    let f = fixture();
    let mut shadow = file("./etc/shadow", 0o640, b"root:*:");
    shadow.owner = (0, 42);
    let mut home = dir("./home/user/");
    home.owner = (1000, 1000);
    let tree = f
        .tree(
            &[
                dir("./"),
                dir("./etc/"),
                shadow,
                dir("./home/"),
                home,
                dir("./usr/"),
                dir("./usr/bin/"),
                file("./usr/bin/perl", 0o4755, b"elf"),
                hardlink("./usr/bin/perl5.36", "./usr/bin/perl"),
                symlink("./etc/localtime", "/usr/share/zoneinfo/UTC"),
                symlink("./bin", "usr/bin"),
            ],
            &Specials::default(),
            BTreeMap::new(),
        )
        .unwrap();
    assert_eq!(
        paths(&tree),
        [
            "bin",
            "etc",
            "etc/localtime",
            "etc/shadow",
            "home",
            "home/user",
            "usr",
            "usr/bin",
            "usr/bin/perl",
            "usr/bin/perl5.36"
        ]
    );
    assert_eq!((tree["etc/shadow"].mode, tree["etc/shadow"].uid, tree["etc/shadow"].gid), (0o640, 0, 42));
    assert_eq!((tree["home/user"].uid, tree["home/user"].gid), (1000, 1000));
    assert_eq!(tree["usr/bin/perl"].mode, 0o4755);
    assert_eq!(tree["usr/bin/perl5.36"].kind, MemberKind::Hardlink { target: "usr/bin/perl".into() });
    assert_eq!(tree["etc/localtime"].kind, MemberKind::Symlink { target: "/usr/share/zoneinfo/UTC".into() });
    assert_eq!(f.store.read_small(&Digest::of(b"elf")).unwrap(), b"elf");
}

#[test]
fn tree_refuses_devices_by_default_and_keeps_them_where_allowed() {
    let mut null = entry("./dev/null", EntryType::Char, 0o666, "", b"");
    null.dev = (1, 3);
    let fifo = || entry("./dev/initctl", EntryType::Fifo, 0o600, "", b"");
    let f = fixture();
    let err = f.tree(&[dir("./dev/"), null, fifo()], &Specials::default(), BTreeMap::new()).unwrap_err();
    assert!(matches!(&err, UnpackError::Special { kind, .. } if kind == "character device"), "{err}");
    assert_names(&err, "dev/null");

    let mut null = entry("./dev/null", EntryType::Char, 0o666, "", b"");
    null.dev = (1, 3);
    let dev = Specials { under: vec!["dev".into()] };
    let tree = f.tree(&[dir("./dev/"), null, fifo()], &dev, BTreeMap::new()).unwrap();
    assert_eq!(tree["dev/null"].kind, MemberKind::Device { kind: DeviceKind::Char, major: 1, minor: 3 });
    assert_eq!(tree["dev/null"].mode, 0o666);
    assert_eq!(tree["dev/initctl"].kind, MemberKind::Device { kind: DeviceKind::Fifo, major: 0, minor: 0 });
    // Allowed under dev/ only: not next to it.
    let mut evil = entry("./devil/mem", EntryType::Char, 0o600, "", b"");
    evil.dev = (1, 1);
    let err = f.tree(&[evil], &dev, BTreeMap::new()).unwrap_err();
    assert!(matches!(err, UnpackError::Special { .. }), "{err}");
}

#[test]
fn tree_layers_apply_whiteouts_and_opaque_dirs() {
    let f = fixture();
    let none = Specials::default();
    let base = f
        .tree(
            &[
                dir("a/"),
                file("a/gone", 0o644, b"1"),
                file("a/kept", 0o644, b"2"),
                dir("a/sub/"),
                file("a/sub/deep", 0o644, b"3"),
                dir("b/"),
                file("b/old", 0o644, b"4"),
                file("c", 0o644, b"5"),
            ],
            &none,
            BTreeMap::new(),
        )
        .unwrap();
    let top = f
        .tree(
            &[
                file("a/.wh.gone", 0o644, b""),
                file("a/.wh.sub", 0o644, b""),
                dir("b/"),
                file("b/new", 0o644, b"6"),
                file("b/.wh..wh..opq", 0o644, b""),
                dir("c/"),
            ],
            &none,
            base,
        )
        .unwrap();
    // The opaque marker came after b/new in the same layer: it hides only the lower b/old.
    assert_eq!(paths(&top), ["a", "a/kept", "b", "b/new", "c"]);
    assert_eq!(top["c"].kind, MemberKind::Dir);
}

#[test]
fn tree_replacing_a_dir_by_a_file_hides_its_content() {
    let f = fixture();
    let none = Specials::default();
    let base = f.tree(&[dir("d/"), file("d/x", 0o644, b"x")], &none, BTreeMap::new()).unwrap();
    let top = f.tree(&[symlink("d", "elsewhere")], &none, base).unwrap();
    assert_eq!(paths(&top), ["d"]);
}

#[test]
fn tree_refuses_links_escaping_the_root() {
    let f = fixture();
    let none = Specials::default();
    let err = f.tree(&[dir("a/"), symlink("a/up", "../../etc")], &none, BTreeMap::new()).unwrap_err();
    assert!(matches!(err, UnpackError::LinkEscapes { link: "symlink", .. }), "{err}");
    let err = f.tree(&[hardlink("x", "../etc/shadow")], &none, BTreeMap::new()).unwrap_err();
    assert!(matches!(err, UnpackError::LinkEscapes { link: "hard link", .. }), "{err}");
    // Through a symlink of an earlier layer: read lexically, `root/../etc` stays inside.
    let base = f.tree(&[symlink("root", ".")], &none, BTreeMap::new()).unwrap();
    let err = f.tree(&[symlink("esc", "root/../etc")], &none, base.clone()).unwrap_err();
    assert!(matches!(err, UnpackError::LinkEscapes { .. }), "{err}");
    // An entry under that symlink is refused before its target is read.
    let err = f.tree(&[symlink("root/esc", "../etc")], &none, base).unwrap_err();
    assert!(matches!(err, UnpackError::UnderNonDir { .. }), "{err}");
    // Still refused: `..` and absolute entry paths.
    let err = f.tree(&[file("../x", 0o644, b"")], &none, BTreeMap::new()).unwrap_err();
    assert!(matches!(err, UnpackError::ParentDir { .. }), "{err}");
    let err = f.tree(&[file("/x", 0o644, b"")], &none, BTreeMap::new()).unwrap_err();
    assert!(matches!(err, UnpackError::Absolute { .. }), "{err}");
}

#[test]
fn tree_refuses_a_link_that_a_later_link_takes_out_of_the_root() {
    // Read when it comes, `c/l -> a/..` is `c`; once `c/a -> ..` follows, it is above the root.
    let err = fixture()
        .tree(&[symlink("c/l", "a/.."), symlink("c/a", "..")], &Specials::default(), BTreeMap::new())
        .unwrap_err();
    assert!(matches!(&err, UnpackError::LinkEscapes { path, .. } if path == "c/l"), "{err}");
}

#[test]
fn tree_refuses_entries_under_files_and_links() {
    let f = fixture();
    let none = Specials::default();
    // Under a file or a link of the same archive, in either order.
    for entries in [
        [file("c", 0o644, b"c"), dir("c/a/")],
        [dir("c/a/"), file("c", 0o644, b"c")],
        [symlink("c", "elsewhere"), file("c/a", 0o644, b"a")],
        [file("c/a", 0o644, b"a"), symlink("c", "elsewhere")],
    ] {
        let err = f.tree(&entries, &none, BTreeMap::new()).unwrap_err();
        assert!(matches!(&err, UnpackError::UnderNonDir { path, under, .. } if path == "c/a" && under == "c"), "{err}");
        assert_names(&err, "c/a");
    }
    // Under a link of an earlier archive, such as a merged-/usr `lib -> usr/lib`: refused. Where
    // this archive makes it a directory first, or a whiteout removed it, the path is free.
    let base = f.tree(&[dir("usr/"), dir("usr/lib/"), symlink("lib", "usr/lib")], &none, BTreeMap::new()).unwrap();
    let err = f.tree(&[file("lib/x", 0o644, b"x")], &none, base.clone()).unwrap_err();
    assert!(matches!(&err, UnpackError::UnderNonDir { kind: "symlink", .. }), "{err}");
    let top = f.tree(&[dir("lib/"), file("lib/x", 0o644, b"x")], &none, base.clone()).unwrap();
    assert_eq!(top["lib"].kind, MemberKind::Dir);
    let top = f.tree(&[file(".wh.lib", 0o644, b""), file("lib/x", 0o644, b"x")], &none, base).unwrap();
    assert_eq!(paths(&top), ["lib/x", "usr", "usr/lib"]);
}

#[test]
fn tree_refuses_dangling_hard_links_and_bad_whiteouts() {
    let f = fixture();
    let none = Specials::default();
    let err = f.tree(&[hardlink("x", "nothing")], &none, BTreeMap::new()).unwrap_err();
    assert!(matches!(err, UnpackError::DanglingHardLink { .. }), "{err}");
    // A whiteout that removes a hard link's target in a later layer.
    let base = f.tree(&[file("t", 0o644, b"t")], &none, BTreeMap::new()).unwrap();
    let err = f.tree(&[hardlink("l", "t"), file(".wh.t", 0o644, b"")], &none, base.clone()).unwrap_err();
    assert!(matches!(err, UnpackError::DanglingHardLink { .. }), "{err}");
    let err = f.tree(&[file("a/.wh...", 0o644, b"")], &none, base).unwrap_err();
    assert!(matches!(err, UnpackError::BadWhiteout { .. }), "{err}");
}

#[test]
fn tree_refuses_a_path_present_twice() {
    let f = fixture();
    let err = f
        .tree(
            &[dir("etc/"), file("etc/passwd", 0o644, b"a"), file("etc/passwd", 0o644, b"b")],
            &Specials::default(),
            BTreeMap::new(),
        )
        .unwrap_err();
    assert!(matches!(err, UnpackError::Duplicate { .. }), "{err}");
    assert_names(&err, "etc/passwd");
}
