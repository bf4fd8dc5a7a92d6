//! What every command needs: the store under `--root`, and a registry client.

use std::path::PathBuf;

use anyhow::Result;
use husk_image::auth::{default_config_path, Credentials};
use husk_image::registry::{Client, ClientOptions};
use husk_image::store::Store;

pub struct Ctx {
    pub root: PathBuf,
    pub insecure: Vec<String>,
}

impl Ctx {
    pub fn store(&self) -> Result<Store> {
        Ok(Store::open(&self.root)?)
    }

    /// A client with the credentials of `husk login` / `docker login` and the CAs in
    /// `<root>/certs.d/<registry>/ca.crt` and `/etc/docker/certs.d/<registry>/ca.crt`.
    pub fn client(&self) -> Result<Client> {
        let credentials = Credentials::load(&default_config_path())?;
        Ok(Client::new(ClientOptions {
            insecure: self.insecure.clone(),
            certs_dirs: vec![
                self.root.join("certs.d"),
                PathBuf::from("/etc/docker/certs.d"),
            ],
            credentials,
            ..ClientOptions::default()
        }))
    }
}
