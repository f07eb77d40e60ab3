//! The process's own argument strings, which every user of the machine can read for as long as
//! the process runs (`ps`, /proc/PID/cmdline): a password given on the command line is
//! overwritten there with `x` once it has been parsed, as MySQL's client does with `-p`.
//!
//! `std::env::args` hands out copies, so the strings themselves are reached through the
//! `argv` pointer that glibc passes to every function in `.init_array` (argc, argv, envp) —
//! the way std itself learns argv on glibc. The kernel shows exactly the bytes those pointers
//! lead to. On other C libraries (musl passes nothing) masking does nothing.
//!
//! Once masked, `std::env::args` reads the masked strings too: mask only after parsing.

use std::ffi::OsString;
use std::ops::Range;
use std::os::unix::ffi::OsStrExt;

/// Masks `spans` (byte ranges of `value`) in every argument that is `value` or ends with it
/// (`-dVALUE`, `--dbname=VALUE`). `argv` is the copy taken at start, in the same order.
/// Returns how many arguments were masked.
pub fn mask_value(argv: &[OsString], value: &[u8], spans: &[Range<usize>]) -> usize {
    let mut masked = 0;
    for (index, arg) in argv.iter().enumerate().skip(1) {
        let arg = arg.as_bytes();
        if let Some(shifted) = spans_in(arg, value, spans) {
            if imp::overwrite(index, arg, &shifted) {
                masked += 1;
            }
        }
    }
    masked
}

/// The arguments after the program name as text for a record (the JSON report), with
/// `spans` of `value` masked as [`mask_value`] masks them in the process's memory — done
/// here too, since that masking does nothing on C libraries other than glibc.
pub fn masked_copy(argv: &[OsString], value: &[u8], spans: &[Range<usize>]) -> Vec<String> {
    argv.iter()
        .skip(1)
        .map(|arg| {
            let mut bytes = arg.as_bytes().to_vec();
            for span in spans_in(&bytes, value, spans).unwrap_or_default() {
                if let Some(part) = bytes.get_mut(span) {
                    part.fill(b'x');
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .collect()
}

/// `spans` of `value` moved to where `value` sits in `arg`, when `arg` ends with it.
fn spans_in(arg: &[u8], value: &[u8], spans: &[Range<usize>]) -> Option<Vec<Range<usize>>> {
    let offset = arg.len().checked_sub(value.len()).filter(|_| arg.ends_with(value))?;
    Some(spans.iter().map(|s| s.start + offset..s.end + offset).collect())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    use std::ffi::{c_char, c_int, CStr};
    use std::ops::Range;
    use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

    static ARGC: AtomicUsize = AtomicUsize::new(0);
    static ARGV: AtomicPtr<*mut c_char> = AtomicPtr::new(std::ptr::null_mut());

    /// Run by glibc before `main`, with main's own arguments.
    #[used]
    #[link_section = ".init_array"]
    static CAPTURE: extern "C" fn(c_int, *mut *mut c_char, *mut *mut c_char) = capture;

    extern "C" fn capture(argc: c_int, argv: *mut *mut c_char, _envp: *mut *mut c_char) {
        ARGC.store(usize::try_from(argc).unwrap_or(0), Ordering::Relaxed);
        ARGV.store(argv, Ordering::Relaxed);
    }

    /// Overwrites `spans` of argument `index` with `x`, provided it still reads `expected`
    /// (so a stale or foreign pointer can never be written through).
    pub fn overwrite(index: usize, expected: &[u8], spans: &[Range<usize>]) -> bool {
        let argv = ARGV.load(Ordering::Relaxed);
        if argv.is_null() || index >= ARGC.load(Ordering::Relaxed) {
            return false;
        }
        // SAFETY: glibc passed argv with argc entries (checked above), each a NUL-terminated
        // string the kernel laid on the initial stack: valid and writable for the whole life
        // of the process. Only this module writes to them, from the main thread before any
        // other thread starts; std reads them only while collecting args, done by then.
        unsafe {
            let arg = *argv.add(index);
            if arg.is_null() || CStr::from_ptr(arg).to_bytes() != expected {
                return false;
            }
            for span in spans.iter().filter(|s| s.start <= s.end && s.end <= expected.len()) {
                std::ptr::write_bytes(arg.add(span.start), b'x', span.end - span.start);
            }
        }
        true
    }

    #[cfg(test)]
    mod tests {
        /// The pointer captured is this process's real argv, the one std read its copy from.
        #[test]
        fn captures_the_real_argv() {
            use std::os::unix::ffi::OsStrExt;
            let argv = super::ARGV.load(super::Ordering::Relaxed);
            assert!(!argv.is_null());
            let copy: Vec<std::ffi::OsString> = std::env::args_os().collect();
            assert_eq!(super::ARGC.load(super::Ordering::Relaxed), copy.len());
            for (i, arg) in copy.iter().enumerate() {
                // SAFETY: as in `overwrite`; read only.
                let original = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
                assert_eq!(original.to_bytes(), arg.as_bytes());
            }
            // A mismatch writes nothing.
            assert!(!super::overwrite(0, b"not argv[0]", &[0..3, 5..6]));
            assert!(!super::overwrite(copy.len(), b"", &[]));
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    use std::ops::Range;

    pub fn overwrite(_index: usize, _expected: &[u8], _spans: &[Range<usize>]) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_masks_the_password_wherever_the_value_ends_an_argument() {
        let value = "postgresql://app:secret@db/app";
        let spans = &pgsurge_connect::conninfo::secret_spans(value);
        let argv: Vec<OsString> = ["pgsurge", "restore", "-d", value, &format!("--dbname={value}"), "x.dump"].iter().map(OsString::from).collect();
        let copy = masked_copy(&argv, value.as_bytes(), spans);
        assert_eq!(copy, ["restore", "-d", "postgresql://app:xxxxxx@db/app", "--dbname=postgresql://app:xxxxxx@db/app", "x.dump"]);
        // Already masked in memory (glibc): left as it is.
        let masked: Vec<OsString> = ["pgsurge", "-d", "postgresql://app:xxxxxx@db/app"].iter().map(OsString::from).collect();
        assert_eq!(masked_copy(&masked, value.as_bytes(), spans)[1], "postgresql://app:xxxxxx@db/app");
    }
}
