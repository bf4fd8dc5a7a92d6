//! `husk push`, `save`, `load`, `import`.

use anyhow::{bail, Context, Result};
use husk_image::pull::{PullOptions, Quiet};
use husk_image::transfer;
use husk_image::Reference;

use crate::cli::{ImportArgs, LoadArgs, PushArgs, SaveArgs};
use crate::context::Ctx;
use crate::progress::Reporter;

pub fn push(ctx: &Ctx, a: &PushArgs) -> Result<()> {
    let store = ctx.store()?;
    let target = Reference::parse(&a.image)?;
    let rec = store.resolve(&a.image)?;
    let client = ctx.client()?;
    let progress = Reporter::new(a.quiet, crate::progress::PUSH);
    progress.line(&format!(
        "The push refers to repository [{}]",
        target.name()
    ));
    let digest = transfer::push(&store, &client, &rec, &target, &progress)
        .with_context(|| format!("push {target}"))?;
    let size = store.blob_path(&digest).metadata().map_or(0, |m| m.len());
    let tag = target.tag.clone().unwrap_or_default();
    if a.quiet {
        println!("{target}");
    } else {
        println!("{tag}: digest: {digest} size: {size}");
    }
    Ok(())
}

pub fn save(ctx: &Ctx, a: &SaveArgs) -> Result<()> {
    let store = ctx.store()?;
    let mut images = Vec::new();
    for name in &a.images {
        let rec = store.resolve(name)?;
        // A name that is a tag saves that tag; an ID saves all the image's tags.
        let tags = match Reference::parse(name).ok().and_then(|r| r.tagged()) {
            Some(t) if store.tags_of(&rec.id)?.contains(&t) => vec![t],
            _ => store.tags_of(&rec.id)?,
        };
        images.push((rec, tags));
    }
    transfer::save(&store, &images, &a.output)
        .with_context(|| format!("save to {}", a.output.display()))?;
    Ok(())
}

pub fn load(ctx: &Ctx, a: &LoadArgs) -> Result<()> {
    let store = ctx.store()?;
    let loaded = transfer::load(&store, &a.input, &PullOptions::default(), &Quiet)
        .with_context(|| format!("load {}", a.input.display()))?;
    for (rec, tags) in loaded {
        if tags.is_empty() {
            println!("Loaded image ID: {}", rec.id);
        }
        for t in tags {
            let r = Reference::parse(&t)?;
            println!(
                "Loaded image: {}:{}",
                r.familiar_name(),
                r.tag.unwrap_or_default()
            );
        }
    }
    Ok(())
}

pub fn import(ctx: &Ctx, a: &ImportArgs) -> Result<()> {
    let store = ctx.store()?;
    let tag = a.reference.as_deref().map(Reference::parse).transpose()?;
    if tag.as_ref().is_some_and(|t| t.digest.is_some()) {
        bail!("import: the name cannot contain a digest");
    }
    let rec = transfer::import(
        &store,
        &a.source,
        tag.as_ref(),
        &PullOptions::default(),
        &Quiet,
    )
    .with_context(|| format!("import {}", a.source.display()))?;
    println!("{}", rec.id);
    Ok(())
}
