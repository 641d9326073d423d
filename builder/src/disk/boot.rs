//! What the ESP boots, found in the root tree: the base's monolithic GRUB EFI image, the newest
//! kernel of /boot and its initrd (symlinks and hard links followed inside the tree), and the
//! grub.cfg that boots them from the ESP with the root partition named by its GUID.

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::stage::{Content, Tree};
use std::cmp::Ordering;

/// Where bases keep a monolithic GRUB EFI image with an `EFI/<vendor>` or `EFI/BOOT` prefix.
pub const GRUB_CANDIDATES: [&str; 2] = [
    // Ubuntu (grub-efi-amd64-signed)
    "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
    // Debian (grub-efi-amd64-bin)
    "usr/lib/grub/x86_64-efi/monolithic/grubx64.efi",
];

/// A regular file of the tree: its blob and size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blob {
    pub blob: Digest,
    pub size: u64,
}

/// The files the ESP is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootFiles {
    pub grub: Blob,
    pub kernel: Blob,
    pub initrd: Blob,
    /// The kernel's version, as in `boot/vmlinuz-<version>`.
    pub kernel_version: String,
}

/// How many symlinks a lookup follows before giving up (the kernel's limit).
const MAX_LINKS: usize = 40;

/// Resolves `path` (relative to `/`) inside the tree as the kernel would, every component's
/// symlinks followed and hard links taken to their file; Some only for a regular file.
pub fn resolve_file(tree: &Tree, path: &str) -> Option<Blob> {
    let mut pending: Vec<String> = path.split('/').rev().map(String::from).collect();
    let mut done: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                done.pop();
                continue;
            }
            _ => {}
        }
        done.push(part);
        let here = done.join("/");
        match &tree.entries.get(&here)?.content {
            Content::Symlink { target } => {
                hops += 1;
                if hops > MAX_LINKS {
                    return None;
                }
                done.pop();
                if target.starts_with('/') {
                    done.clear();
                }
                pending.extend(target.split('/').rev().map(String::from));
            }
            Content::Hardlink { target } if pending.is_empty() => return resolve_file(tree, target),
            Content::File { blob, size } if pending.is_empty() => return Some(Blob { blob: *blob, size: *size }),
            Content::Dir => {}
            _ => return None,
        }
    }
    None
}

/// Compares version strings as `sort -V` does for kernel versions: runs of digits by value,
/// everything else byte by byte.
pub fn version_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let na = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let nb = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (da, db) = (trim_zeros(&a[..na]), trim_zeros(&b[..nb]));
                let o = da.len().cmp(&db.len()).then_with(|| da.cmp(db));
                if o != Ordering::Equal {
                    return o;
                }
                (a, b) = (&a[na..], &b[nb..]);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let n = d.iter().take_while(|&&c| c == b'0').count();
    &d[n..]
}

/// Finds GRUB, the newest kernel and its initrd. `base` names the base in errors.
pub fn find(tree: &Tree, base: &str) -> Result<BootFiles> {
    let grub = GRUB_CANDIDATES.iter().find_map(|p| resolve_file(tree, p)).ok_or_else(|| {
        Error::Output(format!(
            "the base root filesystem {base} has no monolithic GRUB EFI image (looked for /{} and /{})\n  fix: use a \
             base that has one: Ubuntu's cloud root tarball (grub-efi-amd64-signed), or a Debian tree with the \
             package grub-efi-amd64-bin installed",
            GRUB_CANDIDATES[0], GRUB_CANDIDATES[1]
        ))
    })?;
    let mut versions: Vec<&str> = tree
        .entries
        .keys()
        .filter_map(|p| p.strip_prefix("boot/vmlinuz-"))
        .filter(|v| !v.is_empty() && !v.contains('/'))
        .filter(|v| resolve_file(tree, &format!("boot/vmlinuz-{v}")).is_some())
        .collect();
    versions.sort_by(|a, b| version_cmp(a, b));
    let Some(version) = versions.last() else {
        return Err(Error::Output(format!(
            "the base root filesystem {base} has no kernel (no regular file /boot/vmlinuz-<version>)\n  fix: use a \
             base with a kernel package installed (linux-image-virtual on Ubuntu, linux-image-cloud-amd64 on Debian)"
        )));
    };
    if !is_kernel_release(version) {
        return Err(Error::Output(format!(
            "the base root filesystem {base} has the kernel /boot/vmlinuz-{}, whose release is not letters, digits \
             and ._+~- (it is written into grub.cfg and image-info.json)\n  fix: use a base whose kernel package \
             names its release plainly",
            version.escape_debug()
        )));
    }
    let kernel = resolve_file(tree, &format!("boot/vmlinuz-{version}")).expect("filtered above");
    let initrd = resolve_file(tree, &format!("boot/initrd.img-{version}")).ok_or_else(|| {
        Error::Output(format!(
            "the base root filesystem {base} has the kernel /boot/vmlinuz-{version} but no initrd \
             /boot/initrd.img-{version} (Ubuntu's root tarballs ship without one)\n  fix: use a base whose /boot has \
             the initrd of its newest kernel (e.g. one made with initramfs-tools installed), or add that file to the \
             image's root tree"
        ))
    })?;
    Ok(BootFiles { grub, kernel, initrd, kernel_version: version.to_string() })
}

/// The kernel command line of the appliance.
pub fn cmdline(root_partuuid: &uuid::Uuid) -> String {
    format!(
        "root=PARTUUID={root_partuuid} ro console=tty0 console=ttyS0,115200n8 nvme_core.io_timeout=4294967295 \
         systemd.show_status=1"
    )
}

/// The grub.cfg on the ESP: no menu, the kernel and initrd from the ESP itself (GRUB's root is
/// the partition it was loaded from), GRUB's own output on the serial console too.
pub fn grub_cfg(root_partuuid: &uuid::Uuid) -> String {
    format!(
        "# Written by lpbake: boots the appliance's kernel from this ESP.\n\
         serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1\n\
         terminal_input console serial\n\
         terminal_output console serial\n\
         set timeout=0\n\
         linux /vmlinuz {}\n\
         initrd /initrd.img\n\
         boot\n",
        cmdline(root_partuuid)
    )
}

/// A kernel release as kernels name themselves (`6.1.0-18-cloud-amd64`): 1 to 128 letters,
/// digits and `._+~-`, starting with a letter or digit. The one rule for the release the disk
/// boots and `ami-commands` prints.
pub fn is_kernel_release(k: &str) -> bool {
    (1..=128).contains(&k.len())
        && k.starts_with(|c: char| c.is_ascii_alphanumeric())
        && k.chars().all(|c| c.is_ascii_alphanumeric() || "._+~-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::Entry;

    fn file(n: u8) -> Entry {
        Entry::new(0o644, 0, 0, Content::File { blob: Digest::of(&[n]), size: 1 })
    }
    fn link(t: &str) -> Entry {
        Entry::new(0o777, 0, 0, Content::Symlink { target: t.into() })
    }

    #[test]
    fn version_sort_is_numeric() {
        let mut v = vec!["6.1.0-9-amd64", "6.1.0-18-amd64", "5.10.0-28-cloud-amd64", "6.1.0-18-cloud-amd64"];
        v.sort_by(|a, b| version_cmp(a, b));
        assert_eq!(v, ["5.10.0-28-cloud-amd64", "6.1.0-9-amd64", "6.1.0-18-amd64", "6.1.0-18-cloud-amd64"]);
        assert_eq!(version_cmp("6.8.0-010", "6.8.0-10"), Ordering::Equal);
    }

    #[test]
    fn finds_newest_kernel_through_links() {
        let mut t = Tree::default();
        t.add("/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi", file(1));
        t.add("/lib", link("usr/lib"));
        t.add("/boot/vmlinuz-6.1.0-9-amd64", file(2));
        t.add("/boot/initrd.img-6.1.0-9-amd64", file(3));
        t.add("/boot/vmlinuz-6.1.0-18-amd64", link("../usr/lib/k/vmlinuz"));
        t.add("/usr/lib/k/vmlinuz", file(4));
        t.add("/usr/lib/k/initrd", file(5));
        // Through the directory symlink /lib -> usr/lib, then a hard link.
        t.add("/boot/initrd.img-6.1.0-18-amd64", link("/lib/k/initrd-link"));
        t.add(
            "/usr/lib/k/initrd-link",
            Entry::new(0o644, 0, 0, Content::Hardlink { target: "usr/lib/k/initrd".into() }),
        );
        let b = find(&t, "test").unwrap();
        assert_eq!(b.kernel_version, "6.1.0-18-amd64");
        assert_eq!(b.kernel.blob, Digest::of(&[4]));
        assert_eq!(b.initrd.blob, Digest::of(&[5]));
        assert_eq!(b.grub.blob, Digest::of(&[1]));
        // A loop is no file.
        t.add("/boot/loop", link("loop"));
        assert_eq!(resolve_file(&t, "boot/loop"), None);
    }

    #[test]
    fn missing_pieces_are_named() {
        let mut t = Tree::default();
        let e = find(&t, "ubuntu-rootfs").unwrap_err().to_string();
        assert!(e.contains("ubuntu-rootfs") && e.contains("grub-efi-amd64-bin"), "{e}");
        t.add("/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed", file(1));
        let e = find(&t, "b").unwrap_err().to_string();
        assert!(e.contains("no kernel"), "{e}");
        t.add("/boot/vmlinuz-6.8.0-31-generic", file(2));
        let e = find(&t, "b").unwrap_err().to_string();
        assert!(e.contains("/boot/initrd.img-6.8.0-31-generic"), "{e}");
    }

    #[test]
    fn a_kernel_release_with_other_characters_is_refused() {
        let mut t = Tree::default();
        t.add("/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi", file(1));
        t.add("/boot/vmlinuz-9.9\n$(reboot)", file(2));
        t.add("/boot/initrd.img-9.9\n$(reboot)", file(3));
        let e = find(&t, "b").unwrap_err().to_string();
        // Named escaped: the error itself gains no line from the file name.
        assert!(e.contains("not letters, digits") && e.contains("9.9\\n$(reboot)") && e.contains("fix:"), "{e}");
        assert!(is_kernel_release("6.1.0-18-cloud-amd64") && !is_kernel_release("-x") && !is_kernel_release(""));
    }
}
