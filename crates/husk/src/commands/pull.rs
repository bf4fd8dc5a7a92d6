//! `husk pull`.

use anyhow::{Context, Result};
use husk_image::manifest::Platform;
use husk_image::pull::{pull as pull_image, PullOptions};
use husk_image::Reference;

use crate::cli::PullArgs;
use crate::context::Ctx;
use crate::progress::Reporter;

pub fn pull(ctx: &Ctx, a: &PullArgs) -> Result<()> {
    let r = Reference::parse(&a.image)?;
    let mut opts = PullOptions::default();
    if let Some(p) = &a.platform {
        opts.platform = Platform::parse(p)?;
    }
    let store = ctx.store()?;
    let client = ctx.client()?;
    let before = store.resolve(&r.to_string()).ok().map(|rec| rec.id);
    let progress = Reporter::new(a.quiet, crate::progress::PULL);
    progress.line(&format!(
        "{}: Pulling from {}",
        r.manifest_ref(),
        r.familiar_name()
    ));
    let rec =
        pull_image(&store, &client, &r, &opts, &progress).with_context(|| format!("pull {r}"))?;
    if let Some(d) = rec
        .repo_digests
        .iter()
        .find(|d| d.starts_with(&format!("{}@", r.name())))
    {
        progress.line(&format!("Digest: {}", d.rsplit('@').next().unwrap_or(d)));
    }
    let status = if before.as_ref() == Some(&rec.id) {
        format!("Status: Image is up to date for {r}")
    } else {
        format!("Status: Downloaded newer image for {r}")
    };
    progress.line(&status);
    println!("{r}");
    Ok(())
}
