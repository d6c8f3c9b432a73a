#!/usr/bin/python
# Shipped by sitewright with its Ansible export.
"""A PostgreSQL role with LOGIN (and REPLICATION when asked) and a password, created or brought
in line through psql, idempotently. Given the password, the stored SCRAM-SHA-256 verifier is
checked against it, so a run whose password has not changed changes nothing; the password never
reaches the server, its log or the process list in clear: a verifier is computed here, with
PostgreSQL's SASLprep, and sent on psql's standard input. Given a ready SCRAM secret instead (a
role PgBouncer logs in as, whose userlist.txt holds that secret), the stored one must be that
secret, byte for byte, and is set to it when it is not."""

import base64
import hashlib
import hmac
import os
import stringprep
import unicodedata

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: sitewright_postgresql_role
short_description: A PostgreSQL login role with a SCRAM-SHA-256 password, through psql
options:
  name: {description: The role's name., required: true, type: str}
  password: {description: Its password (or give secret)., type: str, no_log: true}
  secret: {description: "Its SCRAM-SHA-256 secret, stored as it is (or give password).", type: str, no_log: true}
  replication: {description: Whether the role has REPLICATION., type: bool, default: false}
  psql: {description: psql's argv, connecting as a superuser., required: true, type: list, elements: str}
"""

ITERATIONS = 4096


# sitewright puts the SASLprep of the project's filter_plugins/sitewright_scram.py here, as it is,
# so that this module prepares a password as the filter does (and as PostgreSQL does).
# --- saslprep ---


def keys(password, salt, iterations):
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode("utf-8"), salt, iterations)
    client = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored = hashlib.sha256(client).digest()
    server = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored, server


def verifier(password):
    salt = os.urandom(16)
    stored, server = keys(password, salt, ITERATIONS)
    b64 = lambda b: base64.b64encode(b).decode()
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (ITERATIONS, b64(salt), b64(stored), b64(server))


def matches(stored_verifier, password):
    try:
        method, rest = stored_verifier.split("$", 1)
        head, tail = rest.split("$", 1)
        iterations, salt = head.split(":", 1)
        stored, server = tail.split(":", 1)
        if method != "SCRAM-SHA-256":
            return False
        want = keys(password, base64.b64decode(salt), int(iterations))
        return (base64.b64decode(stored), base64.b64decode(server)) == want
    except (ValueError, TypeError):
        return False


def literal(text):
    return "'" + text.replace("'", "''") + "'"


def identifier(text):
    return '"' + text.replace('"', '""') + '"'


def psql(module, sql):
    rc, out, err = module.run_command(module.params["psql"], data=sql, binary_data=True)
    if rc != 0:
        module.fail_json(msg="psql failed: %s" % err.strip())
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            password=dict(type="str", no_log=True),
            secret=dict(type="str", no_log=True),
            replication=dict(type="bool", default=False),
            psql=dict(type="list", elements="str", required=True),
        ),
        required_one_of=[("password", "secret")],
        mutually_exclusive=[("password", "secret")],
        supports_check_mode=True,
    )
    name = module.params["name"]
    password = module.params["password"]
    secret = module.params["secret"]
    replication = module.params["replication"]
    if secret is not None and not secret.startswith("SCRAM-SHA-256$"):
        module.fail_json(msg="the secret of role %s is not a SCRAM-SHA-256 secret" % name)
    row = psql(
        module,
        "select rolcanlogin, rolreplication, coalesce(rolpassword, '') from pg_authid where rolname = %s;\n"
        % literal(name),
    ).strip()
    attributes = "LOGIN %s" % ("REPLICATION" if replication else "NOREPLICATION")
    if not row:
        statement = "CREATE ROLE %s %s PASSWORD %s;\n"
        why = "created"
    else:
        login, repl, stored = row.split("|", 2)
        same = stored == secret if secret is not None else matches(stored, password)
        if login == "t" and (repl == "t") == replication and same:
            module.exit_json(changed=False, role=name)
        statement = "ALTER ROLE %s %s PASSWORD %s;\n"
        why = "altered"
    if not module.check_mode:
        # PostgreSQL stores a password in SCRAM's format as it is given.
        value = secret if secret is not None else verifier(password)
        psql(module, statement % (identifier(name), attributes, literal(value)))
    module.exit_json(changed=True, role=name, msg="role %s %s" % (name, why))

if __name__ == "__main__":
    main()
