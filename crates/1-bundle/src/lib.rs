//! pgsurge's reader of backup bundles: the "full system backup" people keep as a `.zip` or a
//! `.tar` (`.tar.gz`, `.tgz`, `.tar.zst`) holding one database dump — a custom archive, a tar
//! archive, a directory archive's folder, or a plain SQL script, compressed or not — beside
//! an `uploads/` or `storage/` tree, settings, and often a `manifest.json`. Synchronous, with
//! no database: a source, like `pgsurge-archive` and `pgsurge-script`, which read the dump
//! this crate finds.
//!
//! # Brief overview
//!
//! - [`probe`] tells the container from the file's bytes; a pg_dump tar archive and
//!   anything else that is no bundle get answers of their own, for the other readers.
//! - [`Bundle::open`] lists every [`Member`] (`members`, through `zipped` or `tarball` and
//!   `stream`), with the first bytes of each file: one pass, even for a `.tar.gz`. Names are
//!   made plain relative paths or refused (`path`); duplicates and counts are bounded
//!   ([`Limits`]).
//! - [`Bundle::dumps`] finds the dumps from those bytes (`dumps`), [`Bundle::manifest`] reads
//!   the manifest (`manifest`), [`Bundle::files_summary`] counts the rest (`summary`).
//! - [`Bundle::open_member`] streams one member, so a custom dump is restored without being
//!   unpacked; [`Bundle::extract_to_dir`] unpacks a directory archive, which needs random
//!   access; [`Bundle::extract`] writes the user files (`extract`, writing through `target`,
//!   owners from [`parse_owner`]).
//!
//! The bundle is hostile until checked: every member is checked before anything is written,
//! nothing is written through a symlink or outside the folder given, permissions are never
//! widened, and bytes are counted as they are written, against a total and a ratio limit.

mod dumps;
mod error;
mod extract;
mod limits;
mod manifest;
mod members;
mod owner;
mod path;
mod probe;
mod sniff;
mod stream;
mod summary;
mod tarball;
mod target;
mod zipped;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

pub use dumps::{Dump, DumpFormat, Rule};
pub use error::BundleError;
pub use extract::{ExtractOptions, ExtractSummary};
pub use limits::{Limits, HEAD, LONG_HEAD};
pub use manifest::{Field, Manifest, ManifestInfo, Revision};
pub use members::{Member, MemberKind};
pub use owner::parse_owner;
pub use probe::{probe, Compression, Container, Probe};
pub use summary::{FilesSummary, FolderSummary};

/// An opened bundle: its container and the list of its members, checked.
#[derive(Debug)]
pub struct Bundle {
    path: PathBuf,
    container: Container,
    limits: Limits,
    /// In the container's order; `at.index` grows along the list.
    members: Vec<Member>,
    /// Position in `members` by path.
    by_path: HashMap<String, usize>,
}

impl Bundle {
    /// The bundle at `path`, listed with the default [`Limits`].
    pub fn open(path: impl AsRef<Path>) -> Result<Bundle, BundleError> {
        Bundle::open_with(path, Limits::default())
    }

    /// The bundle at `path`, listed within `limits`. A file that is no zip or tar is
    /// [`BundleError::NotABundle`]; a pg_dump tar archive is [`BundleError::PgDumpTar`].
    pub fn open_with(path: impl AsRef<Path>, limits: Limits) -> Result<Bundle, BundleError> {
        let path = path.as_ref();
        let container = match probe(path).map_err(|e| BundleError::Read { path: path.to_owned(), source: e })? {
            Probe::Bundle(container) => container,
            Probe::PgDumpTarArchive(_) => return Err(BundleError::PgDumpTar { path: path.to_owned() }),
            Probe::NotABundle => return Err(BundleError::NotABundle { path: path.to_owned() }),
        };
        let (members, by_path) = match container {
            Container::Zip => zipped::list(path, &limits)?,
            Container::Tar(compression) => tarball::list(path, compression, &limits)?,
        };
        Ok(Bundle { path: path.to_owned(), container, limits, members, by_path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn container(&self) -> Container {
        self.container
    }

    /// Every member, in the container's order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The member at the normalized path `path`.
    pub fn member(&self, path: &str) -> Option<&Member> {
        self.by_path.get(path).and_then(|&i| self.members.get(i))
    }

    /// The database dumps in the bundle: found by content first (in member order), then by
    /// name only. See [`Rule`].
    pub fn dumps(&self) -> Vec<Dump> {
        dumps::find(&self.members)
    }

    /// The bundle's manifest, if it has a member named like one (the best name wins: see
    /// the `manifest` module); its content may be an error saying why it could not be read.
    pub fn manifest(&self) -> Option<Manifest> {
        let best = self.members.iter().filter(|m| m.is_file()).filter_map(|m| manifest::rank(&m.path).map(|r| (r, m))).min_by_key(|(r, _)| *r)?.1;
        Some(match self.open_member(&best.path) {
            Ok(mut reader) => manifest::read(&best.path, &mut reader, self.limits.max_manifest),
            Err(e) => Manifest { path: best.path.clone(), content: Err(e.to_string()) },
        })
    }

    /// Counts of what lies outside `exclude` (member paths or folders, such as the chosen
    /// dump's [`Dump::path`]).
    pub fn files_summary(&self, exclude: &[&str]) -> FilesSummary {
        summary::summarize(&self.members, exclude)
    }

    /// The content of the regular file `path`, decompressed as it is read. Reading it to
    /// its end checks its size (and, in a zip, its CRC-32). For a compressed tar, the
    /// stream before the member is decompressed first.
    pub fn open_member(&self, path: &str) -> Result<Box<dyn Read + Send>, BundleError> {
        let member = self.member(path).ok_or_else(|| BundleError::NoSuchMember { member: path.to_owned() })?;
        if !member.is_file() {
            return Err(BundleError::Unsupported { member: path.to_owned(), what: "reading anything but a regular file".into() });
        }
        match self.container {
            Container::Zip => zipped::open(&self.path, member),
            Container::Tar(compression) => tarball::open(&self.path, compression, member),
        }
    }

    /// Extracts every member but those `options.exclude` names under `dir`, each at its
    /// path. See [`ExtractOptions`] for what is refused and bounded.
    pub fn extract(&self, dir: impl AsRef<Path>, options: &ExtractOptions) -> Result<ExtractSummary, BundleError> {
        extract::run(self, dir.as_ref(), options, &|m| Some(m.path.clone()))
    }

    /// Extracts the members in the folder `prefix` (a directory archive's [`Dump::path`])
    /// under `dir`, without the prefix (`prefix/toc.dat` becomes `dir/toc.dat`); `prefix`
    /// naming a file extracts that file under its own name; `""` extracts everything.
    pub fn extract_to_dir(&self, prefix: &str, dir: impl AsRef<Path>, options: &ExtractOptions) -> Result<ExtractSummary, BundleError> {
        let file_name = prefix.rsplit('/').next().unwrap_or(prefix).to_owned();
        let select = |m: &Member| -> Option<String> {
            if prefix.is_empty() {
                Some(m.path.clone())
            } else if m.path == prefix {
                m.is_file().then(|| file_name.clone())
            } else {
                m.path.strip_prefix(prefix).and_then(|rest| rest.strip_prefix('/')).map(str::to_owned)
            }
        };
        extract::run(self, dir.as_ref(), options, &select)
    }
}
