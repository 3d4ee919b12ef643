//! `baomi console add-user`: console accounts for privacy officers, made on the server's
//! machine (the password is read from standard input, never from the command line).

use std::io::BufRead;
use std::path::Path;

use clap::Subcommand;
use zeroize::Zeroizing;

use super::StoreArgs;
use crate::auth::Role;
use crate::config::Config;
use crate::store;

/// Console commands.
#[derive(Debug, Subcommand)]
pub enum ConsoleCommand {
    /// Create a console account, or set its password, role and purposes; the password (at
    /// least 12 characters) is the first line of standard input.
    AddUser {
        /// The name to sign in with (ASCII letters, digits, . _ -).
        username: String,
        /// `officer` or `admin`.
        #[arg(long, default_value = "officer")]
        role: String,
        /// A purpose whose subjects' consent histories this officer may open (repeat for
        /// more; an admin opens every purpose).
        #[arg(long = "purpose")]
        purposes: Vec<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub(super) async fn run(config_file: Option<&Path>, command: ConsoleCommand) -> anyhow::Result<()> {
    let ConsoleCommand::AddUser {
        username,
        role,
        purposes,
        store: args,
    } = command;
    let role = Role::parse(&role).ok_or_else(|| anyhow::anyhow!("--role: officer or admin"))?;
    let mut line = Zeroizing::new(String::new());
    std::io::stdin().lock().read_line(&mut line)?;
    let password = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    let config = Config::load(config_file, &args.overrides())?;
    crate::service::setup::ensure_data_dir(&config.data_dir)?;
    let store = store::open(&config).await?;
    let event = crate::service::audit::system(
        "baomi console",
        baomi_types::Action::ConsoleUserChange,
        &format!("user:{username}"),
    );
    let result = crate::console::session::put_user(
        store.as_ref(),
        &username,
        &password,
        role,
        &purposes,
        event,
    )
    .await;
    store.close().await;
    result?;
    println!("console account {username} ({}) saved", role.as_str());
    Ok(())
}
