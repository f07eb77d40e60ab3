//! Turns pg_restore's connection options (`-d -h -p -U -w -W`) and the `PG*` environment
//! into live `tokio_postgres::Client`s, the way libpq would.
//!
//! # Layout
//!
//! [`ConnectRequest`] (the command line) → [`ConnParams::resolve`] (precedence, environment,
//! defaults; strings parsed by `conninfo`) → [`ConnParams::connect`] (in `attempt`: each host
//! in turn, password from `pgpass` or the terminal, TLS from `tls`) → a `Client` and the task
//! driving its connection. Failures are [`ConnectError`]s.
//!
//! # Precedence
//!
//! pg_restore (`pg_backup_db.c`, `ConnectDatabase`) hands libpq `host`, `port`, `user`,
//! `password` and then `dbname` with `expand_dbname`, and libpq's `conninfo_array_parse`
//! applies them in that order, so a connection string in `-d` overrides `-h`/`-p`/`-U`.
//! Then `conninfo_add_defaults` fills what is still unset from `PG*` variables, and last
//! come the built-in defaults. [`ConnParams::resolve`] follows the same order.
//!
//! Not implemented: service files (`service`, `PGSERVICE`: rejected with a clear error),
//! GSSAPI, Kerberos, `target_session_attrs` beyond `any`/`read-write`/`read-only`, abstract
//! Unix sockets (`@name`), `sslcrl`, and libpq's fallback to an unencrypted connection when a
//! TLS handshake fails under `sslmode=prefer`.

mod attempt;
pub use attempt::NoticeHandler;
pub mod conninfo;
mod error;
pub mod pgpass;
pub mod tls;

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use error::ConnectError;
pub use tls::SslMode;

/// libpq's default port (`DEF_PGPORT`).
pub const DEF_PGPORT: u16 = 5432;

/// Socket directories tried, in order, when no host is given. libpq has one compiled-in
/// `DEFAULT_PGSOCKET_DIR`: `/tmp` upstream, `/var/run/postgresql` in Debian's and Red Hat's
/// builds. We take the first that holds the server's socket, so both kinds of install work.
pub const DEFAULT_SOCKET_DIRS: &[&str] = &["/var/run/postgresql", "/tmp"];

/// The connection options as pg_restore's command line gave them.
#[derive(Clone, Debug, Default)]
pub struct ConnectRequest {
    /// `-d`: a database name, a `key=value` string, or a `postgresql://` / `postgres://` URI.
    pub dbname: Option<String>,
    /// `-h`: host name, IP address or socket directory; libpq allows a comma list.
    pub host: Option<String>,
    /// `-p`: port, or a comma list matching the hosts.
    pub port: Option<String>,
    /// `-U`.
    pub user: Option<String>,
    /// `-w` / `-W` / neither.
    pub password: PasswordPolicy,
    /// Used as `application_name` unless the user set one (pg_restore passes its program name).
    pub fallback_application_name: String,
}

/// When to ask for a password on the terminal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PasswordPolicy {
    /// `-w`: never prompt; fail if the server wants a password we do not have.
    Never,
    /// `-W`: prompt before the first attempt, even if the server might not ask.
    Always,
    /// Neither flag: prompt when the server asks and a terminal is available.
    #[default]
    IfAsked,
}

/// A password. Its `Debug` shows only that one is present, and it has no `Display`, so it
/// cannot end up in a log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(s: impl Into<String>) -> Password {
        Password(s.into())
    }

    /// The secret itself, for handing to the server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(********)")
    }
}

/// Where a host entry connects to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A host name or IP address, reached by TCP. `addr` is `hostaddr`, which skips the
    /// name lookup; `name` may then be empty.
    Tcp { name: String, addr: Option<IpAddr> },
    /// A directory holding the server's `.s.PGSQL.<port>` socket (a host starting with `/`).
    Unix(PathBuf),
    /// A Linux abstract socket namespace (a host starting with `@`); recognised but not
    /// supported by the connector.
    Abstract(String),
}

/// One entry of the host list, with its port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSpec {
    pub target: Target,
    pub port: u16,
}

impl HostSpec {
    /// How libpq names this target in messages: `server on socket "/tmp/.s.PGSQL.5432"`
    /// or `server at "db.example", port 5432`.
    pub fn describe(&self) -> String {
        match &self.target {
            Target::Unix(dir) => {
                format!(
                    "server on socket \"{}/.s.PGSQL.{}\"",
                    dir.display(),
                    self.port
                )
            }
            Target::Abstract(name) => format!("server on socket \"{name}/.s.PGSQL.{}\"", self.port),
            Target::Tcp { name, addr } => match (name.is_empty(), addr) {
                (false, Some(a)) => format!("server at \"{name}\" ({a}), port {}", self.port),
                (_, Some(a)) => format!("server at \"{a}\", port {}", self.port),
                (_, None) => format!("server at \"{name}\", port {}", self.port),
            },
        }
    }

    /// The host as libpq's `PQhost` would report it: name, address or socket directory.
    pub fn host_display(&self) -> String {
        match &self.target {
            Target::Unix(dir) => dir.display().to_string(),
            Target::Abstract(name) => name.clone(),
            Target::Tcp {
                name,
                addr: Some(a),
            } if name.is_empty() => a.to_string(),
            Target::Tcp { name, .. } => name.clone(),
        }
    }
}

/// Which servers of a host list are acceptable (libpq's `target_session_attrs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SessionAttrs {
    #[default]
    Any,
    ReadWrite,
    ReadOnly,
}

/// Fully resolved connection parameters: what libpq would use after applying the command
/// line, the environment and its defaults. Cloning is cheap enough for one clone per worker;
/// clones share a password typed at the prompt, so `-j 8` asks only once, as pg_restore does.
#[derive(Clone, Debug)]
pub struct ConnParams {
    /// Never empty; tried in order.
    pub hosts: Vec<HostSpec>,
    pub user: String,
    pub dbname: String,
    /// From the connection string or `PGPASSWORD`; `None` means consult the password file
    /// per host, then perhaps the terminal.
    pub password: Option<Password>,
    pub password_policy: PasswordPolicy,
    /// `passfile` / `PGPASSFILE`, else `~/.pgpass` (`None` when there is no home directory).
    pub passfile: Option<PathBuf>,
    pub sslmode: SslMode,
    /// `sslrootcert` as given: a path, or `system`. `None`: `~/.postgresql/root.crt`.
    pub sslrootcert: Option<String>,
    /// Client certificate and key; `None`: `~/.postgresql/postgresql.{crt,key}` if present.
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
    pub application_name: Option<String>,
    /// `None`: wait forever, as libpq does for an unset or zero `connect_timeout`.
    pub connect_timeout: Option<Duration>,
    /// `options` / `PGOPTIONS`: command-line options sent to the server (`-c name=value`).
    pub options: Option<String>,
    pub target_session_attrs: SessionAttrs,
    pub channel_binding: Option<String>,
    /// Home directory, for the default certificate paths.
    pub home: Option<PathBuf>,
    /// A password typed at the prompt, shared by every clone. An async mutex because it is
    /// held while the user types, so that concurrent connects ask only once (`attempt`).
    pub(crate) prompted: Arc<tokio::sync::Mutex<Option<Password>>>,
}

/// Keywords and the environment variables that fill them when still unset, in libpq's
/// `PQconninfoOptions` order.
const ENV_VARS: &[(&str, &str)] = &[
    ("service", "PGSERVICE"),
    ("user", "PGUSER"),
    ("password", "PGPASSWORD"),
    ("passfile", "PGPASSFILE"),
    ("channel_binding", "PGCHANNELBINDING"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("dbname", "PGDATABASE"),
    ("host", "PGHOST"),
    ("hostaddr", "PGHOSTADDR"),
    ("port", "PGPORT"),
    ("client_encoding", "PGCLIENTENCODING"),
    ("options", "PGOPTIONS"),
    ("application_name", "PGAPPNAME"),
    ("sslmode", "PGSSLMODE"),
    ("sslcert", "PGSSLCERT"),
    ("sslkey", "PGSSLKEY"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("gssencmode", "PGGSSENCMODE"),
    ("target_session_attrs", "PGTARGETSESSIONATTRS"),
];

/// What the machine says about the local user and filesystem; separate so tests can fake it.
struct Local<'a> {
    os_user: Option<String>,
    home: Option<PathBuf>,
    socket_exists: &'a dyn Fn(&Path) -> bool,
}

impl ConnParams {
    /// Resolves `req` with the environment read through `env` (pass
    /// `&|k| std::env::var(k).ok()` in production), in libpq's order: see the module docs.
    pub fn resolve(
        req: &ConnectRequest,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ConnParams, ConnectError> {
        let home = env("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .or_else(passwd_home);
        let local = Local {
            os_user: os_user_name(),
            home,
            socket_exists: &|p: &Path| p.exists(),
        };
        resolve_with(req, env, &local)
    }

    /// The same parameters for another database on the same server, as pg_restore `-C` needs
    /// after `CREATE DATABASE`.
    pub fn with_dbname(&self, name: &str) -> ConnParams {
        ConnParams {
            dbname: name.to_string(),
            ..self.clone()
        }
    }

    /// `host "/tmp" port 5432 database "x" user "y"`, for messages. Shows the first host
    /// when there are several; never the password.
    pub fn display_target(&self) -> String {
        let (host, port) = match self.hosts.first() {
            Some(h) => (h.host_display(), h.port),
            None => (String::new(), DEF_PGPORT),
        };
        format!(
            "host \"{host}\" port {port} database \"{}\" user \"{}\"",
            self.dbname, self.user
        )
    }
}

fn bad(message: String) -> ConnectError {
    ConnectError::BadConnInfo { message }
}

fn resolve_with(
    req: &ConnectRequest,
    env: &dyn Fn(&str) -> Option<String>,
    local: &Local<'_>,
) -> Result<ConnParams, ConnectError> {
    // Step 1: keywords in the order pg_restore passes them; libpq skips empty values here.
    let mut kw: BTreeMap<&'static str, String> = BTreeMap::new();
    for (name, value) in [
        ("host", &req.host),
        ("port", &req.port),
        ("user", &req.user),
    ] {
        if let Some(v) = value.as_ref().filter(|v| !v.is_empty()) {
            kw.insert(name, v.clone());
        }
    }
    if let Some(d) = req.dbname.as_ref().filter(|d| !d.is_empty()) {
        if conninfo::is_connection_string(d) {
            for (k, v) in conninfo::parse(d)?.iter() {
                kw.insert(k, v.to_string());
            }
        } else {
            kw.insert("dbname", d.clone());
        }
    }
    if !req.fallback_application_name.is_empty() {
        kw.insert(
            "fallback_application_name",
            req.fallback_application_name.clone(),
        );
    }

    // Step 2: the environment fills keywords nothing set (an empty value counts as set).
    for (name, var) in ENV_VARS {
        if !kw.contains_key(name) {
            if let Some(v) = env(var) {
                kw.insert(name, v);
            }
        }
    }
    check_supported(&kw)?;

    // Step 3: defaults and validation.
    let get = |k: &str| kw.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let user = match get("user") {
        Some(u) => u.to_string(),
        None => local.os_user.clone().ok_or_else(|| {
            bad("could not look up the local user name; give one with -U or PGUSER".to_string())
        })?,
    };
    let dbname = get("dbname").unwrap_or(&user).to_string();
    let hosts = resolve_hosts(get("host"), get("hostaddr"), get("port"), local)?;
    let sslmode = match get("sslmode") {
        Some(m) => m
            .parse::<SslMode>()
            .map_err(|()| bad(format!("invalid sslmode value: \"{m}\"")))?,
        None => SslMode::Prefer,
    };
    let sslrootcert = get("sslrootcert").map(str::to_string);
    if sslrootcert.as_deref() == Some("system") && sslmode != SslMode::VerifyFull {
        // libpq 16+: the system roots vouch for public names only, so anything weaker than
        // verify-full would accept any certificate they sign.
        return Err(bad(format!(
            "weak sslmode \"{sslmode}\" may not be used with sslrootcert=system (use \"verify-full\")"
        )));
    }
    let connect_timeout = match get("connect_timeout") {
        None => None,
        Some(t) => {
            let secs: i64 = t.trim().parse().map_err(|_| {
                bad(format!(
                    "invalid integer value \"{t}\" for connection option \"connect_timeout\""
                ))
            })?;
            // libpq: zero or negative waits forever; 1 is raised to 2 seconds because a
            // one-second timer could fire almost at once.
            (secs > 0).then(|| Duration::from_secs(secs.max(2) as u64))
        }
    };
    let target_session_attrs = match get("target_session_attrs") {
        None | Some("any") => SessionAttrs::Any,
        Some("read-write") => SessionAttrs::ReadWrite,
        Some("read-only") => SessionAttrs::ReadOnly,
        Some(v @ ("primary" | "standby" | "prefer-standby")) => {
            return Err(ConnectError::Unsupported {
                message: format!("target_session_attrs value \"{v}\" is not supported by pgsurge"),
            })
        }
        Some(v) => return Err(bad(format!("invalid target_session_attrs value: \"{v}\""))),
    };
    let passfile = match get("passfile") {
        Some(p) => Some(PathBuf::from(p)),
        None => local.home.as_ref().map(|h| h.join(".pgpass")),
    };
    Ok(ConnParams {
        hosts,
        user,
        dbname,
        // An empty password is as good as none: libpq then reads the password file.
        password: get("password").map(Password::new),
        password_policy: req.password,
        passfile,
        sslmode,
        sslrootcert,
        sslcert: get("sslcert").map(PathBuf::from),
        sslkey: get("sslkey").map(PathBuf::from),
        application_name: get("application_name")
            .or_else(|| get("fallback_application_name"))
            .map(str::to_string),
        connect_timeout,
        options: get("options").map(str::to_string),
        target_session_attrs,
        channel_binding: get("channel_binding").map(str::to_string),
        home: local.home.clone(),
        prompted: Arc::default(),
    })
}

/// Rejects keywords pgsurge cannot honour, rather than silently connecting differently from
/// what the user asked. Keywords whose effect does not matter to a restore are accepted.
fn check_supported(kw: &BTreeMap<&'static str, String>) -> Result<(), ConnectError> {
    for (k, v) in kw {
        let ok = match *k {
            "user"
            | "password"
            | "passfile"
            | "connect_timeout"
            | "dbname"
            | "host"
            | "hostaddr"
            | "port"
            | "options"
            | "application_name"
            | "fallback_application_name"
            | "sslmode"
            | "sslcert"
            | "sslkey"
            | "sslrootcert"
            | "target_session_attrs" => true,
            "channel_binding" => matches!(v.as_str(), "" | "disable" | "prefer" | "require"),
            // Tuning that changes no result: TCP keepalives and timeouts (the OS defaults
            // apply), and the obsolete `sslcompression`; SNI is always sent for names.
            "keepalives"
            | "keepalives_idle"
            | "keepalives_interval"
            | "keepalives_count"
            | "tcp_user_timeout"
            | "sslcompression"
            | "sslsni" => true,
            // tokio-postgres always speaks UTF8; pg_restore sets the archive's encoding
            // itself right after connecting, so an explicit client encoding changes nothing.
            "client_encoding" => true,
            // We never try GSSAPI encryption, which is what `prefer` does without Kerberos.
            "gssencmode" => matches!(v.as_str(), "" | "disable" | "prefer"),
            "load_balance_hosts" => matches!(v.as_str(), "" | "disable"),
            "sslnegotiation" => matches!(v.as_str(), "" | "postgres"),
            "sslcertmode" => matches!(v.as_str(), "" | "allow"),
            _ => false,
        };
        if ok {
            continue;
        }
        let message = if *k == "service" {
            "connection service files are not supported by pgsurge (service or PGSERVICE is set); give the connection parameters directly".to_string()
        } else if v.is_empty() {
            format!("connection option \"{k}\" is not supported by pgsurge")
        } else {
            format!("connection option \"{k}\" with value \"{v}\" is not supported by pgsurge")
        };
        return Err(ConnectError::Unsupported { message });
    }
    Ok(())
}

/// Builds the host list from the comma lists in `host`, `hostaddr` and `port`, with libpq's
/// rules: `hostaddr`, when given, sets the number of entries and `host` must match it;
/// `port` is either one value for all or one per host; an empty entry takes the default.
fn resolve_hosts(
    host: Option<&str>,
    hostaddr: Option<&str>,
    port: Option<&str>,
    local: &Local<'_>,
) -> Result<Vec<HostSpec>, ConnectError> {
    let split = |s: Option<&str>| -> Vec<String> {
        s.map(|s| s.split(',').map(|p| p.trim().to_string()).collect())
            .unwrap_or_default()
    };
    let names = split(host);
    let addrs = split(hostaddr);
    let count = match (names.len(), addrs.len()) {
        (0, 0) => 1,
        (n, 0) => n,
        (0, a) => a,
        (n, a) if n == a => n,
        (n, a) => {
            return Err(bad(format!(
                "could not match {n} host names to {a} hostaddr values"
            )))
        }
    };
    let ports = split(port);
    let ports: Vec<u16> = ports
        .iter()
        .map(|p| {
            if p.is_empty() {
                return Ok(DEF_PGPORT);
            }
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad(format!("invalid port number: \"{p}\"")))
        })
        .collect::<Result<_, _>>()?;
    if ports.len() > 1 && ports.len() != count {
        return Err(bad(format!(
            "could not match {} port numbers to {count} hosts",
            ports.len()
        )));
    }

    let mut hosts = Vec::with_capacity(count);
    for i in 0..count {
        let port = match ports.as_slice() {
            [] => DEF_PGPORT,
            [one] => *one,
            many => many.get(i).copied().unwrap_or(DEF_PGPORT),
        };
        let name = names.get(i).cloned().unwrap_or_default();
        let addr = match addrs.get(i).filter(|a| !a.is_empty()) {
            Some(a) => Some(
                a.parse::<IpAddr>()
                    .map_err(|_| bad(format!("could not parse network address \"{a}\"")))?,
            ),
            None => None,
        };
        let target = if addr.is_some() {
            Target::Tcp { name, addr }
        } else if name.starts_with('/') {
            Target::Unix(PathBuf::from(name))
        } else if name.starts_with('@') {
            Target::Abstract(name)
        } else if name.is_empty() {
            default_host(port, local)
        } else {
            Target::Tcp { name, addr: None }
        };
        hosts.push(HostSpec { target, port });
    }
    Ok(hosts)
}

/// The first default socket directory whose socket for `port` exists, else `localhost`.
fn default_host(port: u16, local: &Local<'_>) -> Target {
    DEFAULT_SOCKET_DIRS
        .iter()
        .map(Path::new)
        .find(|dir| (local.socket_exists)(&dir.join(format!(".s.PGSQL.{port}"))))
        .map(|dir| Target::Unix(dir.to_path_buf()))
        .unwrap_or_else(|| Target::Tcp {
            name: "localhost".to_string(),
            addr: None,
        })
}

/// The effective user's name from the password database, as libpq's `pg_fe_getusername`.
fn os_user_name() -> Option<String> {
    passwd_field(|pw| pw.pw_name)
}

/// The effective user's home directory from the password database (libpq falls back to
/// it when `HOME` is unset).
fn passwd_home() -> Option<PathBuf> {
    passwd_field(|pw| pw.pw_dir).map(PathBuf::from)
}

fn passwd_field(field: fn(&libc::passwd) -> *mut libc::c_char) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 4096];
    // SAFETY: an all-zero `passwd` is a valid value of this plain C struct.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer refers to live, correctly sized storage owned by this frame;
    // getpwuid_r writes only within `buf` and `pw`.
    let rc = unsafe {
        libc::getpwuid_r(
            libc::geteuid(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return None;
    }
    let ptr = field(&pw);
    if ptr.is_null() {
        return None;
    }
    // SAFETY: on success the field points at a NUL-terminated string inside `buf`.
    let s = unsafe { std::ffi::CStr::from_ptr(ptr) };
    Some(s.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests;
