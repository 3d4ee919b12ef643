//! `baomi keys create|list|revoke`: key management without a running server, for the
//! operator who holds the unseal passphrase.

use std::path::Path;

use clap::Subcommand;
use secrecy::ExposeSecret;

use super::StoreArgs;
use crate::auth::Role;
use crate::config::Config;
use crate::service::keys::{self, NewKey};
use crate::service::{audit, setup};
use crate::store;
use baomi_audit::Action;

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print its secret (once).
    Create {
        /// A name for people.
        #[arg(long)]
        name: String,
        /// admin, service or officer.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A purpose a service key may act under, or whose subjects' consent histories an
        /// officer key may read (repeat for several).
        #[arg(long = "purpose")]
        purposes: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List keys.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key.
    Revoke {
        /// The key's id.
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).ok_or_else(|| "expected admin, service or officer".to_owned())
}

pub(super) async fn run(config_file: Option<&Path>, command: KeysCommand) -> anyhow::Result<()> {
    let args = match &command {
        KeysCommand::Create { store, .. }
        | KeysCommand::List { store }
        | KeysCommand::Revoke { store, .. } => store.clone(),
    };
    let config = Config::load(config_file, &args.overrides())?;
    setup::ensure_data_dir(&config.data_dir)?;
    let protection = setup::protection(&config, args.dev)?;
    let store = store::open(&config).await?;
    let result = async {
        let unsealed = setup::unseal(store.as_ref(), protection, config.kdf).await?;
        if let Some(key) = &unsealed.bootstrap_admin_key {
            super::print_bootstrap_key(key);
        }
        match command {
            KeysCommand::Create {
                name,
                role,
                purposes,
                ..
            } => {
                let new = NewKey {
                    name,
                    role,
                    purposes,
                };
                let (record, secret) = keys::create(store.as_ref(), &new, None, |record| {
                    let mut e = audit::system("baomi-cli", Action::KeyCreate, &record.id);
                    e.fields = vec![format!("role:{}", record.role.as_str())];
                    vec![e]
                })
                .await?;
                eprintln!("created key {} ({})", record.id, record.role.as_str());
                println!("{}", secret.expose_secret());
            }
            KeysCommand::List { .. } => {
                for k in keys::list(store.as_ref()).await? {
                    let state = if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    let purposes: Vec<&str> = k.purposes.iter().map(|p| p.as_str()).collect();
                    println!(
                        "{}\t{}\t{}\t{}\t{}",
                        k.id,
                        k.role.as_str(),
                        state,
                        k.name,
                        purposes.join(",")
                    );
                }
            }
            KeysCommand::Revoke { id, .. } => {
                let event = audit::system("baomi-cli", Action::KeyRevoke, &id);
                keys::revoke(store.as_ref(), &id, &[event]).await?;
                eprintln!("revoked key {id}");
            }
        }
        anyhow::Ok(())
    }
    .await;
    store.close().await;
    result
}
