//! The `.` and `..` entries of every directory of a FAT32 volume, as the FAT specification (and
//! `fsck.vfat`) wants them: the first two entries of the directory, short entries only, `.`
//! naming the directory's own first cluster and `..` its parent's, or 0 when the parent is the
//! root. The `fatfs` crate (0.3.6) writes them like any other name, each behind a long-file-name
//! entry, and gives `..` of a directory in the root the root's cluster; [`fix_dot_entries`] walks
//! the volume once after fatfs is done and rewrites each directory: its dot entries first, its
//! other entries after them in their order, zeros to the end of its clusters. Same volume in,
//! same bytes out; the FAT, the files and every other entry are left as they are.

use std::collections::BTreeSet;
use std::io::{self, Read, Seek, SeekFrom, Write};

const ENTRY: usize = 32;
const ATTR_LFN: u8 = 0x0F;
const ATTR_DIR: u8 = 0x10;
const DELETED: u8 = 0xE5;
const DOT: &[u8; 11] = b".          ";
const DOTDOT: &[u8; 11] = b"..         ";
/// FAT32 entries are 28 bits; this and above ends a cluster chain.
const END_OF_CHAIN: u32 = 0x0FFF_FFF8;

type Entry = [u8; ENTRY];

/// Rewrites the dot entries of every directory of the FAT32 volume `v` (see the module's doc).
pub fn fix_dot_entries<T: Read + Write + Seek>(v: &mut T) -> io::Result<()> {
    let vol = Volume::read(v)?;
    let mut seen = BTreeSet::from([vol.root]);
    // (a directory's first cluster, what its `..` names: 0 for a directory in the root)
    let mut todo: Vec<(u32, u32)> = subdirs(&vol.read_dir(v, vol.root)?.1).into_iter().map(|d| (d, 0)).collect();
    while let Some((dir, parent)) = todo.pop() {
        if !seen.insert(dir) {
            return Err(bad(format!("directory cluster {dir} is reached twice")));
        }
        let (clusters, entries) = vol.read_dir(v, dir)?;
        let fixed = dots_first(&entries, dir, parent)?;
        vol.write_dir(v, &clusters, &fixed)?;
        todo.extend(subdirs(&fixed).into_iter().map(|d| (d, dir)));
    }
    Ok(())
}

/// `entries` of the directory at cluster `own` in the order the specification wants: `.` (naming
/// `own`), `..` (naming `parent`), then every other entry in its order, without the long-name
/// entries that belonged to `.` and `..`.
fn dots_first(entries: &[Entry], own: u32, parent: u32) -> io::Result<Vec<Entry>> {
    let (mut dot, mut dotdot, mut rest, mut long) = (None, None, Vec::new(), Vec::new());
    for e in entries {
        if e[11] == ATTR_LFN && e[0] != DELETED {
            long.push(*e);
        } else if &e[..11] == DOT {
            (dot, long) = (Some(with_cluster(*e, own)), Vec::new());
        } else if &e[..11] == DOTDOT {
            (dotdot, long) = (Some(with_cluster(*e, parent)), Vec::new());
        } else {
            rest.append(&mut long);
            rest.push(*e);
        }
    }
    rest.append(&mut long);
    let (Some(dot), Some(dotdot)) = (dot, dotdot) else {
        return Err(bad(format!("the directory at cluster {own} has no `.` or no `..` entry")));
    };
    Ok([dot, dotdot].into_iter().chain(rest).collect())
}

/// The first clusters of the subdirectories among `entries` (not `.` and `..`).
fn subdirs(entries: &[Entry]) -> Vec<u32> {
    entries
        .iter()
        .filter(|e| e[11] != ATTR_LFN && e[11] & ATTR_DIR != 0 && e[0] != DELETED)
        .filter(|e| &e[..11] != DOT && &e[..11] != DOTDOT)
        .map(cluster_of)
        .collect()
}

fn cluster_of(e: &Entry) -> u32 {
    u32::from(u16::from_le_bytes([e[20], e[21]])) << 16 | u32::from(u16::from_le_bytes([e[26], e[27]]))
}

fn with_cluster(mut e: Entry, cluster: u32) -> Entry {
    e[20..22].copy_from_slice(&((cluster >> 16) as u16).to_le_bytes());
    e[26..28].copy_from_slice(&(cluster as u16).to_le_bytes());
    e
}

fn bad(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("the ESP's FAT32 volume: {what}"))
}

/// Where a FAT32 volume keeps its FAT and its clusters, from its boot sector.
struct Volume {
    cluster_size: u64,
    fat_start: u64,
    data_start: u64,
    root: u32,
    /// The highest cluster number the volume has.
    last_cluster: u32,
}

impl Volume {
    fn read<T: Read + Seek>(v: &mut T) -> io::Result<Self> {
        let mut b = [0u8; 512];
        v.seek(SeekFrom::Start(0))?;
        v.read_exact(&mut b)?;
        let u16_at = |at: usize| u64::from(u16::from_le_bytes([b[at], b[at + 1]]));
        let u32_at = |at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let (sector, per_cluster, reserved, fats) = (u16_at(11), u64::from(b[13]), u16_at(14), u64::from(b[16]));
        let (sectors, fat_sectors, root) = (u64::from(u32_at(32)), u64::from(u32_at(36)), u32_at(44));
        let meta = reserved + fats * fat_sectors;
        // FAT12/16 have a 16-bit FAT size and a fixed root directory: not what we write.
        if u16_at(22) != 0 || sector == 0 || per_cluster == 0 || fat_sectors == 0 || sectors <= meta || root < 2 {
            return Err(bad("not a FAT32 boot sector".into()));
        }
        let clusters = (sectors - meta) / per_cluster;
        Ok(Volume {
            cluster_size: sector * per_cluster,
            fat_start: reserved * sector,
            data_start: meta * sector,
            root,
            last_cluster: u32::try_from(clusters + 1).map_err(|_| bad("too many clusters".into()))?,
        })
    }

    fn offset(&self, cluster: u32) -> u64 {
        self.data_start + u64::from(cluster - 2) * self.cluster_size
    }

    /// The clusters of the chain starting at `first`, in order.
    fn chain<T: Read + Seek>(&self, v: &mut T, first: u32) -> io::Result<Vec<u32>> {
        let mut chain = vec![first];
        let mut at = first;
        loop {
            if !(2..=self.last_cluster).contains(&at) || chain.len() > self.last_cluster as usize {
                return Err(bad(format!("a cluster chain from {first} leaves the volume or loops")));
            }
            let mut next = [0u8; 4];
            v.seek(SeekFrom::Start(self.fat_start + 4 * u64::from(at)))?;
            v.read_exact(&mut next)?;
            at = u32::from_le_bytes(next) & 0x0FFF_FFFF;
            if at >= END_OF_CHAIN {
                return Ok(chain);
            }
            chain.push(at);
        }
    }

    /// The clusters of the directory at `first` and its entries up to the end marker.
    fn read_dir<T: Read + Seek>(&self, v: &mut T, first: u32) -> io::Result<(Vec<u32>, Vec<Entry>)> {
        let clusters = self.chain(v, first)?;
        let mut bytes = vec![0u8; clusters.len() * self.cluster_size as usize];
        for (c, buf) in clusters.iter().zip(bytes.chunks_exact_mut(self.cluster_size as usize)) {
            v.seek(SeekFrom::Start(self.offset(*c)))?;
            v.read_exact(buf)?;
        }
        let entries = bytes.chunks_exact(ENTRY).take_while(|e| e[0] != 0).map(|e| e.try_into().expect("32 bytes"));
        Ok((clusters, entries.collect()))
    }

    /// Writes `entries` over the directory's `clusters`, zeros after them.
    fn write_dir<T: Write + Seek>(&self, v: &mut T, clusters: &[u32], entries: &[Entry]) -> io::Result<()> {
        let mut bytes = vec![0u8; clusters.len() * self.cluster_size as usize];
        if entries.len() * ENTRY > bytes.len() {
            return Err(bad(format!("the directory at cluster {} outgrew its clusters", clusters[0])));
        }
        for (e, slot) in entries.iter().zip(bytes.chunks_exact_mut(ENTRY)) {
            slot.copy_from_slice(e);
        }
        for (c, buf) in clusters.iter().zip(bytes.chunks_exact(self.cluster_size as usize)) {
            v.seek(SeekFrom::Start(self.offset(*c)))?;
            v.write_all(buf)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::esp::{put, Source};
    use crate::disk::region::Region;
    use fatfs::{Dir, FatType, FileSystem, FormatVolumeOptions, FsOptions, ReadWriteSeek};
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::process::Command;

    /// Big enough for FAT32 with 512-byte clusters (65525 at least), so directories span clusters.
    const SIZE: u64 = 40 << 20;

    /// A FAT32 volume in a (sparse) temp file holding `files` (path -> content), written by
    /// fatfs, then fixed.
    fn volume(files: &BTreeMap<String, Vec<u8>>) -> tempfile::NamedTempFile {
        let image = tempfile::NamedTempFile::new().unwrap();
        let file = image.as_file();
        file.set_len(SIZE).unwrap();
        let fmt = FormatVolumeOptions::new().fat_type(FatType::Fat32).bytes_per_cluster(512).volume_id(7);
        fatfs::format_volume(Region::new(file, 0, SIZE), fmt).unwrap();
        let fs = FileSystem::new(Region::new(file, 0, SIZE), FsOptions::new()).unwrap();
        for (path, bytes) in files {
            put(&fs.root_dir(), path, Source::Bytes(bytes)).unwrap();
        }
        fs.unmount().unwrap();
        fix_dot_entries(&mut Region::new(file, 0, SIZE)).unwrap();
        image
    }

    /// `fsck.vfat -n` of `image`: Ok, or what it found.
    fn fsck(image: &Path) -> Result<(), String> {
        let out = Command::new("fsck.vfat")
            .arg("-n")
            .arg(image)
            .output()
            .unwrap_or_else(|e| panic!("fsck.vfat: {e}: install dosfstools (`make deps`)"));
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if out.status.success() {
            Ok(())
        } else {
            Err(said)
        }
    }

    /// Every file below `dir` as fatfs reads it: path -> content.
    fn files_in<T: ReadWriteSeek>(dir: &Dir<T>, prefix: &str, into: &mut BTreeMap<String, Vec<u8>>) {
        for e in dir.iter().map(Result::unwrap).filter(|e| e.file_name() != "." && e.file_name() != "..") {
            let path = format!("{prefix}{}", e.file_name());
            if e.is_dir() {
                files_in(&e.to_dir(), &format!("{path}/"), into);
            } else {
                let mut bytes = Vec::new();
                e.to_file().read_to_end(&mut bytes).unwrap();
                into.insert(path, bytes);
            }
        }
    }

    fn files_of(image: &tempfile::NamedTempFile) -> BTreeMap<String, Vec<u8>> {
        let fs = FileSystem::new(Region::new(image.as_file(), 0, SIZE), FsOptions::new()).unwrap();
        let mut files = BTreeMap::new();
        files_in(&fs.root_dir(), "", &mut files);
        files
    }

    /// The ESP's shape: `EFI` in the root, `BOOT` in it. Each directory starts with `.` naming
    /// itself and `..` naming its parent, 0 for the root, as short entries only.
    #[test]
    fn dot_entries_come_first_and_dotdot_of_a_directory_in_the_root_is_0() {
        let files = BTreeMap::from([("EFI/BOOT/grub.cfg".to_string(), b"set root".to_vec())]);
        let image = volume(&files);
        fsck(image.path()).unwrap();
        assert_eq!(files_of(&image), files);
        let mut v = Region::new(image.as_file(), 0, SIZE);
        let vol = Volume::read(&mut v).unwrap();
        let efi = subdirs(&vol.read_dir(&mut v, vol.root).unwrap().1);
        let efi_entries = vol.read_dir(&mut v, efi[0]).unwrap().1;
        assert_eq!((&efi_entries[0][..11], cluster_of(&efi_entries[0])), (&DOT[..], efi[0]));
        assert_eq!((&efi_entries[1][..11], cluster_of(&efi_entries[1])), (&DOTDOT[..], 0));
        let boot = subdirs(&efi_entries);
        let boot_entries = vol.read_dir(&mut v, boot[0]).unwrap().1;
        assert_eq!((&boot_entries[0][..11], cluster_of(&boot_entries[0])), (&DOT[..], boot[0]));
        assert_eq!((&boot_entries[1][..11], cluster_of(&boot_entries[1])), (&DOTDOT[..], efi[0]));
    }

    fn tree() -> impl Strategy<Value = BTreeMap<String, Vec<u8>>> {
        let dir = prop::sample::select(vec!["efi", "boot", "ubuntu", "a", "a_longer_directory_name"]);
        let path = (prop::collection::vec(dir, 0..=3), "[a-z0-9_]{1,14}\\.[a-z]{1,3}")
            .prop_map(|(dirs, leaf)| dirs.iter().map(|d| format!("{d}/")).collect::<String>() + &leaf);
        prop::collection::btree_map(path, prop::collection::vec(any::<u8>(), 0..1500), 1..24)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]

        /// Any tree of directories and files fatfs writes (nested, long and short names,
        /// directories spanning clusters) passes fsck.vfat once fixed and still holds its files.
        #[test]
        fn every_tree_passes_fsck_and_keeps_its_files(files in tree()) {
            let image = volume(&files);
            prop_assert_eq!(fsck(image.path()), Ok(()));
            prop_assert_eq!(files_of(&image), files);
        }
    }
}
