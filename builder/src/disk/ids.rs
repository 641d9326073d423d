//! Every identifier on the disk (GPT disk and partition GUIDs, the ext4 UUID and hash seed, the FAT
//! volume id, the VHD unique id) derived from the build's seed digest, one purpose each, so two
//! builds of the same lock are bit-identical and two different locks do not collide.

use crate::digest::Digest;
use uuid::Uuid;

/// What an identifier is for; its name is part of the derivation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    DiskGuid,
    EspPartition,
    RootPartition,
    RootFsUuid,
    RootHashSeed,
    EspVolumeId,
    VhdUniqueId,
}

impl Purpose {
    fn name(self) -> &'static str {
        match self {
            Purpose::DiskGuid => "gpt-disk-guid",
            Purpose::EspPartition => "gpt-esp-partition-guid",
            Purpose::RootPartition => "gpt-root-partition-guid",
            Purpose::RootFsUuid => "ext4-root-uuid",
            Purpose::RootHashSeed => "ext4-root-hash-seed",
            Purpose::EspVolumeId => "fat-esp-volume-id",
            Purpose::VhdUniqueId => "vhd-unique-id",
        }
    }
}

/// The 32 bytes sha256("lpbake-disk/<purpose>/<seed>").
fn bytes(seed: &Digest, purpose: Purpose) -> [u8; 32] {
    let d = Digest::of(format!("lpbake-disk/{}/{seed}", purpose.name()).as_bytes());
    let mut out = [0u8; 32];
    hex::decode_to_slice(d.hex(), &mut out).expect("a digest's hex is 64 hex digits");
    out
}

/// An RFC 4122 version-4-shaped UUID (version and variant bits set) from the seed.
pub fn uuid(seed: &Digest, purpose: Purpose) -> Uuid {
    let b = bytes(seed, purpose);
    uuid::Builder::from_random_bytes(b[..16].try_into().expect("16 of 32 bytes")).into_uuid()
}

/// A 32-bit identifier (the FAT volume serial number) from the seed.
pub fn u32_of(seed: &Digest, purpose: Purpose) -> u32 {
    let b = bytes(seed, purpose);
    u32::from_le_bytes(b[..4].try_into().expect("4 of 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_distinct_and_version_4() {
        let seed = Digest::of(b"lock");
        let a = uuid(&seed, Purpose::RootPartition);
        assert_eq!(a, uuid(&seed, Purpose::RootPartition));
        assert_ne!(a, uuid(&seed, Purpose::EspPartition));
        assert_ne!(a, uuid(&Digest::of(b"other lock"), Purpose::RootPartition));
        assert_eq!(a.get_version_num(), 4);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
    }
}
