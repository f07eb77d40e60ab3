//! Unit tests of the connection parameters: libpq's sources and precedence (command line, connection string, environment, defaults), host and port lists, what is refused.

use super::*;

fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

fn resolve_test(
    req: &ConnectRequest,
    env: &'static [(&'static str, &'static str)],
    sockets: &'static [&'static str],
) -> Result<ConnParams, ConnectError> {
    let local = Local {
        os_user: Some("osuser".into()),
        home: Some(PathBuf::from("/home/osuser")),
        socket_exists: &|p: &Path| sockets.iter().any(|s| Path::new(s) == p),
    };
    resolve_with(req, &env_of(env), &local)
}

fn req() -> ConnectRequest {
    ConnectRequest {
        fallback_application_name: "pg_restore".into(),
        ..Default::default()
    }
}

fn tcp(name: &str, port: u16) -> HostSpec {
    HostSpec {
        target: Target::Tcp {
            name: name.into(),
            addr: None,
        },
        port,
    }
}

#[test]
fn defaults() {
    let p = resolve_test(&req(), &[], &[]).expect("resolves");
    assert_eq!(p.user, "osuser");
    assert_eq!(p.dbname, "osuser");
    assert_eq!(p.hosts, vec![tcp("localhost", 5432)]);
    assert_eq!(p.sslmode, SslMode::Prefer);
    assert_eq!(p.application_name.as_deref(), Some("pg_restore"));
    assert_eq!(p.passfile, Some(PathBuf::from("/home/osuser/.pgpass")));
    assert_eq!(p.connect_timeout, None);
    assert_eq!(p.password, None);
}

#[test]
fn default_socket_directory_is_probed() {
    let p = resolve_test(&req(), &[], &["/tmp/.s.PGSQL.5432"]).expect("resolves");
    assert_eq!(p.hosts[0].target, Target::Unix("/tmp".into()));
    let p = resolve_test(
        &req(),
        &[("PGPORT", "5433")],
        &["/tmp/.s.PGSQL.5433", "/var/run/postgresql/.s.PGSQL.5433"],
    )
    .expect("resolves");
    assert_eq!(
        p.hosts[0].target,
        Target::Unix("/var/run/postgresql".into())
    );
    assert_eq!(p.hosts[0].port, 5433);
    assert_eq!(
        p.display_target(),
        "host \"/var/run/postgresql\" port 5433 database \"osuser\" user \"osuser\""
    );
}

#[test]
fn command_line_beats_environment() {
    let r = ConnectRequest {
        dbname: Some("cli_db".into()),
        host: Some("clihost".into()),
        port: Some("6000".into()),
        user: Some("cliuser".into()),
        ..req()
    };
    let env = &[
        ("PGHOST", "envhost"),
        ("PGPORT", "7000"),
        ("PGUSER", "envuser"),
        ("PGDATABASE", "envdb"),
        ("PGAPPNAME", "envapp"),
        ("PGSSLMODE", "require"),
    ];
    let p = resolve_test(&r, env, &[]).expect("resolves");
    assert_eq!(p.hosts, vec![tcp("clihost", 6000)]);
    assert_eq!((p.user.as_str(), p.dbname.as_str()), ("cliuser", "cli_db"));
    assert_eq!(p.application_name.as_deref(), Some("envapp"));
    assert_eq!(p.sslmode, SslMode::Require);
}

#[test]
fn connection_string_in_dbname_beats_host_port_user() {
    // pg_restore passes -h/-p/-U before the expanded -d, so the string wins.
    let r = ConnectRequest {
        dbname: Some("host=strhost dbname=strdb".into()),
        host: Some("clihost".into()),
        port: Some("6000".into()),
        user: Some("cliuser".into()),
        ..req()
    };
    let p = resolve_test(&r, &[("PGHOST", "envhost")], &[]).expect("resolves");
    assert_eq!(p.hosts, vec![tcp("strhost", 6000)]);
    assert_eq!((p.user.as_str(), p.dbname.as_str()), ("cliuser", "strdb"));

    let r = ConnectRequest {
        dbname: Some("postgresql://u:pw@[::1]:5499/x?application_name=mine".into()),
        user: Some("cliuser".into()),
        ..req()
    };
    let p = resolve_test(&r, &[("PGPASSWORD", "envpw")], &[]).expect("resolves");
    assert_eq!(p.user, "u");
    assert_eq!(p.password, Some(Password::new("pw")));
    assert_eq!(p.hosts, vec![tcp("::1", 5499)]);
    assert_eq!(p.application_name.as_deref(), Some("mine"));
}

#[test]
fn empty_value_in_string_blocks_environment() {
    let r = ConnectRequest {
        dbname: Some("dbname=x host=''".into()),
        ..req()
    };
    let p =
        resolve_test(&r, &[("PGHOST", "envhost")], &["/tmp/.s.PGSQL.5432"]).expect("resolves");
    assert_eq!(p.hosts[0].target, Target::Unix("/tmp".into()));
}

#[test]
fn environment_fills_the_rest() {
    let env = &[
        ("PGHOST", "/sock,db2"),
        ("PGPORT", "5500,5501"),
        ("PGPASSWORD", "s3cret"),
        ("PGPASSFILE", "/etc/pw"),
        ("PGSSLROOTCERT", "/ca.pem"),
        ("PGCONNECT_TIMEOUT", "1"),
        ("PGOPTIONS", "-c work_mem=64MB"),
        ("PGTARGETSESSIONATTRS", "read-write"),
    ];
    let p = resolve_test(&req(), env, &[]).expect("resolves");
    assert_eq!(
        p.hosts,
        vec![
            HostSpec {
                target: Target::Unix("/sock".into()),
                port: 5500
            },
            tcp("db2", 5501)
        ]
    );
    assert_eq!(p.password, Some(Password::new("s3cret")));
    assert_eq!(p.passfile, Some(PathBuf::from("/etc/pw")));
    assert_eq!(p.sslrootcert.as_deref(), Some("/ca.pem"));
    assert_eq!(p.connect_timeout, Some(Duration::from_secs(2)));
    assert_eq!(p.options.as_deref(), Some("-c work_mem=64MB"));
    assert_eq!(p.target_session_attrs, SessionAttrs::ReadWrite);
    assert!(!format!("{p:?}").contains("s3cret"));
    assert!(!p.display_target().contains("s3cret"));
}

#[test]
fn hostaddr_and_port_lists() {
    let r = ConnectRequest {
        dbname: Some("host=a,b hostaddr=10.0.0.1,10.0.0.2 port=1".into()),
        ..req()
    };
    let p = resolve_test(&r, &[], &[]).expect("resolves");
    assert_eq!(p.hosts.len(), 2);
    assert_eq!(p.hosts[1].port, 1);
    assert_eq!(p.hosts[1].describe(), "server at \"b\" (10.0.0.2), port 1");

    let err = |dbname: &str| {
        let r = ConnectRequest {
            dbname: Some(dbname.into()),
            ..req()
        };
        match resolve_test(&r, &[], &[]) {
            Ok(p) => panic!("{dbname}: resolved to {p:?}"),
            Err(e) => e.to_string(),
        }
    };
    assert_eq!(
        err("host=a,b port=1,2,3"),
        "could not match 3 port numbers to 2 hosts"
    );
    assert_eq!(
        err("host=a,b hostaddr=1.2.3.4"),
        "could not match 2 host names to 1 hostaddr values"
    );
    assert_eq!(err("port=http"), "invalid port number: \"http\"");
    assert_eq!(
        err("hostaddr=nope"),
        "could not parse network address \"nope\""
    );
    assert_eq!(err("sslmode=sure"), "invalid sslmode value: \"sure\"");
    assert_eq!(
        err("connect_timeout=soon"),
        "invalid integer value \"soon\" for connection option \"connect_timeout\""
    );
    assert_eq!(
        err("sslrootcert=system sslmode=require"),
        "weak sslmode \"require\" may not be used with sslrootcert=system (use \"verify-full\")"
    );
    assert_eq!(
        err("requirepeer=postgres"),
        "connection option \"requirepeer\" with value \"postgres\" is not supported by pgsurge"
    );
    assert_eq!(err("bogus=1"), "invalid connection option \"bogus\"");
}

#[test]
fn service_is_rejected() {
    let e = resolve_test(&req(), &[("PGSERVICE", "prod")], &[]).expect_err("rejected");
    assert!(matches!(e, ConnectError::Unsupported { .. }));
    assert!(e.to_string().contains("not supported"), "{e}");
}

#[test]
fn with_dbname_keeps_the_rest() {
    let r = ConnectRequest {
        dbname: Some("host=h user=u password=p dbname=a".into()),
        ..req()
    };
    let p = resolve_test(&r, &[], &[]).expect("resolves");
    let q = p.with_dbname("b");
    assert_eq!(q.dbname, "b");
    assert_eq!(q.hosts, p.hosts);
    assert_eq!(q.password, p.password);
}

#[test]
fn abstract_socket_is_recognised() {
    let r = ConnectRequest {
        host: Some("@pg".into()),
        ..req()
    };
    let p = resolve_test(&r, &[], &[]).expect("resolves");
    assert_eq!(p.hosts[0].target, Target::Abstract("@pg".into()));
}
