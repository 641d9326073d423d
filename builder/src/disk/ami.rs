//! The exact commands that turn a built disk into an AMI, values filled in from the output's
//! image-info.json: a snapshot from disk.raw with coldsnap, or from disk.vhd through S3 and
//! VM Import, then `aws ec2 register-image` with what the image needs (UEFI, ENA, NVMe, IMDSv2).

use super::info::ImageInfo;
use crate::error::Result;
use std::path::Path;

/// The shell steps to make an AMI from the disk in `out_dir`.
pub fn ami_commands(out_dir: &Path) -> Result<String> {
    let info = ImageInfo::read(out_dir)?;
    Ok(render(&info, out_dir))
}

/// `s` quoted for a POSIX shell.
fn q(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn render(info: &ImageInfo, out_dir: &Path) -> String {
    let dir = out_dir.display().to_string();
    let raw = q(&format!("{dir}/disk.raw"));
    let vhd = q(&format!("{dir}/disk.vhd"));
    let name = q(&info.name);
    let key = q(&format!("{}.vhd", info.name));
    let desc = q(&format!("{} (kernel {})", info.name, info.kernel_version));
    let size = |f: &str| info.files.get(f).map(|i| i.size.to_string()).unwrap_or_else(|| "?".into());
    let sha = |f: &str| info.files.get(f).map(|i| i.sha256.hex()).unwrap_or_else(|| "?".into());
    format!(
        "# Make an AMI of {name} (kernel {kernel}, {disk} bytes, {gib} GiB volume) in the region of your AWS CLI
# profile. Check the files first:
#   sha256sum {raw} {vhd}   # {raw_sha} and {vhd_sha}
set -eu

# 1. The snapshot, either way A or B.
# A: coldsnap uploads the raw disk ({raw_size} bytes) straight into an EBS snapshot (needs ebs:* on the profile):
SNAPSHOT_ID=$(coldsnap upload --wait {raw})

# B: or VM Import from S3 (needs an S3 bucket in $BUCKET and the vmimport service role):
#   aws s3 cp {vhd} s3://$BUCKET/{key}
#   IMPORT_ID=$(aws ec2 import-snapshot --description {desc} \\
#       --disk-container \"Format=VHD,UserBucket={{S3Bucket=$BUCKET,S3Key={key}}}\" \\
#       --query ImportTaskId --output text)
#   aws ec2 wait snapshot-imported --import-task-ids \"$IMPORT_ID\"
#   SNAPSHOT_ID=$(aws ec2 describe-import-snapshot-tasks --import-task-ids \"$IMPORT_ID\" \\
#       --query 'ImportSnapshotTasks[0].SnapshotTaskDetail.SnapshotId' --output text)

# 2. The AMI.
aws ec2 register-image --name {name} --description {desc} \\
    --architecture {arch} --boot-mode {boot} --ena-support --virtualization-type hvm --imds-support v2.0 \\
    --root-device-name {root} \\
    --block-device-mappings \"DeviceName={root},Ebs={{SnapshotId=$SNAPSHOT_ID,VolumeSize={gib},VolumeType=gp3,DeleteOnTermination=true}}\" \\
    --query ImageId --output text
",
        kernel = info.kernel_version,
        disk = info.disk_size,
        gib = info.volume_size_gib,
        raw_sha = sha("disk.raw"),
        vhd_sha = sha("disk.vhd"),
        raw_size = size("disk.raw"),
        arch = info.architecture,
        boot = info.boot_mode,
        root = info.root_device,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(q("lp-1.2_x"), "lp-1.2_x");
        assert_eq!(q("a b"), "'a b'");
        assert_eq!(q("it's"), r"'it'\''s'");
    }
}
