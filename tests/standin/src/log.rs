//! glog-style log lines on stderr, as the real node writes them (`-logtostderr` is forced on).
//!
//! Format: `Lmmdd hh:mm:ss.uuuuuu pid file:line] message`, `L` being I, W, E or F. Times are UTC.

use std::fmt::Arguments;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// The severity letter that starts a glog line.
#[derive(Clone, Copy)]
pub enum Severity {
    Info,
    Warning,
    Error,
    Fatal,
}

/// Writes one log line; used through the `info!`, `warn!`, `error!` macros.
pub fn write(severity: Severity, file: &str, line: u32, args: Arguments) {
    let letter = match severity {
        Severity::Info => 'I',
        Severity::Warning => 'W',
        Severity::Error => 'E',
        Severity::Fatal => 'F',
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs();
    let (_, month, day) = civil_date(secs / 86_400);
    let sod = secs % 86_400;
    let file = file.rsplit('/').next().unwrap_or(file);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "{letter}{month:02}{day:02} {:02}:{:02}:{:02}.{:06} {:>7} {file}:{line}] {args}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        now.subsec_micros(),
        std::process::id(),
    );
}

/// Logs at FATAL severity and exits with `code`, like `glog.Exit` (code 1) or the starter's `exit` (code 2).
pub fn exit(code: i32, file: &str, line: u32, args: Arguments) -> ! {
    let severity = if code == 1 { Severity::Fatal } else { Severity::Error };
    write(severity, file, line, args);
    std::process::exit(code)
}

/// Year, month and day of the month of the civil date `days` days after 1970-01-01.
pub fn civil_date(days: u64) -> (u64, u32, u32) {
    // Howard Hinnant's civil_from_days, for dates after the epoch.
    let z = days + 719_468;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = z / 146_097 * 400 + yoe + u64::from(month <= 2);
    (year, month as u32, day as u32)
}

#[macro_export]
macro_rules! info {
    ($($t:tt)*) => { $crate::log::write($crate::log::Severity::Info, file!(), line!(), format_args!($($t)*)) };
}

#[macro_export]
macro_rules! warn {
    ($($t:tt)*) => { $crate::log::write($crate::log::Severity::Warning, file!(), line!(), format_args!($($t)*)) };
}

#[macro_export]
macro_rules! error {
    ($($t:tt)*) => { $crate::log::write($crate::log::Severity::Error, file!(), line!(), format_args!($($t)*)) };
}

/// Logs and exits: `exit!(1, ...)` is `glog.Exit`, `exit!(2, ...)` is the starter's `exit()`.
#[macro_export]
macro_rules! exit {
    ($code:expr, $($t:tt)*) => { $crate::log::exit($code, file!(), line!(), format_args!($($t)*)) };
}

#[cfg(test)]
mod tests {
    use super::civil_date;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(59), (1970, 3, 1)); // 1970 is not a leap year
        assert_eq!(civil_date(19_782), (2024, 2, 29));
        assert_eq!(civil_date(20_453), (2025, 12, 31));
        assert_eq!(civil_date(20_454), (2026, 1, 1));
    }
}
