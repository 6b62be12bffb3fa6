//! [`SecretRepository`] on SQLite and PostgreSQL, in raw SQL through sea-orm.
//!
//! Four tables: `secrets` (metadata and the latest version number), `secret_versions` (one
//! ciphertext per version), `secret_keys` (each version's data key, once per master key that
//! wraps it) and `secret_master_keys` (each installed master key's check value; the highest
//! `seq` is the current key). Only ciphertexts and wrapped keys are stored.
//!
//! Every write runs in one transaction: `BEGIN IMMEDIATE` on SQLite (so writers from several
//! processes queue on the busy timeout), and on PostgreSQL a write first locks the master-key
//! rows (`FOR SHARE` to add a version, `FOR UPDATE` to rotate or retire), so a version written
//! under the old key cannot slip past a rotation that is re-wrapping every data key.
//!
//! Tags are stored as `,a,b,` (tags contain no commas) and matched by substring.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction, QueryResult,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait, Value,
};
use trae_core::identity::secret::RewrapFn;
use trae_core::{
    Error, MasterKeyCheck, NewSecretVersion, Page, PageRequest, Result, SealedVersion, Secret,
    SecretFilter, SecretRepository, SecretVersion, WrappedDataKey,
};

use crate::error::db_error;

/// Secrets in the `secrets`, `secret_versions`, `secret_keys` and `secret_master_keys` tables.
#[derive(Debug, Clone)]
pub struct SqlSecretRepository {
    writer: DatabaseConnection,
    reader: DatabaseConnection,
}

impl SqlSecretRepository {
    /// A repository writing through `writer` and reading through `reader`.
    pub fn new(writer: DatabaseConnection, reader: DatabaseConnection) -> Self {
        Self { writer, reader }
    }

    fn backend(&self) -> DatabaseBackend {
        self.writer.get_database_backend()
    }

    fn pg(&self) -> bool {
        self.backend() == DatabaseBackend::Postgres
    }

    fn stmt(&self, sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(self.backend(), sql, values)
    }

    async fn begin(&self) -> Result<DatabaseTransaction> {
        self.writer
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..TransactionOptions::default()
            })
            .await
            .map_err(db_error)
    }

    /// The installed master keys, oldest first, locked on PostgreSQL with `lock`.
    async fn locked_keys(
        &self,
        txn: &DatabaseTransaction,
        lock: &str,
    ) -> Result<Vec<(String, i64)>> {
        let sql = if self.pg() {
            format!("SELECT id, seq FROM secret_master_keys ORDER BY seq {lock}")
        } else {
            "SELECT id, seq FROM secret_master_keys ORDER BY seq".to_owned()
        };
        txn.query_all_raw(self.stmt(&sql, vec![]))
            .await
            .map_err(db_error)?
            .iter()
            .map(|row| Ok((get::<String>(row, "id")?, get::<i64>(row, "seq")?)))
            .collect()
    }
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> Result<T> {
    row.try_get("", column).map_err(db_error)
}

fn version_of(row: &QueryResult, column: &str) -> Result<u32> {
    let v: i64 = get(row, column)?;
    u32::try_from(v).map_err(|_| Error::Storage(format!("secret version {v} is out of range")))
}

fn encode_tags(tags: &[String]) -> String {
    if tags.is_empty() {
        String::new()
    } else {
        format!(",{},", tags.join(","))
    }
}

fn decode_tags(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn secret(row: &QueryResult) -> Result<Secret> {
    Ok(Secret {
        name: get(row, "name")?,
        version: version_of(row, "latest_version")?,
        description: get(row, "description")?,
        tags: decode_tags(&get::<String>(row, "tags")?),
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
    })
}

fn secret_version(row: &QueryResult) -> Result<SecretVersion> {
    Ok(SecretVersion {
        name: get(row, "name")?,
        version: version_of(row, "version")?,
        created_by: get(row, "created_by")?,
        created_at: get(row, "created_at")?,
    })
}

const SECRET_COLUMNS: &str =
    "name, latest_version, description, tags, created_by, created_at, updated_at";

async fn one_secret<C: ConnectionTrait>(
    db: &C,
    backend: DatabaseBackend,
    name: &str,
) -> Result<Option<Secret>> {
    db.query_one_raw(Statement::from_sql_and_values(
        backend,
        format!("SELECT {SECRET_COLUMNS} FROM secrets WHERE name = $1"),
        [name.into()],
    ))
    .await
    .map_err(db_error)?
    .as_ref()
    .map(secret)
    .transpose()
}

fn at(t: DateTime<Utc>) -> Value {
    t.into()
}

#[async_trait]
impl SecretRepository for SqlSecretRepository {
    async fn key_checks(&self) -> Result<Vec<MasterKeyCheck>> {
        // Through the writer: a node opening right after another installed the key must see it.
        self.writer
            .query_all_raw(self.stmt(
                "SELECT id, seq, key_check, created_at FROM secret_master_keys ORDER BY seq",
                vec![],
            ))
            .await
            .map_err(db_error)?
            .iter()
            .map(|row| {
                Ok(MasterKeyCheck {
                    id: get(row, "id")?,
                    seq: get(row, "seq")?,
                    check: get(row, "key_check")?,
                    created_at: get(row, "created_at")?,
                })
            })
            .collect()
    }

    async fn insert_first_key_check(&self, check: &MasterKeyCheck) -> Result<bool> {
        // `seq` is unique: of several nodes installing different first keys at once, one wins.
        let result = self
            .writer
            .execute_raw(self.stmt(
                "INSERT INTO secret_master_keys (id, seq, key_check, created_at) \
                 VALUES ($1, 1, $2, $3) ON CONFLICT DO NOTHING",
                vec![
                    check.id.clone().into(),
                    check.check.clone().into(),
                    at(check.created_at),
                ],
            ))
            .await
            .map_err(db_error)?;
        Ok(result.rows_affected() == 1)
    }

    async fn version_count(&self) -> Result<u64> {
        let row = self
            .writer
            .query_one_raw(self.stmt("SELECT COUNT(*) AS n FROM secret_versions", vec![]))
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::Storage("COUNT returned no row".into()))?;
        Ok(get::<i64>(&row, "n")?.max(0) as u64)
    }

    async fn find(&self, name: &str) -> Result<Option<Secret>> {
        one_secret(&self.reader, self.backend(), name).await
    }

    async fn insert_version(&self, v: &NewSecretVersion) -> Result<Secret> {
        let txn = self.begin().await?;
        let keys = self.locked_keys(&txn, "FOR SHARE").await?;
        match keys.last() {
            Some((current, _)) if *current == v.master_key_id => {}
            Some((current, _)) => {
                return Err(Error::Conflict(format!(
                    "the master key was rotated (current key {current}, this node holds {}); \
                     load the new master key to write secrets",
                    v.master_key_id
                )));
            }
            None => {
                return Err(Error::Conflict(
                    "no master key is installed in the database".into(),
                ));
            }
        }
        let version = i64::from(v.version());
        let tags = encode_tags(&v.tags);
        let written = match v.expected_latest {
            None => txn
                .execute_raw(self.stmt(
                    "INSERT INTO secrets (name, latest_version, description, tags, created_by, \
                     created_at, updated_at) VALUES ($1, 1, $2, $3, $4, $5, $5) \
                     ON CONFLICT DO NOTHING",
                    vec![
                        v.name.clone().into(),
                        v.description.clone().into(),
                        tags.into(),
                        v.created_by.clone().into(),
                        at(v.created_at),
                    ],
                ))
                .await
                .map_err(db_error)?,
            Some(previous) => txn
                .execute_raw(self.stmt(
                    "UPDATE secrets SET latest_version = $2, description = $3, tags = $4, \
                     updated_at = $5 WHERE name = $1 AND latest_version = $6",
                    vec![
                        v.name.clone().into(),
                        version.into(),
                        v.description.clone().into(),
                        tags.into(),
                        at(v.created_at),
                        i64::from(previous).into(),
                    ],
                ))
                .await
                .map_err(db_error)?,
        };
        if written.rows_affected() != 1 {
            return Err(Error::Conflict(format!(
                "secret {} changed while its new version was being written",
                v.name
            )));
        }
        txn.execute_raw(self.stmt(
            "INSERT INTO secret_versions (name, version, ciphertext, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
            vec![
                v.name.clone().into(),
                version.into(),
                v.ciphertext.clone().into(),
                v.created_by.clone().into(),
                at(v.created_at),
            ],
        ))
        .await
        .map_err(db_error)?;
        txn.execute_raw(self.stmt(
            "INSERT INTO secret_keys (name, version, master_key_id, wrapped) \
             VALUES ($1, $2, $3, $4)",
            vec![
                v.name.clone().into(),
                version.into(),
                v.master_key_id.clone().into(),
                v.wrapped_key.clone().into(),
            ],
        ))
        .await
        .map_err(db_error)?;
        let stored = one_secret(&txn, self.backend(), &v.name)
            .await?
            .ok_or_else(|| Error::Storage(format!("secret {} vanished", v.name)))?;
        txn.commit().await.map_err(db_error)?;
        Ok(stored)
    }

    async fn get(
        &self,
        name: &str,
        version: Option<u32>,
        master_key_id: &str,
    ) -> Result<Option<SealedVersion>> {
        let row = self
            .reader
            .query_one_raw(self.stmt(
                "SELECT v.name, v.version, v.ciphertext, v.created_by, v.created_at, k.wrapped \
                 FROM secret_versions v \
                 LEFT JOIN secret_keys k \
                   ON k.name = v.name AND k.version = v.version AND k.master_key_id = $2 \
                 WHERE v.name = $1 AND v.version = \
                   COALESCE($3, (SELECT latest_version FROM secrets WHERE name = $1))",
                vec![
                    name.into(),
                    master_key_id.into(),
                    version.map(i64::from).into(),
                ],
            ))
            .await
            .map_err(db_error)?;
        row.map(|row| {
            Ok(SealedVersion {
                version: secret_version(&row)?,
                ciphertext: get(&row, "ciphertext")?,
                wrapped_key: get(&row, "wrapped")?,
            })
        })
        .transpose()
    }

    async fn list(&self, filter: &SecretFilter, page: PageRequest) -> Result<Page<Secret>> {
        let pg = self.pg();
        let mut clauses = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        if let Some(prefix) = &filter.prefix {
            values.push(prefix.clone().into());
            let n = values.len();
            clauses.push(if pg {
                format!("left(name, length(${n})) = ${n}")
            } else {
                format!("substr(name, 1, length(${n})) = ${n}")
            });
        }
        if let Some(tag) = &filter.tag {
            values.push(tag.clone().into());
            let n = values.len();
            clauses.push(if pg {
                format!("strpos(tags, ',' || ${n} || ',') > 0")
            } else {
                format!("instr(tags, ',' || ${n} || ',') > 0")
            });
        }
        let filter_sql = if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        };
        let count = self
            .reader
            .query_one_raw(self.stmt(
                &format!("SELECT COUNT(*) AS n FROM secrets{filter_sql}"),
                values.clone(),
            ))
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::Storage("COUNT returned no row".into()))?;
        let total = get::<i64>(&count, "n")?.max(0) as u64;
        let n = values.len();
        values.push(i64::from(page.limit()).into());
        values.push((page.offset().min(i64::MAX as u64) as i64).into());
        let items = self
            .reader
            .query_all_raw(self.stmt(
                &format!(
                    "SELECT {SECRET_COLUMNS} FROM secrets{filter_sql} ORDER BY name \
                     LIMIT ${} OFFSET ${}",
                    n + 1,
                    n + 2
                ),
                values,
            ))
            .await
            .map_err(db_error)?
            .iter()
            .map(secret)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page {
            items,
            total,
            limit: page.limit(),
            offset: page.offset(),
        })
    }

    async fn versions(&self, name: &str) -> Result<Vec<SecretVersion>> {
        self.reader
            .query_all_raw(self.stmt(
                "SELECT name, version, created_by, created_at FROM secret_versions \
                 WHERE name = $1 ORDER BY version DESC",
                vec![name.into()],
            ))
            .await
            .map_err(db_error)?
            .iter()
            .map(secret_version)
            .collect()
    }

    async fn delete(&self, name: &str) -> Result<u64> {
        let txn = self.begin().await?;
        txn.execute_raw(self.stmt("DELETE FROM secret_keys WHERE name = $1", vec![name.into()]))
            .await
            .map_err(db_error)?;
        let versions = txn
            .execute_raw(self.stmt(
                "DELETE FROM secret_versions WHERE name = $1",
                vec![name.into()],
            ))
            .await
            .map_err(db_error)?
            .rows_affected();
        txn.execute_raw(self.stmt("DELETE FROM secrets WHERE name = $1", vec![name.into()]))
            .await
            .map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        Ok(versions)
    }

    async fn prune(&self, name: &str, keep_latest: u32) -> Result<u64> {
        let txn = self.begin().await?;
        let Some(current) = one_secret(&txn, self.backend(), name).await? else {
            return Err(Error::not_found("secret", name));
        };
        let cutoff = i64::from(current.version) - i64::from(keep_latest.max(1));
        txn.execute_raw(self.stmt(
            "DELETE FROM secret_keys WHERE name = $1 AND version <= $2",
            vec![name.into(), cutoff.into()],
        ))
        .await
        .map_err(db_error)?;
        let removed = txn
            .execute_raw(self.stmt(
                "DELETE FROM secret_versions WHERE name = $1 AND version <= $2",
                vec![name.into(), cutoff.into()],
            ))
            .await
            .map_err(db_error)?
            .rows_affected();
        txn.commit().await.map_err(db_error)?;
        Ok(removed)
    }

    async fn rewrap_all(
        &self,
        from: &str,
        to: &MasterKeyCheck,
        retire: &[String],
        rewrap: &RewrapFn,
    ) -> Result<u64> {
        let txn = self.begin().await?;
        let keys = self.locked_keys(&txn, "FOR UPDATE").await?;
        let Some((current, current_seq)) = keys.last().cloned() else {
            return Err(Error::Conflict(
                "no master key is installed in the database".into(),
            ));
        };
        if current != from {
            return Err(Error::Conflict(format!(
                "master key {from} is not the current key ({current} is); rotate from the \
                 current key"
            )));
        }
        if keys.iter().any(|(id, _)| *id == to.id) {
            return Err(Error::Conflict(format!(
                "master key {} has been installed before; use a new key",
                to.id
            )));
        }
        if retire.iter().any(|id| *id == from) {
            return Err(Error::Conflict(
                "a rotation cannot retire the key it rotates from".into(),
            ));
        }
        let wrapped = txn
            .query_all_raw(self.stmt(
                "SELECT name, version, master_key_id, wrapped FROM secret_keys \
                 WHERE master_key_id = $1 ORDER BY name, version",
                vec![from.into()],
            ))
            .await
            .map_err(db_error)?;
        let count = txn
            .query_one_raw(self.stmt("SELECT COUNT(*) AS n FROM secret_versions", vec![]))
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::Storage("COUNT returned no row".into()))?;
        let versions = get::<i64>(&count, "n")?.max(0) as usize;
        if wrapped.len() != versions {
            return Err(Error::Conflict(format!(
                "{} of {versions} secret versions have no data key wrapped by the current master \
                 key {from}; nothing was rotated",
                versions.saturating_sub(wrapped.len())
            )));
        }
        txn.execute_raw(self.stmt(
            "INSERT INTO secret_master_keys (id, seq, key_check, created_at) \
             VALUES ($1, $2, $3, $4)",
            vec![
                to.id.clone().into(),
                (current_seq + 1).into(),
                to.check.clone().into(),
                at(to.created_at),
            ],
        ))
        .await
        .map_err(db_error)?;
        for row in &wrapped {
            let key = WrappedDataKey {
                name: get(row, "name")?,
                version: version_of(row, "version")?,
                master_key_id: get(row, "master_key_id")?,
                wrapped: get(row, "wrapped")?,
            };
            let rewrapped = rewrap(&key)?;
            txn.execute_raw(self.stmt(
                "INSERT INTO secret_keys (name, version, master_key_id, wrapped) \
                 VALUES ($1, $2, $3, $4)",
                vec![
                    key.name.into(),
                    i64::from(key.version).into(),
                    to.id.clone().into(),
                    rewrapped.into(),
                ],
            ))
            .await
            .map_err(db_error)?;
        }
        for old in retire {
            txn.execute_raw(self.stmt(
                "DELETE FROM secret_keys WHERE master_key_id = $1",
                vec![old.clone().into()],
            ))
            .await
            .map_err(db_error)?;
            txn.execute_raw(self.stmt(
                "DELETE FROM secret_master_keys WHERE id = $1",
                vec![old.clone().into()],
            ))
            .await
            .map_err(db_error)?;
        }
        txn.commit().await.map_err(db_error)?;
        Ok(wrapped.len() as u64)
    }

    async fn retire_key(&self, master_key_id: &str) -> Result<u64> {
        let txn = self.begin().await?;
        let keys = self.locked_keys(&txn, "FOR UPDATE").await?;
        if !keys.iter().any(|(id, _)| id == master_key_id) {
            return Err(Error::not_found("master key", master_key_id));
        }
        if keys.last().is_some_and(|(id, _)| id == master_key_id) {
            return Err(Error::Conflict(format!(
                "master key {master_key_id} is the current key; rotate to a new key first"
            )));
        }
        let orphans = txn
            .query_one_raw(self.stmt(
                "SELECT COUNT(*) AS n FROM secret_versions v WHERE NOT EXISTS ( \
                   SELECT 1 FROM secret_keys k WHERE k.name = v.name \
                   AND k.version = v.version AND k.master_key_id <> $1)",
                vec![master_key_id.into()],
            ))
            .await
            .map_err(db_error)?
            .ok_or_else(|| Error::Storage("COUNT returned no row".into()))?;
        let orphans = get::<i64>(&orphans, "n")?;
        if orphans > 0 {
            return Err(Error::Conflict(format!(
                "{orphans} secret versions are wrapped only by master key {master_key_id}; \
                 retiring it would make them unreadable"
            )));
        }
        let removed = txn
            .execute_raw(self.stmt(
                "DELETE FROM secret_keys WHERE master_key_id = $1",
                vec![master_key_id.into()],
            ))
            .await
            .map_err(db_error)?
            .rows_affected();
        txn.execute_raw(self.stmt(
            "DELETE FROM secret_master_keys WHERE id = $1",
            vec![master_key_id.into()],
        ))
        .await
        .map_err(db_error)?;
        txn.commit().await.map_err(db_error)?;
        Ok(removed)
    }
}
