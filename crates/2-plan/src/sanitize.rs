//! How a name from the archive is printed on one line of a listing or a script comment
//! (pg_dump's `sanitize_line`): a name may hold line breaks, and a listing line or `--`
//! comment must not end early — the next line could be read as an entry or a statement.

use bstr::BStr;

/// `sanitize_line`: CR and LF become spaces; NULL is `-` when `hyphen_if_null`, else empty.
pub(crate) fn sanitize(s: Option<&BStr>, hyphen_if_null: bool) -> Vec<u8> {
    match s {
        Some(s) => s.iter().map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }).collect(),
        None if hyphen_if_null => b"-".to_vec(),
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitized_names() {
        assert_eq!(sanitize(Some(BStr::new("a\nb\rc")), false), b"a b c");
        assert_eq!(sanitize(None, true), b"-");
        assert_eq!(sanitize(None, false), b"");
        assert_eq!(sanitize(Some(BStr::new("")), true), b"");
    }
}
