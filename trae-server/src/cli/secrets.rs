//! `trae secrets`: the vault from the shell, and its master key.

use anyhow::Context;
use trae_auth::RequestMeta;
use trae_core::{Config, Principal};

use crate::{SecretsAction, write_stdout};

/// Runs one `trae secrets` action as the system principal.
pub(crate) async fn secrets(
    vault: &trae_auth::Vault,
    config: &Config,
    action: SecretsAction,
    value: Option<trae_auth::SecretValue>,
) -> anyhow::Result<()> {
    let system = Principal::System;
    let meta = RequestMeta::default();
    match action {
        SecretsAction::Set {
            name,
            description,
            tags,
        } => {
            let value = value.context("no value was read")?;
            let input = trae_auth::SetSecret {
                value,
                description,
                tags: (!tags.is_empty()).then_some(tags),
            };
            let secret = vault.set(&system, &name, input, &meta).await?;
            write_stdout(&format!(
                "set secret {} version {}\n",
                secret.name, secret.version
            ))?;
        }
        SecretsAction::Get { name, version } => {
            let revealed = vault.get(&system, &name, version, &meta).await?;
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(revealed.value.expose())?;
            stdout.write_all(b"\n")?;
            stdout.flush()?;
        }
        SecretsAction::List { prefix, tag } => {
            let filter = trae_core::SecretFilter { prefix, tag };
            let mut secrets = Vec::new();
            loop {
                let offset = i64::try_from(secrets.len()).unwrap_or(i64::MAX);
                let page = trae_core::PageRequest::new(Some(500), Some(offset))?;
                let page = vault.list(&system, &filter, page).await?;
                let done = page.items.is_empty();
                secrets.extend(page.items);
                if done || secrets.len() as u64 >= page.total {
                    break;
                }
            }
            let rows = secrets.iter().map(|s| {
                [
                    s.name.clone(),
                    s.version.to_string(),
                    s.updated_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    s.description
                        .as_deref()
                        .unwrap_or("")
                        .replace(['\n', '\t'], " "),
                ]
            });
            write_stdout(&table(["NAME", "VERSION", "UPDATED", "DESCRIPTION"], rows))?;
        }
        SecretsAction::Versions { name } => {
            let versions = vault.versions(&system, &name).await?;
            let rows = versions.iter().map(|v| {
                [
                    v.version.to_string(),
                    v.created_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    v.created_by.clone(),
                ]
            });
            write_stdout(&table(["VERSION", "CREATED", "CREATED_BY"], rows))?;
        }
        SecretsAction::Delete { name } => {
            let removed = vault.delete(&system, &name, &meta).await?;
            write_stdout(&format!("deleted secret {name} ({removed} versions)\n"))?;
        }
        SecretsAction::MasterKeys => {
            let keys = vault.master_keys().await?;
            let rows = keys.iter().map(|k| {
                [
                    k.id.clone(),
                    if k.current { "current" } else { "previous" }.to_owned(),
                    if k.loaded { "yes" } else { "no" }.to_owned(),
                    k.created_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ]
            });
            write_stdout(&table(["ID", "STATE", "LOADED", "INSTALLED"], rows))?;
        }
        SecretsAction::RotateMasterKey { key_file } => {
            let key = read_master_key(key_file.as_deref())?;
            let report = vault.rotate_master_key(&system, key, &meta).await?;
            let next_step = if config.master_key.is_some() {
                "set TRAE_MASTER_KEY to the new key on every node and restart them"
            } else {
                "the key file in the data directory now holds the new key; back it up"
            };
            let mut out = format!(
                "rotated the secrets master key from {} to {} ({} data keys re-wrapped)\n",
                report.from, report.to, report.rewrapped
            );
            for retired in &report.retired {
                out.push_str(&format!("retired the older master key {retired}\n"));
            }
            out.push_str(&format!(
                "next: {next_step}; then end the overlap with \
                 `trae secrets retire-master-key {}`\n",
                report.from
            ));
            write_stdout(&out)?;
        }
        SecretsAction::RetireMasterKey { id } => {
            let removed = vault.retire_master_key(&system, &id, &meta).await?;
            write_stdout(&format!(
                "retired master key {id} ({removed} data key wrappings removed)\n"
            ))?;
        }
    }
    Ok(())
}

/// Left-aligned columns, two spaces apart, the last one unpadded.
pub(crate) fn table<const N: usize>(
    header: [&str; N],
    rows: impl Iterator<Item = [String; N]>,
) -> String {
    let rows: Vec<[String; N]> = std::iter::once(header.map(str::to_owned))
        .chain(rows)
        .collect();
    let mut widths = [0usize; N];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// All of stdin, less one trailing newline (`\n` or `\r\n`); an empty value is refused.
pub(crate) fn read_secret_value() -> anyhow::Result<trae_auth::SecretValue> {
    use std::io::{IsTerminal, Read};
    let mut stdin = std::io::stdin().lock();
    if stdin.is_terminal() {
        eprintln!("Reading the value from stdin; end it with Ctrl-D.");
    }
    let mut bytes = Vec::new();
    stdin
        .read_to_end(&mut bytes)
        .context("cannot read the value from stdin")?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    anyhow::ensure!(
        !bytes.is_empty(),
        "no value on stdin: pipe it in, e.g. `printf %s \"$TOKEN\" | trae secrets set NAME`"
    );
    // Moved, not copied: `SecretValue` zeroes the bytes when dropped.
    Ok(trae_auth::SecretValue::new(bytes))
}

/// The new master key for `rotate-master-key`: base64 of 32 bytes from `path` or stdin.
pub(crate) fn read_master_key(
    path: Option<&std::path::Path>,
) -> anyhow::Result<trae_auth::MasterKey> {
    use std::io::{IsTerminal, Read};
    let mut text = String::new();
    match path {
        Some(path) => {
            let mut file = std::fs::File::open(path)
                .with_context(|| format!("cannot open the key file {}", path.display()))?;
            file.read_to_string(&mut text)
                .with_context(|| format!("cannot read the key file {}", path.display()))?;
        }
        None => {
            let mut stdin = std::io::stdin().lock();
            if stdin.is_terminal() {
                eprintln!("Reading the new master key (base64) from stdin; end it with Ctrl-D.");
            }
            stdin
                .read_to_string(&mut text)
                .context("cannot read the new master key from stdin")?;
        }
    }
    anyhow::ensure!(
        !text.trim().is_empty(),
        "no new master key: pipe base64 of 32 random bytes on stdin (e.g. from \
         `head -c 32 /dev/urandom | base64`) or pass --key-file"
    );
    Ok(trae_auth::MasterKey::from_base64(&text)?)
}
