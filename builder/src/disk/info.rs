//! `image-info.json`: what an AMI or VM made from the disk must be told (boot mode, architecture,
//! root device, ENA and NVMe), the identifiers on the disk, the kernel, the size and sha256 of
//! every output file, and the versions of the programs that wrote it. Keys sorted (struct fields
//! in order, maps as BTreeMap).

use crate::digest::Digest;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const FILE_NAME: &str = "image-info.json";

/// Largest image-info.json read: lpbake writes about 2 KiB.
const MAX_BYTES: u64 = 1 << 20;

/// One output file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInfo {
    pub sha256: Digest,
    pub size: u64,
}

/// The typed content of image-info.json; fields in sorted order, so the JSON keys are too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    pub architecture: String,
    pub boot_mode: String,
    /// The GPT disk GUID.
    pub disk_guid: uuid::Uuid,
    /// The disk's size in bytes (what the raw and VHD disks hold).
    pub disk_size: u64,
    pub ena_support: bool,
    /// The ESP's partition GUID.
    pub esp_partition_guid: uuid::Uuid,
    /// Output file name -> its size and sha256 (rootfs.tar, disk.raw, disk.vhd).
    pub files: BTreeMap<String, FileInfo>,
    /// The digest of everything the disk is made from (the seed of its identifiers): a build
    /// with the same inputs finds its disk up to date.
    pub inputs: Digest,
    /// The kernel command line in the ESP's grub.cfg.
    pub kernel_cmdline: String,
    pub kernel_version: String,
    /// The image's name (the AMI name).
    pub name: String,
    pub nvme_support: bool,
    pub root_device: String,
    /// The ext4 root filesystem's UUID and label.
    pub root_fs_label: String,
    pub root_fs_uuid: uuid::Uuid,
    /// The root partition's GPT GUID (`root=PARTUUID=` on the kernel command line).
    pub root_partition_guid: uuid::Uuid,
    /// The versions of the programs that wrote the disk (mke2fs, debugfs, dumpe2fs).
    pub tools: super::Tools,
    /// The EBS volume size (GiB) an instance needs at least: the disk rounded up.
    pub volume_size_gib: u64,
}

impl ImageInfo {
    /// The pretty JSON written to image-info.json (keys sorted, newline at the end).
    pub fn to_json(&self) -> Vec<u8> {
        let v = serde_json::to_value(self).expect("image info serializes");
        let mut out = serde_json::to_vec_pretty(&v).expect("a value serializes");
        out.push(b'\n');
        out
    }

    /// One line for people: name, disk size, sha256 of disk.raw.
    pub fn summary(&self) -> String {
        let raw = self.files.get(super::DISK_RAW).map(|f| f.sha256.to_string()).unwrap_or_default();
        format!("{}, {} MiB, disk.raw {raw}", self.name, self.disk_size >> 20)
    }

    /// Reads `<dir>/image-info.json`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(FILE_NAME);
        let text = lpbake_rules::read::bytes(&path, MAX_BYTES)?;
        serde_json::from_slice(&text).map_err(|e| {
            Error::Output(format!(
                "{}: not an lpbake image-info.json ({e})\n  fix: rebuild the appliance with `lpbake build`",
                path.display()
            ))
        })
    }
}
