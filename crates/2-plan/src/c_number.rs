//! Numbers as C's conversions read them (`strtol`, `strtoul`, `sscanf("%u")`): pg_restore
//! parses catalog ids in the TOC and dump ids in a `-L` list this way, and its leniency
//! (leading blanks, a sign, digits up to the first non-digit, wrapping) decides which lines
//! and ids it accepts.

/// What C's number conversions (`strtol`, `strtoul`, `%u`) read: leading whitespace, an
/// optional sign, then the run of decimal digits (possibly empty).
pub fn c_sign_and_digits(s: &[u8]) -> (bool, &[u8]) {
    let mut i = s.iter().take_while(|&&b| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)).count();
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let rest = &s[i..];
    let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    (negative, &rest[..n])
}

/// A catalog id as pg_restore holds it after `sscanf(s, "%u")`: leading whitespace and a
/// sign allowed, digits converted like `strtoul` (negative values wrap, overflow saturates,
/// then the result is cut to 32 bits); 0 when there are no digits.
pub fn catalog_oid(s: &[u8]) -> u32 {
    let (negative, digits) = c_sign_and_digits(s);
    let mut value: u64 = 0;
    let mut overflow = false;
    let mut any = false;
    for &d in digits {
        any = true;
        match value.checked_mul(10).and_then(|v| v.checked_add(u64::from(d - b'0'))) {
            Some(v) => value = v,
            None => overflow = true,
        }
    }
    if !any {
        return 0;
    }
    let value = if overflow { u64::MAX } else if negative { value.wrapping_neg() } else { value };
    // %u stores the unsigned long into an unsigned int.
    value as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_oids_like_sscanf() {
        assert_eq!(catalog_oid(b"1259"), 1259);
        assert_eq!(catalog_oid(b"0"), 0);
        assert_eq!(catalog_oid(b""), 0);
        assert_eq!(catalog_oid(b"x1"), 0);
        assert_eq!(catalog_oid(b" 42abc"), 42);
        assert_eq!(catalog_oid(b"-1"), u32::MAX);
        assert_eq!(catalog_oid(b"4294967296"), 0);
    }

}
