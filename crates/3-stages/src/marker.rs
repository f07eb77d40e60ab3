//! The restore marker: while a restore into a database runs, one extra session of
//! pgsurge's stays connected to that database under the application name
//! `pgsurge restore: STAGE [N%] since TIME`. Every role can read another session's
//! `datname` and `application_name` in `pg_stat_activity` (its start time and query are
//! hidden from other roles, hence the time in the name), so any process of any app can ask
//!
//! ```sql
//! SELECT EXISTS (SELECT FROM pg_stat_activity
//!                WHERE datname = current_database() AND application_name LIKE 'pgsurge restore%');
//! ```
//!
//! without taking a lock or waiting. The marker is a session, not a row: when the restoring
//! process dies (`kill -9`) its socket closes and the server ends the session at once; when
//! the network goes, the server's keepalives and `idle_session_timeout` (the marker speaks
//! at least every few seconds) end it within a minute. The session also holds an advisory
//! lock, so that `--exclusive` can refuse a second restore into the same database without a
//! race.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use pgsurge_connect::ConnParams;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio_postgres::Client;

use crate::db::{self, DbError};

/// The start of every marker's application name; what the health-check query looks for.
pub const APPLICATION_PREFIX: &str = "pgsurge restore";

/// The advisory lock every marker takes (`pg_try_advisory_lock(KEY.0, KEY.1)`): "pgsu",
/// "rest" in ASCII, unlikely to be an app's own.
pub const LOCK_KEY: (i32, i32) = (0x7067_7375, 0x7265_7374);

/// How often the marker speaks when nothing changes: well within `IDLE_TIMEOUT`.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// After this long without a word from pgsurge, the server ends the marker's session, so a
/// marker whose process vanished with its network does not say "in progress" for long.
const IDLE_TIMEOUT: &str = "60s";

/// Why the marker could not be put up.
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    #[error("could not connect the restore marker to database \"{database}\": {source}")]
    Connect { database: String, source: Box<DbError> },
    #[error("a pgsurge restore into database \"{database}\" is already running ({running}); --exclusive refuses a second one")]
    AlreadyRunning { database: String, running: String },
    #[error("the restore marker stopped: {0}")]
    Gone(String),
    #[error("{0} may have only {1} connection(s) at once, and the marker would take one the restore needs")]
    NoRoom(String, i32),
}

impl MarkerError {
    /// The database to mark does not exist (yet): a `--swap` restore into a new name.
    pub fn no_database(&self) -> bool {
        matches!(self, MarkerError::Connect { source, .. } if matches!(**source, DbError::Connect(pgsurge_connect::ConnectError::NoSuchDatabase { .. })))
    }
}

/// What the marker says: the stage and how far it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub stage: String,
    /// Percent done, when the stage knows.
    pub percent: Option<u8>,
}

/// The application name for `shown`, started at `since`: at most 63 bytes, the most the
/// server keeps.
pub fn application_name(shown: &Shown, since: SystemTime) -> String {
    let stage: String = shown.stage.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').take(14).collect();
    let percent = shown.percent.map(|p| format!(" {}%", p.min(100))).unwrap_or_default();
    format!("{APPLICATION_PREFIX}: {stage}{percent} since {}", utc_stamp(since))
}

/// A marker read back from `pg_stat_activity`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Reading {
    pub stage: String,
    pub percent: Option<u8>,
    /// `2026-12-03T19:01:37Z`, as written.
    pub since: Option<String>,
}

/// Reads what [`application_name`] wrote; `None` for a name that is not a marker's.
pub fn parse_application_name(name: &str) -> Option<Reading> {
    let rest = name.strip_prefix(APPLICATION_PREFIX)?;
    let rest = rest.strip_prefix(": ").unwrap_or(rest.trim_start_matches(':').trim_start());
    let (head, since) = match rest.rsplit_once(" since ") {
        Some((head, since)) => (head, Some(since.to_owned())),
        None => (rest, None),
    };
    let (stage, percent) = match head.rsplit_once(' ') {
        Some((stage, p)) if p.ends_with('%') => (stage, p.trim_end_matches('%').parse().ok()),
        _ => (head, None),
    };
    Some(Reading { stage: stage.to_owned(), percent, since })
}

/// `SystemTime` as `YYYY-MM-DDTHH:MM:SSZ` (UTC), without a calendar crate.
pub fn utc_stamp(t: SystemTime) -> String {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// well-known days-to-civil arithmetic).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { era * 400 + yoe + 1 } else { era * 400 + yoe }, m, d)
}

enum Message {
    Show(Shown),
    /// Connect to another database (after `--create` made it), leaving the one before.
    MoveTo(String),
    /// End the session (the swap needs the database to itself), and stop.
    Finish,
}

/// A restore's marker: a thread of its own holding the session, told what to show.
pub struct Marker {
    tx: UnboundedSender<Message>,
    thread: Option<JoinHandle<()>>,
    since: SystemTime,
    last: Shown,
}

impl Marker {
    /// Puts up the marker on database `database` (or nowhere yet, for a database still to
    /// be created: see [`Marker::move_to`]). With `exclusive`, refuses when another
    /// restore's marker holds the lock there.
    pub fn start(params: &ConnParams, database: Option<&str>, exclusive: bool, shown: Shown) -> Result<Marker, MarkerError> {
        let since = SystemTime::now();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let params = params.clone();
        let database = database.map(str::to_owned);
        let first = shown.clone();
        let thread = std::thread::Builder::new()
            .name("pgsurge-marker".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(MarkerError::Gone(format!("could not start the async runtime: {e}"))));
                        return;
                    }
                };
                rt.block_on(run(params, database, exclusive, first, since, rx, ready_tx));
            })
            .map_err(|e| MarkerError::Gone(format!("could not start the marker thread: {e}")))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Marker { tx, thread: Some(thread), since, last: shown }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(MarkerError::Gone("the marker thread ended".into()))
            }
        }
    }

    /// What the marker shows now.
    pub fn shown(&self) -> &Shown {
        &self.last
    }

    /// When the restore started, as the marker says.
    pub fn since(&self) -> SystemTime {
        self.since
    }

    /// Shows `shown` (at once; a repeat of what is shown already sends nothing).
    pub fn show(&mut self, shown: Shown) {
        if shown != self.last {
            self.last = shown.clone();
            let _ = self.tx.send(Message::Show(shown));
        }
    }

    /// Moves the marker to database `name` (made by the restore's `--create`).
    pub fn move_to(&self, name: &str) {
        let _ = self.tx.send(Message::MoveTo(name.to_owned()));
    }

    /// Takes the marker down and waits until its session has ended.
    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.tx.send(Message::Finish);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn run(params: ConnParams, database: Option<String>, exclusive: bool, mut shown: Shown, since: SystemTime, mut rx: UnboundedReceiver<Message>, ready: mpsc::Sender<Result<(), MarkerError>>) {
    let mut client = match &database {
        Some(name) => match open(&params, name, exclusive, &shown, since).await {
            Ok(client) => Some(client),
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        },
        None => None,
    };
    let _ = ready.send(Ok(()));
    loop {
        let message = tokio::select! {
            m = rx.recv() => m.unwrap_or(Message::Finish),
            // Nothing new: say the same again, so that `idle_session_timeout` never ends
            // a live marker.
            () = tokio::time::sleep(HEARTBEAT) => Message::Show(shown.clone()),
        };
        match message {
            Message::Show(s) => {
                shown = s;
                speak(client.as_ref(), &shown, since).await;
            }
            Message::MoveTo(name) => {
                // The session on the old database ends first: it may be dropped next.
                drop(client.take());
                // Best effort: a restore goes on without its marker rather than fail.
                client = open(&params, &name, false, &shown, since).await.ok();
            }
            Message::Finish => return,
        }
    }
}

async fn speak(client: Option<&Client>, shown: &Shown, since: SystemTime) {
    if let Some(client) = client {
        let name = application_name(shown, since);
        let _ = client.execute("SELECT pg_catalog.set_config('application_name', $1, false)", &[&name]).await;
    }
}

async fn open(params: &ConnParams, database: &str, exclusive: bool, shown: &Shown, since: SystemTime) -> Result<Client, MarkerError> {
    let mut params = params.with_dbname(database);
    // Named from the first packet on: visible from the instant the session exists.
    params.application_name = Some(application_name(shown, since));
    let connect_error = |source| MarkerError::Connect { database: database.to_owned(), source: Box::new(source) };
    let client = db::connect_to(&params, database).await.map_err(connect_error)?;
    let setup = format!(
        "SET idle_session_timeout = '{IDLE_TIMEOUT}'; SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3; SET statement_timeout = 0"
    );
    client.batch_execute(&setup).await.map_err(|e| connect_error(DbError::Query(e)))?;
    // Under a tight CONNECTION LIMIT the marker's session would be one the restore lacks.
    let limits = client
        .query_one("SELECT (SELECT rolconnlimit FROM pg_catalog.pg_roles WHERE rolname = current_user), (SELECT datconnlimit FROM pg_catalog.pg_database WHERE datname = current_database())", &[])
        .await
        .map_err(|e| connect_error(DbError::Query(e)))?;
    let (role_limit, db_limit): (Option<i32>, Option<i32>) = (limits.get(0), limits.get(1));
    for (what, limit) in [(format!("role \"{}\"", params.user), role_limit), (format!("database \"{database}\""), db_limit)] {
        if let Some(limit) = limit.filter(|l| (0..3).contains(l)) {
            return Err(MarkerError::NoRoom(what, limit));
        }
    }
    let locked: bool = client
        .query_one("SELECT pg_catalog.pg_try_advisory_lock($1, $2)", &[&LOCK_KEY.0, &LOCK_KEY.1])
        .await
        .map_err(|e| connect_error(DbError::Query(e)))?
        .get(0);
    if !locked && exclusive {
        // What the other restore's marker says, read here rather than through `status`,
        // which reads markers with this module's parser.
        let pattern = format!("{APPLICATION_PREFIX}%");
        let others = client
            .query("SELECT application_name FROM pg_catalog.pg_stat_activity WHERE datname = $1 AND application_name LIKE $2 AND pid <> pg_catalog.pg_backend_pid()", &[&database, &pattern])
            .await
            .map_err(|e| connect_error(DbError::Query(e)))?;
        let running = others
            .iter()
            .filter_map(|row| parse_application_name(row.get::<_, Option<String>>(0)?.as_str()))
            .map(|r| format!("stage {}{}{}", r.stage, r.percent.map(|p| format!(" {p}%")).unwrap_or_default(), r.since.map(|s| format!(", since {s}")).unwrap_or_default()))
            .next()
            .unwrap_or_else(|| "another session holds its lock".to_owned());
        return Err(MarkerError::AlreadyRunning { database: database.to_owned(), running });
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_read_back() {
        let since = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_324_497);
        let name = application_name(&Shown { stage: "post-data".into(), percent: Some(100) }, since);
        assert_eq!(name, "pgsurge restore: post-data 100% since 2026-12-03T19:01:37Z");
        assert!(name.len() <= 63);
        let back = parse_application_name(&name).unwrap();
        assert_eq!(back, Reading { stage: "post-data".into(), percent: Some(100), since: Some("2026-12-03T19:01:37Z".into()) });
        let long = application_name(&Shown { stage: "a-very-long-stage-name-indeed".into(), percent: Some(250) }, since);
        assert!(long.len() <= 63, "{long}");
        assert_eq!(parse_application_name(&application_name(&Shown { stage: "schema".into(), percent: None }, since)).unwrap().percent, None);
        assert_eq!(parse_application_name("pgsurge"), None);
        assert_eq!(parse_application_name("psql"), None);
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_790), (2026, 12, 3));
    }
}
