//! Times as pg_restore prints them, in this process's local zone: the archive's creation
//! time rebuilt from the broken-down time pg_dump wrote (`mktime`), and `PGDUMP_STRFTIME_FMT`
//! formatting, for the `-l` header and script comments. Through libc, because matching
//! pg_restore byte for byte means matching the C library's own zone rules and `%Z` names.

use pgsurge_archive::CreationTime;

extern "C" {
    /// POSIX; not exported by the libc crate. `localtime_r` need not call it itself.
    fn tzset();
}

/// The archive's creation time as pg_restore reconstructs it: `mktime` of the broken-down
/// local time pg_dump wrote, in this process's time zone, retrying with `isdst` unknown when
/// the first try fails (as it does for `isdst = 1` under `TZ=UTC`). -1 when both fail, which
/// pg_restore then prints as that instant.
pub(crate) fn creation_time(t: &CreationTime) -> libc::time_t {
    // SAFETY: `tm` is fully initialised before use; tzset and mktime only read the
    // environment and the structure passed in.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        tm.tm_sec = t.sec;
        tm.tm_min = t.min;
        tm.tm_hour = t.hour;
        tm.tm_mday = t.mday;
        tm.tm_mon = t.mon;
        tm.tm_year = t.year;
        tm.tm_isdst = t.isdst;
        tzset();
        let when = libc::mktime(&mut tm);
        if when != -1 {
            return when;
        }
        tm.tm_isdst = -1;
        libc::mktime(&mut tm)
    }
}

/// The current time, for the `-- Completed on` comment of verbose scripts.
pub(crate) fn now() -> libc::time_t {
    // SAFETY: time(NULL) only returns a value.
    unsafe { libc::time(std::ptr::null_mut()) }
}

/// `%Y-%m-%d %H:%M:%S %Z` in the local zone (`PGDUMP_STRFTIME_FMT`), or `[unknown]` when it
/// cannot be formatted, as the `-l` header prints it.
pub(crate) fn format_time(when: libc::time_t) -> String {
    // SAFETY: `local` is written by localtime_r before strftime reads it; strftime writes at
    // most `buf.len()` bytes and returns how many it wrote.
    unsafe {
        tzset();
        let mut local: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&when, &mut local).is_null() {
            return "[unknown]".to_owned();
        }
        let mut buf = [0u8; 64];
        let fmt = b"%Y-%m-%d %H:%M:%S %Z\0";
        let n = libc::strftime(buf.as_mut_ptr().cast(), buf.len(), fmt.as_ptr().cast(), &local);
        if n == 0 {
            return "[unknown]".to_owned();
        }
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}
