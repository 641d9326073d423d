//! The fixed VHD footer (Microsoft's "Virtual Hard Disk Image Format Specification"): a fixed
//! VHD is the raw disk followed by these 512 bytes. Every field is fixed or from the build:
//! the timestamp is the epoch, the unique id comes from the seed.

/// Seconds from the Unix epoch to the VHD epoch (2000-01-01T00:00:00Z).
const VHD_EPOCH: u64 = 946_684_800;

/// The footer of a fixed VHD whose data is `size` bytes (a multiple of 512).
pub fn footer(size: u64, epoch: u64, unique_id: [u8; 16]) -> [u8; 512] {
    let mut f = [0u8; 512];
    f[0..8].copy_from_slice(b"conectix");
    f[8..12].copy_from_slice(&2u32.to_be_bytes()); // features: reserved bit
    f[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes()); // format version 1.0
    f[16..24].copy_from_slice(&u64::MAX.to_be_bytes()); // data offset: none (fixed disk)
    let stamp = u32::try_from(epoch.saturating_sub(VHD_EPOCH)).unwrap_or(u32::MAX);
    f[24..28].copy_from_slice(&stamp.to_be_bytes());
    f[28..32].copy_from_slice(b"lpbk"); // creator application
    f[32..36].copy_from_slice(&0x0001_0000u32.to_be_bytes()); // creator version
    f[36..40].copy_from_slice(b"Wi2k"); // creator host OS
    f[40..48].copy_from_slice(&size.to_be_bytes()); // original size
    f[48..56].copy_from_slice(&size.to_be_bytes()); // current size
    let (c, h, s) = geometry(size);
    f[56..58].copy_from_slice(&c.to_be_bytes());
    f[58] = h;
    f[59] = s;
    f[60..64].copy_from_slice(&2u32.to_be_bytes()); // disk type: fixed
    f[68..84].copy_from_slice(&unique_id);
    // saved state (84) and the reserved rest stay 0; the checksum covers all but itself.
    let sum = f.iter().fold(0u32, |a, &b| a.wrapping_add(u32::from(b)));
    f[64..68].copy_from_slice(&(!sum).to_be_bytes());
    f
}

/// Whether a disk of `size` bytes is exactly what its CHS geometry addresses, or beyond what any
/// geometry can (then every reader takes the footer's current size).
pub fn geometry_fits(size: u64) -> bool {
    let (c, h, s) = geometry(size);
    size / 512 >= 65535 * 16 * 255 || u64::from(c) * u64::from(h) * u64::from(s) * 512 == size
}

/// The CHS geometry of the spec's appendix: (cylinders, heads, sectors per track).
pub fn geometry(size: u64) -> (u16, u8, u8) {
    let total = (size / 512).min(65535 * 16 * 255);
    let (spt, heads, cyl_times_heads);
    if total >= 65535 * 16 * 63 {
        (spt, heads) = (255, 16);
        cyl_times_heads = total / spt;
    } else {
        let mut s = 17;
        let mut cth = total / s;
        let mut h = cth.div_ceil(1024).max(4);
        if cth >= h * 1024 || h > 16 {
            (s, h) = (31, 16);
            cth = total / s;
        }
        if cth >= h * 1024 {
            (s, h) = (63, 16);
            cth = total / s;
        }
        (spt, heads, cyl_times_heads) = (s, h, cth);
    }
    ((cyl_times_heads / heads) as u16, heads as u8, spt as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_fields_and_checksum() {
        let f = footer(1 << 30, 1_700_000_000, [7; 16]);
        assert_eq!(&f[..8], b"conectix");
        assert_eq!(u32::from_be_bytes(f[60..64].try_into().unwrap()), 2);
        assert_eq!(u64::from_be_bytes(f[48..56].try_into().unwrap()), 1 << 30);
        assert_eq!(u32::from_be_bytes(f[24..28].try_into().unwrap()), 1_700_000_000 - 946_684_800);
        let mut z = f;
        z[64..68].fill(0);
        let sum = z.iter().fold(0u32, |a, &b| a.wrapping_add(u32::from(b)));
        assert_eq!(u32::from_be_bytes(f[64..68].try_into().unwrap()), !sum);
    }

    #[test]
    fn geometry_follows_the_spec() {
        // 1 GiB: 2097152 sectors -> spt 63, 16 heads, 2080 cylinders.
        assert_eq!(geometry(1 << 30), (2080, 16, 63));
        // Large disks saturate at 65535/16/255.
        assert_eq!(geometry(200 << 30), (65535, 16, 255));
        // A small one: 20 MiB.
        assert_eq!(geometry(20 << 20), (602, 4, 17));
    }
}
