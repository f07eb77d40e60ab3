//! The archive's text encoding, and how its bytes become what the connection sends. The
//! connection always speaks UTF-8 (tokio-postgres requires it): statements are converted
//! here before they are sent, while COPY data stays as it is and its COPY statement says its
//! encoding, so the server converts the rows and the client never has to.

use std::borrow::Cow;

use bstr::ByteSlice;

/// The archive's text encoding, and how to turn its bytes into what the connection (always
/// UTF-8) sends.
#[derive(Debug, Clone)]
pub(super) enum Encoding {
    /// UTF8, and SQL_ASCII (bytes taken as they are; they must be valid UTF-8 to be sent).
    Utf8 { name: String },
    /// LATIN1: each byte is the code point of the same number.
    Latin1,
    Other { name: String, encoding: &'static encoding_rs::Encoding },
    /// An encoding this build cannot convert; its text is sent if it happens to be UTF-8.
    Unknown { name: String },
}

impl Encoding {
    pub fn for_archive(name: &[u8]) -> Encoding {
        let upper = name.to_str_lossy().to_ascii_uppercase().replace(['-', '_'], "");
        let label = match upper.as_str() {
            "UTF8" | "UNICODE" | "" => return Encoding::Utf8 { name: "UTF8".into() },
            "SQLASCII" => return Encoding::Utf8 { name: "SQL_ASCII".into() },
            "LATIN1" | "ISO88591" => return Encoding::Latin1,
            "LATIN2" | "ISO88592" => "iso-8859-2",
            "LATIN3" | "ISO88593" => "iso-8859-3",
            "LATIN4" | "ISO88594" => "iso-8859-4",
            "ISO88595" => "iso-8859-5",
            "ISO88596" => "iso-8859-6",
            "ISO88597" => "iso-8859-7",
            "ISO88598" => "iso-8859-8",
            "LATIN6" | "ISO885910" => "iso-8859-10",
            "LATIN7" | "ISO885913" => "iso-8859-13",
            "LATIN8" | "ISO885914" => "iso-8859-14",
            "LATIN9" | "ISO885915" => "iso-8859-15",
            "LATIN10" | "ISO885916" => "iso-8859-16",
            "WIN1250" => "windows-1250",
            "WIN1251" => "windows-1251",
            "WIN1252" => "windows-1252",
            "WIN1253" => "windows-1253",
            "WIN1254" => "windows-1254",
            "WIN1255" => "windows-1255",
            "WIN1256" => "windows-1256",
            "WIN1257" => "windows-1257",
            "WIN1258" => "windows-1258",
            "WIN866" => "ibm866",
            "WIN874" => "windows-874",
            "KOI8R" => "koi8-r",
            "KOI8U" => "koi8-u",
            "EUCJP" => "euc-jp",
            "EUCKR" => "euc-kr",
            "SJIS" => "shift_jis",
            "BIG5" => "big5",
            "GBK" => "gbk",
            "GB18030" => "gb18030",
            _ => return Encoding::Unknown { name: name.to_str_lossy().into_owned() },
        };
        match encoding_rs::Encoding::for_label(label.as_bytes()) {
            Some(encoding) => Encoding::Other { name: name.to_str_lossy().into_owned(), encoding },
            None => Encoding::Unknown { name: name.to_str_lossy().into_owned() },
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Encoding::Utf8 { name } | Encoding::Other { name, .. } | Encoding::Unknown { name } => name,
            Encoding::Latin1 => "LATIN1",
        }
    }

    pub fn decode<'b>(&self, bytes: &'b [u8]) -> Result<Cow<'b, str>, String> {
        match self {
            Encoding::Utf8 { .. } | Encoding::Unknown { .. } => {
                std::str::from_utf8(bytes).map(Cow::Borrowed).map_err(|e| format!("text is not valid UTF-8 (archive encoding {}): {e}", self.name()))
            }
            Encoding::Latin1 => match std::str::from_utf8(bytes) {
                Ok(s) if s.is_ascii() => Ok(Cow::Borrowed(s)),
                _ => Ok(Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect())),
            },
            Encoding::Other { encoding, .. } => {
                let (text, _, had_errors) = encoding.decode(bytes);
                if had_errors {
                    return Err(format!("text is not valid {}", self.name()));
                }
                Ok(text)
            }
        }
    }

    /// The COPY statement, told the data's encoding when it is not UTF-8, so the server
    /// converts the rows and the client never has to. pg_dump's statement ends `FROM
    /// stdin;`; the renderer may have asked for `WITH (FREEZE)`, which the encoding joins.
    pub fn copy_statement(&self, copy: &[u8]) -> Vec<u8> {
        if matches!(self, Encoding::Utf8 { name } if name == "UTF8") {
            return copy.to_vec();
        }
        let trimmed = copy.trim_end();
        let Some(body) = trimmed.strip_suffix(b";") else { return copy.to_vec() };
        let lower = body.to_ascii_lowercase();
        if lower.ends_with(b"from stdin") {
            return [body, format!(" WITH (ENCODING '{}');\n", self.name()).as_bytes()].concat();
        }
        if lower.ends_with(b"from stdin with (freeze)") {
            let open = &body[..body.len() - 1];
            return [open, format!(", ENCODING '{}');\n", self.name()).as_bytes()].concat();
        }
        copy.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_convert_to_utf8() {
        let latin1 = Encoding::for_archive(b"LATIN1");
        assert_eq!(latin1.decode(b"caf\xe9").as_deref(), Ok("café"));
        assert_eq!(latin1.copy_statement(b"COPY public.t (a) FROM stdin;\n"), b"COPY public.t (a) FROM stdin WITH (ENCODING 'LATIN1');\n".to_vec());
        assert_eq!(latin1.copy_statement(b"COPY public.t (a) FROM stdin WITH (FREEZE);\n"), b"COPY public.t (a) FROM stdin WITH (FREEZE, ENCODING 'LATIN1');\n".to_vec());
        let utf8 = Encoding::for_archive(b"UTF8");
        assert_eq!(utf8.copy_statement(b"COPY t FROM stdin;\n"), b"COPY t FROM stdin;\n".to_vec());
        assert!(utf8.decode(b"\xff").is_err());
        let sjis = Encoding::for_archive(b"SJIS");
        assert_eq!(sjis.decode(b"\x82\xa0").as_deref(), Ok("あ"));
    }
}
