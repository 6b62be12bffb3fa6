//! `trae auth`: the operator's identity chores, such as rotating the access-token signing key.

use anyhow::Context;
use trae_agents::Trae;
use trae_auth::RequestMeta;
use trae_core::{Config, Principal};

use crate::{AuthAction, write_stdout};

/// Runs one `trae auth` action as the system principal on the configured database.
pub(crate) async fn auth(config: &Config, action: AuthAction) -> anyhow::Result<()> {
    let trae = Trae::open(config.clone())
        .await
        .context("cannot open the database")?;
    let result = match action {
        AuthAction::RotateSigningKey => rotate_signing_key(&trae).await,
    };
    trae.close().await;
    result
}

async fn rotate_signing_key(trae: &Trae) -> anyhow::Result<()> {
    let rotation = trae
        .identity()
        .rotate_signing_key(&Principal::System, &RequestMeta::default())
        .await
        .context("cannot rotate the signing key")?;
    let mut out = format!("new signing key {}\n", rotation.new_kid);
    if let Some(retired) = &rotation.retired_kid {
        out.push_str(&format!(
            "retired signing key {retired}: its tokens are accepted until {}\n",
            rotation
                .retired_key_valid_until
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    write_stdout(&out)
}
