//! Parses libpq connection strings: `key=value` lists and `postgresql://` URIs, as `-d`
//! accepts them (libpq docs, "Connection Strings", §32.1.1). The result is an unresolved
//! keyword map; precedence, environment and defaults are `super::ConnParams::resolve`'s job.
//!
//! Error texts keep libpq's wording so a user who searches for them finds libpq's docs.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use super::ConnectError;

/// Every keyword libpq 18 knows. A keyword outside this list is an error, as in libpq;
/// one inside it that pgsurge does not implement is rejected later, when resolving, with a
/// message that says so (not every name here is honoured).
pub(crate) const KEYWORDS: &[&str] = &[
    "service",
    "user",
    "password",
    "passfile",
    "require_auth",
    "channel_binding",
    "connect_timeout",
    "dbname",
    "host",
    "hostaddr",
    "port",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslmode",
    "sslnegotiation",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslcertmode",
    "sslpassword",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "min_protocol_version",
    "max_protocol_version",
    "gssencmode",
    "krbsrvname",
    "gsslib",
    "gssdelegation",
    "replication",
    "target_session_attrs",
    "load_balance_hosts",
    "scram_client_key",
    "scram_server_key",
    "oauth_issuer",
    "oauth_client_id",
    "oauth_client_secret",
    "oauth_scope",
];

/// Keywords whose values are secrets and never appear in `Debug` output.
const SECRET_KEYWORDS: &[&str] = &[
    "password",
    "sslpassword",
    "scram_client_key",
    "scram_server_key",
    "oauth_client_secret",
];

/// The keyword/value pairs of one connection string. A keyword given twice keeps its last
/// value, as in libpq. Values may be empty: `host=` is kept as `""`, which still stops the
/// environment from filling that keyword (libpq's `conninfo_add_defaults` only fills NULLs).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ConnInfo {
    values: BTreeMap<&'static str, String>,
}

impl ConnInfo {
    /// The value of `keyword`, if the string set it.
    pub fn get(&self, keyword: &str) -> Option<&str> {
        self.values.get(keyword).map(String::as_str)
    }

    /// Every keyword the string set, with its value, in keyword order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.values.iter().map(|(k, v)| (*k, v.as_str()))
    }

    fn set(&mut self, keyword: &str, value: String) -> Result<(), String> {
        let keyword = known_keyword(keyword)
            .ok_or_else(|| format!("invalid connection option \"{keyword}\""))?;
        self.values.insert(keyword, value);
        Ok(())
    }
}

impl fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (k, v) in &self.values {
            if SECRET_KEYWORDS.contains(k) {
                map.entry(k, &"********");
            } else {
                map.entry(k, v);
            }
        }
        map.finish()
    }
}

/// The `&'static` spelling of a keyword libpq knows.
pub(crate) fn known_keyword(keyword: &str) -> Option<&'static str> {
    KEYWORDS.iter().copied().find(|k| *k == keyword)
}

/// Whether `-d`'s value is a connection string rather than a plain database name: libpq's
/// `recognized_connection_string` looks for a URI prefix or any `=`.
pub fn is_connection_string(s: &str) -> bool {
    uri_prefix_len(s).is_some() || s.contains('=')
}

/// Parses a `key=value` string or a URI, whichever `s` is.
pub fn parse(s: &str) -> Result<ConnInfo, ConnectError> {
    let result = if uri_prefix_len(s).is_some() {
        parse_uri(s)
    } else {
        parse_key_values(s)
    };
    result.map_err(|message| ConnectError::BadConnInfo { message })
}

/// Where the secrets (password and the like) lie in a connection string, as byte ranges, for
/// hiding them from other users where the string is visible (the process's arguments). Finds
/// them as `parse` would, and also in a string `parse` rejects past them.
pub fn secret_spans(s: &str) -> Vec<Range<usize>> {
    let mut spans = match uri_prefix_len(s) {
        Some(prefix_len) => uri_secret_spans(s, prefix_len),
        None => key_value_secret_spans(s),
    };
    spans.retain(|r| !r.is_empty());
    spans
}

fn is_secret(keyword: &str) -> bool {
    SECRET_KEYWORDS.contains(&keyword)
}

fn uri_secret_spans(uri: &str, prefix_len: usize) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let rest = &uri[prefix_len..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if let Some(at) = authority.rfind('@') {
        if let Some(colon) = authority[..at].find(':') {
            spans.push(prefix_len + colon + 1..prefix_len + at);
        }
    }
    let after_start = prefix_len + authority_end;
    if let Some(q) = uri[after_start..].find('?') {
        let mut start = after_start + q + 1;
        for param in uri[start..].split('&') {
            if let Some((key, _)) = param.split_once('=') {
                let key = percent_decode(key).unwrap_or_else(|_| key.to_string());
                if is_secret(&key) {
                    spans.push(start + key_len(param)..start + param.len());
                }
            }
            start += param.len() + 1;
        }
    }
    spans
}

/// Length of `key=` in a `key=value` query parameter.
fn key_len(param: &str) -> usize {
    param.find('=').map_or(param.len(), |i| i + 1)
}

/// The values of secret keywords in `key = value` text, tokenized as `parse_key_values` does.
fn key_value_secret_spans(s: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut chars = s.char_indices().peekable();
    let skip_space = |chars: &mut std::iter::Peekable<std::str::CharIndices>| {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_space(&mut chars);
        let Some(&(key_start, _)) = chars.peek() else { return spans };
        let mut key_end = s.len();
        while chars.next_if(|(_, c)| !c.is_whitespace() && *c != '=').is_some() {}
        if let Some(&(i, _)) = chars.peek() {
            key_end = i;
        }
        let secret = is_secret(&s[key_start..key_end]);
        skip_space(&mut chars);
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return spans;
        }
        skip_space(&mut chars);
        let quoted = chars.next_if(|(_, c)| *c == '\'').is_some();
        let start = chars.peek().map_or(s.len(), |(i, _)| *i);
        let mut end = s.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\'' if quoted => {
                    end = i;
                    break;
                }
                '\\' => {
                    chars.next();
                }
                c if !quoted && c.is_whitespace() => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        if secret {
            spans.push(start..end);
        }
    }
}

fn uri_prefix_len(s: &str) -> Option<usize> {
    ["postgresql://", "postgres://"]
        .iter()
        .find(|p| s.starts_with(*p))
        .map(|p| p.len())
}

/// `key = value key2 = 'quoted \' value'`: whitespace may surround `=`, a value is either
/// unquoted (ends at whitespace) or single-quoted, and a backslash escapes the next
/// character in both.
fn parse_key_values(s: &str) -> Result<ConnInfo, String> {
    let mut info = ConnInfo::default();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(info);
        }
        let mut keyword = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            keyword.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            return Err(format!(
                "missing \"=\" after \"{keyword}\" in connection info string"
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    None => {
                        return Err(
                            "unterminated quoted string in connection info string".to_string()
                        )
                    }
                    Some('\'') => break,
                    Some('\\') => {
                        if let Some(c) = chars.next() {
                            value.push(c);
                        }
                    }
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(escaped) = chars.next() {
                        value.push(escaped);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        info.set(&keyword, value)?;
    }
}

/// `postgresql://[user[:password]@][host][:port][,host[:port]...][/dbname][?key=value&...]`.
/// Every component is percent-decoded; hosts and ports become comma lists as in a
/// `key=value` string, and query parameters override what the URI's body said.
fn parse_uri(uri: &str) -> Result<ConnInfo, String> {
    let mut info = ConnInfo::default();
    let prefix_len = uri_prefix_len(uri).unwrap_or(0);
    let rest = &uri[prefix_len..];

    // The authority ends at the first `/` or `?`; user info is whatever precedes its last
    // `@` (a password may contain `@` only percent-encoded, but be lenient like libpq,
    // which looks for `@` before any `/`).
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_end);
    let hosts_part = match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            if !user.is_empty() {
                info.set("user", percent_decode(user)?)?;
            }
            if let Some(p) = password {
                if !p.is_empty() {
                    info.set("password", percent_decode(p)?)?;
                }
            }
            &authority[at + 1..]
        }
        None => authority,
    };

    let (hosts, ports) = parse_uri_hosts(
        hosts_part,
        prefix_len + authority.len() - hosts_part.len(),
        uri,
    )?;
    // libpq stores the lists only when some element is non-empty, so `postgresql://` alone
    // leaves host and port to the environment.
    if hosts.iter().any(|h| !h.is_empty()) {
        info.set("host", hosts.join(","))?;
    }
    if ports.iter().any(|p| !p.is_empty()) {
        info.set("port", ports.join(","))?;
    }

    let (path, query) = match after.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (after, None),
    };
    if let Some(dbname) = path.strip_prefix('/') {
        if !dbname.is_empty() {
            info.set("dbname", percent_decode(dbname)?)?;
        }
    }
    if let Some(query) = query {
        for param in query.split('&').filter(|p| !p.is_empty()) {
            let Some((key, value)) = param.split_once('=') else {
                return Err(format!(
                    "missing key/value separator \"=\" in URI query parameter: \"{param}\""
                ));
            };
            if value.contains('=') {
                return Err(format!(
                    "extra key/value separator \"=\" in URI query parameter: \"{param}\""
                ));
            }
            let key = percent_decode(key)?;
            let mut value = percent_decode(value)?;
            // JDBC's `ssl=true` is accepted by libpq as `sslmode=require`.
            let key = if key == "ssl" && value == "true" {
                value = "require".to_string();
                "sslmode".to_string()
            } else {
                key
            };
            if known_keyword(&key).is_none() {
                return Err(format!("invalid URI query parameter: \"{key}\""));
            }
            info.set(&key, value)?;
        }
    }
    Ok(info)
}

/// Splits `host1:5432,[::1]:5433,host3` into hosts and ports (each possibly empty).
/// `offset` is where `part` starts in `uri`, for libpq's "at position" messages.
fn parse_uri_hosts(
    part: &str,
    offset: usize,
    uri: &str,
) -> Result<(Vec<String>, Vec<String>), String> {
    let mut hosts = Vec::new();
    let mut ports = Vec::new();
    for item in part.split(',') {
        let (host, port) = if let Some(inner) = item.strip_prefix('[') {
            let Some(close) = inner.find(']') else {
                return Err(format!(
                    "end of string reached when looking for matching \"]\" in IPv6 host address in URI: \"{uri}\""
                ));
            };
            if close == 0 {
                return Err(format!(
                    "IPv6 host address may not be empty in URI: \"{uri}\""
                ));
            }
            let after = &inner[close + 1..];
            let port = match after.chars().next() {
                None => "",
                Some(':') => &after[1..],
                Some(c) => {
                    // Position is 1-based, counted in bytes, as libpq reports it.
                    let at = offset + item_offset(part, item) + 1 + close + 1 + 1;
                    return Err(format!(
                        "unexpected character \"{c}\" at position {at} in URI (expected \":\" or \"/\"): \"{uri}\""
                    ));
                }
            };
            (inner[..close].to_string(), port)
        } else {
            match item.split_once(':') {
                Some((h, p)) => (percent_decode(h)?, p),
                None => (percent_decode(item)?, ""),
            }
        };
        hosts.push(host);
        ports.push(percent_decode(port)?);
    }
    Ok((hosts, ports))
}

/// Byte offset of `item` (a sub-slice of `part`) within `part`.
fn item_offset(part: &str, item: &str) -> usize {
    (item.as_ptr() as usize).saturating_sub(part.as_ptr() as usize)
}

/// Decodes `%XX` escapes. libpq rejects malformed escapes and `%00`, and so do we.
fn percent_decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let hex = bytes.get(i + 1..i + 3).and_then(|h| {
            let h = std::str::from_utf8(h).ok()?;
            u8::from_str_radix(h, 16)
                .ok()
                .filter(|_| h.bytes().all(|c| c.is_ascii_hexdigit()))
        });
        match hex {
            None => return Err(format!("invalid percent-encoded token: \"{s}\"")),
            Some(0) => {
                return Err(format!(
                    "forbidden value %00 in percent-encoded value: \"{s}\""
                ))
            }
            Some(v) => out.push(v),
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|_| format!("percent-encoded value is not valid UTF-8: \"{s}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(s: &str) -> Vec<(&'static str, String)> {
        match parse(s) {
            Ok(info) => info.iter().map(|(k, v)| (k, v.to_string())).collect(),
            Err(e) => panic!("{s:?}: {e}"),
        }
    }

    fn err(s: &str) -> String {
        match parse(s) {
            Ok(info) => panic!("{s:?} parsed as {info:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn owned(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn recognises_connection_strings() {
        assert!(is_connection_string("dbname=x"));
        assert!(is_connection_string("postgresql://h/x"));
        assert!(is_connection_string("postgres://"));
        assert!(!is_connection_string("mydb"));
        assert!(!is_connection_string("postgresql:/x"));
    }

    #[test]
    fn key_values() {
        assert_eq!(
            kv("host = /tmp  port=5433 dbname='my db' user=bob"),
            owned(&[
                ("dbname", "my db"),
                ("host", "/tmp"),
                ("port", "5433"),
                ("user", "bob")
            ])
        );
        assert_eq!(
            kv(r"password='it\'s \\ x' options=-c\ a=b"),
            owned(&[("options", "-c a=b"), ("password", r"it's \ x")])
        );
        // Later keywords override earlier ones; empty values are kept.
        assert_eq!(
            kv("port=1 port=2 host="),
            owned(&[("host", ""), ("port", "2")])
        );
        assert_eq!(kv("host=''"), owned(&[("host", "")]));
        assert_eq!(kv("   "), owned(&[]));
    }

    #[test]
    fn key_value_errors() {
        assert_eq!(err("foo=bar"), "invalid connection option \"foo\"");
        assert_eq!(
            err("host"),
            "missing \"=\" after \"host\" in connection info string"
        );
        assert_eq!(
            err("host x=1"),
            "missing \"=\" after \"host\" in connection info string"
        );
        assert_eq!(
            err("host='abc"),
            "unterminated quoted string in connection info string"
        );
    }

    #[test]
    fn uris() {
        assert_eq!(
            kv("postgresql://user:p%40ss@host1:5432,host2/db?sslmode=require&application_name=x"),
            owned(&[
                ("application_name", "x"),
                ("dbname", "db"),
                ("host", "host1,host2"),
                ("password", "p@ss"),
                ("port", "5432,"),
                ("sslmode", "require"),
                ("user", "user"),
            ])
        );
        assert_eq!(
            kv("postgres://[::1]:5433,[fe80::1]/x"),
            owned(&[("dbname", "x"), ("host", "::1,fe80::1"), ("port", "5433,")])
        );
        assert_eq!(
            kv("postgresql://%2Ftmp/db"),
            owned(&[("dbname", "db"), ("host", "/tmp")])
        );
        assert_eq!(
            kv("postgresql:///db?host=/var/run/postgresql&port=5499"),
            owned(&[
                ("dbname", "db"),
                ("host", "/var/run/postgresql"),
                ("port", "5499")
            ])
        );
        assert_eq!(kv("postgresql://"), owned(&[]));
        assert_eq!(
            kv("postgresql://h?ssl=true"),
            owned(&[("host", "h"), ("sslmode", "require")])
        );
        assert_eq!(kv("postgresql://me@"), owned(&[("user", "me")]));
    }

    #[test]
    fn uri_errors() {
        assert_eq!(
            err("postgresql://h/db?foo=1"),
            "invalid URI query parameter: \"foo\""
        );
        assert_eq!(
            err("postgresql://h/db?port"),
            "missing key/value separator \"=\" in URI query parameter: \"port\""
        );
        assert_eq!(
            err("postgresql://[::1/db"),
            "end of string reached when looking for matching \"]\" in IPv6 host address in URI: \"postgresql://[::1/db\""
        );
        assert_eq!(
            err("postgresql://[]/db"),
            "IPv6 host address may not be empty in URI: \"postgresql://[]/db\""
        );
        assert_eq!(
            err("postgresql://[::1]x/db"),
            "unexpected character \"x\" at position 19 in URI (expected \":\" or \"/\"): \"postgresql://[::1]x/db\""
        );
        assert_eq!(
            err("postgresql://h/d%zz"),
            "invalid percent-encoded token: \"d%zz\""
        );
        assert_eq!(
            err("postgresql://h/d%2"),
            "invalid percent-encoded token: \"d%2\""
        );
        assert_eq!(
            err("postgresql://h/d%00"),
            "forbidden value %00 in percent-encoded value: \"d%00\""
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let info = parse("user=u password=hunter2").expect("valid");
        let shown = format!("{info:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("\"u\""), "{shown}");
    }

    #[test]
    fn secret_spans_cover_every_password() {
        let masked = |s: &str| {
            let mut bytes = s.as_bytes().to_vec();
            for r in secret_spans(s) {
                bytes[r].fill(b'x');
            }
            String::from_utf8(bytes).expect("ASCII")
        };
        assert_eq!(
            masked("postgresql://app:s3cret@db.example/x"),
            "postgresql://app:xxxxxx@db.example/x"
        );
        assert_eq!(
            masked("postgres://app:p@ss:w@h:5432,h2/x?sslpassword=k&password=two&user=u"),
            "postgres://app:xxxxxx@h:5432,h2/x?sslpassword=x&password=xxx&user=u"
        );
        assert_eq!(
            masked("postgresql://h?pass%77ord=abc"),
            "postgresql://h?pass%77ord=xxx"
        );
        assert_eq!(masked("postgresql://app@h/x"), "postgresql://app@h/x");
        assert_eq!(masked("postgresql://app:@h/x"), "postgresql://app:@h/x");
        assert_eq!(
            masked(r"host=h password = 'it\'s a secret' user=u"),
            r"host=h password = 'xxxxxxxxxxxxxx' user=u"
        );
        assert_eq!(
            masked(r"password=se\ cret dbname=x scram_client_key=K"),
            r"password=xxxxxxxx dbname=x scram_client_key=x"
        );
        assert_eq!(masked("password='unterminated"), "password='xxxxxxxxxxxx");
        assert_eq!(masked("passfile=/p user=password"), "passfile=/p user=password");
        assert_eq!(masked("mydb"), "mydb");
        // Every span agrees with what `parse` reads as the password.
        for s in ["password=abc", "postgresql://u:abc@h", "postgresql://h?password=abc"] {
            let info = parse(s).expect("valid");
            let spans = secret_spans(s);
            assert_eq!(spans.len(), 1, "{s}");
            assert_eq!(&s[spans[0].clone()], info.get("password").unwrap_or_default(), "{s}");
        }
    }
}
