//! The appliance disk: a whole root filesystem [`Tree`] becomes `rootfs.tar`, a bootable UEFI
//! `disk.raw` (GPT: an ESP that GRUB boots the kernel from, and an ext4 root), the same disk as a
//! fixed `disk.vhd`, and `image-info.json`; [`ami_commands`] prints how to make an AMI of it.
//! Same inputs, same bytes: every timestamp is the epoch and every identifier comes from the seed.
//! No loop devices: the ESP is formatted in place by a FAT library, the root by `mke2fs -d`.
//! Outputs are written under temp names and renamed only when all are done.
//!
//! [`boot`] finds what the ESP boots, [`esp`] writes it, [`materialize`] and [`ext4`] make the
//! root, [`gpt`] the layout and table, [`vhd`] the footer, [`info`] the JSON, [`ami`] the text.

pub mod ami;
pub mod boot;
pub mod esp;
pub mod ext4;
pub mod gpt;
pub mod ids;
pub mod info;
pub mod materialize;
pub mod region;
pub mod vhd;

pub use ami::ami_commands;
pub use info::{FileInfo, ImageInfo};

use crate::digest::{Digest, Hasher};
use crate::error::{Error, IoContext, Result};
use crate::report::Reporter;
use crate::stage::{Content, Tree};
use crate::store::BlobStore;
use ids::Purpose;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::Path;
use tempfile::NamedTempFile;

pub const ROOTFS_TAR: &str = "rootfs.tar";
pub const DISK_RAW: &str = "disk.raw";
pub const DISK_VHD: &str = "disk.vhd";

const GIB: u64 = 1 << 30;
const CHUNK: usize = 1 << 20;

/// What the disk is made of.
pub struct DiskInput<'a> {
    /// The whole root filesystem.
    pub tree: &'a Tree,
    /// Where the tree's file contents are.
    pub store: &'a BlobStore,
    /// SOURCE_DATE_EPOCH: every timestamp on the disk.
    pub epoch: u64,
    /// The digest every GUID, UUID and hash seed is derived from (the lock's).
    pub seed: Digest,
    /// The root partition's size in bytes (rounded up to a MiB); None: the tree's size * 1.25 +
    /// 512 MiB.
    pub root_size: Option<u64>,
    /// The image's (and AMI's) name, e.g. `livepeer-appliance-0.8.3`.
    pub name: String,
    /// The base root filesystem, named in errors about what it lacks.
    pub base: String,
}

/// Writes rootfs.tar, disk.raw, disk.vhd and image-info.json into `out_dir`.
pub fn write(input: &DiskInput, out_dir: &Path, report: &Reporter) -> Result<ImageInfo> {
    check_name(&input.name)?;
    let boot = boot::find(input.tree, &input.base)?;
    let seed = &input.seed;
    let guids = gpt::Guids {
        disk: ids::uuid(seed, Purpose::DiskGuid),
        esp: ids::uuid(seed, Purpose::EspPartition),
        root: ids::uuid(seed, Purpose::RootPartition),
    };
    let fs_uuid = ids::uuid(seed, Purpose::RootFsUuid);
    let root_size = input.root_size.unwrap_or_else(|| auto_root_size(input.tree));
    let layout = gpt::Layout::new(root_size);
    let grub_cfg = boot::grub_cfg(&guids.root);
    let mut files = BTreeMap::new();

    report.step(format!("disk: writing {ROOTFS_TAR}"));
    let tar = temp(out_dir, ROOTFS_TAR)?;
    let (w, sha256) = crate::layer::write_tar(input.tree, input.epoch, input.store, BufWriter::new(tar.as_file()))?;
    drop(w);
    files.insert(ROOTFS_TAR.to_string(), FileInfo { sha256, size: len(&tar)? });

    let (_rootdir, source) = materialize::temp_root(out_dir)?;
    let total: u64 = input.tree.entries.values().map(file_size).sum();
    let bar = report.bytes(Some(total), "disk: materializing the root tree");
    report.step(format!("disk: materializing the root tree ({} entries, {total} bytes)", input.tree.entries.len()));
    materialize::materialize(input.tree, input.store, &source, input.epoch, &|n| bar.inc(n))?;
    bar.finish_and_clear();

    report.step(format!("disk: making the ext4 root filesystem ({} MiB)", layout.root_size / gpt::MIB));
    let ext4_tmp = temp(out_dir, "root.ext4")?;
    ext4::make(&ext4::Ext4 {
        source: &source,
        image: ext4_tmp.path(),
        size: layout.root_size,
        uuid: fs_uuid,
        hash_seed: ids::uuid(seed, Purpose::RootHashSeed),
        epoch: input.epoch,
        tree: input.tree,
    })?;
    drop(_rootdir);

    report.step(format!("disk: writing {DISK_RAW} ({} MiB)", layout.disk_size / gpt::MIB));
    let raw = temp(out_dir, DISK_RAW)?;
    let raw_path = out_dir.join(DISK_RAW);
    raw.as_file().set_len(layout.disk_size).at(&raw_path)?;
    gpt::write(raw.as_file(), &raw_path, &layout, &guids)?;
    esp::write(
        raw.as_file(),
        &raw_path,
        &esp::Esp {
            region: (layout.esp_start, layout.esp_size),
            volume_id: ids::u32_of(seed, Purpose::EspVolumeId),
            epoch: input.epoch,
            boot: &boot,
            grub_cfg: &grub_cfg,
            store: input.store,
        },
    )?;
    let ext4_file = File::open(ext4_tmp.path()).at(ext4_tmp.path())?;
    copy_sparse(&ext4_file, raw.as_file(), layout.root_start, layout.root_size).at(&raw_path)?;
    drop(ext4_file);
    drop(ext4_tmp);
    raw.as_file().sync_all().at(&raw_path)?;

    report.step(format!("disk: hashing {DISK_RAW}, writing {DISK_VHD}"));
    let vhd = temp(out_dir, DISK_VHD)?;
    let bar = report.bytes(Some(layout.disk_size), format!("disk: {DISK_VHD}"));
    let footer = vhd::footer(layout.disk_size, input.epoch, *ids::uuid(seed, Purpose::VhdUniqueId).as_bytes());
    let (raw_sum, vhd_sum) =
        hash_and_mirror(raw.as_file(), vhd.as_file(), &footer, &|n| bar.inc(n)).at(out_dir.join(DISK_VHD))?;
    bar.finish_and_clear();
    files.insert(DISK_RAW.to_string(), FileInfo { sha256: raw_sum, size: layout.disk_size });
    files.insert(DISK_VHD.to_string(), FileInfo { sha256: vhd_sum, size: layout.disk_size + 512 });

    let info = ImageInfo {
        architecture: "x86_64".into(),
        boot_mode: "uefi".into(),
        disk_guid: guids.disk,
        disk_size: layout.disk_size,
        ena_support: true,
        esp_partition_guid: guids.esp,
        files,
        inputs: input.seed,
        kernel_cmdline: boot::cmdline(&guids.root),
        kernel_version: boot.kernel_version.clone(),
        name: input.name.clone(),
        nvme_support: true,
        root_device: "/dev/xvda".into(),
        root_fs_label: ext4::LABEL.into(),
        root_fs_uuid: fs_uuid,
        root_partition_guid: guids.root,
        volume_size_gib: layout.disk_size.div_ceil(GIB),
    };
    for (tmp, name) in [(tar, ROOTFS_TAR), (raw, DISK_RAW), (vhd, DISK_VHD)] {
        publish(tmp, &out_dir.join(name))?;
    }
    crate::fsutil::write_atomic(&out_dir.join(info::FILE_NAME), &info.to_json())?;
    Ok(info)
}

/// AMI names: 3 to 128 of letters, digits and `()[] ./-'@_`.
fn check_name(name: &str) -> Result<()> {
    let ok =
        (3..=128).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c));
    if ok {
        return Ok(());
    }
    Err(Error::Output(format!(
        "`{name}` cannot name an AMI\n  fix: use 3 to 128 letters, digits and ()[] ./-'@_ in the image's name and version"
    )))
}

fn file_size(e: &crate::stage::Entry) -> u64 {
    match e.content {
        Content::File { size, .. } => size,
        _ => 0,
    }
}

/// What the tree takes on ext4 (blocks of 4 KiB, 256-byte inodes) * 1.25 + 512 MiB.
pub fn auto_root_size(tree: &Tree) -> u64 {
    let used: u64 = tree
        .entries
        .values()
        .map(|e| {
            256 + match &e.content {
                Content::File { size, .. } => size.div_ceil(4096) * 4096,
                Content::Dir => 4096,
                Content::Symlink { target } if target.len() >= 60 => 4096,
                _ => 0,
            }
        })
        .sum();
    (used + used / 4 + 512 * gpt::MIB).div_ceil(gpt::MIB) * gpt::MIB
}

/// A temp file in `dir` for the output `name`, removed unless published.
fn temp(dir: &Path, name: &str) -> Result<NamedTempFile> {
    tempfile::Builder::new().prefix(&format!(".{name}.")).tempfile_in(dir).at(dir)
}

fn len(f: &NamedTempFile) -> Result<u64> {
    Ok(f.as_file().metadata().at(f.path())?.len())
}

/// Renames a finished temp file to `dest`, readable by all (whatever the umask).
fn publish(tmp: NamedTempFile, dest: &Path) -> Result<()> {
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).at(dest)?;
    tmp.as_file().sync_all().at(dest)?;
    tmp.persist(dest).map_err(|e| Error::io(dest, e.error))?;
    Ok(())
}

/// Copies `len` bytes of `src` into `dst` at `offset`, leaving all-zero chunks unwritten (`dst`
/// is fresh and sparse, so they read as zero and take no space).
fn copy_sparse(src: &File, dst: &File, offset: u64, len: u64) -> std::io::Result<()> {
    let (mut buf, zeros) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut src = src.take(len);
    let mut at = 0u64;
    loop {
        let n = read_full(&mut src, &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        if buf[..n] != zeros[..n] {
            dst.write_all_at(&buf[..n], offset + at)?;
        }
        at += n as u64;
    }
}

/// Reads `src` whole, hashing it, and writes it (sparsely) into `dst` followed by `footer`:
/// returns the sha256 of `src` and of `dst`.
fn hash_and_mirror(src: &File, dst: &File, footer: &[u8], progress: &dyn Fn(u64)) -> std::io::Result<(Digest, Digest)> {
    let (mut buf, zeros) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut hasher = Hasher::default();
    let mut reader = src;
    std::io::Seek::seek(&mut reader, std::io::SeekFrom::Start(0))?;
    let mut at = 0u64;
    loop {
        let n = read_full(&mut reader, &mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if buf[..n] != zeros[..n] {
            dst.write_all_at(&buf[..n], at)?;
        }
        at += n as u64;
        progress(n as u64);
    }
    let mut with_footer = hasher.clone();
    with_footer.update(footer);
    let mut out = dst;
    dst.set_len(at)?;
    std::io::Seek::seek(&mut out, std::io::SeekFrom::Start(at))?;
    out.write_all(footer)?;
    Ok((hasher.finish().0, with_footer.finish().0))
}

/// Fills `buf` as far as `src` allows; fewer bytes only at the end.
fn read_full(src: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ami_refuses() {
        assert!(check_name("livepeer-appliance-0.8.3").is_ok());
        assert!(check_name("a").is_err());
        assert!(check_name("x;rm -rf").is_err());
    }

    #[test]
    fn sparse_copy_keeps_bytes() {
        let src = tempfile::tempfile().unwrap();
        src.write_all_at(b"abc", 3 * CHUNK as u64 + 5).unwrap();
        src.set_len(4 * CHUNK as u64).unwrap();
        let dst = tempfile::tempfile().unwrap();
        dst.set_len(10 * CHUNK as u64).unwrap();
        copy_sparse(&src, &dst, CHUNK as u64, 4 * CHUNK as u64).unwrap();
        let mut got = [0u8; 3];
        dst.read_exact_at(&mut got, 4 * CHUNK as u64 + 5).unwrap();
        assert_eq!(&got, b"abc");
    }
}
