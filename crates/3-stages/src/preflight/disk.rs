//! Room on the server's disk, where it can be read: only for a server on this machine (a
//! Unix socket, or `localhost`), whose `data_directory` the connecting role may read, on a
//! file system this process can `statvfs`. Anywhere else nothing is said: a guess about
//! another machine's disk would be worse than none.

use std::net::IpAddr;
use std::path::Path;

use pgsurge_connect::{ConnParams, Target as Host};
use pgsurge_plan::needs::{Needs, Source};
use tokio_postgres::Client;

use super::{human_bytes, simple_value, Findings};

/// How many times the archive's (compressed) data bytes a restore may take on disk before
/// room is worth a warning: text data compresses about that much, and indexes come on top.
const ROOM_FACTOR: u64 = 3;

/// Whether every host the parameters may connect to is this machine.
fn is_local(params: &ConnParams) -> bool {
    !params.hosts.is_empty()
        && params.hosts.iter().all(|h| match &h.target {
            Host::Unix(_) => true,
            Host::Tcp { name, addr } => addr.map_or(name == "localhost" || name.parse::<IpAddr>().is_ok_and(|a| a.is_loopback()), |a| a.is_loopback()),
            Host::Abstract(_) => false,
        })
}

/// Compares the free space of a local server's data directory with the data the restore
/// loads: a problem when the data alone, compressed, would not fit; a warning when it would
/// not fit `ROOM_FACTOR` times. Silent when the space cannot be read.
pub(super) async fn free_space(client: &Client, params: &ConnParams, needs: &Needs, f: &mut Findings) {
    let Some(data) = needs.data_bytes.filter(|&n| n > 0) else { return };
    if !is_local(params) {
        return;
    }
    // Reading it takes superuser or pg_read_all_settings; without, nothing is said.
    let Ok(Some(dir)) = simple_value(client, "SHOW data_directory", "the data directory").await else { return };
    let path = Path::new(&dir);
    // A localhost port may lead into a container, whose paths mean nothing here.
    if !path.is_absolute() || !path.exists() {
        return;
    }
    let Ok(free) = pgsurge_archive::free_space(path) else { return };
    f.facts.data_directory = Some(dir.clone());
    f.facts.free_bytes = Some(free);
    // An archive's data is compressed, a script's COPY rows are not.
    let holds = match needs.source {
        Source::Archive => "the archive holds {} of data, compressed",
        Source::Script => "the script holds {} of COPY rows",
    }
    .replace("{}", &human_bytes(data));
    let message = |how: &str| format!("the server's data directory (`{dir}`) has {} free; {holds}: restored, with its indexes, it {how}", human_bytes(free));
    if free < data {
        f.problem("disk-space", dir.clone(), message("will not fit"), "free space on the server's disk, or restore fewer tables (-t, -n, -L)".into());
    } else if free < data.saturating_mul(ROOM_FACTOR) {
        f.warning("disk-space", dir.clone(), message("may not fit"), "make sure the server's disk has room for the restored data and its indexes".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgsurge_connect::ConnectRequest;

    fn params(host: &str) -> ConnParams {
        let req = ConnectRequest { host: Some(host.into()), user: Some("u".into()), dbname: Some("d".into()), ..ConnectRequest::default() };
        ConnParams::resolve(&req, &|_| None).unwrap()
    }

    #[test]
    fn only_a_server_on_this_machine_is_local() {
        assert!(is_local(&params("/tmp")));
        assert!(is_local(&params("localhost")));
        assert!(is_local(&params("127.0.0.1")));
        assert!(is_local(&params("::1")));
        assert!(!is_local(&params("db.example.com")));
        assert!(!is_local(&params("/tmp,db.example.com")));
    }
}
