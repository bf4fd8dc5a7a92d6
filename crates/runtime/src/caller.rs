//! Who is running husk-runtime: its uid, and whether it is the host's root
//! (uid 0 in the initial user namespace) or root only inside a user
//! namespace, as rootless callers and `unshare -r` are.

/// Our uid, as the owner of /proc/self shows it.
pub fn uid() -> u32 {
    std::fs::metadata("/proc/self").map_or(0, |m| std::os::unix::fs::MetadataExt::uid(&m))
}

/// Our gid, as the group of /proc/self shows it.
pub fn gid() -> u32 {
    std::fs::metadata("/proc/self").map_or(0, |m| std::os::unix::fs::MetadataExt::gid(&m))
}

/// True in the host's user namespace (whose uid map is the identity).
pub fn in_initial_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|m| m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"])
        .unwrap_or(true)
}

/// Root of the host, not merely root inside a user namespace.
pub fn privileged() -> bool {
    uid() == 0 && in_initial_user_namespace()
}
