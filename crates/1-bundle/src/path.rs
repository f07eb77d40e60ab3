//! A member's name made a plain relative path, or refused: `..`, absolute names, Windows
//! drives and backslashes, NUL, overlong names and names that are not UTF-8 never become a
//! path. And where a link's target leads, resolved by its text inside the bundle.

/// Bytes in one path component at most (Linux's `NAME_MAX`).
const MAX_COMPONENT: usize = 255;

/// `raw` as `a/b/c` — no `.`, empty components, leading `./` or trailing `/` — or `None`
/// for the bundle's root itself (`./`), or why it cannot be a path inside the bundle.
pub(crate) fn normalize(raw: &[u8], max_path: usize) -> Result<Option<String>, String> {
    if raw.len() > max_path {
        return Err(format!("is {} bytes long, over the {max_path} allowed", raw.len()));
    }
    if raw.contains(&0) {
        return Err("contains a NUL byte".into());
    }
    let text = std::str::from_utf8(raw).map_err(|_| "is not UTF-8".to_owned())?;
    if text.contains('\\') {
        return Err("contains a backslash (a Windows path separator)".into());
    }
    if text.starts_with('/') {
        return Err("is an absolute path".into());
    }
    let mut parts = Vec::new();
    for part in text.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("climbs out with `..`".into()),
            _ if part.len() > MAX_COMPONENT => return Err(format!("has a component over {MAX_COMPONENT} bytes")),
            _ => parts.push(part),
        }
    }
    if let Some(first) = parts.first() {
        let b = first.as_bytes();
        if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
            return Err("names a Windows drive".into());
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// Where a link at `link` (a normalized member path) pointing to `target` leads, as a
/// normalized path inside the bundle (`""` for its root), with every folder the resolution
/// passes through on the way (which must not be symlinks themselves, or the text would not
/// say where it really leads); or why it leads outside.
pub(crate) fn resolve_link(link: &str, target: &str) -> Result<(String, Vec<String>), String> {
    if target.is_empty() {
        return Err("is a link with an empty target".into());
    }
    if target.starts_with('/') || target.contains('\\') || target.contains('\0') {
        return Err(format!("is a link to `{target}`, an absolute path"));
    }
    let mut at: Vec<&str> = link.split('/').collect();
    at.pop();
    let mut through = Vec::new();
    let parts: Vec<&str> = target.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    for (i, part) in parts.iter().enumerate() {
        if *part == ".." {
            if at.pop().is_none() {
                return Err(format!("is a link to `{target}`, outside the folder it is extracted to"));
            }
        } else {
            at.push(part);
            if i + 1 < parts.len() {
                through.push(at.join("/"));
            }
        }
    }
    Ok((at.join("/"), through))
}

/// The folders above `path`, nearest last: `a`, `a/b` for `a/b/c`.
pub(crate) fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_plain_relative_paths() {
        let n = |s: &str| normalize(s.as_bytes(), 4096);
        assert_eq!(n("./uploads//a/./b.png"), Ok(Some("uploads/a/b.png".into())));
        assert_eq!(n("uploads/"), Ok(Some("uploads".into())));
        assert_eq!(n("./"), Ok(None));
        for bad in ["../etc/passwd", "a/../../b", "a/..", "/etc/passwd", "C:/Windows/x", "c:x", "a\\..\\b", "a\0b"] {
            assert!(n(bad).is_err(), "{bad:?} accepted");
        }
        assert!(normalize(&[b'a', 0xff], 4096).is_err());
        assert!(normalize(&[b'a'; 300], 4096).is_err());
        assert!(normalize(b"abc", 2).is_err());
    }

    #[test]
    fn links_resolve_by_their_text() {
        assert_eq!(resolve_link("a/b/l", "../c/d"), Ok(("a/c/d".into(), vec!["a/c".into()])));
        assert_eq!(resolve_link("l", "."), Ok(("".into(), vec![])));
        assert!(resolve_link("a/l", "../../x").is_err());
        assert!(resolve_link("a/l", "/etc").is_err());
        assert!(resolve_link("a/l", "").is_err());
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a", "a/b"]);
    }
}
