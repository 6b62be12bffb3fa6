//! `trae backup`: create, list, verify and restore backups.

use anyhow::Context;
use trae_agents::Trae;
use trae_auth::RequestMeta;
use trae_core::{Config, Principal};

use crate::{BackupAction, write_stdout};

/// Runs one `trae backup` action on the configured database.
pub(crate) async fn backup(config: &Config, action: BackupAction) -> anyhow::Result<()> {
    use trae_storage::{BackupKind, backup};
    match action {
        BackupAction::Create { out } => {
            let trae = Trae::open(config.clone())
                .await
                .context("cannot open the database")?;
            let backups = trae.backups().clone();
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template(
                    "backup [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} {elapsed}",
                )
                .context("progress bar template")?
                .progress_chars("=> "),
            );
            let progress = |copied, total| {
                bar.set_length(total);
                bar.set_position(copied);
            };
            let (system, meta) = (Principal::System, RequestMeta::default());
            let taken = match &out {
                Some(out) => backups.create_at(&system, out, &meta, progress).await,
                None => {
                    backups
                        .create(&system, BackupKind::Manual, &meta, progress)
                        .await
                }
            };
            bar.finish_and_clear();
            trae.close().await;
            let taken = taken.context("backup failed")?;
            let manifest = &taken.manifest;
            write_stdout(&format!(
                "backup     {}\nmanifest   {}\nsize       {} bytes\nsha256     {}\nschema     {}\n",
                taken.path.display(),
                backup::manifest_path(&taken.path).display(),
                manifest.size,
                manifest.sha256,
                manifest.schema_version,
            ))?;
        }
        BackupAction::List => {
            let trae = Trae::open(config.clone())
                .await
                .context("cannot open the database")?;
            let backups = trae.backups().clone();
            let list = backups.list(&Principal::System).await;
            trae.close().await;
            let list = list.with_context(|| format!("cannot list {}", backups.dir().display()))?;
            let plural = if list.len() == 1 { "" } else { "s" };
            let mut text = format!(
                "{} backup{plural} in {}\n",
                list.len(),
                backups.dir().display()
            );
            for b in &list {
                let m = &b.manifest;
                text.push_str(&format!(
                    "{}  {:<9}  {:>12} bytes  {}  {}\n",
                    b.file_name,
                    b.kind.as_str(),
                    m.size,
                    m.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                    m.schema_version,
                ));
            }
            write_stdout(&text)?;
        }
        BackupAction::Verify { path } => {
            let manifest = backup::verify(&path)
                .await
                .with_context(|| format!("{} failed verification", path.display()))?;
            write_stdout(&format!(
                "ok         {} ({} bytes, schema {}, taken {} by trae {})\n",
                path.display(),
                manifest.size,
                manifest.schema_version,
                manifest.created_at.to_rfc3339(),
                manifest.trae_version,
            ))?;
        }
        BackupAction::Restore { path } => {
            let report = backup::restore(&path, &config.database_url)
                .await
                .context("restore refused")?;
            let mut text = format!(
                "restored   {} into {}\n",
                path.display(),
                report.database.display()
            );
            if let Some(previous) = report.previous {
                text.push_str(&format!("previous   {}\n", previous.display()));
            }
            text.push_str(&format!(
                "released   {} running task lease(s): they run again at the next worker\n",
                report.released_leases
            ));
            write_stdout(&text)?;
        }
    }
    Ok(())
}
