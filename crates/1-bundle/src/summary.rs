//! What a bundle holds besides its dump: how many files, how many bytes, and which top
//! folders (`uploads`, `storage`) hold them, for a caller to tell the user what extracting
//! will write.

use std::collections::HashMap;

use crate::members::Member;

/// The files a bundle holds outside the excluded paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilesSummary {
    /// Regular files (and hard links, which become files).
    pub files: u64,
    /// Their declared bytes.
    pub bytes: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Per top-level folder (`""` for files at the top), most bytes first.
    pub folders: Vec<FolderSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderSummary {
    pub name: String,
    pub files: u64,
    pub bytes: u64,
}

/// Whether `path` is `prefix` or lies in the folder `prefix` (`""` holds everything).
pub(crate) fn under(path: &str, prefix: &str) -> bool {
    prefix.is_empty() || path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

pub(crate) fn excluded(path: &str, exclude: &[&str]) -> bool {
    exclude.iter().any(|e| under(path, e))
}

pub(crate) fn summarize(members: &[Member], exclude: &[&str]) -> FilesSummary {
    let mut summary = FilesSummary::default();
    let mut folders: HashMap<&str, (u64, u64)> = HashMap::new();
    for m in members.iter().filter(|m| !excluded(&m.path, exclude)) {
        use crate::members::MemberKind::*;
        match &m.kind {
            File | HardLink { .. } => {
                summary.files += 1;
                summary.bytes = summary.bytes.saturating_add(m.size);
                let top = m.path.split_once('/').map_or("", |(top, _)| top);
                let folder = folders.entry(top).or_default();
                folder.0 += 1;
                folder.1 = folder.1.saturating_add(m.size);
            }
            Directory => summary.dirs += 1,
            Symlink { .. } => summary.symlinks += 1,
            Other { .. } => {}
        }
    }
    summary.folders = folders.into_iter().map(|(name, (files, bytes))| FolderSummary { name: name.to_owned(), files, bytes }).collect();
    summary.folders.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_means_the_path_or_inside_its_folder() {
        assert!(under("uploads/a", "uploads"));
        assert!(under("uploads", "uploads"));
        assert!(!under("uploads2/a", "uploads"));
        assert!(under("anything", ""));
        assert!(excluded("db/backup.dump", &["db/backup.dump"]));
        assert!(!excluded("db/backup.dump.sha", &["db/backup.dump"]));
    }
}
