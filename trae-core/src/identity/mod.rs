//! Identity: users, sessions, API keys and lockout, principals and permissions, the audit
//! log and the vault's records; and here, the rules for who a user is (usernames, emails,
//! display names and password policy).
//!
//! Hashing, tokens and encryption live in trae-auth; these checks run before anything is
//! hashed or stored.

pub mod api_key;
pub mod audit;
pub mod lockout;
pub mod permission;
pub mod principal;
pub mod secret;
pub mod session;
pub mod user;
use crate::{Error, Result};

/// The shortest username.
pub const USERNAME_MIN: usize = 3;
/// The longest username.
pub const USERNAME_MAX: usize = 32;
/// The shortest password the policy accepts.
pub const PASSWORD_MIN_CHARS: usize = 10;
/// The longest password accepted; argon2 input is bounded so a huge body cannot cost much.
pub const PASSWORD_MAX_CHARS: usize = 256;
/// The longest full name.
pub const FULL_NAME_MAX: usize = 100;
/// The longest email address (RFC 5321's limit on a path).
pub const EMAIL_MAX: usize = 254;

/// Validates a username and returns its canonical (lowercase) form: 3–32 characters of
/// `[a-z0-9_.-]`, compared case-insensitively.
pub fn canonical_username(raw: &str) -> Result<String> {
    let name = raw.trim().to_ascii_lowercase();
    let len = name.chars().count();
    if !(USERNAME_MIN..=USERNAME_MAX).contains(&len) {
        return Err(Error::validation(
            "username",
            format!("must be {USERNAME_MIN}–{USERNAME_MAX} characters, got {len}"),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(*c)))
    {
        return Err(Error::validation(
            "username",
            format!("may contain only a-z, 0-9, '_', '.' and '-'; found {bad:?}"),
        ));
    }
    Ok(name)
}

/// Validates an email address and returns it in canonical form (trimmed, lowercase), which is
/// what uniqueness compares.
pub fn canonical_email(raw: &str) -> Result<String> {
    let email = raw.trim().to_lowercase();
    if email.len() > EMAIL_MAX {
        return Err(Error::validation(
            "email",
            format!("must be at most {EMAIL_MAX} characters"),
        ));
    }
    match email_address::EmailAddress::parse_with_options(
        &email,
        email_address::Options::default()
            .without_display_text()
            .without_domain_literal(),
    ) {
        Ok(_) if email.contains('.') => Ok(email),
        _ => Err(Error::validation(
            "email",
            format!("is not a valid address: {raw:?}"),
        )),
    }
}

/// Validates an optional full name and returns it trimmed (`None` when blank).
pub fn clean_full_name(raw: Option<&str>) -> Result<Option<String>> {
    let Some(name) = raw.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > FULL_NAME_MAX {
        return Err(Error::validation(
            "full_name",
            format!("must be at most {FULL_NAME_MAX} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::validation(
            "full_name",
            "must not contain control characters",
        ));
    }
    Ok(Some(name.to_owned()))
}

/// Passwords too common to accept whatever their length: the most frequent entries of
/// public breach corpora that are at least ten characters long.
const COMMON_PASSWORDS: &[&str] = &[
    "1234567890",
    "12345678910",
    "123456789a",
    "0123456789",
    "1q2w3e4r5t",
    "1qaz2wsx3edc",
    "abcd123456",
    "abc1234567",
    "password12",
    "password123",
    "password1234",
    "passw0rd123",
    "p@ssw0rd123",
    "qwertyuiop",
    "qwerty12345",
    "qwerty123456",
    "1q2w3e4r5t6y",
    "asdfghjkl1",
    "zaq12wsxcde",
    "iloveyou12",
    "iloveyou123",
    "football123",
    "baseball123",
    "princess123",
    "sunshine123",
    "welcome123",
    "welcome1234",
    "letmein123",
    "letmein1234",
    "adminadmin",
    "admin12345",
    "administrator",
    "changeme123",
    "trustno1234",
    "monkey12345",
    "dragon12345",
    "superman123",
    "starwars123",
    "computer123",
    "michael123",
    "0987654321",
    "1111111111",
    "0000000000",
    "aaaaaaaaaa",
    "qazwsxedcrfv",
    "zxcvbnm123",
    "mypassword",
    "mypassword1",
    "secret1234",
    "trae123456",
];

/// Checks a new password against the policy: 10–256 characters, not containing the username,
/// not a common password.
pub fn check_password_policy(password: &str, username: &str) -> Result<()> {
    let len = password.chars().count();
    if len < PASSWORD_MIN_CHARS {
        return Err(Error::validation(
            "password",
            format!("must be at least {PASSWORD_MIN_CHARS} characters"),
        ));
    }
    if len > PASSWORD_MAX_CHARS {
        return Err(Error::validation(
            "password",
            format!("must be at most {PASSWORD_MAX_CHARS} characters"),
        ));
    }
    let lowered = password.to_lowercase();
    let username = username.trim().to_lowercase();
    if !username.is_empty() && lowered.contains(&username) {
        return Err(Error::validation(
            "password",
            "must not contain the username",
        ));
    }
    if COMMON_PASSWORDS.contains(&lowered.as_str()) {
        return Err(Error::validation(
            "password",
            "is too common; choose a less guessable one",
        ));
    }
    Ok(())
}

/// The storage identity runs on: every repository the identity services need.
#[derive(Clone)]
pub struct IdentityRepos {
    /// Users.
    pub users: std::sync::Arc<dyn crate::UserRepository>,
    /// Sessions and refresh tokens.
    pub sessions: std::sync::Arc<dyn crate::SessionRepository>,
    /// Roles and their permissions.
    pub roles: std::sync::Arc<dyn crate::identity::permission::RoleRepository>,
    /// API keys.
    pub api_keys: std::sync::Arc<dyn crate::ApiKeyRepository>,
    /// The audit log.
    pub audit: crate::AuditLog,
}

impl std::fmt::Debug for IdentityRepos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityRepos").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_canonical_lowercase_within_bounds() {
        assert_eq!(canonical_username(" Alice.B-2_ ").unwrap(), "alice.b-2_");
        for bad in ["ab", &"a".repeat(33), "al ice", "alice!", "ålice", ""] {
            let err = canonical_username(bad).unwrap_err();
            assert!(
                matches!(err, Error::Validation { ref field, .. } if field == "username"),
                "{bad}"
            );
        }
        assert!(canonical_username(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn emails_are_validated_and_lowercased() {
        assert_eq!(
            canonical_email(" Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        for bad in [
            "alice",
            "alice@",
            "@example.com",
            "alice@localhost",
            "a b@example.com",
            "Alice <a@example.com>",
        ] {
            assert!(canonical_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn full_names_are_optional_and_bounded() {
        assert_eq!(
            clean_full_name(Some("  Ada Lovelace ")).unwrap().as_deref(),
            Some("Ada Lovelace")
        );
        assert_eq!(clean_full_name(Some("   ")).unwrap(), None);
        assert_eq!(clean_full_name(None).unwrap(), None);
        assert!(clean_full_name(Some(&"x".repeat(101))).is_err());
    }

    #[test]
    fn password_policy_rejects_short_personal_and_common_passwords() {
        assert!(check_password_policy("correct horse battery", "alice").is_ok());
        let rule = |pw: &str| check_password_policy(pw, "alice").unwrap_err().to_string();
        assert!(rule("short").contains("at least 10"));
        assert!(rule("my-ALICE-password-9").contains("username"));
        assert!(rule("Password123").contains("too common"));
        assert!(rule(&"x".repeat(257)).contains("at most"));
        // Ten characters is enough when nothing else is wrong.
        assert!(check_password_policy("kq8#vz!m2p", "alice").is_ok());
    }
}
