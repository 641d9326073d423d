//! File capabilities: a typed capability set parsed from libcap's text form
//! (`cap_net_bind_service=+ep`), encoded as the kernel's VFS cap v2 `security.capability` xattr.

use serde::Serialize;
use std::str::FromStr;

/// Capability names by number (linux/capability.h), without the `cap_` prefix.
const NAMES: [&str; 41] = [
    "chown",
    "dac_override",
    "dac_read_search",
    "fowner",
    "fsetid",
    "kill",
    "setgid",
    "setuid",
    "setpcap",
    "linux_immutable",
    "net_bind_service",
    "net_broadcast",
    "net_admin",
    "net_raw",
    "ipc_lock",
    "ipc_owner",
    "sys_module",
    "sys_rawio",
    "sys_chroot",
    "sys_ptrace",
    "sys_pacct",
    "sys_admin",
    "sys_boot",
    "sys_nice",
    "sys_resource",
    "sys_time",
    "sys_tty_config",
    "mknod",
    "lease",
    "audit_write",
    "audit_control",
    "setfcap",
    "mac_override",
    "mac_admin",
    "syslog",
    "wake_alarm",
    "block_suspend",
    "audit_read",
    "perfmon",
    "bpf",
    "checkpoint_restore",
];

/// `VFS_CAP_REVISION_2`, and the flag that raises the permitted set into the effective one.
const REVISION_2: u32 = 0x0200_0000;
const FLAG_EFFECTIVE: u32 = 0x0000_0001;

/// The capabilities a file grants: bit n of a set is capability n.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Caps {
    pub permitted: u64,
    pub inheritable: u64,
    /// Whether the granted capabilities are effective at exec (one bit for a file).
    pub effective: bool,
}

impl Caps {
    /// The `security.capability` xattr value: `vfs_cap_data` revision 2, little-endian.
    pub fn vfs_v2(&self) -> [u8; 20] {
        let magic = REVISION_2 | if self.effective { FLAG_EFFECTIVE } else { 0 };
        let words = [
            magic,
            self.permitted as u32,
            self.inheritable as u32,
            (self.permitted >> 32) as u32,
            (self.inheritable >> 32) as u32,
        ];
        let mut out = [0u8; 20];
        for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

impl FromStr for Caps {
    type Err = String;

    /// libcap's text form: clauses separated by spaces, each `names` (comma-separated) followed
    /// by actions `=flags`, `+flags` or `-flags` with flags from `e`, `i`, `p`.
    fn from_str(text: &str) -> Result<Self, String> {
        let (mut e, mut i, mut p) = (0u64, 0u64, 0u64);
        for clause in text.split_whitespace() {
            let at = clause.find(['=', '+', '-']).ok_or_else(|| format!("`{clause}` has no `=`, `+` or `-`"))?;
            let mut mask = 0u64;
            for name in clause[..at].split(',') {
                let bare = name.to_ascii_lowercase();
                let bare = bare.strip_prefix("cap_").unwrap_or(&bare);
                let n = NAMES.iter().position(|c| *c == bare).ok_or_else(|| format!("unknown capability `{name}`"))?;
                mask |= 1 << n;
            }
            let mut op = ' ';
            for c in clause[at..].chars() {
                match c {
                    '=' => {
                        (e, i, p) = (e & !mask, i & !mask, p & !mask);
                        op = '+';
                    }
                    '+' | '-' => op = c,
                    'e' | 'i' | 'p' => {
                        let set = match c {
                            'e' => &mut e,
                            'i' => &mut i,
                            _ => &mut p,
                        };
                        *set = if op == '+' { *set | mask } else { *set & !mask };
                    }
                    _ => return Err(format!("`{c}` in `{clause}` is not one of the flags e, i, p")),
                }
            }
        }
        if p | i == 0 {
            return Err(format!("`{text}` grants no capability"));
        }
        if e != 0 && e != p | i {
            return Err(format!(
                "`{text}`: a file's effective flag is one bit, so `e` must be given for all of its capabilities or none"
            ));
        }
        Ok(Caps { permitted: p, inheritable: i, effective: e != 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_bind_service_is_the_setcap_xattr() {
        // `setcap cap_net_bind_service=+ep f; getfattr -n security.capability -e hex f`
        // prints 0x0100000200040000000000000000000000000000.
        let c: Caps = "cap_net_bind_service=+ep".parse().unwrap();
        assert_eq!(c, Caps { permitted: 1 << 10, inheritable: 0, effective: true });
        assert_eq!(hex::encode(c.vfs_v2()), "0100000200040000000000000000000000000000");
    }

    #[test]
    fn high_capabilities_land_in_the_second_word_and_forms_agree() {
        let c: Caps = "CAP_BPF,cap_perfmon+p cap_chown=ip".parse().unwrap();
        assert_eq!(c.permitted, (1 << 39) | (1 << 38) | 1);
        assert_eq!(c.inheritable, 1);
        assert!(!c.effective);
        assert_eq!(hex::encode(c.vfs_v2()), "000000020100000001000000c000000000000000");
        assert_eq!("cap_net_raw+ep".parse::<Caps>(), "cap_net_raw=ep".parse::<Caps>());
    }

    #[test]
    fn nonsense_is_refused_with_the_reason() {
        for (text, why) in [
            ("cap_fly=+ep", "unknown capability"),
            ("cap_net_raw", "no `=`"),
            ("cap_net_raw=+x", "not one of the flags"),
            ("cap_net_raw=", "grants no capability"),
            ("cap_net_raw=ep cap_chown=p", "effective flag is one bit"),
        ] {
            let err = text.parse::<Caps>().unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
