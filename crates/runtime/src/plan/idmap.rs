//! Idmapped bind mounts: the `idmap`/`ridmap` options and a mount's own
//! `uidMappings`/`gidMappings`, validated the way runc validates them. The
//! parent builds the mounts (`crate::idmap`), since only the host's root may
//! idmap a host filesystem.

use super::namespaces::{render_maps, NamespacePlan, NsKind};
use crate::{Error, Result};
use oci_spec::runtime::Mount;

/// How one bind mount is idmapped. The maps are in `/proc/<pid>/uid_map`
/// form: an id on disk (first column) is seen as the host id (second column)
/// through the mount, and the container's user namespace maps that further.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdMapPlan {
    pub uid_map: String,
    pub gid_map: String,
    /// `ridmap`: every mount of an `rbind` tree, not only its top.
    pub recursive: bool,
}

/// Plans the idmapping of `mounts[index]`. `option` is `Some(recursive)` when
/// `idmap` or `ridmap` was given; per-mount mappings alone also idmap.
pub fn plan_idmap(
    index: usize,
    m: &Mount,
    option: Option<bool>,
    is_bind: bool,
    ns: &NamespacePlan,
) -> Result<Option<IdMapPlan>> {
    let field = |f: &str| format!("mounts[{index}].{f}");
    let uids = m.uid_mappings().as_deref().unwrap_or_default();
    let gids = m.gid_mappings().as_deref().unwrap_or_default();
    let own = !uids.is_empty() || !gids.is_empty();
    if option.is_none() && !own {
        return Ok(None);
    }
    let what = if own { "uidMappings" } else { "options" };
    if !is_bind {
        return Err(Error::config(
            field(what),
            "id-mapped mounts are only supported for bind mounts",
        ));
    }
    let user_joined = ns.join.iter().any(|(k, _)| *k == NsKind::User);
    if !ns.has_own(NsKind::User) && !user_joined {
        return Err(Error::config(
            field(what),
            "id-mapped mounts need a user namespace in linux.namespaces",
        ));
    }
    let (uid_map, gid_map) = if own {
        if uids.is_empty() || gids.is_empty() {
            let missing = if uids.is_empty() {
                "uidMappings"
            } else {
                "gidMappings"
            };
            return Err(Error::config(
                field(missing),
                "id-mapped mounts need both uidMappings and gidMappings",
            ));
        }
        (
            render_maps(&field("uidMappings"), uids)?,
            render_maps(&field("gidMappings"), gids)?,
        )
    } else if ns.uid_map.is_empty() {
        // A joined user namespace: its maps are not in the config.
        return Err(Error::config(
            field("uidMappings"),
            "idmap in a joined user namespace needs the mount's own mappings",
        ));
    } else {
        (ns.uid_map.clone(), ns.gid_map.clone())
    };
    Ok(Some(IdMapPlan {
        uid_map,
        gid_map,
        recursive: option.unwrap_or(false),
    }))
}

#[cfg(test)]
mod tests {
    use super::super::mounts::plan_mount;
    use super::*;
    use std::path::Path;

    fn ns(json: &str) -> NamespacePlan {
        NamespacePlan::from_spec(&serde_json::from_str(json).unwrap()).unwrap()
    }

    const USERNS: &str = r#"{"namespaces":[{"type":"user"},{"type":"mount"}],
        "uidMappings":[{"containerID":0,"hostID":100000,"size":65536}],
        "gidMappings":[{"containerID":0,"hostID":200000,"size":65536}]}"#;

    fn plan(mount: &str, linux: &str) -> Result<Option<IdMapPlan>> {
        let m: Mount = serde_json::from_str(mount).unwrap();
        plan_mount(2, &m, Path::new("/"), &ns(linux)).map(|p| p.idmap)
    }

    #[test]
    fn idmap_alone_uses_the_container_maps() {
        let p = plan(
            r#"{"destination":"/d","source":"/tmp","options":["rbind","ridmap"]}"#,
            USERNS,
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.uid_map, "0 100000 65536\n");
        assert_eq!(p.gid_map, "0 200000 65536\n");
        assert!(p.recursive);
    }

    #[test]
    fn own_mappings_win_and_need_both() {
        let p = plan(
            r#"{"destination":"/d","source":"/tmp","options":["bind"],
                "uidMappings":[{"containerID":1000,"hostID":100000,"size":1}],
                "gidMappings":[{"containerID":1000,"hostID":200000,"size":1}]}"#,
            USERNS,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (p.uid_map.as_str(), p.recursive),
            ("1000 100000 1\n", false)
        );
        let e = plan(
            r#"{"destination":"/d","source":"/tmp","options":["bind"],
                "uidMappings":[{"containerID":0,"hostID":1,"size":1}]}"#,
            USERNS,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("mounts[2].gidMappings"), "{e}");
    }

    #[test]
    fn idmap_needs_a_bind_mount_and_a_user_namespace() {
        let e = plan(
            r#"{"destination":"/d","type":"tmpfs","source":"tmpfs","options":["idmap"]}"#,
            USERNS,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("mounts[2].options") && e.contains("bind"), "{e}");
        let e = plan(
            r#"{"destination":"/d","source":"/tmp","options":["bind","idmap"]}"#,
            r#"{"namespaces":[{"type":"mount"}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("mounts[2].options") && e.contains("user namespace"),
            "{e}"
        );
        let e = plan(
            r#"{"destination":"/d","source":"/tmp","options":["bind"],
                "uidMappings":[{"containerID":0,"hostID":1,"size":0}],
                "gidMappings":[{"containerID":0,"hostID":1,"size":1}]}"#,
            USERNS,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("mounts[2].uidMappings[0].size"), "{e}");
    }
}
