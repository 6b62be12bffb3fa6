"""The blocking identity API (auth, users, API keys, policy, audit), on SQLite and PostgreSQL.

The rules themselves are tested in trae-auth; these tests check that the binding reaches
them, maps their answers to Python values and their errors to the right exceptions.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

import trae

UTC = dt.timezone.utc
PASSWORD = "correct horse battery"


def register(store: trae.Store, name: str = "alice", **kw) -> trae.User:
    return store.auth.register(name, f"{name}@example.com", PASSWORD, **kw)


def sign_in(store: trae.Store, name: str = "alice") -> tuple[trae.TokenPair, trae.Principal]:
    """Signs `name` in; returns the tokens and the principal the access token stands for."""
    pair = store.auth.login(name, PASSWORD)
    return pair, store.auth.authenticate(pair.access_token)


def make_admin(store: trae.Store, name: str = "root") -> trae.Principal:
    store.users.create(name, f"{name}@example.com", PASSWORD, ["admin"])
    return sign_in(store, name)[1]


# --- registration, sign-in, tokens ----------------------------------------------------------


def test_register_returns_the_canonical_user(store: trae.Store) -> None:
    before = dt.datetime.now(UTC)
    user = store.auth.register(" Alice ", "Alice@Example.COM", PASSWORD, full_name=" Alice A. ")

    assert isinstance(user, trae.User)
    assert isinstance(user.id, uuid.UUID) and user.id.version == 7
    assert (user.username, user.email, user.full_name) == ("alice", "alice@example.com", "Alice A.")
    assert user.roles == ["user"]
    assert user.is_active is True
    assert user.last_login_at is None
    for stamp in (user.created_at, user.updated_at):
        assert stamp.utcoffset() == dt.timedelta(0)
        assert stamp >= before - dt.timedelta(seconds=1)
    assert user.to_dict()["username"] == "alice"
    assert "password" not in user.to_dict()
    assert "alice" in repr(user) and PASSWORD not in repr(user)
    assert store.users.get(user.id) == user


def test_register_twice_is_a_conflict(store: trae.Store) -> None:
    register(store)
    with pytest.raises(trae.Conflict) as info:
        store.auth.register("ALICE", "other@example.com", PASSWORD)
    assert info.value.code == "conflict"
    with pytest.raises(trae.Conflict):
        store.auth.register("alice2", "alice@example.com", PASSWORD)


def test_login_returns_a_token_pair_with_the_user(store: trae.Store) -> None:
    user = register(store)
    pair = store.auth.login("alice", PASSWORD)

    assert isinstance(pair, trae.TokenPair)
    assert pair.token_type == "bearer"
    assert 0 < pair.expires_in <= 900
    assert isinstance(pair.session_id, uuid.UUID)
    assert pair.user is not None and pair.user.id == user.id
    assert pair.user.last_login_at is not None
    assert pair.access_token and pair.refresh_token and pair.access_token != pair.refresh_token
    shown = repr(pair)
    assert pair.access_token not in shown and pair.refresh_token not in shown
    assert "alice" in shown
    # The email works as the login too.
    again = store.auth.login("ALICE@example.com", PASSWORD)
    assert again.user is not None and again.user.id == user.id
    assert again.session_id != pair.session_id


def test_authenticate_an_access_token_gives_the_user_principal(store: trae.Store) -> None:
    user = register(store)
    pair, principal = sign_in(store)

    assert isinstance(principal, trae.Principal)
    assert principal.kind == "user"
    assert principal.user_id == user.id
    assert principal.username == "alice"
    assert principal.session_id == pair.session_id
    assert principal.roles == ["user"]
    assert principal.key_id is None and principal.scopes is None
    assert principal == store.auth.authenticate(pair.access_token)
    assert store.users.me(principal) == store.users.get(user.id)


@pytest.mark.parametrize("bad", ["", "nonsense", "a.b.c", "rt_refresh", "trae_notakey"])
def test_authenticate_rejects_what_is_not_a_credential(store: trae.Store, bad: str) -> None:
    with pytest.raises(trae.AuthError) as info:
        store.auth.authenticate(bad)
    assert info.value.code == "unauthorized"
    assert isinstance(info.value, trae.TraeError)


def test_refresh_rotates_and_a_reused_token_revokes_the_family(store: trae.Store) -> None:
    register(store)
    first = store.auth.login("alice", PASSWORD)
    second = store.auth.refresh(first.refresh_token)

    assert isinstance(second, trae.TokenPair)
    assert second.user is None
    assert second.session_id == first.session_id
    assert second.refresh_token != first.refresh_token
    assert store.auth.authenticate(second.access_token).user_id is not None

    with pytest.raises(trae.AuthError):
        store.auth.refresh(first.refresh_token)  # a replay
    # The whole family is gone: the newest refresh token and the access tokens too.
    with pytest.raises(trae.AuthError):
        store.auth.refresh(second.refresh_token)
    with pytest.raises(trae.AuthError):
        store.auth.authenticate(second.access_token)
    actions = [e.action for e in store.audit.list(action="auth.refresh_reuse")]
    assert actions == ["auth.refresh_reuse"]


def test_access_after_logout_fails(store: trae.Store) -> None:
    register(store)
    pair, _ = sign_in(store)
    other, _ = sign_in(store)

    assert store.auth.logout(pair.access_token) is None  # type: ignore[func-returns-value]
    with pytest.raises(trae.AuthError):
        store.auth.authenticate(pair.access_token)
    with pytest.raises(trae.AuthError):
        store.auth.refresh(pair.refresh_token)
    with pytest.raises(trae.AuthError):
        store.auth.logout(pair.access_token)
    # Other sessions are untouched.
    assert store.auth.authenticate(other.access_token).session_id == other.session_id


def test_wrong_password_and_unknown_user_fail_alike(store: trae.Store) -> None:
    register(store)
    with pytest.raises(trae.AuthError) as wrong:
        store.auth.login("alice", "not the password at all")
    with pytest.raises(trae.AuthError) as unknown:
        store.auth.login("nobody", "not the password at all")
    assert str(wrong.value) == str(unknown.value)
    assert wrong.value.code == unknown.value.code == "unauthorized"


def test_five_failures_lock_the_account(store: trae.Store) -> None:
    register(store)
    for _ in range(5):
        with pytest.raises(trae.AuthError):
            store.auth.login("alice", "wrong password here")

    # Locked whatever the password, and answering like a wrong password.
    with pytest.raises(trae.AuthError) as right:
        store.auth.login("alice", PASSWORD)
    assert right.value.code == "unauthorized"
    assert [e.outcome for e in store.audit.list(action="auth.lockout")] == ["success"]

    # An administrator's unlock opens it again.
    user = store.users.list(query="alice").items[0]
    store.users.update(user.id, unlock=True)
    signed_in = store.auth.login("alice", PASSWORD).user
    assert signed_in is not None and signed_in.id == user.id


# --- authorization --------------------------------------------------------------------------


def test_a_user_cannot_administer_users(store: trae.Store) -> None:
    user = register(store)
    _, alice = sign_in(store)

    with pytest.raises(trae.PermissionDenied) as info:
        store.users.list(alice)
    assert info.value.code == "forbidden"
    assert "users:admin" in str(info.value)
    for call in (
        lambda: store.users.get(user.id, alice),
        lambda: store.users.update(user.id, alice, roles=["admin"]),
        lambda: store.users.create("bob", "bob@example.com", PASSWORD, ["user"], principal=alice),
        lambda: store.users.revoke_sessions(user.id, principal=alice),
        lambda: store.users.delete(user.id, principal=alice),
        lambda: store.policy.roles(alice),
        lambda: store.audit.list(alice),
    ):
        with pytest.raises(trae.PermissionDenied):
            call()


def test_authorize_checks_one_permission(store: trae.Store) -> None:
    register(store)
    _, alice = sign_in(store)

    assert store.auth.authorize(alice, "pets:write") is None  # type: ignore[func-returns-value]
    with pytest.raises(trae.PermissionDenied):
        store.auth.authorize(alice, "users:admin")
    store.auth.authorize(trae.Principal.system(), "users:admin")
    with pytest.raises(trae.ValidationError) as info:
        store.auth.authorize(alice, "not a permission")
    assert info.value.field == "permission"


def test_the_system_principal(store: trae.Store) -> None:
    system = trae.Principal.system()
    assert system.kind == "system"
    assert (system.user_id, system.key_id, system.session_id, system.username) == (
        None,
        None,
        None,
        None,
    )
    assert system.roles == [] and system.scopes is None
    assert system == trae.Principal.system()
    assert repr(system) == "Principal(kind='system')"
    with pytest.raises(trae.PermissionDenied):
        store.users.me(system)
    with pytest.raises(TypeError):
        store.users.list("system")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        trae.Principal()  # type: ignore[call-arg]


def test_the_system_creates_an_admin_who_administers(store: trae.Store) -> None:
    root = store.users.create("root", "root@example.com", PASSWORD, ["admin"], full_name="Root")
    assert root.roles == ["admin"]
    register(store, "bob")
    _, admin = sign_in(store, "root")

    page = store.users.list(admin)
    assert isinstance(page, trae.Page)
    assert [u.username for u in page] == ["bob", "root"]
    assert (page.total, page.limit, page.offset) == (2, 50, 0)
    assert [u.username for u in store.users.list(admin, role="admin")] == ["root"]
    assert [u.username for u in store.users.list(query="BO")] == ["bob"]
    assert store.users.list(limit=1, offset=1).items[0].username == "root"

    bob = store.users.list(query="bob").items[0]
    changed = store.users.update(bob.id, admin, roles=["developer"], full_name="Bob B.")
    assert (changed.roles, changed.full_name) == (["developer"], "Bob B.")
    assert store.users.update(bob.id, full_name="").full_name is None
    assert store.users.get(str(bob.id), admin) == store.users.get(bob.id)

    # Deactivation ends bob's sessions at once.
    pair, _ = sign_in(store, "bob")
    store.users.update(bob.id, admin, is_active=False)
    with pytest.raises(trae.AuthError):
        store.auth.authenticate(pair.access_token)
    with pytest.raises(trae.AuthError):
        store.auth.login("bob", PASSWORD)
    assert [u.username for u in store.users.list(is_active=False)] == ["bob"]

    store.users.delete(bob.id, admin)
    with pytest.raises(trae.NotFound):
        store.users.get(bob.id)


def test_revoke_sessions_counts_what_it_ended(store: trae.Store) -> None:
    user = register(store)
    first, _ = sign_in(store)
    sign_in(store)
    assert store.users.revoke_sessions(user.id) == 2
    assert store.users.revoke_sessions(user.id) == 0
    with pytest.raises(trae.AuthError):
        store.auth.authenticate(first.access_token)


def test_the_last_admin_cannot_be_demoted(store: trae.Store) -> None:
    root = store.users.create("root", "root@example.com", PASSWORD, ["admin"])
    for change in ({"roles": ["user"]}, {"is_active": False}):
        with pytest.raises(trae.Conflict) as info:
            store.users.update(root.id, **change)
        assert info.value.code == "conflict"
    with pytest.raises(trae.Conflict):
        store.users.delete(root.id)
    assert store.users.get(root.id).roles == ["admin"]

    # With a second admin, the first may step down.
    store.users.create("second", "second@example.com", PASSWORD, ["admin"])
    assert store.users.update(root.id, roles=["user"]).roles == ["user"]


def test_nobody_grants_what_they_lack(store: trae.Store) -> None:
    viewer = store.policy.role("viewer").permissions
    store.policy.create_role("useradmin", "", ["users:admin", *viewer])
    store.users.create("uadmin", "ua@example.com", PASSWORD, ["useradmin"])
    _, ua = sign_in(store, "uadmin")
    # users:admin and a viewer's permissions: may make viewers, not admins.
    assert store.users.create("bob", "bob@example.com", PASSWORD, ["viewer"], principal=ua)
    with pytest.raises(trae.PermissionDenied):
        store.users.create("eve", "eve@example.com", PASSWORD, ["admin"], principal=ua)


# --- profile --------------------------------------------------------------------------------


def test_a_user_changes_their_profile_and_password(store: trae.Store) -> None:
    register(store)
    pair, alice = sign_in(store)
    other, _ = sign_in(store)

    me = store.users.update_me(alice, email="Alice@New.example.com", full_name="Alice")
    assert (me.email, me.full_name) == ("alice@new.example.com", "Alice")
    assert store.users.me(alice) == me
    assert store.users.update_me(alice, full_name="").full_name is None

    with pytest.raises(trae.ValidationError) as info:
        store.users.change_password(alice, "not the current one", "a brand new secret")
    assert info.value.field == "current_password"
    with pytest.raises(trae.ValidationError) as short:
        store.users.change_password(alice, PASSWORD, "short")
    assert short.value.field == "password"

    store.users.change_password(alice, PASSWORD, "a brand new secret")
    # This session stays; the other one ends; the old password no longer works.
    assert store.auth.authenticate(pair.access_token) == alice
    with pytest.raises(trae.AuthError):
        store.auth.authenticate(other.access_token)
    with pytest.raises(trae.AuthError):
        store.auth.login("alice", PASSWORD)
    assert store.auth.login("alice", "a brand new secret").user is not None
    with pytest.raises(trae.PermissionDenied):
        store.users.change_password(trae.Principal.system(), PASSWORD, "a brand new secret")


# --- API keys -------------------------------------------------------------------------------


def test_api_keys_within_the_owners_permissions(store: trae.Store) -> None:
    user = register(store)
    _, alice = sign_in(store)

    with pytest.raises(trae.PermissionDenied):
        store.api_keys.create(alice, "too much", scopes=["users:admin"])
    with pytest.raises(trae.PermissionDenied):
        store.api_keys.create(trae.Principal.system(), "system key")

    created = store.api_keys.create(alice, " ci ", scopes=["pets:read"], expires_in_days=30)
    assert isinstance(created, trae.CreatedApiKey)
    assert created.key.startswith("trae_")
    record = created.record
    assert isinstance(record, trae.ApiKey)
    assert (record.id, record.owner_id, record.name) == (created.id, user.id, "ci")
    assert record.scopes == ["pets:read"]
    assert created.key.startswith(record.prefix)
    assert record.expires_at is not None and record.revoked_at is None
    assert record.expires_at - record.created_at == dt.timedelta(days=30)
    assert created.key not in repr(created) and created.key not in repr(record)
    assert created.key not in str(record.to_dict())

    key = store.auth.authenticate(created.key)
    assert key.kind == "api_key"
    assert (key.key_id, key.user_id, key.scopes, key.roles) == (
        record.id,
        user.id,
        ["pets:read"],
        ["user"],
    )
    store.auth.authorize(key, "pets:read")
    with pytest.raises(trae.PermissionDenied):
        store.auth.authorize(key, "pets:write")  # the owner may, the key may not
    with pytest.raises(trae.PermissionDenied):
        store.api_keys.create(key, "a key minting keys")

    (listed,) = store.api_keys.list(alice)
    assert listed.id == record.id
    assert listed.last_used_at is not None  # authenticating used it
    assert listed.to_dict() == {**record.to_dict(), "last_used_at": listed.last_used_at}
    store.api_keys.revoke(alice, str(record.id))
    with pytest.raises(trae.AuthError):
        store.auth.authenticate(created.key)
    with pytest.raises(trae.NotFound):
        store.api_keys.revoke(alice, record.id)
    assert store.api_keys.list(alice)[0].revoked_at is not None


def test_api_key_input_is_validated(store: trae.Store) -> None:
    register(store)
    _, alice = sign_in(store)
    for kwargs, field in (
        ({"name": ""}, "name"),
        ({"name": "k", "expires_in_days": 0}, "expires_in_days"),
        ({"name": "k", "expires_in_days": -1}, "expires_in_days"),
        ({"name": "k", "expires_in_days": 10**30}, "expires_in_days"),
        ({"name": "k", "scopes": []}, "scopes"),
        ({"name": "k", "scopes": ["Not Valid"]}, "permission"),
    ):
        with pytest.raises(trae.ValidationError) as info:
            store.api_keys.create(alice, **kwargs)
        assert info.value.field == field, kwargs
    assert store.api_keys.list(alice) == []


# --- policy ---------------------------------------------------------------------------------


def test_custom_roles_are_created_changed_and_deleted(store: trae.Store) -> None:
    names = [r.name for r in store.policy.roles()]
    assert {"viewer", "user", "developer", "admin"} <= set(names)
    assert names == sorted(names)
    permissions = store.policy.permissions()
    assert "pets:read" in permissions and "audit:read" in permissions

    role = store.policy.create_role("auditor", "Reads the log", ["audit:read"])
    assert isinstance(role, trae.Role)
    assert (role.name, role.description, role.built_in, role.permissions) == (
        "auditor",
        "Reads the log",
        False,
        ["audit:read"],
    )
    assert store.policy.role("auditor") == role
    with pytest.raises(trae.Conflict):
        store.policy.create_role("auditor")

    changed = store.policy.update_role("auditor", permissions=["audit:read", "pets:read"])
    assert changed.permissions == ["audit:read", "pets:read"]
    assert changed.description == "Reads the log"
    assert store.policy.update_role("auditor", description="").description == ""

    # The role grants at once: its holder reads the audit log.
    store.users.create("carol", "carol@example.com", PASSWORD, ["auditor"])
    _, carol = sign_in(store, "carol")
    assert store.audit.list(carol).total > 0
    with pytest.raises(trae.Conflict):
        store.policy.delete_role("auditor")  # carol holds it

    carol_id = carol.user_id
    assert carol_id is not None
    store.users.update(carol_id, roles=["viewer"])
    store.policy.delete_role("auditor")
    with pytest.raises(trae.NotFound):
        store.policy.role("auditor")
    with pytest.raises(trae.NotFound):
        store.policy.delete_role("auditor")


def test_built_in_roles_are_fixed_and_names_checked(store: trae.Store) -> None:
    with pytest.raises(trae.Conflict):
        store.policy.update_role("user", permissions=["pets:read"])
    with pytest.raises(trae.Conflict):
        store.policy.delete_role("admin")
    with pytest.raises(trae.ValidationError) as bad_name:
        store.policy.create_role("X!", "", ["pets:read"])
    assert bad_name.value.field == "name"
    with pytest.raises(trae.ValidationError) as unknown:
        store.policy.create_role("helper", "", ["pets:fly"])
    assert unknown.value.field == "permissions"
    assert "pets:fly" in str(unknown.value)


# --- audit ----------------------------------------------------------------------------------


def test_audit_shows_sign_ins_and_never_a_password(store: trae.Store) -> None:
    start = dt.datetime.now(UTC) - dt.timedelta(seconds=1)
    user = register(store)
    sign_in(store)
    with pytest.raises(trae.AuthError):
        store.auth.login("alice", "the wrong password")
    with pytest.raises(trae.AuthError):
        store.auth.login("mallory", "the wrong password")

    page = store.audit.list(action="auth.login")
    assert isinstance(page, trae.Page)
    entries = page.items
    assert page.total == 3
    assert all(isinstance(e, trae.AuditEntry) for e in entries)
    assert [e.outcome for e in entries] == ["failure", "failure", "success"]  # newest first
    success = entries[-1]
    assert (success.actor_kind, success.actor_id, success.actor_name) == ("user", user.id, "alice")
    assert success.target == f"user:{user.id}"
    assert success.ip is None and success.request_id is None
    assert isinstance(success.id, uuid.UUID)
    assert success.at.utcoffset() == dt.timedelta(0) and success.at >= start
    assert entries[0].actor_kind == "anonymous" and entries[0].actor_name == "mallory"
    assert entries[0].details == {"reason": "unknown user"}
    assert "auth.login" in repr(success)

    everything = store.audit.list(limit=500)
    assert {"user.register", "auth.login"} <= {e.action for e in everything}
    dump = repr([e.to_dict() for e in everything])
    assert PASSWORD not in dump and "the wrong password" not in dump

    assert [e.action for e in store.audit.list(actor=user.id, action="user.register")] == [
        "user.register"
    ]
    # A failed sign-in is recorded under the login that was tried.
    assert store.audit.list(actor="alice", action="auth.login").total == 2
    assert store.audit.list(since=dt.datetime.now(UTC) + dt.timedelta(hours=1)).total == 0
    local = dt.timezone(dt.timedelta(hours=5))
    assert store.audit.list(until=dt.datetime.now(local) + dt.timedelta(hours=1)).total == (
        everything.total
    )
    window = store.audit.list(limit=2, offset=1)
    assert [e.id for e in window] == [e.id for e in everything.items[1:3]]
    assert window.total == everything.total


def test_audit_filters_are_validated(store: trae.Store) -> None:
    now = dt.datetime.now(UTC)
    with pytest.raises(trae.ValidationError) as naive:
        store.audit.list(since=dt.datetime.now())
    assert naive.value.field == "since"
    with pytest.raises(trae.ValidationError) as order:
        store.audit.list(since=now, until=now - dt.timedelta(days=1))
    assert order.value.field == "since"
    with pytest.raises(trae.ValidationError) as limit:
        store.audit.list(limit=0)
    assert limit.value.field == "limit"
    with pytest.raises(TypeError):
        store.audit.list(since="yesterday")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.audit.list(actor=42)  # type: ignore[arg-type]


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "email", "password", "field"),
    [
        ("al", "al@example.com", PASSWORD, "username"),
        ("al ice", "alice@example.com", PASSWORD, "username"),
        ("alice", "not-an-email", PASSWORD, "email"),
        ("alice", "alice@example.com", "short", "password"),
        ("alice", "alice@example.com", "my alice password", "password"),
        ("alice", "alice@example.com", "password123", "password"),
    ],
)
def test_bad_registrations_raise_validation_errors(
    store: trae.Store, username: str, email: str, password: str, field: str
) -> None:
    with pytest.raises(trae.ValidationError) as info:
        store.auth.register(username, email, password)
    assert info.value.field == field
    assert info.value.code == "validation_failed"
    assert str(info.value).startswith(f"{field}: ") and len(str(info.value)) > len(field) + 4
    assert store.users.list().total == 0


def test_other_bad_input(store: trae.Store) -> None:
    with pytest.raises(trae.ValidationError) as bad_id:
        store.users.get("not-a-uuid")
    assert bad_id.value.field == "id"
    with pytest.raises(trae.NotFound):
        store.users.get(uuid.uuid4())
    with pytest.raises(trae.ValidationError) as no_roles:
        store.users.create("bob", "bob@example.com", PASSWORD, [])
    assert no_roles.value.field == "roles"
    with pytest.raises(trae.ValidationError) as unknown_role:
        store.users.create("bob", "bob@example.com", PASSWORD, ["wizard"])
    assert unknown_role.value.field == "roles"
    with pytest.raises(trae.ValidationError) as offset:
        store.users.list(offset=-1)
    assert offset.value.field == "offset"
    with pytest.raises(TypeError):
        store.users.create("bob", "bob@example.com", PASSWORD, "admin")  # type: ignore[arg-type]


# --- stores and keys ------------------------------------------------------------------------


def test_a_second_store_on_the_database_accepts_the_tokens(database_url: str) -> None:
    with trae.Store(database_url) as first:
        register(first)
        pair, principal = sign_in(first)
        key = first.api_keys.create(principal, "script").key
    with trae.Store(database_url) as second:
        assert second.auth.authenticate(pair.access_token) == principal
        assert second.auth.authenticate(key).kind == "api_key"
        assert second.auth.refresh(pair.refresh_token).session_id == pair.session_id


def test_a_configured_secret_signs_instead(database_url: str) -> None:
    secret = "s" * 32
    with trae.Store(database_url, jwt_secret=secret) as configured:
        register(configured)
        pair, _ = sign_in(configured)
    with trae.Store(database_url, jwt_secret=secret) as same:
        assert same.auth.authenticate(pair.access_token).username == "alice"
    with trae.Store(database_url) as shared:
        with pytest.raises(trae.AuthError):
            shared.auth.authenticate(pair.access_token)
    with pytest.raises(trae.ConfigError) as info:
        trae.Store(database_url, jwt_secret="too short")
    assert "32" in str(info.value)


def test_a_closed_store_refuses_identity_calls(database_url: str) -> None:
    store = trae.Store(database_url)
    auth, users = store.auth, store.users
    store.close()
    with pytest.raises(trae.Unavailable):
        auth.register("alice", "alice@example.com", PASSWORD)
    with pytest.raises(trae.Unavailable):
        users.list()


def test_service_objects_are_stable_and_typed(store: trae.Store, backend: str) -> None:
    assert store.auth is store.auth
    for service, cls in (
        (store.auth, trae.Auth),
        (store.users, trae.Users),
        (store.api_keys, trae.ApiKeys),
        (store.policy, trae.Policy),
        (store.audit, trae.Audit),
    ):
        assert isinstance(service, cls)
        assert repr(service) == f"<trae.{cls.__name__} backend='{backend}'>"
    assert issubclass(trae.AuthError, trae.TraeError)
    assert issubclass(trae.PermissionDenied, trae.TraeError)
    assert issubclass(trae.Locked, trae.TraeError)
    assert (trae.AuthError.code, trae.PermissionDenied.code, trae.Locked.code) == (
        "unauthorized",
        "forbidden",
        "locked",
    )


# --- lockout per (account, client address) (issue 19) -----------------------------------------


def test_a_lockout_from_one_address_does_not_lock_the_account_from_another(
    store: trae.Store,
) -> None:
    register(store)
    for _ in range(6):
        with pytest.raises(trae.AuthError):
            store.auth.login("alice", "wrong password here", client_ip="203.0.113.9")
    with pytest.raises(trae.AuthError):
        store.auth.login("alice", PASSWORD, client_ip="203.0.113.9")
    signed_in = store.auth.login("alice", PASSWORD, client_ip="198.51.100.7").user
    assert signed_in is not None and signed_in.username == "alice"
    with pytest.raises(trae.ValidationError) as bad:
        store.auth.login("alice", PASSWORD, client_ip="not an address")
    assert bad.value.field == "client_ip"


def test_the_account_wide_threshold_locks_every_address(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAE_LOCKOUT_ACCOUNT_MAX_FAILURES", "6")
    with trae.Store(database_url) as store:
        register(store)
        for n in range(6):
            with pytest.raises(trae.AuthError):
                store.auth.login("alice", "wrong password here", client_ip=f"192.0.2.{n + 10}")
        with pytest.raises(trae.AuthError):
            store.auth.login("alice", PASSWORD, client_ip="198.51.100.7")


def test_unknown_and_locked_names_look_alike(store: trae.Store) -> None:
    register(store)
    ip = "203.0.113.9"
    for _ in range(5):
        with pytest.raises(trae.AuthError):
            store.auth.login("alice", "wrong password here", client_ip=ip)
    with pytest.raises(trae.AuthError) as locked:
        store.auth.login("alice", PASSWORD, client_ip=ip)
    with pytest.raises(trae.AuthError) as unknown:
        store.auth.login("nobody", PASSWORD, client_ip=ip)
    assert type(locked.value) is type(unknown.value)
    assert (str(locked.value), locked.value.code) == (str(unknown.value), unknown.value.code)


def test_the_system_rotates_the_signing_key_without_signing_anyone_out(
    store: trae.Store,
) -> None:
    register(store)
    pair = store.auth.login("alice", PASSWORD)
    kid = store.auth.rotate_signing_key()
    assert isinstance(kid, str) and len(kid) == 16
    assert store.auth.authenticate(pair.access_token).username == "alice"
    fresh = store.auth.refresh(pair.refresh_token)
    assert store.auth.authenticate(fresh.access_token).username == "alice"
    alice = store.auth.authenticate(fresh.access_token)
    with pytest.raises(trae.PermissionDenied):
        store.auth.rotate_signing_key(principal=alice)
    outcomes = [e.outcome for e in store.audit.list(action="auth.signing_key_rotate")]
    assert outcomes == ["denied", "success"]
