//! The EFI system partition: FAT32 formatted in place in the disk image (volume id from the seed,
//! label `ESP`, every timestamp the build's epoch) by the `fatfs` crate, holding GRUB as the
//! removable-media boot loader, its grub.cfg under each prefix a monolithic GRUB image may carry,
//! and the kernel and initrd it boots; then [`fatdots`] rewrites the `.` and `..` entries fatfs
//! gets wrong, so the volume passes `fsck.vfat`.

use super::boot::{Blob, BootFiles};
use super::fatdots;
use super::region::Region;
use crate::error::{Error, Result};
use crate::store::BlobStore;
use fatfs::{Date, DateTime, Dir, FatType, FileSystem, FormatVolumeOptions, FsOptions, ReadWriteSeek, Time};
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

/// The FAT volume label (11 bytes, space padded).
pub const LABEL: &[u8; 11] = b"ESP        ";

/// The prefixes under which a monolithic GRUB image looks for its grub.cfg.
pub const GRUB_CFG_PATHS: [&str; 3] = ["EFI/BOOT/grub.cfg", "EFI/ubuntu/grub.cfg", "EFI/debian/grub.cfg"];

/// A clock that always says the build's epoch (what fatfs stamps on every entry).
#[derive(Debug)]
struct FixedClock(DateTime);

impl fatfs::TimeProvider for FixedClock {
    fn get_current_date(&self) -> Date {
        self.0.date
    }
    fn get_current_date_time(&self) -> DateTime {
        self.0
    }
}

/// `epoch` (seconds since 1970, UTC) as a DOS date and time, clamped to the years FAT can hold
/// (1980..=2107); seconds are even (FAT's resolution).
pub fn dos_time(epoch: u64) -> DateTime {
    let days = (epoch / 86400) as i64;
    let secs = epoch % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u16;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u16;
    let year = yoe + era * 400 + i64::from(month <= 2);
    if year < 1980 {
        return DateTime {
            date: Date { year: 1980, month: 1, day: 1 },
            time: Time { hour: 0, min: 0, sec: 0, millis: 0 },
        };
    }
    if year > 2107 {
        return DateTime {
            date: Date { year: 2107, month: 12, day: 31 },
            time: Time { hour: 23, min: 59, sec: 58, millis: 0 },
        };
    }
    let time =
        Time { hour: (secs / 3600) as u16, min: (secs / 60 % 60) as u16, sec: (secs % 60 / 2 * 2) as u16, millis: 0 };
    DateTime { date: Date { year: year as u16, month, day }, time }
}

/// What goes into the ESP, and where.
pub struct Esp<'a> {
    /// (start, length) in bytes of the partition in the disk image.
    pub region: (u64, u64),
    pub volume_id: u32,
    pub epoch: u64,
    pub boot: &'a BootFiles,
    pub grub_cfg: &'a str,
    pub store: &'a BlobStore,
}

/// Formats the ESP's region of `disk` and writes the boot files into it.
pub fn write(disk: &File, disk_path: &Path, esp: &Esp) -> Result<()> {
    let Esp { region: (start, len), volume_id, epoch, boot, grub_cfg, store } = *esp;
    let at = |e: io::Error| Error::io(disk_path, e);
    let fmt = FormatVolumeOptions::new().fat_type(FatType::Fat32).volume_id(volume_id).volume_label(*LABEL);
    fatfs::format_volume(Region::new(disk, start, len), fmt).map_err(at)?;
    // fatfs wants a clock that lives forever: one small leak per disk written.
    let clock: &'static FixedClock = Box::leak(Box::new(FixedClock(dos_time(epoch))));
    let fs = FileSystem::new(Region::new(disk, start, len), FsOptions::new().time_provider(clock)).map_err(at)?;
    let needed = boot.grub.size + boot.kernel.size + boot.initrd.size + 3 * grub_cfg.len() as u64;
    let free = fs.stats().map_err(at)?;
    let free = u64::from(free.free_clusters()) * u64::from(free.cluster_size());
    if needed + (1 << 20) > free {
        return Err(Error::Output(format!(
            "{}: the kernel, initrd and GRUB need {needed} bytes, more than the ESP's {free} free bytes\n  fix: use a \
             base with a smaller initrd (e.g. MODULES=dep in initramfs.conf)",
            disk_path.display()
        )));
    }
    {
        let root = fs.root_dir();
        put(&root, "EFI/BOOT/BOOTX64.EFI", Source::Blob(store, boot.grub)).map_err(at)?;
        for p in GRUB_CFG_PATHS {
            put(&root, p, Source::Bytes(grub_cfg.as_bytes())).map_err(at)?;
        }
        put(&root, "vmlinuz", Source::Blob(store, boot.kernel)).map_err(at)?;
        put(&root, "initrd.img", Source::Blob(store, boot.initrd)).map_err(at)?;
    }
    fs.unmount().map_err(at)?;
    fatdots::fix_dot_entries(&mut Region::new(disk, start, len)).map_err(at)
}

pub(super) enum Source<'a> {
    Blob(&'a BlobStore, Blob),
    Bytes(&'a [u8]),
}

/// Writes one file at `path` (parents created), streamed from its source.
pub(super) fn put<T: ReadWriteSeek>(root: &Dir<T>, path: &str, src: Source) -> io::Result<()> {
    let (dirs, name) = path.rsplit_once('/').unwrap_or(("", path));
    let mut dir = root.clone();
    for part in dirs.split('/').filter(|p| !p.is_empty()) {
        dir = dir.create_dir(part)?;
    }
    let mut f = dir.create_file(name)?;
    f.truncate()?;
    match src {
        Source::Blob(store, b) => {
            let n = io::copy(&mut store.open(&b.blob)?, &mut f)?;
            if n != b.size {
                return Err(io::Error::other(format!(
                    "{}: {n} bytes, the tree says {}",
                    store.path(&b.blob).display(),
                    b.size
                )));
            }
        }
        Source::Bytes(bytes) => f.write_all(bytes)?,
    }
    f.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_as_dos_time() {
        let t = dos_time(1_700_000_001); // 2023-11-14T22:13:21Z
        assert_eq!((t.date.year, t.date.month, t.date.day), (2023, 11, 14));
        assert_eq!((t.time.hour, t.time.min, t.time.sec), (22, 13, 20));
        assert_eq!(dos_time(0).date.year, 1980);
        let leap = dos_time(951_782_400); // 2000-02-29T00:00:00Z
        assert_eq!((leap.date.year, leap.date.month, leap.date.day), (2000, 2, 29));
    }
}
