//! `USER[:GROUP]` as `chown` reads it, for the owner of what is extracted: names looked up
//! in the system's user and group databases (`getpwnam_r`, `getgrnam_r`, so NSS sources
//! such as LDAP count), or numeric ids; without a group, the user's primary group.

use crate::error::BundleError;

/// Buffer for one passwd or group record; doubled on `ERANGE` up to [`MAX_BUFFER`].
const START_BUFFER: usize = 1024;
const MAX_BUFFER: usize = 1 << 20;

/// The (uid, gid) that `spec` (`USER`, `USER:GROUP`, numeric or by name) names.
pub fn parse_owner(spec: &str) -> Result<(u32, u32), BundleError> {
    let fail = |reason: String| BundleError::Owner { spec: spec.to_owned(), reason };
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() {
        return Err(fail("no user given".into()));
    }
    let (uid, primary) = match user.parse::<u32>() {
        Ok(uid) => (uid, user_by_id(uid).map_err(fail)?),
        Err(_) => user_by_name(user).map_err(fail)?.ok_or_else(|| fail(format!("no user named `{user}`")))?,
    };
    let gid = match group {
        None | Some("") => primary.ok_or_else(|| fail(format!("user {uid} has no entry to take a group from; give one as USER:GROUP")))?,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_by_name(g).map_err(fail)?.ok_or_else(|| fail(format!("no group named `{g}`")))?,
        },
    };
    Ok((uid, gid))
}

/// Calls `lookup` with a growing buffer until the record fits.
fn with_buffer<T>(mut lookup: impl FnMut(&mut [libc::c_char]) -> Result<Option<T>, i32>) -> Result<Option<T>, String> {
    let mut len = START_BUFFER;
    loop {
        let mut buf = vec![0 as libc::c_char; len];
        match lookup(&mut buf) {
            Ok(found) => return Ok(found),
            Err(libc::ERANGE) if len < MAX_BUFFER => len *= 2,
            Err(code) => return Err(format!("looking it up: {}", std::io::Error::from_raw_os_error(code))),
        }
    }
}

fn user_by_name(name: &str) -> Result<Option<(u32, Option<u32>)>, String> {
    let name = std::ffi::CString::new(name).map_err(|_| "a NUL byte in the user name".to_owned())?;
    with_buffer(|buf| {
        // SAFETY: all-zero is a valid passwd (null pointers, zero ids).
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; the buffer's length is passed.
        let code = unsafe { libc::getpwnam_r(name.as_ptr(), &mut pwd, buf.as_mut_ptr(), buf.len(), &mut out) };
        match code {
            0 if out.is_null() => Ok(None),
            0 => Ok(Some((pwd.pw_uid, Some(pwd.pw_gid)))),
            code => Err(code),
        }
    })
}

/// The primary group of user `uid`, if the user has an entry.
fn user_by_id(uid: u32) -> Result<Option<u32>, String> {
    with_buffer(|buf| {
        // SAFETY: as in user_by_name.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; the buffer's length is passed.
        let code = unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut out) };
        match code {
            0 if out.is_null() => Ok(None),
            0 => Ok(Some(pwd.pw_gid)),
            code => Err(code),
        }
    })
}

fn group_by_name(name: &str) -> Result<Option<u32>, String> {
    let name = std::ffi::CString::new(name).map_err(|_| "a NUL byte in the group name".to_owned())?;
    with_buffer(|buf| {
        // SAFETY: all-zero is a valid group record.
        let mut grp: libc::group = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; the buffer's length is passed.
        let code = unsafe { libc::getgrnam_r(name.as_ptr(), &mut grp, buf.as_mut_ptr(), buf.len(), &mut out) };
        match code {
            0 if out.is_null() => Ok(None),
            0 => Ok(Some(grp.gr_gid)),
            code => Err(code),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_by_name_and_number() {
        assert_eq!(parse_owner("0:0").ok(), Some((0, 0)));
        assert_eq!(parse_owner("root").ok(), Some((0, 0)));
        assert_eq!(parse_owner("root:0").ok(), Some((0, 0)));
        assert_eq!(parse_owner("1234:5678").ok(), Some((1234, 5678)));
        assert!(parse_owner("no-such-user-pgsurge").is_err());
        assert!(parse_owner("root:no-such-group-pgsurge").is_err());
        assert!(parse_owner(":0").is_err());
    }
}
