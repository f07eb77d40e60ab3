//! The summary's error lines: failures grouped by cause (names replaced by `"…"`, a few
//! examples kept), each with a hint that never suggests an option the user already gave.

use std::collections::HashMap;

use pgsurge_restore::Failure;

pub(super) struct FailureGroup {
    /// The server's message with quoted names replaced by `"…"`, plus a few examples.
    pub(super) cause: String,
    pub(super) sqlstate: Option<String>,
    pub(super) count: usize,
    pub(super) hint: Option<String>,
}

/// The options a hint may otherwise suggest.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Given {
    pub(super) no_owner: bool,
    pub(super) no_privileges: bool,
    pub(super) clean: bool,
    pub(super) if_exists: bool,
}

/// Failures with the same message pattern (names aside) together, most frequent first.
pub(super) fn group_failures(failures: &[Failure], given: Given) -> Vec<FailureGroup> {
    struct Acc {
        count: usize,
        examples: Vec<String>,
        first: String,
    }
    let mut by_cause: HashMap<(String, Option<String>), Acc> = HashMap::new();
    let mut order = Vec::new();
    for f in failures {
        let (pattern, names) = pattern_of(&f.cause);
        let key = (pattern, f.sqlstate.clone());
        let acc = by_cause.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Acc { count: 0, examples: Vec::new(), first: f.cause.clone() }
        });
        acc.count += 1;
        if let Some(name) = names.into_iter().next() {
            if acc.examples.len() < 3 && !acc.examples.contains(&name) {
                acc.examples.push(name);
            }
        }
    }
    let mut groups: Vec<FailureGroup> = order
        .into_iter()
        .filter_map(|key| {
            let acc = by_cause.remove(&key)?;
            let cause = if acc.count == 1 || acc.examples.len() <= 1 { acc.first.clone() } else { format!("{} (e.g. {})", key.0, acc.examples.join(", ")) };
            Some(FailureGroup { hint: hint(&acc.first, key.1.as_deref(), given), cause, sqlstate: key.1, count: acc.count })
        })
        .collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.count));
    groups
}

/// A message with each double-quoted name replaced by `"…"`, and the names.
fn pattern_of(message: &str) -> (String, Vec<String>) {
    let mut pattern = String::with_capacity(message.len());
    let mut names = Vec::new();
    let mut rest = message;
    while let Some(start) = rest.find('"') {
        pattern.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('"') {
            Some(end) => {
                names.push(format!("\"{}\"", &after[..end]));
                pattern.push_str("\"…\"");
                rest = &after[end + 1..];
            }
            None => {
                pattern.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    pattern.push_str(rest);
    (pattern, names)
}

/// What to do about a server error, for the most common causes of failed restores. Options
/// the user already gave are not suggested again.
fn hint(cause: &str, sqlstate: Option<&str>, given: Given) -> Option<String> {
    // ", or restore with --no-owner --no-privileges", less what was given.
    let or_options = |verb: &str, options: &[(bool, &str)]| {
        let missing: Vec<&str> = options.iter().filter(|(given, _)| !given).map(|(_, name)| *name).collect();
        if missing.is_empty() {
            String::new()
        } else {
            format!(", or {verb} {}", missing.join(" "))
        }
    };
    let skip_ownership = || or_options("restore with", &[(given.no_owner, "--no-owner"), (given.no_privileges, "--no-privileges")]);
    let extension = "the server lacks this extension: install its package on the server, or leave it out with -L or --filter";
    let text = match sqlstate {
        Some("42704") if cause.starts_with("role ") => format!("create the missing roles first (pg_dumpall --globals-only has them){}", skip_ownership()),
        Some("42P07" | "42710" | "42723" | "42P06" | "23505") => format!(
            "the target database already holds these objects: restore into an empty database{}",
            or_options("use", &[(given.clean, "--clean"), (given.if_exists, "--if-exists")])
        ),
        Some("0A000" | "58P01") if cause.contains("extension") => extension.to_owned(),
        Some("42501") => format!("the connecting role lacks privileges: connect as the objects' owner or a superuser{}", skip_ownership()),
        Some("42P01" | "3F000" | "42883") => "an object it needs is missing — usually a consequence of an earlier error above".to_owned(),
        Some("25P02") => "an earlier statement in the same transaction failed; fix that one first".to_owned(),
        _ if cause.contains("is not available") || cause.contains("could not open extension control file") => extension.to_owned(),
        _ => return None,
    };
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(cause: &str, sqlstate: &str) -> Failure {
        Failure { message: format!("could not execute query: ERROR:  {cause}"), cause: cause.into(), sqlstate: Some(sqlstate.into()), dump_id: None }
    }

    #[test]
    fn failures_group_by_cause_with_hints() {
        let f = vec![failure("role \"app\" does not exist", "42704"), failure("relation \"t\" already exists", "42P07"), failure("role \"app\" does not exist", "42704")];
        let groups = group_failures(&f, Given::default());
        assert_eq!(groups[0].count, 2);
        assert_eq!(groups[0].cause, "role \"app\" does not exist", "one name: shown as it is");
        assert!(groups[0].hint.as_deref().is_some_and(|h| h.contains("--no-owner")));
        assert_eq!(groups[1].count, 1);
        assert!(groups[1].hint.as_deref().is_some_and(|h| h.contains("--clean")));
        let f = vec![failure("relation \"a\" already exists", "42P07"), failure("relation \"b\" already exists", "42P07")];
        assert_eq!(group_failures(&f, Given::default())[0].cause, "relation \"…\" already exists (e.g. \"a\", \"b\")");
    }

    /// A hint suggests only the options the user did not already give.
    #[test]
    fn hints_leave_out_what_was_given() {
        let role = |given| hint("role \"app\" does not exist", Some("42704"), given).unwrap_or_default();
        let denied = |given| hint("permission denied for schema s", Some("42501"), given).unwrap_or_default();
        let none = Given::default();
        let owner = Given { no_owner: true, ..none };
        let both = Given { no_owner: true, no_privileges: true, ..none };
        assert!(role(none).ends_with(", or restore with --no-owner --no-privileges"), "{}", role(none));
        assert!(role(owner).ends_with(", or restore with --no-privileges"), "{}", role(owner));
        assert_eq!(role(both), "create the missing roles first (pg_dumpall --globals-only has them)");
        let privileges = Given { no_privileges: true, ..none };
        assert!(denied(privileges).ends_with(", or restore with --no-owner"), "{}", denied(privileges));
        assert_eq!(denied(both), "the connecting role lacks privileges: connect as the objects' owner or a superuser");
        let exists = |given| hint("relation \"t\" already exists", Some("42P07"), given).unwrap_or_default();
        assert!(exists(none).ends_with(", or use --clean --if-exists"));
        assert!(exists(Given { clean: true, ..none }).ends_with(", or use --if-exists"));
        assert!(!exists(Given { clean: true, if_exists: true, ..none }).contains("--"));
    }
}
