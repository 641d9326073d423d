//! The appliance disk: a whole root filesystem [`Tree`] becomes `rootfs.tar`, a bootable UEFI
//! `disk.raw` (GPT: an ESP that GRUB boots the kernel from, and an ext4 root), the same disk as a
//! fixed `disk.vhd`, and `image-info.json`; [`ami_commands`] prints how to make an AMI of it.
//! Same inputs, same bytes: every timestamp is the epoch and every identifier comes from the seed.
//! No loop devices: the ESP is formatted in place by a FAT library, the root by `mke2fs -d`.
//! Outputs are written under temp names and renamed only when all are done.
//!
//! [`boot`] finds what the ESP boots, [`esp`] writes it ([`fatdots`] puts right the `.` and `..`
//! entries the FAT library gets wrong), [`materialize`] and [`ext4`] make the root, [`gpt`] the
//! layout and table, [`vhd`] the footer, [`info`] the JSON, [`ami`] the text; [`tools`] names
//! the versions of the programs that write it.

pub mod ami;
pub mod boot;
pub mod esp;
pub mod ext4;
pub mod fatdots;
pub mod gpt;
pub mod ids;
pub mod info;
pub mod materialize;
pub mod region;
pub mod tools;
pub mod vhd;

pub use ami::ami_commands;
pub use info::{FileInfo, ImageInfo};
pub use tools::Tools;

use crate::digest::{Digest, Hasher};
use crate::error::{Error, IoContext, Result};
use crate::report::Reporter;
use crate::stage::{Content, Tree};
use crate::store::BlobStore;
use ids::Purpose;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
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
    /// The versions of the programs that write the disk ([`Tools::detect`], once per build; part
    /// of the disk's key), recorded in image-info.json.
    pub tools: &'a Tools,
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

    // rootfs.tar on a thread of its own, beside the disk images: each is mostly hashing or
    // copying, and each needs a core. The tar writer checks every blob's sha256 as it reads it;
    // the materialized tree takes the same blobs as they are, and the disk is kept only if both
    // succeed.
    let (raw, vhd) = (temp(out_dir, DISK_RAW)?, temp(out_dir, DISK_VHD)?);
    let (tar, disks) = std::thread::scope(|s| {
        let tar = s.spawn(|| write_rootfs_tar(input, out_dir, report));
        let disks = write_disks(input, (&raw, &vhd), &layout, &guids, fs_uuid, (&boot, &grub_cfg), report);
        (tar.join().unwrap_or_else(|p| std::panic::resume_unwind(p)), disks)
    });
    let (tar, tar_info) = tar?;
    let (raw_info, vhd_info) = disks?;
    let files = BTreeMap::from([
        (ROOTFS_TAR.to_string(), tar_info),
        (DISK_RAW.to_string(), raw_info),
        (DISK_VHD.to_string(), vhd_info),
    ]);

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
        tools: input.tools.clone(),
        volume_size_gib: layout.disk_size.div_ceil(GIB),
    };
    for (tmp, name) in [(tar, ROOTFS_TAR), (raw, DISK_RAW), (vhd, DISK_VHD)] {
        publish(tmp, &out_dir.join(name))?;
    }
    crate::fsutil::write_atomic(&out_dir.join(info::FILE_NAME), &info.to_json())?;
    Ok(info)
}

/// Writes rootfs.tar into a temp file in `out_dir`, verifying every blob it reads.
fn write_rootfs_tar(input: &DiskInput, out_dir: &Path, report: &Reporter) -> Result<(NamedTempFile, FileInfo)> {
    report.step(format!("disk: writing {ROOTFS_TAR}"));
    let tar = temp(out_dir, ROOTFS_TAR)?;
    let out = BufWriter::with_capacity(CHUNK, tar.as_file());
    let (w, sha256) = crate::layer::write_tar(input.tree, input.epoch, input.store, out)?;
    drop(w);
    let size = len(&tar)?;
    Ok((tar, FileInfo { sha256, size }))
}

/// Writes disk.raw into `raw`: the root tree materialized and made into ext4 in place at the
/// root partition, then the GPT and the ESP; then hashes it and mirrors it into the VHD `vhd`.
/// Returns what image-info.json says of each.
fn write_disks(
    input: &DiskInput,
    (raw, vhd): (&NamedTempFile, &NamedTempFile),
    layout: &gpt::Layout,
    guids: &gpt::Guids,
    fs_uuid: uuid::Uuid,
    (boot, grub_cfg): (&boot::BootFiles, &str),
    report: &Reporter,
) -> Result<(FileInfo, FileInfo)> {
    let raw_path = raw.path();
    raw.as_file().set_len(layout.disk_size).at(raw_path)?;
    let out_dir = crate::fsutil::parent_of(raw_path);
    let (_rootdir, source) = materialize::temp_root(&out_dir)?;
    let total: u64 = input.tree.entries.values().map(file_size).sum();
    let bar = report.bytes(Some(total), "disk: materializing the root tree");
    report.step(format!("disk: materializing the root tree ({} entries, {total} bytes)", input.tree.entries.len()));
    materialize::materialize(input.tree, input.store, &source, input.epoch, &|n| bar.inc(n))?;
    bar.finish_and_clear();

    report.step(format!("disk: making the ext4 root filesystem ({} MiB)", layout.root_size / gpt::MIB));
    ext4::make(&ext4::Ext4 {
        source: &source,
        image: raw_path,
        offset: layout.root_start,
        size: layout.root_size,
        uuid: fs_uuid,
        hash_seed: ids::uuid(&input.seed, Purpose::RootHashSeed),
        epoch: input.epoch,
        tree: input.tree,
    })?;
    drop(_rootdir);

    report.step(format!("disk: writing the partition table and the ESP of {DISK_RAW}"));
    gpt::write(raw.as_file(), raw_path, layout, guids)?;
    esp::write(
        raw.as_file(),
        raw_path,
        &esp::Esp {
            region: (layout.esp_start, layout.esp_size),
            volume_id: ids::u32_of(&input.seed, Purpose::EspVolumeId),
            epoch: input.epoch,
            boot,
            grub_cfg,
            store: input.store,
        },
    )?;

    report.step(format!("disk: hashing {DISK_RAW}, writing {DISK_VHD}"));
    let bar = report.bytes(Some(layout.disk_size), format!("disk: {DISK_VHD}"));
    let footer = vhd::footer(layout.disk_size, input.epoch, *ids::uuid(&input.seed, Purpose::VhdUniqueId).as_bytes());
    let (raw_sum, vhd_sum) = hash_and_mirror(raw.as_file(), vhd.as_file(), &footer, &|n| bar.inc(n)).at(vhd.path())?;
    bar.finish_and_clear();
    Ok((
        FileInfo { sha256: raw_sum, size: layout.disk_size },
        FileInfo { sha256: vhd_sum, size: layout.disk_size + 512 },
    ))
}

/// AMI names: 3 to 128 of letters, digits and `()[] ./-'@_`.
pub(crate) fn check_name(name: &str) -> Result<()> {
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

/// Reads `src` whole, hashing it, while a second thread copies it (sparsely) into `dst` followed
/// by `footer`: returns the sha256 of `src` and of `dst`. `dst` must be empty.
fn hash_and_mirror(src: &File, dst: &File, footer: &[u8], progress: &dyn Fn(u64)) -> std::io::Result<(Digest, Digest)> {
    let size = src.metadata()?.len();
    std::thread::scope(|s| {
        let copy = s.spawn(|| {
            each_chunk(src, size, |at, chunk| {
                if chunk.iter().any(|&b| b != 0) {
                    dst.write_all_at(chunk, at)?;
                }
                Ok(())
            })?;
            dst.write_all_at(footer, size)
        });
        let mut hasher = Hasher::default();
        let hashed = each_chunk(src, size, |_, chunk| {
            hasher.update(chunk);
            progress(chunk.len() as u64);
            Ok(())
        });
        copy.join().unwrap_or_else(|p| std::panic::resume_unwind(p))?;
        hashed?;
        let mut with_footer = hasher.clone();
        with_footer.update(footer);
        Ok((hasher.finish().0, with_footer.finish().0))
    })
}

/// Calls `f` with each chunk of the first `size` bytes of `src` and its offset, in order.
fn each_chunk(src: &File, size: u64, mut f: impl FnMut(u64, &[u8]) -> std::io::Result<()>) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut at = 0;
    while at < size {
        let n = (size - at).min(CHUNK as u64) as usize;
        src.read_exact_at(&mut buf[..n], at)?;
        f(at, &buf[..n])?;
        at += n as u64;
    }
    Ok(())
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
}
