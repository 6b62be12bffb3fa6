//! `/api/secrets`: the secrets vault.
//!
//! Lists, metadata and versions never carry a value; only `POST …/reveal` does, with
//! `Cache-Control: no-store`. Authorization (`secrets:read`, `secrets:write`,
//! `secrets:reveal`) and the audit trail (set, reveal, delete, prune and their denials) are the
//! vault's: handlers pass the caller's principal through.

use std::borrow::Cow;
use std::fmt;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ApiResponse, ExtractParamOptions};
use poem_openapi::{Object, OpenApi};
use trae_auth::{RequestMeta, SetSecret, Vault};
use trae_core::{Error, PageRequest, SecretFilter};

use super::ApiTags;
use super::json_body::JsonBody;
use super::page::Page;
use super::users::NoContent;
use crate::ApiError;
use crate::credentials::Auth;

/// The secrets router.
#[derive(Debug, Clone)]
pub struct SecretsApi {
    vault: Vault,
}

impl SecretsApi {
    /// A router over `vault`, which authorizes and audits every call itself.
    pub fn new(vault: Vault) -> Self {
        Self { vault }
    }
}

/// A secret's metadata; never its value.
#[derive(Debug, Clone, Object)]
#[oai(rename = "Secret")]
pub struct SecretBody {
    /// Unique name: 1–128 characters of A-Z, a-z, 0-9, `_`, `.`, `-`, not starting with `.`.
    pub name: String,
    /// The latest version (from 1).
    pub version: u32,
    /// What it is for.
    pub description: Option<String>,
    /// Labels, sorted and unique.
    pub tags: Vec<String>,
    /// Who set the first version (`user:<id>`, `api_key:<id>` or `system`).
    pub created_by: String,
    /// When the first version was set.
    pub created_at: DateTime<Utc>,
    /// When the latest version was set.
    pub updated_at: DateTime<Utc>,
}

impl From<trae_core::Secret> for SecretBody {
    fn from(s: trae_core::Secret) -> Self {
        Self {
            name: s.name,
            version: s.version,
            description: s.description,
            tags: s.tags,
            created_by: s.created_by,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// One stored version of a secret; never its value.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SecretVersion")]
pub struct SecretVersionBody {
    /// The secret's name.
    pub name: String,
    /// The version number.
    pub version: u32,
    /// Who set it.
    pub created_by: String,
    /// When it was set.
    pub created_at: DateTime<Utc>,
}

/// The stored versions of a secret.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SecretVersionList")]
pub struct SecretVersionList {
    /// The versions, newest first.
    pub items: Vec<SecretVersionBody>,
    /// How many there are.
    pub total: u64,
}

/// A secret value in a request: a JSON string and nothing else (poem-openapi's `String` would
/// turn a number into text, and a value must arrive exactly as sent). `Debug` is redacted.
#[derive(Clone)]
pub struct SecretText(pub String);

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText([redacted])")
    }
}

impl Type for SecretText {
    const IS_REQUIRED: bool = true;

    type RawValueType = Self;

    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema::new("string")))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for SecretText {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        match value {
            Some(serde_json::Value::String(text)) => Ok(Self(text)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for SecretText {
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::Value::String(self.0.clone()))
    }
}

/// A new value for a secret.
#[derive(Debug, Clone, Object)]
#[oai(rename = "SetSecret", deny_unknown_fields)]
pub struct SetSecretBody {
    /// The value: 1 byte to 64 KiB of UTF-8 text, as a JSON string.
    pub value: SecretText,
    /// A new description (`""` clears it); absent keeps the current one.
    pub description: Option<String>,
    /// New tags (each 1–64 characters of A-Z, a-z, 0-9, `_`, `.`, `:`, `-`; at most 32);
    /// absent keeps the current ones.
    pub tags: Option<Vec<String>>,
}

/// Which version to reveal.
#[derive(Debug, Clone, Object)]
#[oai(rename = "RevealSecret", deny_unknown_fields)]
pub struct RevealBody {
    /// The version (default: the latest).
    pub version: Option<u32>,
}

/// Versions to keep.
#[derive(Debug, Clone, Object)]
#[oai(rename = "PruneSecret", deny_unknown_fields)]
pub struct PruneBody {
    /// How many of the newest versions to keep (at least 1; default 1).
    pub keep: Option<u32>,
}

/// What a prune removed.
#[derive(Debug, Clone, Object)]
#[oai(rename = "PrunedSecret")]
pub struct PrunedBody {
    /// The secret's name.
    pub name: String,
    /// How many versions went.
    pub removed: u64,
    /// How many of the newest versions were kept (at most).
    pub kept: u32,
}

/// A revealed value.
#[derive(Clone, Object)]
#[oai(rename = "RevealedSecret")]
pub struct RevealedBody {
    /// The secret's name.
    pub name: String,
    /// The version revealed.
    pub version: u32,
    /// The value.
    pub value: String,
    /// Who set this version.
    pub created_by: String,
    /// When this version was set.
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for RevealedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevealedBody")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A revealed value, never to be cached.
#[derive(Debug, ApiResponse)]
pub enum Revealed {
    /// The value, with `Cache-Control: no-store`.
    #[oai(status = 200)]
    Ok(Json<RevealedBody>, #[oai(header = "Cache-Control")] String),
}

/// A JSON body that may be left out entirely (no body and no `Content-Type`): then `None`.
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<'a, T: ParseFromJSON + 'static> ApiExtractor<'a> for OptionalJson<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: Json::<T>::CONTENT_TYPE,
                schema: T::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let bytes = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        match request.content_type() {
            Some(content_type) if Json::<T>::check_content_type(content_type) => {}
            Some(content_type) => {
                return Err(poem_openapi::error::ContentTypeError::NotSupported {
                    content_type: content_type.to_owned(),
                }
                .into());
            }
            None => return Err(poem_openapi::error::ContentTypeError::ExpectContentType.into()),
        }
        Ok(Self(Some(super::json_body::parse(&bytes)?)))
    }
}

#[OpenApi(tag = "ApiTags::Secrets")]
impl SecretsApi {
    /// List secrets
    ///
    /// Metadata only, by name; needs `secrets:read`. Filter by name `prefix` and `tag`; page
    /// with `limit` (1–500, default 50) and `offset`.
    #[oai(path = "/api/secrets", method = "get", operation_id = "list_secrets")]
    async fn list(
        &self,
        auth: Auth,
        prefix: Query<Option<String>>,
        tag: Query<Option<String>>,
        limit: Query<Option<i64>>,
        offset: Query<Option<i64>>,
    ) -> Result<Json<Page<SecretBody>>, ApiError> {
        let page = PageRequest::new(limit.0, offset.0)?;
        let filter = SecretFilter {
            prefix: prefix.0,
            tag: tag.0,
        };
        let page = self.vault.list(auth.principal(), &filter, page).await?;
        Ok(Json(page.into()))
    }

    /// Get a secret's metadata
    ///
    /// Never the value; needs `secrets:read`.
    #[oai(
        path = "/api/secrets/:name",
        method = "get",
        operation_id = "get_secret"
    )]
    async fn get(&self, auth: Auth, name: Path<String>) -> Result<Json<SecretBody>, ApiError> {
        let secret = self.vault.describe(auth.principal(), &name.0).await?;
        Ok(Json(secret.into()))
    }

    /// List a secret's versions
    ///
    /// Newest first, without values; needs `secrets:read`.
    #[oai(
        path = "/api/secrets/:name/versions",
        method = "get",
        operation_id = "list_secret_versions"
    )]
    async fn versions(
        &self,
        auth: Auth,
        name: Path<String>,
    ) -> Result<Json<SecretVersionList>, ApiError> {
        let versions = self.vault.versions(auth.principal(), &name.0).await?;
        Ok(Json(SecretVersionList {
            total: versions.len() as u64,
            items: versions
                .into_iter()
                .map(|v| SecretVersionBody {
                    name: v.name,
                    version: v.version,
                    created_by: v.created_by,
                    created_at: v.created_at,
                })
                .collect(),
        }))
    }

    /// Set a secret's value
    ///
    /// Adds a version (1 for a new secret) and answers with the metadata; needs
    /// `secrets:write`. Audited without the value.
    #[oai(
        path = "/api/secrets/:name",
        method = "put",
        operation_id = "set_secret"
    )]
    async fn set(
        &self,
        auth: Auth,
        name: Path<String>,
        body: JsonBody<SetSecretBody>,
        meta: Data<&RequestMeta>,
    ) -> Result<Json<SecretBody>, ApiError> {
        let b = body.0;
        let input = SetSecret {
            value: b.value.0.into(),
            description: b.description,
            tags: b.tags,
        };
        let secret = self
            .vault
            .set(auth.principal(), &name.0, input, &meta)
            .await?;
        Ok(Json(secret.into()))
    }

    /// Reveal a secret's value
    ///
    /// The latest version, or `version`; needs `secrets:reveal` and is audited (name and
    /// version only). The body may be left out. Answers with `Cache-Control: no-store`; a
    /// value that is not UTF-8 text (set through the library) is 409.
    #[oai(
        path = "/api/secrets/:name/reveal",
        method = "post",
        operation_id = "reveal_secret"
    )]
    async fn reveal(
        &self,
        auth: Auth,
        name: Path<String>,
        body: OptionalJson<RevealBody>,
        meta: Data<&RequestMeta>,
    ) -> Result<Revealed, ApiError> {
        let version = body.0.and_then(|b| b.version);
        let revealed = self
            .vault
            .get(auth.principal(), &name.0, version, &meta)
            .await?;
        let value = revealed.value.expose_str().map_err(|_| {
            Error::Conflict(format!(
                "secret {} version {} is not UTF-8 text and cannot be revealed as JSON; read it \
                 with `trae secrets get` or the library",
                revealed.name, revealed.version
            ))
        })?;
        Ok(Revealed::Ok(
            Json(RevealedBody {
                value: value.to_owned(),
                name: revealed.name,
                version: revealed.version,
                created_by: revealed.created_by,
                created_at: revealed.created_at,
            }),
            "no-store".to_owned(),
        ))
    }

    /// Delete a secret
    ///
    /// With every version; needs `secrets:write`. Audited.
    #[oai(
        path = "/api/secrets/:name",
        method = "delete",
        operation_id = "delete_secret"
    )]
    async fn delete(
        &self,
        auth: Auth,
        name: Path<String>,
        meta: Data<&RequestMeta>,
    ) -> Result<NoContent, ApiError> {
        self.vault.delete(auth.principal(), &name.0, &meta).await?;
        Ok(NoContent::Done)
    }

    /// Prune old versions
    ///
    /// Removes all but the `keep` newest versions (default 1); needs `secrets:write`. The body
    /// may be left out. Audited.
    #[oai(
        path = "/api/secrets/:name/prune",
        method = "post",
        operation_id = "prune_secret"
    )]
    async fn prune(
        &self,
        auth: Auth,
        name: Path<String>,
        body: OptionalJson<PruneBody>,
        meta: Data<&RequestMeta>,
    ) -> Result<Json<PrunedBody>, ApiError> {
        let keep = body.0.and_then(|b| b.keep).unwrap_or(1);
        let removed = self
            .vault
            .prune(auth.principal(), &name.0, keep, &meta)
            .await?;
        Ok(Json(PrunedBody {
            name: name.0,
            removed,
            kept: keep,
        }))
    }
}
