//! The folder a bundle is extracted into, written only through file descriptors opened one
//! path component at a time with `O_NOFOLLOW`, so no symlink — in the bundle or already on
//! disk — is ever followed while writing. Each file, link and hard link is made under a
//! temporary name (`.pgsurge-tmp-PID-N`) in its folder and renamed into place once
//! complete; on error the temporary is removed, so an interrupted extraction leaves no
//! half-written file under a real name.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, Gid, Mode, OFlags, Uid, CWD};
use rustix::io::Errno;

use crate::error::BundleError;

/// How a folder is opened: never through a symlink, never inherited by a child process.
const DIR_FLAGS: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// The prefix of temporary names; a leftover one is from an extraction that was killed.
pub(crate) const TEMP_PREFIX: &str = ".pgsurge-tmp-";

pub(crate) struct Target {
    root: OwnedFd,
    root_path: PathBuf,
    /// The folder last opened, by relative path: members come folder by folder.
    last: Option<(String, OwnedFd)>,
    owner: Option<(u32, u32)>,
    fsync: bool,
    next_temp: u64,
}

/// A temporary name in a folder, removed on drop unless renamed into place.
struct Temp<'a> {
    dir: &'a OwnedFd,
    name: String,
    armed: bool,
}

impl Drop for Temp<'_> {
    fn drop(&mut self) {
        if self.armed {
            let _ = rustix::fs::unlinkat(self.dir, self.name.as_str(), AtFlags::empty());
        }
    }
}

fn split(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

/// Permissions of a file: the stored bits without setuid, setgid or sticky (0o644 when the
/// bundle stores none).
pub(crate) fn file_mode(mode: u32) -> u32 {
    match mode & 0o777 {
        0 => 0o644,
        m => m,
    }
}

/// Permissions of a folder: as stored, but always `rwx` for its owner, so the rest of the
/// bundle (and a later merge) can be written into it (0o755 when the bundle stores none).
pub(crate) fn dir_mode(mode: u32) -> u32 {
    match mode & 0o777 {
        0 => 0o755,
        m => m | 0o700,
    }
}

impl Target {
    pub fn open(dir: &Path, owner: Option<(u32, u32)>, fsync: bool) -> Result<Target, BundleError> {
        let root = rustix::fs::openat(CWD, dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).map_err(|e| BundleError::Write { path: dir.to_owned(), source: e.into() })?;
        Ok(Target { root, root_path: dir.to_owned(), last: None, owner, fsync, next_temp: 0 })
    }

    fn error(&self, rel: &str, e: impl Into<io::Error>) -> BundleError {
        BundleError::Write { path: self.root_path.join(rel), source: e.into() }
    }

    fn chown(&self, fd: impl AsFd, rel: &str) -> Result<(), BundleError> {
        match self.owner {
            Some((uid, gid)) => rustix::fs::fchown(fd, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid))).map_err(|e| self.error(rel, e)),
            None => Ok(()),
        }
    }

    /// The folder `rel` (`""` for the root), made with its parents where missing; a symlink
    /// or a file in the way is refused, not followed or replaced.
    fn folder(&mut self, rel: &str) -> Result<OwnedFd, BundleError> {
        if let Some((path, fd)) = &self.last {
            if path == rel {
                return fd.try_clone().map_err(|e| self.error(rel, e));
            }
        }
        let mut fd = self.root.try_clone().map_err(|e| self.error(rel, e))?;
        let mut so_far = String::new();
        for part in rel.split('/').filter(|p| !p.is_empty()) {
            if !so_far.is_empty() {
                so_far.push('/');
            }
            so_far.push_str(part);
            fd = match rustix::fs::openat(&fd, part, DIR_FLAGS, Mode::empty()) {
                Ok(next) => next,
                Err(Errno::NOENT) => {
                    match rustix::fs::mkdirat(&fd, part, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(self.error(&so_far, e)),
                    }
                    let made = rustix::fs::openat(&fd, part, DIR_FLAGS, Mode::empty()).map_err(|e| self.error(&so_far, e))?;
                    self.chown(&made, &so_far)?;
                    made
                }
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    return Err(BundleError::Refused { member: so_far, reason: "a symlink or a file is where a folder is needed; not writing through it".into() });
                }
                Err(e) => return Err(self.error(&so_far, e)),
            };
        }
        self.last = Some((rel.to_owned(), fd.try_clone().map_err(|e| self.error(rel, e))?));
        Ok(fd)
    }

    fn temp_name(&mut self) -> String {
        self.next_temp += 1;
        format!("{TEMP_PREFIX}{}-{}", std::process::id(), self.next_temp)
    }

    /// Makes `make` create something under a fresh temporary name in `dir` (retrying on a
    /// name that exists), then renames it to `name`.
    fn place(&mut self, dir: &OwnedFd, rel: &str, mut make: impl FnMut(&Target, &OwnedFd, &str) -> Result<(), BundleError>) -> Result<(), BundleError> {
        let (_, name) = split(rel);
        for _ in 0..1000 {
            let temp_name = self.temp_name();
            let mut temp = Temp { dir, name: temp_name, armed: true };
            match make(self, dir, &temp.name) {
                Ok(()) => {}
                Err(BundleError::Write { source, .. }) if source.kind() == io::ErrorKind::AlreadyExists => {
                    temp.armed = false;
                    continue;
                }
                Err(e) => return Err(e),
            }
            rustix::fs::renameat(dir, temp.name.as_str(), dir, name).map_err(|e| self.error(rel, e))?;
            temp.armed = false;
            return Ok(());
        }
        Err(self.error(rel, io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name")))
    }

    /// The folder `rel`, with permissions from `mode`.
    pub fn dir(&mut self, rel: &str, mode: u32) -> Result<(), BundleError> {
        let fd = self.folder(rel)?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(dir_mode(mode))).map_err(|e| self.error(rel, e))?;
        self.chown(&fd, rel)
    }

    /// The file `rel` with what `fill` writes into it, with permissions from `mode`.
    pub fn file(&mut self, rel: &str, mode: u32, fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), BundleError>) -> Result<(), BundleError> {
        let (parent, _) = split(rel);
        let dir = self.folder(parent)?;
        let fsync = self.fsync;
        self.place(&dir, rel, |target, dir, temp| {
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(dir, temp, flags, Mode::from_raw_mode(0o600)).map_err(|e| target.error(rel, e))?;
            let mut file = io::BufWriter::with_capacity(256 * 1024, File::from(fd));
            fill(&mut file)?;
            let file = file.into_inner().map_err(|e| target.error(rel, e.into_error()))?;
            rustix::fs::fchmod(&file, Mode::from_raw_mode(file_mode(mode))).map_err(|e| target.error(rel, e))?;
            target.chown(&file, rel)?;
            if fsync {
                file.sync_all().map_err(|e| target.error(rel, e))?;
            }
            Ok(())
        })
    }

    /// The symlink `rel` pointing to `to` (checked by the caller to stay inside).
    pub fn symlink(&mut self, rel: &str, to: &str) -> Result<(), BundleError> {
        let (parent, _) = split(rel);
        let dir = self.folder(parent)?;
        self.place(&dir, rel, |target, dir, temp| {
            rustix::fs::symlinkat(to, dir, temp).map_err(|e| target.error(rel, e))?;
            if let Some((uid, gid)) = target.owner {
                rustix::fs::chownat(dir, temp, Some(Uid::from_raw(uid)), Some(Gid::from_raw(gid)), AtFlags::SYMLINK_NOFOLLOW).map_err(|e| target.error(rel, e))?;
            }
            Ok(())
        })
    }

    /// The hard link `rel` to the file `to`, extracted before it.
    pub fn hard_link(&mut self, rel: &str, to: &str) -> Result<(), BundleError> {
        let (to_parent, to_name) = split(to);
        let from = self.folder(to_parent)?;
        let (parent, _) = split(rel);
        let dir = self.folder(parent)?;
        self.place(&dir, rel, |target, dir, temp| rustix::fs::linkat(&from, to_name, dir, temp, AtFlags::empty()).map_err(|e| target.error(rel, e)))
    }
}
