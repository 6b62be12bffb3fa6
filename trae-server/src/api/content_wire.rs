//! The content domain's wire types, shared by the channels, personas, evidence and
//! contradictions routers: its enums as OpenAPI enums, and the conversions between the
//! OpenAPI bodies and trae-core's types.
//!
//! The bodies mirror trae-core's serde shapes field for field, so a conversion is a trip
//! through JSON: a request body becomes the core input type by serde (whose rules and
//! messages stay in trae-core), and a core record becomes its response body the same way.

use poem_openapi::Enum;
use poem_openapi::types::{ParseFromJSON, ToJSON};
use serde::Serialize;
use serde::de::DeserializeOwned;
use trae_core::Error;

use crate::ApiError;

/// Declares an OpenAPI enum over a trae-core enum with the same variant names.
macro_rules! api_enum {
    ($(#[$meta:meta])* $Body:ident => $Core:path, $name:literal, { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
        #[oai(rename = $name, rename_all = "snake_case")]
        pub enum $Body {
            $($(#[$vmeta])* $variant),+
        }

        impl From<$Body> for $Core {
            fn from(b: $Body) -> Self {
                match b {
                    $($Body::$variant => <$Core>::$variant),+
                }
            }
        }
    };
}

api_enum!(
    /// Where a channel publishes.
    PlatformBody => trae_core::content::Platform, "Platform", {
        /// YouTube.
        Youtube,
        /// Twitter / X.
        Twitter,
        /// TikTok.
        Tiktok,
        /// Instagram.
        Instagram,
        /// A blog.
        Blog,
        /// A podcast.
        Podcast,
        /// A newsletter.
        Newsletter,
        /// Anything else.
        Other,
    }
);

api_enum!(
    /// The words a persona may use.
    VocabularyLevelBody => trae_core::content::VocabularyLevel, "VocabularyLevel", {
        /// Plain everyday words.
        Basic,
        /// Common words; terms of art explained.
        Intermediate,
        /// Precise vocabulary; specialist terms defined.
        Advanced,
        /// The field's full vocabulary.
        Expert,
    }
);

api_enum!(
    /// What kind of source a piece of evidence is.
    EvidenceTypeBody => trae_core::content::EvidenceType, "EvidenceType", {
        /// Someone's words.
        Quote,
        /// A number with a source.
        Statistic,
        /// An established fact.
        Fact,
        /// A document.
        Document,
        /// A study or paper.
        Study,
        /// A news report.
        News,
        /// A video.
        Video,
        /// A witness's account.
        Testimony,
        /// Anything else.
        Other,
    }
);

api_enum!(
    /// Who made the statements.
    SubjectTypeBody => trae_core::content::SubjectType, "SubjectType", {
        /// A private person.
        Person,
        /// A company or institution.
        Organization,
        /// A newspaper, magazine or site.
        Publication,
        /// An elected or appointed official.
        Politician,
        /// A public figure.
        Celebrity,
        /// A social-media personality.
        Influencer,
    }
);

api_enum!(
    /// Where a record stands in review.
    VerificationStatusBody => trae_core::content::VerificationStatus, "VerificationStatus", {
        /// Not reviewed yet.
        Pending,
        /// A reviewer confirmed it.
        Verified,
        /// A reviewer found it contested.
        Disputed,
        /// A reviewer found it false.
        Debunked,
    }
);

api_enum!(
    /// How two statements conflict.
    ContradictionTypeBody => trae_core::content::contradiction::ContradictionType, "ContradictionType", {
        /// One says what the other denies.
        Direct,
        /// The statements conflict only in context.
        Contextual,
        /// The statements conflict about when.
        Temporal,
        /// The subject's values changed.
        Value,
        /// The subject's policy position changed.
        PolicyShift,
        /// The subject told different audiences different things.
        AudienceBased,
    }
);

/// A request body as the trae-core input type it mirrors.
pub(crate) fn input<B: ToJSON, T: DeserializeOwned>(body: &B) -> Result<T, ApiError> {
    let json = body.to_json().unwrap_or_default();
    serde_json::from_value(json).map_err(|e| Error::validation("body", e.to_string()).into())
}

/// A trae-core record as the response body that mirrors it.
pub(crate) fn output<T: Serialize, B: ParseFromJSON>(record: &T) -> Result<B, ApiError> {
    let json = serde_json::to_value(record)
        .map_err(|e| Error::Storage(format!("cannot present a record: {e}")))?;
    B::parse_from_json(Some(json)).map_err(|e| {
        Error::Storage(format!("cannot present a record: {}", e.into_message())).into()
    })
}

/// Every record of a page as response bodies.
pub(crate) fn outputs<T: Serialize, B: ParseFromJSON>(records: &[T]) -> Result<Vec<B>, ApiError> {
    records.iter().map(output).collect()
}

/// The delete answer every content router gives.
#[derive(Debug, poem_openapi::ApiResponse)]
pub enum Deleted {
    /// Deleted.
    #[oai(status = 204)]
    Deleted,
}
