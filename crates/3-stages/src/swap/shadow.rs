//! The shadow database of a `--swap` restore: made from `template0` with the live
//! database's encoding, locale (provider included), owner and connection limit, then given
//! its per-database settings, privileges and comment, so that after the swap the database
//! under the app's name is configured as the one it replaced. Only the restore's data comes
//! from the archive.

use std::time::SystemTime;

use pgsurge_connect::ConnParams;
use tokio_postgres::Client;

use super::{compact_stamp, fit, SwapError};
use crate::db::{self, ident, literal, DbError};

/// The shadow database made for a `--swap` restore.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Shadow {
    pub name: String,
    /// Whether the live database existed (else the shadow has the server's defaults and the
    /// swap is a plain rename).
    pub live_existed: bool,
}

/// Settings whose value is a list of names, written back one literal per element as the
/// server quotes them (`search_path = '"$user"', 'public'`): as one literal, the whole list
/// would become one name.
const LIST_SETTINGS: &[&str] = &["search_path", "temp_tablespaces", "session_preload_libraries", "local_preload_libraries", "shared_preload_libraries"];

pub(super) async fn create(params: &ConnParams, now: SystemTime) -> Result<Shadow, SwapError> {
    let client = db::connect_maintenance(params).await?;
    let target = params.dbname.as_str();
    let stamp = compact_stamp(now);
    let mut name = fit(target, &format!("_restoring_{stamp}"));
    let mut n = 2;
    while db::database_exists(&client, &name).await? {
        name = fit(target, &format!("_restoring_{stamp}_{n}"));
        n += 1;
    }
    let version: i32 = client.query_one("SELECT current_setting('server_version_num')::int", &[]).await.map_err(DbError::Query)?.get(0);
    let live = client
        .query_opt(
            "SELECT oid, pg_catalog.pg_encoding_to_char(encoding), datcollate, datctype, datconnlimit, pg_catalog.pg_get_userbyid(datdba), datacl IS NULL, current_user FROM pg_catalog.pg_database WHERE datname = $1",
            &[&target],
        )
        .await
        .map_err(DbError::Query)?;
    let Some(live) = live else {
        client.batch_execute(&format!("CREATE DATABASE {} WITH TEMPLATE = template0", ident(&name))).await.map_err(DbError::Query)?;
        return Ok(Shadow { name, live_existed: false });
    };
    let oid: u32 = live.get(0);
    let (encoding, collate, ctype): (String, String, String) = (live.get(1), live.get(2), live.get(3));
    let (conn_limit, owner, default_acl, me): (i32, String, bool, String) = (live.get(4), live.get(5), live.get(6), live.get(7));
    let mut create = format!(
        "CREATE DATABASE {} WITH TEMPLATE = template0 ENCODING = {} LC_COLLATE = {} LC_CTYPE = {}",
        ident(&name),
        literal(&encoding),
        literal(&collate),
        literal(&ctype)
    );
    create.push_str(&provider_clause(&client, version, oid).await?);
    if owner != me {
        create.push_str(&format!(" OWNER = {}", ident(&owner)));
    }
    if conn_limit != -1 {
        create.push_str(&format!(" CONNECTION LIMIT = {conn_limit}"));
    }
    client.batch_execute(&create).await.map_err(DbError::Query)?;
    // From here on a failure leaves a shadow behind: the caller drops it.
    let mut statements = settings(&client, oid, &name).await?;
    if !default_acl {
        statements.extend(privileges(&client, oid, &name, &owner).await?);
    }
    let comment: Option<String> = client.query_one("SELECT pg_catalog.shobj_description($1, 'pg_database')", &[&oid]).await.map_err(DbError::Query)?.get(0);
    if let Some(comment) = comment {
        statements.push(format!("COMMENT ON DATABASE {} IS {}", ident(&name), literal(&comment)));
    }
    for statement in statements {
        client.batch_execute(&statement).await.map_err(DbError::Query)?;
    }
    Ok(Shadow { name, live_existed: true })
}

/// The locale provider clause for the server's version: ICU (15+) with its rules (16+), the
/// builtin provider (17+); nothing for libc, the default.
async fn provider_clause(client: &Client, version: i32, oid: u32) -> Result<String, DbError> {
    if version < 150_000 {
        return Ok(String::new());
    }
    let (locale, rules) = match version {
        v if v >= 170_000 => ("datlocale", "daticurules"),
        v if v >= 160_000 => ("daticulocale", "daticurules"),
        _ => ("daticulocale", "NULL::text"),
    };
    let row = client.query_one(&format!("SELECT datlocprovider::text, {locale}, {rules} FROM pg_catalog.pg_database WHERE oid = $1"), &[&oid]).await?;
    let (provider, locale, rules): (String, Option<String>, Option<String>) = (row.get(0), row.get(1), row.get(2));
    Ok(match (provider.as_str(), locale) {
        ("i", Some(locale)) => {
            let rules = rules.map(|r| format!(" ICU_RULES = {}", literal(&r))).unwrap_or_default();
            format!(" LOCALE_PROVIDER = icu ICU_LOCALE = {}{rules}", literal(&locale))
        }
        ("b", Some(locale)) => format!(" LOCALE_PROVIDER = builtin BUILTIN_LOCALE = {}", literal(&locale)),
        _ => String::new(),
    })
}

/// `ALTER DATABASE … SET` and `ALTER ROLE … IN DATABASE … SET` for each setting the live
/// database has.
async fn settings(client: &Client, oid: u32, name: &str) -> Result<Vec<String>, DbError> {
    let rows = client
        .query("SELECT r.rolname, s.setconfig FROM pg_catalog.pg_db_role_setting s LEFT JOIN pg_catalog.pg_roles r ON r.oid = s.setrole WHERE s.setdatabase = $1", &[&oid])
        .await?;
    let mut out = Vec::new();
    for row in rows {
        let role: Option<String> = row.get(0);
        let config: Vec<String> = row.get::<_, Option<Vec<String>>>(1).unwrap_or_default();
        for item in config {
            let Some((key, value)) = item.split_once('=') else { continue };
            let head = match &role {
                Some(role) => format!("ALTER ROLE {} IN DATABASE {}", ident(role), ident(name)),
                None => format!("ALTER DATABASE {}", ident(name)),
            };
            out.push(format!("{head} SET {} TO {}", ident(key), setting_value(key, value)));
        }
    }
    Ok(out)
}

/// A setting's stored value as SQL: one literal, or one per element for list settings.
fn setting_value(key: &str, value: &str) -> String {
    if !LIST_SETTINGS.contains(&key.to_ascii_lowercase().as_str()) {
        return literal(value);
    }
    split_list(value).iter().map(|item| literal(item)).collect::<Vec<_>>().join(", ")
}

/// Splits a stored list setting (`"$user", public`) into its elements, double quotes
/// removed (`""` inside them is one `"`).
fn split_list(value: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut item = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                        item.push('"');
                    } else {
                        break;
                    }
                } else {
                    item.push(c);
                }
            }
            while chars.peek().is_some_and(|&c| c != ',') {
                chars.next();
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                item.push(c);
                chars.next();
            }
            item = item.trim_end().to_owned();
        }
        items.push(item);
        if chars.next().is_none() {
            break;
        }
    }
    items.retain(|i| !i.is_empty());
    items
}

/// The live database's privileges, written out whole: PUBLIC's and the owner's defaults
/// revoked, then each grant it has.
async fn privileges(client: &Client, oid: u32, name: &str, owner: &str) -> Result<Vec<String>, DbError> {
    let rows = client
        .query(
            "SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee) END, a.privilege_type, a.is_grantable \
             FROM pg_catalog.pg_database d, LATERAL pg_catalog.aclexplode(d.datacl) a WHERE d.oid = $1",
            &[&oid],
        )
        .await?;
    let db = ident(name);
    let mut out = vec![format!("REVOKE ALL ON DATABASE {db} FROM PUBLIC"), format!("REVOKE ALL ON DATABASE {db} FROM {}", ident(owner))];
    for row in rows {
        let grantee: Option<String> = row.get(0);
        let privilege: String = row.get(1);
        let grantable: bool = row.get(2);
        let to = grantee.as_deref().map_or_else(|| "PUBLIC".to_owned(), ident);
        let with = if grantable { " WITH GRANT OPTION" } else { "" };
        // privilege_type is one of the server's own words (CONNECT, CREATE, TEMPORARY).
        if privilege.bytes().all(|b| b.is_ascii_uppercase()) {
            out.push(format!("GRANT {privilege} ON DATABASE {db} TO {to}{with}"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_settings_split_as_stored() {
        assert_eq!(split_list("\"$user\", public"), vec!["$user", "public"]);
        assert_eq!(split_list("a,\"b\"\"c\" , d"), vec!["a", "b\"c", "d"]);
        assert_eq!(setting_value("search_path", "\"$user\", public"), "'$user', 'public'");
        assert_eq!(setting_value("work_mem", "64MB"), "'64MB'");
        assert_eq!(setting_value("application_name", "it's"), "'it''s'");
    }
}
