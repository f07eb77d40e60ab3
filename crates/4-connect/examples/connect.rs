//! Connects with pg_restore-style options and prints who and where we are; for checking the
//! `connect` module by hand against a real server:
//!
//!     cargo run -p pgsurge-restore --example connect -- -h /tmp -p 5432 -U postgres -d postgres
//!
//! Flags: `-d -h -p -U` take a value, `-w` never prompts, `-W` always prompts. The `PG*`
//! environment applies as in libpq.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use pgsurge_connect::{ConnParams, ConnectRequest, PasswordPolicy};

fn main() -> std::process::ExitCode {
    let mut req = ConnectRequest {
        fallback_application_name: "pgsurge-connect-example".into(),
        ..Default::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "-w" => {
                req.password = PasswordPolicy::Never;
                continue;
            }
            "-W" => {
                req.password = PasswordPolicy::Always;
                continue;
            }
            "-d" => &mut req.dbname,
            "-h" => &mut req.host,
            "-p" => &mut req.port,
            "-U" => &mut req.user,
            other => {
                eprintln!("unknown flag {other}");
                return std::process::ExitCode::from(2);
            }
        };
        *slot = args.next();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let params = match ConnParams::resolve(&req, &|k| std::env::var(k).ok()) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        println!("target: {}", params.display_target());
        let (client, task) = match params.connect().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                if let Some(code) = e.sqlstate() {
                    eprintln!("sqlstate: {code}");
                }
                if let Some(h) = e.hint() {
                    eprintln!("hint: {h}");
                }
                return std::process::ExitCode::FAILURE;
            }
        };
        let sql = "select current_user::text, current_database()::text, \
                   coalesce(inet_server_addr()::text, 'socket'), \
                   coalesce((select ssl from pg_stat_ssl where pid = pg_backend_pid()), false), \
                   current_setting('application_name')";
        match client.query_one(sql, &[]).await {
            Ok(row) => println!(
                "user={} db={} server_addr={} ssl={} app={}",
                row.get::<_, String>(0),
                row.get::<_, String>(1),
                row.get::<_, String>(2),
                row.get::<_, bool>(3),
                row.get::<_, String>(4)
            ),
            Err(e) => eprintln!("query: {e}"),
        }
        drop(client);
        let _ = task.await;
        std::process::ExitCode::SUCCESS
    })
}
