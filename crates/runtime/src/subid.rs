//! The id maps of a container's new user namespace (runs in: parent). An
//! ordinary user may map only its own uid and gid into a new user namespace;
//! ranges the administrator granted in /etc/subuid and /etc/subgid are
//! written by the setuid helpers `newuidmap` and `newgidmap` (Debian's
//! `uidmap` package), as runc and rootlesskit do. We check the grants first,
//! so a refusal names the field and the reason instead of a helper's exit.

use crate::plan::Plan;
use crate::{Error, Result};
use std::process::Command;

/// Writes the new user namespace's uid and gid maps for `pid`. An ordinary
/// user's maps beyond its own ids go through newuidmap/newgidmap.
pub fn write_id_maps(plan: &Plan, pid: i32) -> Result<()> {
    let ns = &plan.namespaces;
    if crate::caller::uid() != 0
        && (needs_helper(&ns.uid_map, crate::caller::uid())
            || needs_helper(&ns.gid_map, crate::caller::gid()))
    {
        return write_with_helpers(pid, &ns.uid_map, &ns.gid_map);
    }
    let write = |file: &str, content: &str| std::fs::write(format!("/proc/{pid}/{file}"), content);
    let fail = |field: &str, file: &str, e: std::io::Error| {
        Error::config(field, format!("writing /proc/{pid}/{file}: {e}"))
    };
    write("uid_map", &plan.namespaces.uid_map)
        .map_err(|e| fail("linux.uidMappings", "uid_map", e))?;
    match write("gid_map", &plan.namespaces.gid_map) {
        Ok(()) => Ok(()),
        // Without CAP_SETGID in our own namespace (rootless), the kernel
        // only takes a gid map once setgroups is denied in the new one.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            write("setgroups", "deny").map_err(|e| fail("linux.gidMappings", "setgroups", e))?;
            write("gid_map", &plan.namespaces.gid_map)
                .map_err(|e| fail("linux.gidMappings", "gid_map", e))
        }
        Err(e) => Err(fail("linux.gidMappings", "gid_map", e)),
    }
}

/// Whether `map` (uid_map form) needs more than the caller's own `id`.
pub fn needs_helper(map: &str, id: u32) -> bool {
    map.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .any(|f| f.get(1).and_then(|s| s.parse::<u32>().ok()) != Some(id) || f.get(2) != Some(&"1"))
}

/// The host ids of `map` outside the caller's own `id` that no line of
/// `grants` (/etc/subuid form: `name-or-id:start:count`) gives to `user`
/// (name) or `id`, as `start-end` ranges; empty when all are granted.
pub fn ungranted(map: &str, id: u32, user: &str, grants: &str) -> Vec<String> {
    let mine: Vec<(u64, u64)> = grants
        .lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let who = f.next()?;
            let start = f.next()?.parse::<u64>().ok()?;
            let count = f.next()?.parse::<u64>().ok()?;
            (who == user || who == id.to_string()).then_some((start, start + count))
        })
        .collect();
    let mut missing = Vec::new();
    for l in map.lines() {
        let f: Vec<u64> = l
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        let [_, host, size] = f[..] else { continue };
        if host == u64::from(id) && size == 1 {
            continue;
        }
        let end = host + size;
        if !mine.iter().any(|&(s, e)| s <= host && end <= e) {
            missing.push(format!("{host}-{}", end - 1));
        }
    }
    missing
}

/// Writes the maps of `pid`'s user namespace with the setuid helpers,
/// after checking the caller's grants.
fn write_with_helpers(pid: i32, uid_map: &str, gid_map: &str) -> Result<()> {
    let uid = crate::caller::uid();
    let gid = crate::caller::gid();
    let user = user_name(uid).unwrap_or_else(|| uid.to_string());
    for (field, map, own, file, helper) in [
        (
            "linux.uidMappings",
            uid_map,
            uid,
            "/etc/subuid",
            "newuidmap",
        ),
        (
            "linux.gidMappings",
            gid_map,
            gid,
            "/etc/subgid",
            "newgidmap",
        ),
    ] {
        let grants = std::fs::read_to_string(file).unwrap_or_default();
        let missing = ungranted(map, own, &user, &grants);
        if !missing.is_empty() {
            return Err(Error::config(
                field,
                format!(
                    "host ids {} are not granted to user {user} in {file}: an unprivileged user may map only its own id and its subordinate ranges",
                    missing.join(", ")
                ),
            ));
        }
        let mut cmd = Command::new(helper);
        cmd.arg(pid.to_string()).args(map.split_whitespace());
        let out = cmd
            .output()
            .map_err(|e| Error::config(field, format!("running {helper} (package uidmap): {e}")))?;
        if !out.status.success() {
            return Err(Error::config(
                field,
                format!(
                    "{helper} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ));
        }
    }
    Ok(())
}

/// The login name of `uid`, from /etc/passwd.
fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.get(2)? == &uid.to_string().as_str()).then(|| f[0].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = "0 1000 1\n1 200000 65536\n";

    #[test]
    fn only_maps_beyond_the_own_id_need_the_helpers() {
        assert!(!needs_helper("0 1000 1\n", 1000));
        assert!(needs_helper("0 1000 2\n", 1000));
        assert!(needs_helper(MAP, 1000));
        assert!(needs_helper("0 0 1\n", 1000));
    }

    #[test]
    fn grants_are_matched_by_name_or_id() {
        assert!(ungranted(MAP, 1000, "alice", "alice:200000:65536\n").is_empty());
        assert!(ungranted(MAP, 1000, "alice", "bob:1:9\n1000:190000:100000\n").is_empty());
        assert_eq!(
            ungranted(MAP, 1000, "alice", "alice:200000:65535\nbob:200000:65536\n"),
            ["200000-265535"]
        );
        assert_eq!(ungranted(MAP, 1000, "alice", ""), ["200000-265535"]);
    }
}
