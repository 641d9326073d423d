//! The disk's layout and partition table: protective MBR, primary and backup GPT, partition 1 the
//! ESP and partition 2 the x86-64 root, both 1 MiB aligned, with GUIDs from the seed.

use crate::error::{Error, Result};
use gpt::disk::LogicalBlockSize;
use gpt::partition::Partition;
use gpt::partition_types;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

pub const SECTOR: u64 = 512;
pub const MIB: u64 = 1 << 20;
/// The ESP's size.
pub const ESP_SIZE: u64 = 256 * MIB;

/// Where everything is, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub esp_start: u64,
    pub esp_size: u64,
    pub root_start: u64,
    pub root_size: u64,
    /// The whole disk: a MiB multiple, with room for the backup GPT after the root partition.
    pub disk_size: u64,
}

impl Layout {
    /// The layout for a root partition of `root_size` bytes rounded up to a MiB. The disk ends at
    /// least 1 MiB after it (the backup GPT), and then (by less than 256 MiB, left unpartitioned)
    /// where its size is also what its VHD CHS geometry says, so readers that size a VHD by its
    /// geometry (Virtual PC, qemu) and those that use its current size (Hyper-V, Azure) see the
    /// same disk, backup GPT included.
    pub fn new(root_size: u64) -> Self {
        let esp_start = MIB;
        let root_start = esp_start + ESP_SIZE;
        let root_size = root_size.div_ceil(MIB) * MIB;
        let least = root_start + root_size + MIB;
        let disk_size = (0..256).map(|k| least + k * MIB).find(|&s| super::vhd::geometry_fits(s)).unwrap_or(least);
        Layout { esp_start, esp_size: ESP_SIZE, root_start, root_size, disk_size }
    }
}

/// The GUIDs of the table.
pub struct Guids {
    pub disk: uuid::Uuid,
    pub esp: uuid::Uuid,
    pub root: uuid::Uuid,
}

/// Writes the protective MBR and both GPTs into `disk`, which already has the layout's size.
pub fn write(disk: &File, path: &Path, layout: &Layout, guids: &Guids) -> Result<()> {
    let err = |e: String| Error::Output(format!("{}: writing the partition table: {e}", path.display()));
    let lba = |bytes: u64| bytes / SECTOR;
    let part = |type_guid, guid, start, size, name: &str| Partition {
        part_type_guid: type_guid,
        part_guid: guid,
        first_lba: lba(start),
        last_lba: lba(start + size) - 1,
        flags: 0,
        name: name.to_string(),
    };
    let parts = BTreeMap::from([
        (1, part(partition_types::EFI, guids.esp, layout.esp_start, layout.esp_size, "ESP")),
        (2, part(partition_types::LINUX_ROOT_X64, guids.root, layout.root_start, layout.root_size, "root")),
    ]);
    let mut device = disk.try_clone().map_err(|e| Error::io(path, e))?;
    let mbr = gpt::mbr::ProtectiveMBR::with_lb_size(u32::try_from(lba(layout.disk_size) - 1).unwrap_or(u32::MAX));
    mbr.overwrite_lba0(&mut device).map_err(|e| err(e.to_string()))?;
    let mut table = gpt::GptConfig::new()
        .writable(true)
        .logical_block_size(LogicalBlockSize::Lb512)
        .create_from_device(device, Some(guids.disk))
        .map_err(|e| err(e.to_string()))?;
    table.update_partitions(parts).map_err(|e| err(e.to_string()))?;
    table.write().map_err(|e| err(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_mib_aligned_with_room_for_the_backup_table() {
        for asked in [1, 1000 * MIB + 1, 5 << 30, 40 << 30, 200 << 30] {
            let l = Layout::new(asked);
            assert_eq!(l.root_size, asked.div_ceil(MIB) * MIB);
            assert_eq!((l.esp_start, l.root_start), (MIB, 257 * MIB));
            let tail = l.disk_size - 257 * MIB - l.root_size;
            assert!((MIB..257 * MIB).contains(&tail), "{asked}: {l:?}");
            assert_eq!(l.disk_size % MIB, 0);
            assert!(crate::disk::vhd::geometry_fits(l.disk_size), "{asked}: {l:?}");
        }
    }
}
