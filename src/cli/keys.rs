//! `baomi keys create|list|revoke`: key management without a running server, for the
//! operator who holds the unseal passphrase.

use std::path::Path;

use clap::Subcommand;
use secrecy::ExposeSecret;

use super::StoreArgs;
use crate::auth::Role;
use crate::auth::client_certificate::CertificateBinding;
use crate::auth::grant::{Permission, ViewKind};
use crate::config::Config;
use crate::service::keys::{self, GrantRequest, NewKey};
use crate::service::{audit, setup};
use crate::store;
use baomi_types::Action;

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
        /// A declared purpose a service key may act under with the masked view, or whose
        /// subjects' consent histories an officer key may read (repeat for several).
        #[arg(long = "purpose")]
        purposes: Vec<String>,
        /// A declared purpose granted with both views, masked and plain (repeat for several).
        #[arg(long = "plain-purpose")]
        plain_purposes: Vec<String>,
        /// A permission of a service key: store_data, erase_subjects, mint_subject_tokens,
        /// record_consent, self_service (repeat for several).
        #[arg(long = "permission", value_parser = parse_permission)]
        permissions: Vec<Permission>,
        /// A masking role, the default first (repeat for several; default: the role's name).
        #[arg(long = "masking-role")]
        masking_roles: Vec<String>,
        /// Bind the key to the client certificate with this public key: SHA-256 of its
        /// SubjectPublicKeyInfo, hex.
        #[arg(long, conflicts_with = "client_subject")]
        client_spki_sha256: Option<String>,
        /// Bind the key to client certificates with this subject (`C=CN, CN=payments`).
        #[arg(long)]
        client_subject: Option<String>,
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

fn parse_permission(raw: &str) -> Result<Permission, String> {
    Permission::parse(raw).ok_or_else(|| {
        let names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        format!("expected one of {}", names.join(", "))
    })
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
                plain_purposes,
                permissions,
                masking_roles,
                client_spki_sha256,
                client_subject,
                ..
            } => {
                let new = NewKey {
                    name,
                    role,
                    grants: GrantRequest {
                        purposes,
                        grants: plain_purposes
                            .into_iter()
                            .map(|purpose| crate::service::keys::PurposeRequest {
                                purpose,
                                views: vec![ViewKind::Masked, ViewKind::Plain],
                                ..Default::default()
                            })
                            .collect(),
                        permissions,
                        masking_roles,
                    },
                    client_certificate: client_spki_sha256
                        .map(CertificateBinding::SpkiSha256)
                        .or(client_subject.map(CertificateBinding::Subject)),
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
                let declared = keys::declared_purposes(store.as_ref()).await?;
                let declared: Vec<&str> = declared.iter().map(String::as_str).collect();
                for k in keys::list(store.as_ref()).await? {
                    let state = if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    let purposes: Vec<String> = k
                        .grants
                        .purposes
                        .iter()
                        .map(|g| {
                            let views: Vec<&str> = g.views.iter().map(|v| v.as_str()).collect();
                            format!("{}:{}", g.purpose.as_str(), views.join("+"))
                        })
                        .collect();
                    let permissions: Vec<&str> =
                        k.grants.permissions.iter().map(|p| p.as_str()).collect();
                    let undeclared = k.grants.undeclared(&declared);
                    let note = if undeclared.is_empty() || k.revoked_at.is_some() {
                        String::new()
                    } else {
                        format!(
                            "\tundeclared purposes (unusable until declared): {}",
                            undeclared.join(",")
                        )
                    };
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}{note}",
                        k.id,
                        k.role.as_str(),
                        state,
                        k.name,
                        purposes.join(","),
                        permissions.join(",")
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
