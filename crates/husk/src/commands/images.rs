//! `husk images`, `husk image inspect`, `husk tag`.

use anyhow::{bail, Result};
use husk_image::store::{ImageRecord, Store};
use husk_image::Reference;

use crate::cli::{ImagesArgs, InspectArgs, TagArgs};
use crate::context::Ctx;
use crate::format;

struct Row {
    repository: String,
    tag: String,
    digest: String,
    id: String,
    created_at: String,
    created_since: String,
    size: String,
}

/// One row per tag (and per repo digest of untagged images), Docker's way.
fn rows(store: &Store, rec: &ImageRecord, tags: &[String], no_trunc: bool) -> Vec<Row> {
    let id = if no_trunc {
        rec.id.to_string()
    } else {
        rec.id.short().to_owned()
    };
    let size = format::size(store.image_size(rec));
    let row = |repository: String, tag: String, digest: String| Row {
        repository,
        tag,
        digest,
        id: id.clone(),
        created_at: rec.created.clone().unwrap_or_default(),
        created_since: format::since(rec.created.as_deref()),
        size: size.clone(),
    };
    let digest_of = |name: &str| {
        rec.repo_digests
            .iter()
            .find_map(|d| d.strip_prefix(&format!("{name}@")).map(str::to_owned))
            .unwrap_or_else(|| "<none>".to_owned())
    };
    let mut out = Vec::new();
    for t in tags {
        let Ok(r) = Reference::parse(t) else { continue };
        out.push(row(
            r.familiar_name(),
            r.tag.clone().unwrap_or_default(),
            digest_of(&r.name()),
        ));
    }
    if out.is_empty() {
        let mut any = false;
        for d in &rec.repo_digests {
            if let Ok(r) = Reference::parse(d) {
                any = true;
                out.push(row(
                    r.familiar_name(),
                    "<none>".to_owned(),
                    r.digest
                        .map_or_else(|| "<none>".to_owned(), |d| d.to_string()),
                ));
            }
        }
        if !any {
            out.push(row(
                "<none>".to_owned(),
                "<none>".to_owned(),
                "<none>".to_owned(),
            ));
        }
    }
    out
}

pub fn list(ctx: &Ctx, a: &ImagesArgs) -> Result<()> {
    let store = ctx.store()?;
    let filter = a.repository.as_deref().map(Reference::parse).transpose()?;
    let explicit_tag = a
        .repository
        .as_deref()
        .is_some_and(|r| r.rsplit('/').next().is_some_and(|l| l.contains(':')));
    let mut all = Vec::new();
    for (rec, tags) in store.images()? {
        for row in rows(&store, &rec, &tags, a.no_trunc) {
            if let Some(f) = &filter {
                if row.repository != f.familiar_name()
                    || (explicit_tag && Some(&row.tag) != f.tag.as_ref())
                {
                    continue;
                }
            }
            all.push(row);
        }
    }
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for r in &all {
            if seen.insert(r.id.clone()) {
                println!("{}", r.id);
            }
        }
        return Ok(());
    }
    if let Some(fmt) = &a.format {
        let (table, tpl) = match fmt.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start().to_owned()),
            None => (false, fmt.clone()),
        };
        let tpl = if tpl == "json" {
            "{{json .}}".to_owned()
        } else {
            tpl
        };
        if table {
            let header: Vec<(&str, String)> = fields_of(None);
            println!("{}", format::template(&tpl, &header)?);
        }
        for r in &all {
            println!("{}", format::template(&tpl, &fields_of(Some(r)))?);
        }
        return Ok(());
    }
    let mut table: Vec<Vec<String>> = vec![];
    let mut header = vec!["REPOSITORY", "TAG"];
    if a.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    table.push(header.iter().map(|s| (*s).to_owned()).collect());
    for r in &all {
        let mut line = vec![r.repository.clone(), r.tag.clone()];
        if a.digests {
            line.push(r.digest.clone());
        }
        line.extend([r.id.clone(), r.created_since.clone(), r.size.clone()]);
        table.push(line);
    }
    print_table(&table);
    Ok(())
}

fn fields_of(r: Option<&Row>) -> Vec<(&'static str, String)> {
    let v = |f: fn(&Row) -> &String, h: &str| r.map_or_else(|| h.to_owned(), |r| f(r).clone());
    vec![
        ("Repository", v(|r| &r.repository, "REPOSITORY")),
        ("Tag", v(|r| &r.tag, "TAG")),
        ("Digest", v(|r| &r.digest, "DIGEST")),
        ("ID", v(|r| &r.id, "IMAGE ID")),
        ("CreatedAt", v(|r| &r.created_at, "CREATED AT")),
        ("CreatedSince", v(|r| &r.created_since, "CREATED")),
        ("Size", v(|r| &r.size, "SIZE")),
    ]
}

fn print_table(rows: &[Vec<String>]) {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}   ", w = widths[c]));
            }
        }
        println!("{}", line.trim_end());
    }
}

pub fn inspect(ctx: &Ctx, a: &InspectArgs) -> Result<()> {
    let store = ctx.store()?;
    let mut out = Vec::new();
    for name in &a.images {
        let rec = store.resolve(name)?;
        let config: serde_json::Value = serde_json::from_slice(&store.read_blob(&rec.id)?)?;
        let tags = store.tags_of(&rec.id)?;
        let familiar: Vec<String> = tags
            .iter()
            .filter_map(|t| Reference::parse(t).ok())
            .map(|r| format!("{}:{}", r.familiar_name(), r.tag.unwrap_or_default()))
            .collect();
        out.push(serde_json::json!({
            "Id": rec.id.to_string(),
            "RepoTags": familiar,
            "RepoDigests": rec.repo_digests,
            "Created": rec.created,
            "Architecture": rec.architecture,
            "Os": rec.os,
            "Variant": rec.variant,
            "Size": store.image_size(&rec),
            "Config": config.get("config").cloned().unwrap_or(serde_json::Value::Null),
            "RootFS": {
                "Type": "layers",
                "Layers": rec.layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>(),
            },
            "Manifest": {
                "Digest": rec.manifest_digest.to_string(),
                "MediaType": rec.manifest_media_type,
                "Layers": rec.layers,
            },
        }));
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

pub fn tag(ctx: &Ctx, a: &TagArgs) -> Result<()> {
    let store = ctx.store()?;
    let rec = store.resolve(&a.source)?;
    let target = Reference::parse(&a.target)?;
    if target.digest.is_some() {
        bail!("tag {}: a target cannot be a digest reference", a.target);
    }
    let Some(tagged) = target.tagged() else {
        bail!("tag {}: no tag", a.target);
    };
    store.set_tag(&tagged, &rec.id)?;
    Ok(())
}
