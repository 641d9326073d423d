//! The exact commands that turn a built disk into an AMI, values filled in from the output's
//! image-info.json: a snapshot from disk.raw with coldsnap, or from disk.vhd through S3 and
//! VM Import, then `aws ec2 register-image` with what the image needs (UEFI, ENA, NVMe, IMDSv2).
//! The file is checked first: a value lpbake never writes there (a hand-edited file) is refused,
//! naming the file, the key and the fix. Every value printed, comments included, is quoted by
//! [`quote::shell_word`] (or [`quote::shell_in_double_quotes`] beside a `$VAR`), which refuses
//! control characters: a pasted or executed script passes each value as one intact argument.

use super::boot::is_kernel_release;
use super::info::{ImageInfo, FILE_NAME};
use super::{check_name, DISK_RAW, DISK_VHD};
use crate::error::{Error, Result};
use crate::quote;
use std::path::Path;

const FIX: &str = "image-info.json is written by `lpbake build`: rebuild the disk (`lpbake build --locked --target \
                   disk`) instead of editing the file";
const DIR_FIX: &str = "use an output directory whose path is UTF-8 without control characters";

/// The shell steps to make an AMI from the disk in `out_dir`.
pub fn ami_commands(out_dir: &Path) -> Result<String> {
    let info = ImageInfo::read(out_dir)?;
    let file = out_dir.join(FILE_NAME);
    check(&info, &file)?;
    render(&info, out_dir, &file)
}

/// Refuses a value lpbake never writes into image-info.json.
fn check(info: &ImageInfo, file: &Path) -> Result<()> {
    let refuse = |key: &str, value: &str, want: &str| {
        Err(Error::config(file, None, format!("`{key}` is {value:?}, which lpbake never writes there: {want}"), FIX))
    };
    if !matches!(info.architecture.as_str(), "x86_64" | "arm64") {
        return refuse("architecture", &info.architecture, "x86_64 or arm64");
    }
    if !matches!(info.boot_mode.as_str(), "uefi" | "legacy-bios" | "uefi-preferred") {
        return refuse("boot_mode", &info.boot_mode, "uefi, legacy-bios or uefi-preferred");
    }
    let device = info.root_device.strip_prefix("/dev/").unwrap_or_default();
    if device.is_empty() || !device.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return refuse("root_device", &info.root_device, "/dev/ and lowercase letters and digits");
    }
    if check_name(&info.name).is_err() {
        return refuse("name", &info.name, "an AMI name (3 to 128 letters, digits and ()[] ./-'@_)");
    }
    if !is_kernel_release(&info.kernel_version) {
        return refuse("kernel_version", &info.kernel_version, "a kernel release (letters, digits and ._+~-)");
    }
    Ok(())
}

fn render(info: &ImageInfo, out_dir: &Path, file: &Path) -> Result<String> {
    let value = |key: &str, v: &str| quote::shell_word(v).map_err(|e| e.at(file, key, FIX));
    let in_quotes = |key: &str, v: &str| quote::shell_in_double_quotes(v).map_err(|e| e.at(file, key, FIX));
    let dir = out_dir.to_str().ok_or_else(|| {
        Error::config(out_dir, None, "the path is not UTF-8, so shell commands cannot name it", DIR_FIX)
    })?;
    let path = |f: &str| quote::shell_word(&format!("{dir}/{f}")).map_err(|e| e.at(out_dir, "the path", DIR_FIX));
    let (raw, vhd) = (path(DISK_RAW)?, path(DISK_VHD)?);
    let s3_key = format!("{}.vhd", info.name);
    let key = value("name", &s3_key)?;
    let desc = value("name", &format!("{} (kernel {})", info.name, info.kernel_version))?;
    let gib = info.volume_size_gib.to_string();
    let file_info = |f: &str| -> Result<(String, String)> {
        let missing = || Error::config(file, None, format!("`files.{f}` is missing"), FIX);
        let i = info.files.get(f).ok_or_else(missing)?;
        Ok((
            value(&format!("files.{f}.size"), &i.size.to_string())?,
            value(&format!("files.{f}.sha256"), &i.sha256.hex())?,
        ))
    };
    let (raw_size, raw_sha) = file_info(DISK_RAW)?;
    let (_, vhd_sha) = file_info(DISK_VHD)?;
    Ok(format!(
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
#       --disk-container \"Format=VHD,UserBucket={{S3Bucket=$BUCKET,S3Key={key_in_quotes}}}\" \\
#       --query ImportTaskId --output text)
#   aws ec2 wait snapshot-imported --import-task-ids \"$IMPORT_ID\"
#   SNAPSHOT_ID=$(aws ec2 describe-import-snapshot-tasks --import-task-ids \"$IMPORT_ID\" \\
#       --query 'ImportSnapshotTasks[0].SnapshotTaskDetail.SnapshotId' --output text)

# 2. The AMI.
aws ec2 register-image --name {name} --description {desc} \\
    --architecture {arch} --boot-mode {boot} --ena-support --virtualization-type hvm --imds-support v2.0 \\
    --root-device-name {root} \\
    --block-device-mappings \"DeviceName={root_in_quotes},Ebs={{SnapshotId=$SNAPSHOT_ID,VolumeSize={gib_in_quotes},VolumeType=gp3,DeleteOnTermination=true}}\" \\
    --query ImageId --output text
",
        name = value("name", &info.name)?,
        kernel = value("kernel_version", &info.kernel_version)?,
        disk = value("disk_size", &info.disk_size.to_string())?,
        gib = value("volume_size_gib", &gib)?,
        gib_in_quotes = in_quotes("volume_size_gib", &gib)?,
        key_in_quotes = in_quotes("name", &s3_key)?,
        root_in_quotes = in_quotes("root_device", &info.root_device)?,
        arch = value("architecture", &info.architecture)?,
        boot = value("boot_mode", &info.boot_mode)?,
        root = value("root_device", &info.root_device)?,
    ))
}
