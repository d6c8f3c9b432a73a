# Rendered by sitewright: the project's filters, which Ansible loads for every play of site.yml
# (filter_plugins/ beside the playbook): the pgbouncer role's userlist.txt and the postgresql
# role's roles use them.
#
# sitewright_scram_verifier(password, user, context): PostgreSQL's SCRAM-SHA-256 verifier of
# `password` as `user`'s, with the salt sitewright derives from `context` (the site), the user and
# the password, so that the verifier is the one `sitewright render --with-secrets` writes to
# userlist.txt, byte for byte (sitewright's src/scram.rs), and the one the server must hold.
#
# sitewright_pgbouncer_changed(text, settings, unset): the names of the `[pgbouncer]` settings
# whose value in a pgbouncer.ini's text, as PgBouncer reads the file (keys in lower case, values
# trimmed), is not the one in `settings` (name: value), or that it sets though they are in
# `unset`, for the role to tell whether a change to the file needs a restart.
#
# Python's standard library only, so the controller needs nothing installed.

import base64
import hashlib
import hmac
import stringprep
import unicodedata

ITERATIONS = 4096


# --- begin saslprep (the postgresql role's module gets this part as it is) ---
def _prohibited(c):
    # RFC 4013 section 2.3: RFC 3454's C.1.2, C.2.1 to C.9.
    return (
        stringprep.in_table_c12(c)
        or stringprep.in_table_c21(c)
        or stringprep.in_table_c22(c)
        or stringprep.in_table_c3(c)
        or stringprep.in_table_c4(c)
        or stringprep.in_table_c5(c)
        or stringprep.in_table_c6(c)
        or stringprep.in_table_c7(c)
        or stringprep.in_table_c8(c)
        or stringprep.in_table_c9(c)
    )


def _bidi_fails(chars):
    # RFC 3454 section 6, with its tables D.1 and D.2 (Unicode 3.2's, as PostgreSQL copies them).
    if not chars or not any(stringprep.in_table_d1(c) for c in chars):
        return False
    return (
        any(stringprep.in_table_d2(c) for c in chars)
        or not stringprep.in_table_d1(chars[0])
        or not stringprep.in_table_d1(chars[-1])
    )


def saslprep(password):
    """The password as PostgreSQL's pg_saslprep prepares it, or as it is where that fails.

    PostgreSQL's order, not RFC 4013's: ASCII is taken as it is (control characters too); the
    mapping (B.1 to nothing, C.1.2 to a space) comes first, and a password it maps to nothing
    fails; the prohibited, unassigned (A.1) and bidirectional checks look at the mapped
    characters before NFKC. The stringprep module's tables are Unicode 3.2's, as RFC 3454's and
    PostgreSQL's are. NFKC itself is the current Unicode's (PostgreSQL's and sitewright's): the
    characters that reach it are all assigned in Unicode 3.2, whose normalization has stayed
    the same since but for the corrigenda that ucd_3_2_0 leaves out.
    """
    if password.isascii():
        return password
    mapped = []
    for c in password:
        if stringprep.in_table_c12(c):
            mapped.append(" ")
        elif not stringprep.in_table_b1(c):
            mapped.append(c)
    if (
        not mapped
        or any(_prohibited(c) or stringprep.in_table_a1(c) for c in mapped)
        or _bidi_fails(mapped)
    ):
        return password
    return unicodedata.normalize("NFKC", "".join(mapped))
# --- end saslprep ---


def deterministic_salt(context, user, password):
    context = context.encode("utf-8")
    message = (
        b"sitewright scram salt\0"
        + len(context).to_bytes(8, "big")
        + context
        + user.encode("utf-8")
    )
    return hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), message, ITERATIONS, 16)


def verifier(password, salt, iterations=ITERATIONS):
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode("utf-8"), salt, iterations, 32)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (
        iterations,
        base64.b64encode(salt).decode("ascii"),
        base64.b64encode(stored_key).decode("ascii"),
        base64.b64encode(server_key).decode("ascii"),
    )


def _text(value, what):
    if value is None or isinstance(value, (bool, int, float)):
        raise ValueError("%s must be a string" % what)
    return str(value)


def sitewright_scram_verifier(password, user, context):
    password = _text(password, "the password")
    user, context = _text(user, "the user"), _text(context, "the context")
    return verifier(password, deterministic_salt(context, user, password))


def pgbouncer_settings(text):
    settings = {}
    section = ""
    for line in _text(text, "the file").splitlines():
        line = line.strip()
        if not line or line[0] in ";#":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
            continue
        key, sep, value = line.partition("=")
        if sep and section == "pgbouncer":
            settings[key.strip().lower()] = value.strip()
    return settings


def sitewright_pgbouncer_changed(text, settings, unset):
    live = pgbouncer_settings(text)
    changed = [name for name, value in settings.items() if live.get(name) != _text(value, name)]
    changed += [name for name in unset if name in live]
    return sorted(changed)


class FilterModule:
    def filters(self):
        return {
            "sitewright_scram_verifier": sitewright_scram_verifier,
            "sitewright_pgbouncer_changed": sitewright_pgbouncer_changed,
        }
