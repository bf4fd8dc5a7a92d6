//! `husk rmi` and `husk image prune`.

use anyhow::{bail, Result};
use husk_image::Reference;

use crate::cli::{PruneArgs, RmiArgs};
use crate::context::Ctx;
use crate::format;

pub fn rmi(ctx: &Ctx, a: &RmiArgs) -> Result<()> {
    let store = ctx.store()?;
    let mut failed = Vec::new();
    for name in &a.images {
        if let Err(e) = rmi_one(&store, name, a.force) {
            failed.push(format!("{name}: {e}"));
        }
    }
    if !failed.is_empty() {
        bail!("{}", failed.join("; "));
    }
    Ok(())
}

fn rmi_one(store: &husk_image::store::Store, name: &str, force: bool) -> Result<()> {
    let rec = store.resolve(name)?;
    let tags = store.tags_of(&rec.id)?;
    // A name that is a tag of the image: untag; delete only with its last tag.
    let by_tag = Reference::parse(name)
        .ok()
        .and_then(|r| r.tagged())
        .filter(|t| tags.contains(t));
    if let Some(t) = &by_tag {
        if tags.len() > 1 {
            store.remove_tag(t)?;
            println!("Untagged: {}", familiar(t));
            return Ok(());
        }
    } else if tags.len() > 1 && !force {
        bail!(
            "conflict: unable to delete {} (must be forced) - image is referenced in multiple repositories",
            rec.id.short()
        );
    }
    let users = store.containers_using(&rec.id)?;
    if !users.is_empty() {
        if !force {
            return Err(husk_image::Error::ImageInUse {
                image: rec.id.short().to_owned(),
                containers: users.join(", "),
            }
            .into());
        }
        // Forced: the tags go, the image stays (untagged) while its layers are mounted.
        for t in &tags {
            store.remove_tag(t)?;
            println!("Untagged: {}", familiar(t));
        }
        return Ok(());
    }
    for t in &tags {
        println!("Untagged: {}", familiar(t));
    }
    store.remove_image(&rec.id)?;
    println!("Deleted: {}", rec.id);
    Ok(())
}

fn familiar(tag: &str) -> String {
    Reference::parse(tag).map_or_else(
        |_| tag.to_owned(),
        |r| format!("{}:{}", r.familiar_name(), r.tag.unwrap_or_default()),
    )
}

pub fn prune(ctx: &Ctx, a: &PruneArgs) -> Result<()> {
    let store = ctx.store()?;
    let mut deleted = Vec::new();
    let mut reclaimed = 0;
    for (rec, tags) in store.images()? {
        if (!tags.is_empty() && !a.all) || !store.containers_using(&rec.id)?.is_empty() {
            continue;
        }
        reclaimed += store.image_size(&rec);
        for t in &tags {
            deleted.push(format!("untagged: {}", familiar(t)));
        }
        store.remove_image(&rec.id)?;
        deleted.push(format!("deleted: {}", rec.id));
    }
    reclaimed += store.prune_ingest()?;
    if !deleted.is_empty() {
        println!("Deleted Images:");
        for d in deleted {
            println!("{d}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", format::size(reclaimed));
    Ok(())
}
