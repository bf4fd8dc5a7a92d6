//! `husk login` and `husk logout`: credentials in Docker's config.json.

use std::io::BufRead;

use anyhow::{bail, Context, Result};
use husk_image::auth::{default_config_path, save_credential, Credential, Credentials};
use husk_image::reference::DEFAULT_REGISTRY;
use husk_image::registry::{Client, ClientOptions};

use crate::cli::{LoginArgs, LogoutArgs};
use crate::context::Ctx;

/// `https://index.docker.io/v1/`, `localhost:5000`, `ghcr.io` → a registry name.
fn registry_name(server: Option<&str>) -> String {
    let s = server.unwrap_or(DEFAULT_REGISTRY);
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let s = s.split('/').next().unwrap_or(s);
    match s {
        "index.docker.io" | "registry-1.docker.io" => DEFAULT_REGISTRY.to_owned(),
        other => other.to_owned(),
    }
}

pub fn login(ctx: &Ctx, a: &LoginArgs) -> Result<()> {
    let registry = registry_name(a.server.as_deref());
    let Some(username) = a.username.clone() else {
        bail!("login {registry}: --username is required (husk does not prompt)");
    };
    let password = match (&a.password, a.password_stdin) {
        (Some(_), true) => {
            bail!("login {registry}: --password and --password-stdin are mutually exclusive")
        }
        (Some(p), false) => p.clone(),
        (None, true) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("read password from stdin")?;
            line.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => bail!(
            "login {registry}: --password or --password-stdin is required (husk does not prompt)"
        ),
    };
    let cred = Credential { username, password };
    let mut creds = Credentials::default();
    creds.insert(&registry, cred.clone());
    let client = Client::new(ClientOptions {
        insecure: ctx.insecure.clone(),
        certs_dirs: vec![ctx.root.join("certs.d"), "/etc/docker/certs.d".into()],
        credentials: creds,
        retries: 1,
        ..ClientOptions::default()
    });
    client
        .ping(&registry)
        .with_context(|| format!("login {registry}"))?;
    let path = default_config_path();
    save_credential(&path, &registry, Some(&cred))?;
    println!("Login Succeeded");
    Ok(())
}

pub fn logout(a: &LogoutArgs) -> Result<()> {
    let registry = registry_name(a.server.as_deref());
    let path = default_config_path();
    if save_credential(&path, &registry, None)? {
        println!("Removing login credentials for {registry}");
    } else {
        println!("Not logged in to {registry}");
    }
    Ok(())
}
