//! Extracting a bundle's members under a folder, safe by construction. Every member is
//! checked before anything is written — a device, FIFO or socket, a member under a symlink
//! or a file, a symlink leading outside (or through another symlink), a hard link to
//! anything but a file extracted before it, a member the zip cannot read — and the folder
//! must be empty unless merging. Then [`crate::target`] writes without following symlinks,
//! each file under a temporary name first; symlinks are made last, so nothing is written
//! through them. Bytes are counted as written, never taken from declared sizes, against a
//! total limit and a per-member (zip) or per-stream (tar.gz) expansion ratio.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::path::Path;

use crate::error::BundleError;
use crate::members::{Member, MemberKind};
use crate::path::{ancestors, normalize, resolve_link};
use crate::probe::Container;
use crate::stream::Ratio;
use crate::summary::excluded;
use crate::target::Target;
use crate::{tarball, zipped, Bundle};

/// How to extract; [`ExtractOptions::default`] stops bombs and leaves real bundles be.
#[derive(Debug, Clone)]
pub struct ExtractOptions {
    /// Members not extracted: each a member path, or a folder whose members are all left
    /// out (a [`crate::Dump`]'s path works as is; `""` leaves out everything).
    pub exclude: Vec<String>,
    /// Extract into a folder that is not empty: files the bundle lacks are kept, those it
    /// has are replaced. Off, a folder with anything in it is refused.
    pub merge: bool,
    /// Owner given to everything extracted (see [`crate::parse_owner`]); `None` keeps the
    /// extracting user's.
    pub owner: Option<(u32, u32)>,
    /// Bytes written at most; `None` (the default) means the space free in the folder's
    /// file system when extraction starts, so a bomb stops before the disk is full.
    pub max_bytes: Option<u64>,
    /// How many times its compressed size a zip member, or a compressed tar's stream, may
    /// expand (default 1000: deflate's most is about 1032, reached only by near-constant
    /// data); checked once past [`ExtractOptions::ratio_floor`] bytes.
    pub max_ratio: u64,
    /// Bytes below which no ratio is checked (default 1 MiB).
    pub ratio_floor: u64,
    /// `fsync` each file before renaming it into place (default off: a crash may lose
    /// files, but never leaves a half-written one under its name).
    pub fsync: bool,
}

impl Default for ExtractOptions {
    fn default() -> ExtractOptions {
        ExtractOptions { exclude: Vec::new(), merge: false, owner: None, max_bytes: None, max_ratio: 1000, ratio_floor: 1 << 20, fsync: false }
    }
}

/// What an extraction wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExtractSummary {
    pub files: u64,
    pub bytes: u64,
    pub dirs: u64,
    /// Symlinks and hard links.
    pub links: u64,
}

/// A member to extract and where, relative to the folder.
struct Planned<'a> {
    member: &'a Member,
    to: String,
    /// For a hard link, where its target is written.
    link_to: Option<String>,
}

/// Extracts the members `select` maps to a relative path (`None` leaves one out; `""` is
/// the folder itself) under `dir`.
pub(crate) fn run(bundle: &Bundle, dir: &Path, options: &ExtractOptions, select: &dyn Fn(&Member) -> Option<String>) -> Result<ExtractSummary, BundleError> {
    let exclude: Vec<&str> = options.exclude.iter().map(String::as_str).collect();
    let plan = plan(bundle, &exclude, select)?;
    prepare_dir(dir, options.merge)?;
    let max_bytes = match options.max_bytes {
        Some(n) => n,
        None => rustix::fs::statvfs(dir).map(|s| s.f_bavail.saturating_mul(s.f_frsize)).map_err(|e| BundleError::Write { path: dir.to_owned(), source: e.into() })?,
    };
    let mut declared = 0u64;
    for p in &plan {
        declared = declared.saturating_add(p.member.size);
        if declared > max_bytes {
            return Err(BundleError::TooLarge { member: p.member.path.clone(), limit: max_bytes });
        }
    }
    let mut target = Target::open(dir, options.owner, options.fsync)?;
    let by_index: HashMap<usize, &Planned> = plan.iter().map(|p| (p.member.at.index, p)).collect();
    let mut summary = ExtractSummary::default();
    let mut symlinks = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut visit = |member: &Member, content: &mut dyn Read| -> Result<(), BundleError> {
        let Some(p) = by_index.get(&member.at.index) else { return Ok(()) };
        match &member.kind {
            MemberKind::Directory => {
                target.dir(&p.to, member.mode)?;
                summary.dirs += 1;
            }
            MemberKind::File => {
                let mut written = 0u64;
                let total = summary.bytes;
                target.file(&p.to, member.mode, &mut |out: &mut dyn Write| {
                    loop {
                        let n = content.read(&mut buf).map_err(|e| BundleError::reading(bundle.path(), Some(&member.path), e))?;
                        if n == 0 {
                            return Ok(());
                        }
                        written += n as u64;
                        // A zip member's ratio is its own; a tar stream's is checked as it is read.
                        if bundle.container() == Container::Zip && written > options.ratio_floor && written > options.max_ratio.saturating_mul(member.at.compressed) {
                            return Err(BundleError::RatioExceeded { member: member.path.clone(), limit: options.max_ratio, written, compressed: member.at.compressed });
                        }
                        if total.saturating_add(written) > max_bytes {
                            return Err(BundleError::TooLarge { member: member.path.clone(), limit: max_bytes });
                        }
                        out.write_all(buf.get(..n).unwrap_or_default()).map_err(|e| BundleError::Write { path: dir.join(&p.to), source: e })?;
                    }
                })?;
                summary.files += 1;
                summary.bytes += written;
            }
            MemberKind::HardLink { .. } => {
                target.hard_link(&p.to, p.link_to.as_deref().unwrap_or_default())?;
                summary.links += 1;
            }
            MemberKind::Symlink { target: to } => symlinks.push((p.to.clone(), to.clone())),
            MemberKind::Other { .. } => {}
        }
        Ok(())
    };
    let wanted = |m: &Member| by_index.contains_key(&m.at.index);
    match bundle.container() {
        Container::Zip => zipped::walk(bundle.path(), bundle.members(), &wanted, &mut visit)?,
        Container::Tar(compression) => {
            let ratio = Ratio { limit: options.max_ratio, floor: options.ratio_floor };
            tarball::walk(bundle.path(), compression, Some(ratio), bundle.members(), &wanted, &mut visit)?
        }
    }
    for (to, link) in symlinks {
        target.symlink(&to, &link)?;
        summary.links += 1;
    }
    Ok(summary)
}

/// The members to extract, each checked; the first that cannot be extracted safely stops
/// everything before anything is written.
fn plan<'a>(bundle: &'a Bundle, exclude: &[&str], select: &dyn Fn(&Member) -> Option<String>) -> Result<Vec<Planned<'a>>, BundleError> {
    let refuse = |m: &Member, reason: String| BundleError::Refused { member: m.path.clone(), reason };
    let mut plan: Vec<Planned> = Vec::new();
    // Each planned member's place in `plan`, by member path; where symlinks are made.
    let mut position: HashMap<&str, usize> = HashMap::new();
    let mut symlink_at: HashSet<String> = HashSet::new();
    for member in bundle.members() {
        if excluded(&member.path, exclude) {
            continue;
        }
        let Some(to) = select(member).filter(|to| !to.is_empty()) else { continue };
        for folder in ancestors(&member.path) {
            match bundle.member(folder).map(|m| &m.kind) {
                None | Some(MemberKind::Directory) => {}
                Some(MemberKind::Symlink { .. }) => return Err(refuse(member, format!("lies under `{folder}`, a symlink; writing through it could land anywhere"))),
                Some(_) => return Err(refuse(member, format!("lies under `{folder}`, which is not a folder"))),
            }
        }
        let mut link_to = None;
        match &member.kind {
            MemberKind::Other { what } => return Err(refuse(member, format!("is a {what}; only files, folders and links are extracted"))),
            MemberKind::File => {
                if let Some(zip) = member.at.zip {
                    if zip.encrypted {
                        return Err(BundleError::Unsupported { member: member.path.clone(), what: "an encrypted member".into() });
                    }
                    if !matches!(zip.method, zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated) {
                        return Err(BundleError::Unsupported { member: member.path.clone(), what: format!("compression method {:?}", zip.method) });
                    }
                }
            }
            MemberKind::Directory => {}
            MemberKind::Symlink { target } => {
                resolve_link(&to, target).map_err(|reason| refuse(member, reason))?;
                symlink_at.insert(to.clone());
            }
            MemberKind::HardLink { target } => {
                let bad = || refuse(member, format!("is a hard link to `{target}`, which is not a file extracted before it"));
                let target = normalize(target.as_bytes(), usize::MAX).ok().flatten().ok_or_else(bad)?;
                let earlier = position.get(target.as_str()).and_then(|&i| plan.get(i)).filter(|p| p.member.kind == MemberKind::File).ok_or_else(bad)?;
                link_to = Some(earlier.to.clone());
            }
        }
        position.insert(&member.path, plan.len());
        plan.push(Planned { member, to, link_to });
    }
    // Only once every symlink is known: a link may resolve through one listed after it.
    for p in &plan {
        if let MemberKind::Symlink { target } = &p.member.kind {
            let (_, through) = resolve_link(&p.to, target).map_err(|reason| refuse(p.member, reason))?;
            if let Some(link) = through.iter().find(|t| symlink_at.contains(*t)) {
                return Err(refuse(p.member, format!("is a link to `{target}`, through `{link}`, another link; where it leads cannot be told from the bundle")));
            }
        }
    }
    Ok(plan)
}

/// `dir` made if missing; refused if not empty, unless merging.
fn prepare_dir(dir: &Path, merge: bool) -> Result<(), BundleError> {
    let write = |e| BundleError::Write { path: dir.to_owned(), source: e };
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if !merge && entries.next().is_some() {
                return Err(BundleError::DirNotEmpty { path: dir.to_owned() });
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(dir).map_err(write),
        Err(e) => Err(write(e)),
    }
}
