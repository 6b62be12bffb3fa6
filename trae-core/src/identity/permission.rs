//! Permissions (`resource:action` strings) and the built-in roles that bundle them.
//!
//! The decision whether a principal holds a permission is made in one place, in trae-auth;
//! this module defines what a permission is and what each built-in role grants.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A permission, `resource:action`, both parts lowercase `[a-z][a-z0-9_]*` of 1–32 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Permission(String);

fn valid_part(part: &str) -> bool {
    let mut chars = part.chars();
    (1..=32).contains(&part.len())
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Permission {
    /// A permission from a name written in code, such as a [`CATALOGUE`] entry; a malformed
    /// name is a bug, caught by debug builds and the catalogue test.
    pub fn from_static(name: &'static str) -> Self {
        debug_assert!(name.parse::<Self>().is_ok(), "malformed permission {name}");
        Self(name.to_owned())
    }

    /// The permission as written, e.g. `pets:read`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The resource part, e.g. `pets`.
    pub fn resource(&self) -> &str {
        self.0.split_once(':').map_or("", |(r, _)| r)
    }

    /// The action part, e.g. `read`.
    pub fn action(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, a)| a)
    }
}

impl FromStr for Permission {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.split_once(':') {
            Some((resource, action)) if valid_part(resource) && valid_part(action) => {
                Ok(Self(s.to_owned()))
            }
            _ => Err(Error::validation(
                "permission",
                format!("must be resource:action in lowercase letters, digits and _, got {s:?}"),
            )),
        }
    }
}

impl TryFrom<String> for Permission {
    type Error = Error;

    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Permission> for String {
    fn from(p: Permission) -> Self {
        p.0
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Every permission trae itself checks. Later capabilities add theirs here and grant them to
/// built-in roles in their migrations.
pub const CATALOGUE: &[&str] = &[
    "pets:read",
    "pets:write",
    "tasks:read",
    "tasks:write",
    "tasks:read_all",
    "tasks:admin",
    "apis:read",
    "apis:call",
    "apis:admin",
    "metrics:read",
    "content:read",
    "content:write",
    "content:review",
    "secrets:read",
    "secrets:write",
    "secrets:reveal",
    "secrets:use",
    "users:admin",
    "policy:admin",
    "audit:read",
    "backups:admin",
    "alerts:admin",
    "llm:use",
    "agents:run",
    "agents:admin",
];

/// Reads the audit log (and its topic on the event stream).
pub const AUDIT_READ: &str = "audit:read";

/// Takes, lists and restores backups: a backup holds every row of the database.
pub const BACKUPS_ADMIN: &str = "backups:admin";

/// The names of the built-in roles, least privileged first.
pub const BUILT_IN_ROLES: [&str; 4] = ["viewer", "user", "developer", "admin"];

/// The role that holds every permission, resolved at check time.
pub const ADMIN_ROLE: &str = "admin";

/// What a built-in role grants beyond the role below it (`admin` grants everything).
fn grants_of(role: &str) -> &'static [&'static str] {
    match role {
        "viewer" => &[
            "pets:read",
            "tasks:read",
            "apis:read",
            "metrics:read",
            "content:read",
        ],
        "user" => &[
            "pets:write",
            "tasks:write",
            "apis:call",
            "content:write",
            "llm:use",
        ],
        "developer" => &[
            "apis:admin",
            "secrets:read",
            "secrets:write",
            "content:review",
            "agents:run",
        ],
        _ => &[],
    }
}

/// The permissions of a built-in role other than `admin`, including those it inherits; `None`
/// for a name that is not a built-in role.
pub fn built_in_permissions(role: &str) -> Option<BTreeSet<Permission>> {
    let rank = BUILT_IN_ROLES.iter().position(|r| *r == role)?;
    let names = BUILT_IN_ROLES[..=rank]
        .iter()
        .flat_map(|r| grants_of(r).iter())
        .copied();
    let mut set = BTreeSet::new();
    if role == ADMIN_ROLE {
        set.extend(CATALOGUE.iter().map(|p| Permission((*p).to_owned())));
    } else {
        set.extend(names.map(|p| Permission(p.to_owned())));
    }
    Some(set)
}

/// Decides whether a principal holds a permission: the port through which a service in this
/// crate enforces a rule about who may act (trae-auth's `Rbac` implements it).
#[async_trait::async_trait]
pub trait Authorizer: Send + Sync + 'static {
    /// `Ok` when `principal` holds `needed`, else `Forbidden` naming the permission.
    async fn authorize(&self, principal: &crate::Principal, needed: &Permission) -> Result<()>;
}

/// The permission check a service holds: its [`Authorizer`] (by default [`SystemOnly`]) and one
/// call that asks it about a permission named in the service's code.
#[derive(Clone)]
pub struct Gate(std::sync::Arc<dyn Authorizer>);

impl Default for Gate {
    fn default() -> Self {
        Self(std::sync::Arc::new(SystemOnly))
    }
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").finish_non_exhaustive()
    }
}

impl Gate {
    /// A gate asking `authorizer`.
    pub fn new(authorizer: std::sync::Arc<dyn Authorizer>) -> Self {
        Self(authorizer)
    }

    /// `Ok` when `principal` holds the permission `needed`, else `Forbidden` naming it.
    pub async fn check(&self, principal: &crate::Principal, needed: &'static str) -> Result<()> {
        self.0
            .authorize(principal, &Permission::from_static(needed))
            .await
    }

    /// Whether `principal` holds `needed`, for rules that widen or narrow what it sees; any
    /// error other than a refusal is passed on.
    pub async fn holds(&self, principal: &crate::Principal, needed: &'static str) -> Result<bool> {
        match self.check(principal, needed).await {
            Ok(()) => Ok(true),
            Err(Error::Forbidden(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }
}

/// An [`Authorizer`] that knows no roles: only the system principal is authorized. The
/// default for services used without an RBAC, such as Python acting as the system.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemOnly;

#[async_trait::async_trait]
impl Authorizer for SystemOnly {
    async fn authorize(&self, principal: &crate::Principal, needed: &Permission) -> Result<()> {
        match principal {
            crate::Principal::System => Ok(()),
            _ => Err(Error::Forbidden(format!(
                "this needs the permission {needed}, and no role authority is configured"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(set: &BTreeSet<Permission>) -> Vec<&str> {
        set.iter().map(Permission::as_str).collect()
    }

    #[test]
    fn permissions_parse_as_resource_and_action() {
        let p: Permission = "pets:read".parse().unwrap();
        assert_eq!((p.resource(), p.action()), ("pets", "read"));
        for bad in [
            "pets",
            "Pets:read",
            "pets:",
            ":read",
            "pets:read:all",
            "pe ts:read",
            "1pets:read",
        ] {
            assert!(bad.parse::<Permission>().is_err(), "{bad}");
        }
    }

    #[test]
    fn every_catalogue_entry_is_a_valid_permission() {
        for p in CATALOGUE {
            p.parse::<Permission>().unwrap();
        }
    }

    #[test]
    fn built_in_roles_inherit_upwards() {
        let viewer = built_in_permissions("viewer").unwrap();
        let user = built_in_permissions("user").unwrap();
        let developer = built_in_permissions("developer").unwrap();
        assert_eq!(
            names(&viewer),
            [
                "apis:read",
                "content:read",
                "metrics:read",
                "pets:read",
                "tasks:read"
            ]
        );
        assert!(viewer.is_subset(&user) && user.is_subset(&developer));
        assert!(user.contains(&"pets:write".parse().unwrap()));
        assert!(!user.contains(&"secrets:read".parse().unwrap()));
        assert!(developer.contains(&"content:review".parse().unwrap()));
        assert!(!developer.contains(&"users:admin".parse().unwrap()));
        let admin = built_in_permissions("admin").unwrap();
        assert_eq!(admin.len(), CATALOGUE.len());
        assert!(built_in_permissions("root").is_none());
    }
}

/// A role as policy administration sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Unique name, 2–32 characters of `[a-z0-9_-]`.
    pub name: String,
    /// What the role is for.
    pub description: String,
    /// Whether trae defines it (built-in roles cannot be deleted).
    pub built_in: bool,
    /// What it grants (empty for `admin`, which holds everything).
    pub permissions: BTreeSet<Permission>,
}

/// The longest role description.
pub const ROLE_DESCRIPTION_MAX_CHARS: usize = 500;

/// Validates a role name (2–32 characters of `[a-z0-9_-]`, starting with a letter).
pub fn check_role_name(name: &str) -> Result<String> {
    let name = name.trim();
    let ok = (2..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(Error::validation(
            "name",
            "must be 2–32 characters of a-z, 0-9, _ and -, starting with a letter",
        ))
    }
}

/// Validates a role description and returns it trimmed.
pub fn check_role_description(description: &str) -> Result<String> {
    let description = description.trim();
    if description.chars().count() > ROLE_DESCRIPTION_MAX_CHARS
        || description.chars().any(char::is_control)
    {
        return Err(Error::validation(
            "description",
            format!("must be at most {ROLE_DESCRIPTION_MAX_CHARS} printable characters"),
        ));
    }
    Ok(description.to_owned())
}

/// Parses permission names, each of which must be in [`CATALOGUE`], so a typo is an error
/// rather than a grant that never matches.
pub fn known_permissions(names: &[String]) -> Result<BTreeSet<Permission>> {
    names
        .iter()
        .map(|name| {
            let permission: Permission = name.parse()?;
            if CATALOGUE.contains(&permission.as_str()) {
                Ok(permission)
            } else {
                Err(Error::validation(
                    "permissions",
                    format!("no permission named {name:?}; see /api/policy/permissions"),
                ))
            }
        })
        .collect()
}

/// Storage of roles and their permissions.
#[async_trait::async_trait]
pub trait RoleRepository: Send + Sync + 'static {
    /// Every role, by name.
    async fn list(&self) -> Result<Vec<Role>>;
    /// One role.
    async fn get(&self, name: &str) -> Result<Option<Role>>;
    /// The permissions granted to each of `names` that exists.
    async fn permissions_of(&self, names: &[String]) -> Result<BTreeSet<Permission>>;
    /// Stores a new role; `Conflict` when the name is taken.
    async fn create(&self, role: &Role) -> Result<()>;
    /// Replaces a role's description and, when given, its permissions; `NotFound` if absent.
    async fn update(
        &self,
        name: &str,
        description: Option<&str>,
        permissions: Option<&BTreeSet<Permission>>,
    ) -> Result<Role>;
    /// Deletes a role; `NotFound` if absent, `Conflict` while users hold it.
    async fn delete(&self, name: &str) -> Result<()>;
}
