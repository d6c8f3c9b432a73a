#!/usr/bin/env python3
"""The "what users do today" baseline of sitewright's performance benchmark.

Before sitewright, a site's configuration came from a hand-written Python tool: PyYAML to load
the spec, jsonschema to validate it, a page of Python to work out the values, and Jinja2 to lay
them out. This file is that tool, written the straightforward way, so that the benchmark measures
sitewright against what it replaces. It reads the same spec, validates it against the same schema
(schemas/site.schema.json), renders the same template files (templates/, loaded in place) and
writes a tree that is byte-identical to `sitewright render` for the sites that
benches/generate.py produces (any N), manifest.json included.

    baseline.py render SPEC -o OUT          # like `sitewright render SPEC -o OUT` (no secrets)
    baseline.py diff SPEC --live DIR        # like `sitewright diff SPEC --live DIR`
    baseline.py check SPEC                  # load, validate, plan: "ok: H hosts, F files"

Run it with the benchmark's venv (/var/cache/sitewright-test/baseline: PyYAML, jsonschema, Jinja2);
nothing else beyond the standard library is imported.

What it leaves out, on purpose (a spec that uses any of these is refused with "not ported"):
- the plan for anything generated sites do not use: PostgreSQL majors other than 16 (recovery.conf,
  wal_keep_segments, trigger files, io_workers), hosts' own postgres_settings and server_name,
  web hosts that are also replicas (Django's read-only mirror), Django's cache, session engine,
  email, allowed_hosts, database.host and replicas, nginx stream forwards, OCSP stapling, listen
  addresses, the cache proxy's long_timeout and maintenance switch, nginx's own locations,
  headers, client_max_body_size and directives of the spec's own, sysctl profiles, System V
  shared memory, pg_dump exclude_tables, replication passfile and promote_trigger_file;
- sitewright's site-wide rules (src/check, src/rules.rs): `check` here only loads, validates
  and plans; custom schema formats (ip-address, socket-address, hba-address) are not checked;
- sitewright's YAML strictness (src/source.rs): plain PyYAML reads YAML 1.1, so `on` or `1.20`
  unquoted would mean something else; the generated sites quote what needs quoting;
- `render`'s atomic writes and fsyncs and its stale-file report: files are simply written;
- `diff`'s mode and owner comparison, stale-file report and per-host action summary: it prints
  the unified diffs (passfile passwords masked, as sitewright does) and nothing when all match.
"""

import difflib
import hashlib
import ipaddress
import json
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import jsonschema
import yaml
from jinja2.runtime import Markup  # Jinja2's "safe string" type (markupsafe's, re-exported)

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
SCHEMA = ROOT / "schemas" / "site.schema.json"
PG_SETTINGS = ROOT / "data" / "postgres" / "settings-{major}.tsv"
SYSCTL_KEYS = ROOT / "data" / "sysctl" / "keys.tsv"

KIB = 1024
MIB = KIB * KIB
GIB = MIB * KIB
TIB = GIB * KIB


class NotPorted(Exception):
    """The spec uses a feature this baseline does not port (see the module docstring)."""


class RenderError(Exception):
    """A value that a template's format cannot hold, or a template that failed."""


# ---------------------------------------------------------------------------------------------
# Units (src/units.rs): kB, MB, GB, TB are powers of 1024, as in PostgreSQL.

BYTE_UNITS = {"TB": TIB, "TiB": TIB, "GB": GIB, "GiB": GIB, "MB": MIB, "MiB": MIB,
              "kB": KIB, "KiB": KIB, "B": 1}
DURATION_UNITS = {"d": 86_400_000_000, "h": 3_600_000_000, "min": 60_000_000, "s": 1_000_000,
                  "ms": 1_000, "us": 1}


def split_number(text):
    """'512 kB' -> (512, 'kB'); the schema's pattern has already vouched for the shape."""
    digits = len(text) - len(text.lstrip("0123456789"))
    unit = text[digits:]
    return int(text[:digits]), unit[1:] if unit.startswith(" ") else unit


def parse_bytes(text):
    number, unit = split_number(text)
    return number * BYTE_UNITS[unit]


def parse_micros(text):
    number, unit = split_number(text)
    return number * DURATION_UNITS[unit]


def largest_even_unit(value, units, fallback):
    """`value` in the largest unit that divides it evenly, else (and for zero) with `fallback`."""
    for name, factor in units:
        if value and value % factor == 0:
            return f"{value // factor}{name}"
    return f"{value}{fallback}"


def size_postgres(size):
    return largest_even_unit(size, (("TB", TIB), ("GB", GIB), ("MB", MIB), ("kB", KIB)), "B")


def size_nginx(size):
    return largest_even_unit(size, (("g", GIB), ("m", MIB), ("k", KIB)), "")


def size_directive_nginx(size):
    """A size directive's value: nginx reads those without `g`."""
    return largest_even_unit(size, (("m", MIB), ("k", KIB)), "")


def duration_postgres(micros):
    return largest_even_unit(micros, tuple(DURATION_UNITS.items()), "")


def duration_nginx(micros):
    # nginx has no microseconds, so those round up to whole milliseconds.
    millis = -(-micros // 1000)
    return largest_even_unit(
        millis, (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)), "ms")


def whole_secs(micros):
    return micros // 1_000_000 if micros % 1_000_000 == 0 else None


def version_at_least(text, *wanted):
    """'1.26' >= (1, 25, 1): versions compare part by part, missing parts are 0."""
    parts = [int(p) for p in text.split(".")] + [0, 0, 0]
    return tuple(parts[:3]) >= wanted


# ---------------------------------------------------------------------------------------------
# Loading: PyYAML, then jsonschema with the validator class the schema's $schema names.

def load_yaml(path):
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(Path(path).read_text(), Loader=loader)


def make_validator():
    """Built once per run: compiling the schema's $refs is not free."""
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)  # no format checker: the schema's formats are sitewright's own


def validation_errors(validator, doc):
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    return [f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def refuse_unported(site):
    """Stop on a feature whose plan was left out, rather than render it wrong."""
    pg = site.get("postgres")
    nginx = site.get("nginx") or {}
    django = site.get("django")
    problems = []
    for host in site["hosts"]:
        if host.get("postgres_settings") or host.get("server_name"):
            problems.append(f"hosts/{host['name']}: postgres_settings or server_name")
        if "web" in host["roles"] and "postgres-replica" in host["roles"]:
            problems.append(f"hosts/{host['name']}: web and replica (a read-only mirror)")
    if pg:
        if pg["version"] != 16:
            problems.append("postgres.version other than 16")
        replication = pg.get("replication") or {}
        for key in ("passfile", "promote_trigger_file"):
            if key in replication:
                problems.append(f"postgres.replication.{key}")
        if (pg.get("backup") or {}).get("exclude_tables"):
            problems.append("postgres.backup.exclude_tables")
        if str(pg.get("settings", {}).get("shared_memory_type", "")).lower() == "sysv":
            problems.append("shared_memory_type = sysv")
    if nginx.get("stream"):
        problems.append("nginx.stream")
    for key in ("http_directives", "stream_directives"):
        if nginx.get(key):
            problems.append(f"nginx.{key}")
    for section in ("https", "cache_proxy"):
        server = nginx.get(section) or {}
        if server.get("tls", {}).get("ocsp_stapling") or "address" in server.get("listen", {}):
            problems.append(f"nginx.{section}: ocsp_stapling or listen.address")
        if "long_timeout" in server or "maintenance" in server:
            problems.append(f"nginx.{section}: long_timeout or maintenance")
        for key in ("locations", "headers", "client_max_body_size", "directives"):
            if server.get(key):
                problems.append(f"nginx.{section}.{key}")
    if django:
        for key in ("cache", "session_engine", "email", "allowed_hosts"):
            if key in django:
                problems.append(f"django.{key}")
        if "host" in django["database"] or django["database"].get("replicas"):
            problems.append("django.database.host or replicas")
    if (site.get("sysctl") or {}).get("profile"):
        problems.append("sysctl.profile")
    if problems:
        raise NotPorted("the baseline does not port: " + "; ".join(problems))


# ---------------------------------------------------------------------------------------------
# The plan (src/plan/**): which files each host gets, and every value in them.

@dataclass
class PlannedFile:
    host: str
    path: str
    template: str
    context: dict
    mode: int = 0o644
    owner: str = "root"
    service: str = "postgresql"
    on_change: str = "reload"
    secrets: dict = field(default_factory=dict)  # context key -> secret reference
    passfile: bool = False  # its fifth fields are passwords, masked when shown
    apply: str | None = None
    pg_major: int | None = None  # a postgresql.conf of this major


def setting(name, value, why=None):
    """A postgresql.conf or sysctl line as the templates read it: name, value and the reason."""
    return {"name": name, "value": value, "why": why}


class Site:
    """The spec with the facts every planner asks for worked out once."""

    def __init__(self, spec):
        self.spec = spec
        self.name = spec["site"]
        self.hosts = spec["hosts"]
        self.pg = spec.get("postgres")
        self.nginx = spec.get("nginx")
        self.sysctl = spec.get("sysctl")
        self.django = spec.get("django")
        self.primary = next(self.with_role("postgres-primary"), None)
        self.replicas = list(self.with_role("postgres-replica"))
        self.webs = list(self.with_role("web"))
        self._primary_conf = None
        self._hba = None

    def with_role(self, role):
        return (h for h in self.hosts if role in h["roles"])

    # Why cached: every replica's conf needs the primary's, and pg_hba.conf is the same on
    # every PostgreSQL host; a Python tool naturally works them out once.
    def primary_conf(self):
        if self._primary_conf is None:
            self._primary_conf = postgresql_conf(self, self.primary)
        return self._primary_conf

    def hba(self):
        if self._hba is None:
            self._hba = hba_records(self)
        return self._hba


def plan(site):
    files = []
    for host in site.hosts:
        files += postgres_files(site, host)
        files += nginx_files(site, host)
        files += sysctl_files(site, host)
        files += django_files(site, host)
    return files


# --- PostgreSQL (src/plan/postgres/mod.rs)

def pg_config_dir(pg):
    return pg.get("config_directory", pg["data_directory"])


def pg_port(pg):
    return pg.get("port", 5432)


def passfile_path(pg):
    return f"{pg_config_dir(pg)}/replication.pgpass"


def upstream(site):
    """Where replicas connect: the primary, through nginx's forwarded port when there is one."""
    public = (site.pg.get("replication") or {}).get("public_port")
    return site.primary["address"], public or pg_port(site.pg)


def postgres_files(site, host):
    pg = site.pg
    replica = "postgres-replica" in host["roles"]
    primary = "postgres-primary" in host["roles"]
    if not pg or not (replica or primary):
        return []
    config_dir = pg_config_dir(pg)

    def file(path, template, context, mode, on_change, owner="postgres"):
        return PlannedFile(host["name"], path, template, context, mode, owner,
                           "postgresql", on_change)

    conf = file(f"{config_dir}/postgresql.conf", "postgres/postgresql.conf.pgconf",
                {"site": site.name, "host": host["name"],
                 "role": "replica" if replica else "primary", "version": pg["version"],
                 "settings": postgresql_conf(site, host),
                 "includes": postgresql_includes(pg)}, 0o644, "restart")
    conf.pg_major = pg["version"]
    out = [conf,
           file(f"{config_dir}/pg_hba.conf", "postgres/pg_hba.conf.pghba",
                {"site": site.name, "host": host["name"], "records": site.hba()},
                0o640, "reload")]
    if replica:
        # 12+ marks a standby with an empty standby.signal (11's recovery.conf: not ported).
        out.append(file(f"{pg['data_directory']}/standby.signal", "postgres/standby.signal.txt",
                        {}, 0o600, "restart"))
        replication = pg.get("replication")
        if replication:
            address, port = upstream(site)
            passfile = file(passfile_path(pg), "postgres/replication.pgpass",
                            {"site": site.name, "address": address, "port": port,
                             "user": replication["user"]}, 0o600, "nothing")
            passfile.passfile = True
            passfile.secrets["password"] = replication["password"]
            out.append(passfile)
    if primary and site.django:
        sql_path = f"{config_dir}/sitewright-role-defaults.sql"
        defaults = file(sql_path, "postgres/role-defaults.sql",
                        {"site": site.name, "role": site.django["database"]["user"],
                         "defaults": [{"name": "client_encoding", "value": "UTF8"},
                                      {"name": "default_transaction_isolation",
                                       "value": "read committed"},
                                      {"name": "timezone", "value": "UTC"}]}, 0o644, "apply")
        defaults.apply = f"psql -f {sql_path}"
        out.append(defaults)
    if primary and pg.get("backup"):
        backup = pg["backup"]
        out.append(file(f"/etc/cron.d/sitewright-{site.name}-pg-dump", "postgres/pg-dump.cron",
                        {"site": site.name, "shell": "/bin/sh", "dump_options": "--clean",
                         "schedule": backup.get("schedule", "0 3 * * *"),
                         "database": backup["database"], "port": pg_port(pg),
                         "directory": backup["directory"].rstrip("/"),
                         "exclude": backup.get("exclude_tables", [])},
                        0o644, "nothing", owner="root"))
    return out


# --- postgresql.conf (src/plan/postgres/conf.rs), PostgreSQL 16 only

STANDBY_FLOORS = ("max_connections", "max_worker_processes")


def postgresql_conf(site, host):
    pg = site.pg
    out = []
    locations(pg, out)
    connections(pg, host, out)
    out += tuning(site, host)
    replication_settings(site, out)
    if "postgres-replica" in host["roles"]:
        standby_settings(site, host, out)
    # The spec's own settings replace what would be written, whatever the case of the name.
    for name, value in sorted(pg.get("settings", {}).items()):
        out = [s for s in out if s["name"].lower() != name.lower()]
        out.append(setting(name, value))
    return out


def postgresql_includes(pg):
    """The include directives, written after the settings: the folder, then the files."""
    out = []
    if "include_dir" in pg:
        out.append(setting("include_dir", pg["include_dir"]))
    for name in ("include", "include_if_exists"):
        out += [setting(name, path) for path in pg.get(name, [])]
    return out


def locations(pg, out):
    if pg.get("config_directory", pg["data_directory"]) != pg["data_directory"]:
        out.append(setting("data_directory", pg["data_directory"]))
        out.append(setting("hba_file", f"{pg_config_dir(pg)}/pg_hba.conf",
                           "pg_hba.conf is kept beside this file"))


def connections(pg, host, out):
    public = (pg.get("replication") or {}).get("public_port")
    if public and "postgres-primary" in host["roles"]:
        out.append(setting("listen_addresses", "127.0.0.1",
                           f"nginx forwards port {public} to this server"))
    elif public:
        out.append(setting("listen_addresses", "127.0.0.1",
                           "the site reaches PostgreSQL through nginx on the primary"))
    else:
        out.append(setting("listen_addresses", "*"))
    out.append(setting("port", pg_port(pg)))
    ssl = pg.get("ssl")
    if ssl:
        out.append(setting("ssl", True))
        out.append(setting("ssl_cert_file", ssl["cert"]))
        out.append(setting("ssl_key_file", ssl["key"]))
        out.append(setting("ssl_min_protocol_version", "TLSv1.2",
                           "TLS 1.2 at least, as nginx's profiles; the setting arrived in 12"))
    out.append(setting("password_encryption", "scram-sha-256",
                       "pg_hba.conf asks for scram-sha-256"))


def max_connections(pg):
    value = pg.get("settings", {}).get("max_connections")
    if isinstance(value, int) and not isinstance(value, bool):
        return max(value, 0), None
    workload = pg.get("workload", "web")
    return DEFAULT_CONNECTIONS[workload], f"what a {workload} workload expects"


def tuning(site, host):
    """PGTune's settings; a replica never below its primary where a standby must not be."""
    connections_count, why = max_connections(site.pg)
    derived = pgtune(host, site.pg.get("workload", "web"), connections_count, why)
    if "postgres-replica" in host["roles"] and site.primary:
        theirs = site.primary_conf()
        for name in STANDBY_FLOORS:
            default = 8 if name == "max_worker_processes" else 100
            mine = first_uint(derived, name, default)
            primary_value = first_uint(theirs, name, default)
            if primary_value > mine:
                floor = setting(name, primary_value, f"the primary's {primary_value}: "
                                "a standby needs at least its primary's")
                index = next((i for i, s in enumerate(derived) if s["name"] == name), None)
                if index is None:
                    derived.append(floor)
                else:
                    derived[index] = floor
    return derived


def first_uint(settings, name, default):
    """The first setting of that name as an unsigned number, as serde_json's as_u64 reads it."""
    value = next((s["value"] for s in settings if s["name"] == name), None)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return default


def replication_settings(site, out):
    pg = site.pg
    if site.replicas:
        count = len(site.replicas)
        out.append(setting("wal_level", "replica", "the site has streaming replicas"))
        out.append(setting("max_wal_senders", max(count + 2, 10), f"{count} replica(s) plus 2 "
                           "for base backups, at least the default 10"))
        keep = (pg.get("replication") or {}).get("wal_keep")
        if keep:
            out.append(setting("wal_keep_size", size_postgres(parse_bytes(keep))))
        elif not pg.get("archive"):
            out.append(setting("wal_keep_size", "1GB", "replicas and no WAL archive: 1GB kept so "
                               "that a replica that was down can catch up; set "
                               "postgres.replication.wal_keep"))
    archive = pg.get("archive")
    if archive:
        out.append(setting("archive_mode", True))
        out.append(setting("archive_command", archive["command"]))


def standby_settings(site, host, out):
    pg = site.pg
    out.append(setting("hot_standby", True, "this replica serves read-only queries"))
    timeout = pg.get("replica_statement_timeout")
    if timeout:
        out.append(setting("statement_timeout", duration_postgres(parse_micros(timeout)),
                           "replicas serve read-only queries, which must not pile up"))
    replication = pg.get("replication")
    if replication:
        address, port = upstream(site)
        tls = client_tls(pg)
        pairs = [("host", address), ("port", port), ("user", replication["user"]),
                 ("passfile", passfile_path(pg)),
                 ("sslmode", tls["sslmode"] if tls else "prefer")]
        if tls and "sslrootcert" in tls:
            pairs.append(("sslrootcert", tls["sslrootcert"]))
        pairs.append(("application_name", host["name"]))
        conninfo = " ".join(f"{k}={conninfo_value(str(v))}" for k, v in pairs)
        if tls and "sslrootcert" in tls:
            why = (f"verified against postgres.ssl.ca: the primary's certificate must name {address}; "
                   "the password is in the passfile, not here")
        elif tls:
            why = ("encrypted, but any certificate is trusted without postgres.ssl.ca; "
                   "the password is in the passfile, not here")
        else:
            why = "the password is in the passfile, not here"
        out.append(setting("primary_conninfo", conninfo, why))
        # PostgreSQL 16 removed promote_trigger_file: nothing to write for it.
    restore = (pg.get("archive") or {}).get("restore_command")
    if restore:
        out.append(setting("restore_command", restore))


def client_tls(pg):
    """libpq's TLS parameters for a client on another host (src/plan/postgres/mod.rs client_tls)."""
    ssl = pg.get("ssl")
    if not ssl:
        return None
    if ssl.get("ca"):
        return {"sslmode": "verify-full", "sslrootcert": ssl["ca"]}
    return {"sslmode": "require"}


def conninfo_value(value):
    """A libpq connection-string value: bare when plain, else single-quoted and escaped."""
    if value and all(c.isascii() and (c.isalnum() or c in "._-/:") for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- PGTune (src/plan/postgres/tune.rs): sizes in kB with floor division

DEFAULT_CONNECTIONS = {"web": 200, "oltp": 300, "dw": 40, "desktop": 20, "mixed": 100}
IO_CONCURRENCY = {"hdd": 2, "ssd": 200, "san": 300, "nvme": 1000}
WAL_SIZES = {"web": (GIB // KIB, 4 * GIB // KIB), "mixed": (GIB // KIB, 4 * GIB // KIB),
             "oltp": (2 * GIB // KIB, 8 * GIB // KIB), "dw": (4 * GIB // KIB, 16 * GIB // KIB),
             "desktop": (100 * MIB // KIB, 2 * GIB // KIB)}
KB_MB, KB_GB = 1024, 1024 * 1024  # MB and GB counted in kB, PGTune's unit of account


def kb(value):
    """PGTune's printing of a kB count: GB or MB when it divides evenly, else kB."""
    if value and value % KB_GB == 0:
        return f"{value // KB_GB}GB"
    if value and value % KB_MB == 0:
        return f"{value // KB_MB}MB"
    return f"{value}kB"


def pgtune(host, workload, connections_count, connections_why):
    memory = parse_bytes(host["memory"])
    ram, ram_text = memory // 1024, size_postgres(memory)
    cpus, storage = host["cpus"], host["storage"]
    desktop, dw = workload == "desktop", workload == "dw"
    out = []
    if connections_why is not None:
        out.append(setting("max_connections", connections_count, connections_why))
    shared = ram // 16 if desktop else ram // 4
    out.append(setting("shared_buffers", kb(shared),
                       f"1/16 of {ram_text} (desktop)" if desktop else f"25% of {ram_text}"))
    out.append(setting("effective_cache_size", kb(ram // 4 if desktop else ram * 3 // 4),
                       f"{'25%' if desktop else '75%'} of {ram_text}"))
    maintenance = min(ram // 8 if dw else ram // 16, 8 * KB_GB)
    out.append(setting("maintenance_work_mem", kb(maintenance),
                       f"{'1/8' if dw else '1/16'} of {ram_text}, at most 8GB"))
    out.append(setting("checkpoint_completion_target", 0.9, "PGTune's value for every workload"))
    wal_buffers = shared * 3 // 100
    wal_buffers = 16 * KB_MB if wal_buffers > 14 * KB_MB else max(wal_buffers, 32)
    out.append(setting("wal_buffers", kb(wal_buffers), "3% of shared_buffers, 32kB to 16MB"))
    out.append(setting("default_statistics_target", 500 if dw else 100, f"{workload} workload"))
    if storage == "hdd":
        out.append(setting("random_page_cost", 4, "hdd storage"))
    elif dw:
        out.append(setting("random_page_cost", 4, "dw: large scans read sequentially"))
    else:
        out.append(setting("random_page_cost", 1.1, "solid-state or san storage"))
    out.append(setting("effective_io_concurrency", IO_CONCURRENCY[storage], f"{storage} storage"))
    workers = cpus if cpus >= 4 else 8
    divisor = {"web": 1, "oltp": 1, "dw": 2, "mixed": 2, "desktop": 6}[workload]
    tuned = max((ram - shared) // ((connections_count + workers) * 3) // divisor, 4 * KB_MB)
    work_mem = min(tuned, max(ram // max(connections_count, 1), 64))
    per = f" / {divisor} ({workload})" if divisor > 1 else ""
    formula = f"(RAM - shared_buffers) / ((max_connections + {workers}) x 3){per}"
    if work_mem < tuned:
        why = (f"{ram_text} / {connections_count} connections: {formula}, at least 4MB, "
               f"would take more than {ram_text}")
    else:
        why = f"{formula}, at least 4MB"
    out.append(setting("work_mem", kb(work_mem), why))
    if shared >= 2 * KB_GB:
        out.append(setting("huge_pages", "try", "shared_buffers is 2GB or more"))
    else:
        out.append(setting("huge_pages", "off", "shared_buffers is under 2GB"))
    if workload in ("web", "oltp", "mixed"):  # JIT is on by default in 16
        out.append(setting("jit", False, f"{workload}: short queries do not repay JIT compilation"))
    out.append(setting("wal_compression", True,
                       "pglz, which every build has; lz4 needs a server built with it"))
    if cpus >= 16:
        out.append(setting("autovacuum_max_workers", 5 if cpus >= 32 else 4, f"{cpus} cpus"))
    if maintenance >= 2 * KB_GB:
        out.append(setting("autovacuum_work_mem", kb(2 * KB_GB),
                           "maintenance_work_mem is 2GB or more"))
    min_wal, max_wal = WAL_SIZES[workload]
    out.append(setting("min_wal_size", kb(min_wal), f"{workload} workload"))
    out.append(setting("max_wal_size", kb(max_wal), f"{workload} workload"))
    if cpus >= 4:
        half = -(-cpus // 2)
        out.append(setting("max_worker_processes", cpus, f"{cpus} cpus"))
        out.append(setting("max_parallel_workers_per_gather", half if dw else min(half, 4),
                           f"half of {cpus} cpus{'' if dw else ', at most 4'}"))
        out.append(setting("max_parallel_workers", cpus, f"{cpus} cpus"))
        out.append(setting("max_parallel_maintenance_workers", min(half, 4),
                           f"half of {cpus} cpus, at most 4"))
    return out


# --- pg_hba.conf (src/plan/postgres/hba.rs)

LOOPBACK_CIDR = "127.0.0.1/32"


def host_cidr(address):
    return f"{address}/{32 if ipaddress.ip_address(address).version == 4 else 128}"


def hba_record(kind, databases, users, address, method, why):
    return {"kind": kind, "databases": databases, "users": users, "address": address,
            "method": method, "why": why}


def derived_record(kind, database, user, address, why):
    return hba_record(kind, [database], [user], address, "scram-sha-256", why)


def hba_records(site):
    pg = site.pg
    if pg.get("hba"):
        out = [hba_record(r["type"], r["databases"], r["users"], r.get("address"), r["method"],
                          r.get("comment", "from the spec")) for r in pg["hba"]]
    else:
        out = [hba_record("local", ["all"], ["postgres"], None, "peer",
                          "the postgres superuser over the Unix socket"),
               hba_record("local", ["all"], ["all"], None, "peer",
                          "local roles over the Unix socket")]
    kind = "hostssl" if pg.get("ssl") else "host"
    replication = pg.get("replication")
    public = (replication or {}).get("public_port")
    if replication:
        user = replication["user"]
        for replica in site.replicas:
            out.append(derived_record(kind, "replication", user, host_cidr(replica["address"]),
                                      f"replica {replica['name']}"))
        if public:
            out.append(derived_record(kind, "replication", user, LOOPBACK_CIDR,
                                      f"replicas through nginx's stream forward on port {public}"))
    if site.django:
        db = site.django["database"]
        def local(web):
            return site.primary and site.primary["name"] == web["name"]
        remote = any(not local(web) for web in site.webs)
        local_kind = kind if remote and public else "host"
        for web in site.webs:
            if local(web):
                out.append(derived_record(local_kind, db["name"], db["user"], LOOPBACK_CIDR,
                                          f"Django on {web['name']} itself"))
            else:
                out.append(derived_record(kind, db["name"], db["user"],
                                          host_cidr(web["address"]), f"Django on {web['name']}"))
        if remote and public:
            out.append(derived_record(kind, db["name"], db["user"], LOOPBACK_CIDR,
                                      f"Django through nginx's stream forward on port {public}"))
    return dedup_records(out)


def dedup_records(records):
    """A later record that matches what an earlier one matches can never be used."""
    seen, out = set(), []
    for r in records:
        key = (r["kind"], tuple(r["databases"]), tuple(r["users"]), r["address"])
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


# --- nginx (src/plan/nginx.rs)

LAYOUTS = {
    "debian": {"module_file": "/etc/nginx/modules-enabled/50-mod-stream.conf",
               "module": "modules/ngx_stream_module.so",
               "stream_file": "/etc/nginx/sitewright-stream.conf", "http_dir": "/etc/nginx/conf.d"},
    "rhel": {"module_file": "/usr/share/nginx/modules/mod-stream.conf",
             "module": "/usr/lib64/nginx/modules/ngx_stream_module.so",
             "stream_file": "/etc/nginx/sitewright-stream.conf", "http_dir": "/etc/nginx/conf.d"},
}
INTERMEDIATE_CIPHERS = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
HSTS_DEFAULT_AGE = "730d"


def nginx_files(site, host):
    nginx = site.nginx
    if not nginx:
        return []
    paths = LAYOUTS[nginx.get("layout", "debian")]

    def file(path, template, context):
        return PlannedFile(host["name"], path, template, context, 0o644, "root", "nginx", "reload")

    out = []
    forwards = stream_forwards(site, host)
    if forwards:
        out.append(file(paths["module_file"], "nginx/mod-stream.conf.nginx",
                        {"module": paths["module"]}))
        out.append(file(paths["stream_file"], "nginx/stream.conf.nginx",
                        {"site": site.name, "host": host["name"], "directives": [],
                         "forwards": forwards}))
    if "web" in host["roles"] and nginx.get("https"):
        out.append(file(f"{paths['http_dir']}/{site.name}.conf", "nginx/https.conf.nginx",
                        https_context(site, nginx["https"])))
    if "proxy" in host["roles"] and nginx.get("cache_proxy"):
        out.append(file(f"{paths['http_dir']}/{site.name}-cache.conf",
                        "nginx/cache-proxy.conf.nginx", cache_context(site, nginx["cache_proxy"])))
    return out


def socket_address(address, port):
    ip = ipaddress.ip_address(address)
    return f"{ip}:{port}" if ip.version == 4 else f"[{ip}]:{port}"


def stream_forwards(site, host):
    """The forward to PostgreSQL on the primary (nginx.stream's own forwards: not ported)."""
    public = ((site.pg or {}).get("replication") or {}).get("public_port")
    if "postgres-primary" not in host["roles"] or not public:
        return []
    peers = site.replicas + [w for w in site.webs if w["name"] != host["name"]]
    # In address order, as sitewright sorts them: 10.0.0.2 comes before 10.0.0.10.
    allow = [str(a) for a in sorted({ipaddress.ip_address(h["address"]) for h in peers})]
    return [{"name": "postgres", "listen": socket_address(host["address"], public),
             "to": f"127.0.0.1:{pg_port(site.pg)}", "pass": "postgres", "allow": allow,
             "deny": "all", "directives": [],
             "why": "replicas and web hosts reach PostgreSQL here; "
                    "PostgreSQL itself listens on loopback"}]


def listen_context(nginx, listen):
    port, redirect = listen.get("port", 443), listen.get("redirect_port", 80)
    directive = version_at_least(nginx["version"], 1, 25, 1)
    suffix = "" if port == 443 else f":{port}"
    return ({"https": str(port), "http": str(redirect),
             "https_params": ["ssl"] if directive else ["ssl", "http2"],
             "http2": "on" if directive else None},
            {"code": 301, "url": Markup(f"https://$host{suffix}$request_uri")})


def hsts_of(tls):
    hsts = tls.get("hsts", {})
    return (whole_secs(parse_micros(hsts.get("max_age", HSTS_DEFAULT_AGE))) or 0,
            hsts.get("include_subdomains", True), hsts.get("preload", False))


def hsts_header(tls):
    seconds, subdomains, preload = hsts_of(tls)
    return (f"max-age={seconds}" + ("; includeSubDomains" if subdomains else "")
            + ("; preload" if preload else ""))


def tls_context(nginx, tls):
    modern = tls.get("profile", "intermediate") == "modern"
    version = nginx["version"]
    groups = ("X25519MLKEM768:X25519:prime256v1:secp384r1"
              if version_at_least(nginx["openssl"], 3, 5, 0) else "X25519:prime256v1:secp384r1")
    tickets_off = version_at_least(version, 1, 5, 9) and not version_at_least(version, 1, 23, 2)
    return {"certificate": tls["certificate"], "certificate_key": tls["certificate_key"],
            "protocols": ["TLSv1.3"] if modern else ["TLSv1.2", "TLSv1.3"],
            "ciphers": None if modern else INTERMEDIATE_CIPHERS,
            "prefer_server_ciphers": "off", "groups": groups,
            "session": None if modern else {"timeout": "1d", "cache": "shared:MozSSL:10m"},
            "session_tickets": "off" if tickets_off else None,
            "stapling": None, "hsts": hsts_header(tls)}


GZIP = {"on": "on", "proxied": "any",
        "types": ["text/plain", "text/css", "text/javascript", "application/javascript",
                  "application/json", "application/xml", "image/svg+xml"]}


def front_context(site, server):
    """The lines both http server files share (templates/nginx/server.nginx)."""
    listen, redirect = listen_context(site.nginx, server.get("listen", {}))
    return {"server_name": server["server_name"], "server_tokens": "off", "listen": listen,
            "redirect": redirect, "tls": tls_context(site.nginx, server["tls"]), "logs": None,
            "gzip": GZIP}


def stem(site):
    """The site's name as the stem of nginx names, which take no `-`."""
    return site.name.replace("-", "_")


def var(name):
    return Markup(f"${name}")


def https_context(site, https):
    name = stem(site)
    buffers = https.get("proxy_buffers", {"count": 32, "size": "4kB"})
    header, one = parse_bytes(https.get("proxy_buffer_size", "64kB")), parse_bytes(buffers["size"])
    busy = min(2 * max(header, one), (buffers["count"] - 1) * one)
    asgi = https["upstream"].get("protocol", "wsgi") == "asgi"
    upgrade_var = f"{name}_connection_upgrade"
    if asgi:
        connection = [{"note": None, "name": "Upgrade", "value": var("http_upgrade")},
                      {"note": None, "name": "Connection", "value": var(upgrade_var)}]
    else:
        connection = [{"note": None, "name": "Connection", "value": ""}]
    headers = connection + [
        {"note": None, "name": "Host", "value": var("host")},
        {"note": None, "name": "X-Forwarded-For", "value": var("proxy_add_x_forwarded_for")},
        {"note": None, "name": "X-Forwarded-Proto", "value": var("scheme")}]
    buffered = https.get("access_log", "off") == "buffered"
    front = front_context(site, https)
    front["logs"] = {
        "access": (["/var/log/nginx/access.log", "combined", "buffer=64k", "flush=5m"]
                   if buffered else ["off"]),
        "error_path": "/var/log/nginx/error.log",
        "error_level": https.get("error_log_level", "crit")}
    return {
        "site": site.name, **front,
        "upstream": {"name": f"{name}_app", "servers": https["upstream"]["servers"],
                     "keepalive": 16},
        "upgrade": {"source": "http_upgrade", "variable": upgrade_var,
                    "entries": [{"key": "default", "value": "upgrade"},
                                {"key": "", "value": ""}]} if asgi else None,
        "location_upstreams": [], "zones": [], "headers": [], "client_max_body_size": None,
        "directives": [], "locations": [], "hide_django": [],
        "client_body_buffer_size": size_directive_nginx(
            parse_bytes(https.get("client_body_buffer_size", "512kB"))),
        "static_locations": [{"url": s["url"], "alias": s["folder"].rstrip("/") + "/",
                              "expires": "max", "cache_control": "public",
                              "hsts": front["tls"]["hsts"], "inherited": []}
                             for s in https.get("static_locations", [])],
        "proxy": {"pass": f"http://{name}_app", "http_version": "1.1", "headers": headers},
        "hide_hsts": "Strict-Transport-Security",
        "proxy_buffer_size": size_directive_nginx(header),
        "proxy_buffers": {"count": buffers["count"], "size": size_directive_nginx(one)},
        "proxy_busy_buffers_size": size_directive_nginx(busy),
    }


def cache_maps(name, proxy):
    """The cookie rule of the caching proxy: any cookie but the harmless ones makes a request private."""
    session = proxy.get("session_cookie", "sessionid")
    harmless = [c for c in proxy.get("harmless_cookies", []) if c != session]
    note = (f"{', '.join(harmless)}; " if harmless else "none: ") + \
        f"the session cookie {session} is never harmless"
    entries = [{"key": "default", "value": "1"}, {"key": "", "value": "0"}]
    if harmless:
        regex = f"~^\\s*(?:(?:{'|'.join(harmless)})=[^;]*(?:;\\s*|\\z))+\\z"
        entries.append({"key": regex, "value": "0"})
    private = {"source": "http_cookie", "variable": f"{name}_private", "entries": entries}
    upstream = {"source": f"{name}_private", "variable": f"{name}_upstream_cookie",
                "entries": [{"key": "default", "value": ""},
                            {"key": "1", "value": var("http_cookie")}]}
    return note, private, upstream


def cache_server(name, proxy, timeout, buster, hsts):
    headers = [{"note": None, "name": "Connection", "value": ""},
               {"note": "The public server's name and scheme, never the client's "
                        "(a tunnel's localhost:9000 and http).",
                "name": "Host", "value": proxy["server_name"]},
               {"note": None, "name": "X-Forwarded-For", "value": var("proxy_add_x_forwarded_for")},
               {"note": None, "name": "X-Forwarded-Proto", "value": "https"}]
    credentials = [var(f"{name}_private"), var("http_authorization")]
    valid = duration_nginx(parse_micros(proxy["cache"].get("valid", "1h")))
    return {
        "listen": f"127.0.0.1:{proxy['buster_port']}" if buster else None,
        "proxy": {"pass": f"http://{name}_backends", "http_version": "1.1", "headers": headers},
        "timeout": timeout, "tries": 2, "next_timeout": timeout,
        "hide": ["Set-Cookie", "Strict-Transport-Security"],
        "cache": {
            "cookie": var(f"{name}_upstream_cookie"), "zone": f"{name}_cache",
            "key": var("request_uri"),
            "ignore_headers": ["Cache-Control", "Expires", "Set-Cookie", "Vary", "X-Accel-Expires"],
            "valid": [{"codes": [200, 301, 302], "time": valid}, {"codes": [404], "time": "1m"}],
            "use_stale": ["error", "timeout", "updating", "http_500", "http_502", "http_503",
                          "http_504"],
            "background_update": "on", "lock": "on",
            "bypass": [Markup("1")] if buster else credentials, "no_cache": credentials,
            "status": var("upstream_cache_status")},
        "hsts": hsts,
    }


def cache_context(site, proxy):
    name, cache = stem(site), proxy["cache"]
    note, private, upstream_cookie = cache_maps(name, proxy)
    front = front_context(site, proxy)
    timeout = duration_nginx(parse_micros(proxy.get("timeout", "60s")))
    return {
        "site": site.name, **front,
        "cache_path": {"directory": cache["directory"], "levels": "1:2", "zone": f"{name}_cache",
                       "zone_size": "10m", "max_size": size_nginx(parse_bytes(cache["max_size"])),
                       "inactive": duration_nginx(parse_micros(cache.get("inactive", "7d"))),
                       "use_temp_path": "off"},
        "upstream": {"name": f"{name}_backends", "servers": proxy["backends"], "keepalive": 16},
        "long_upstream": None,
        "cookie_note": note, "private": private, "upstream_cookie": upstream_cookie,
        "maintenance": None, "client_max_body_size": None, "directives": [],
        "public": cache_server(name, proxy, timeout, False, front["tls"]["hsts"]),
        "buster": (cache_server(name, proxy, timeout, True, None)
                   if proxy.get("buster_port") else None),
        "long": None,
    }


# --- sysctl (src/plan/sysctl.rs, src/sysctl_keys.rs)

EXCLUSIVE = (("vm.dirty_bytes", "vm.dirty_ratio"),
             ("vm.dirty_background_bytes", "vm.dirty_background_ratio"))
_sysctl_kinds = None


def sysctl_kind(name):
    """The kind of value a kernel parameter takes, from sitewright's checked-in list."""
    global _sysctl_kinds
    if _sysctl_kinds is None:
        lines = SYSCTL_KEYS.read_text().splitlines()[1:]
        _sysctl_kinds = dict(line.split("\t", 1) for line in lines if "\t" in line)
    return _sysctl_kinds.get(name, "string")


def sysctl_value(name, value):
    """The number the kernel reads for a spec value, and how it was converted when it was."""
    kind = sysctl_kind(name)
    if isinstance(value, int):
        return str(value), None
    if kind in ("bytes", "kbytes", "pages"):
        unit, what = {"bytes": (1, "bytes"), "kbytes": (1024, "kB"),
                      "pages": (4096, "4kB pages")}[kind]
        size = parse_bytes(value)
        return str(size // unit), f"{size_postgres(size)} in {what}"
    if kind == "percent":
        n = int(value.rstrip("%").strip())
        return str(n), f"{n}% of memory"
    if kind == "centisecs":
        micros = parse_micros(value)
        return str(micros // 10_000), f"{duration_postgres(micros)} in centiseconds"
    if kind == "ints":
        return " ".join(value.split()), None
    return value, None


def sysctl_files(site, host):
    sysctl = site.sysctl
    if not sysctl:
        return []
    roles = sysctl.get("roles", [])
    if roles and not any(r in host["roles"] for r in roles):
        return []
    settings = {}
    # In name order, as sitewright's BTreeMap: of both members of an exclusive pair, the later wins.
    for name, value in sorted(sysctl.get("settings", {}).items()):
        if "/" in name:  # procps's slash form: `/` and `.` swap
            name = name.translate(str.maketrans("/.", "./"))
        for a, b in EXCLUSIVE:
            if name in (a, b):
                settings.pop(b if name == a else a, None)
        text, why = sysctl_value(name, value)
        settings[name] = setting(name, text, why)
    path = f"/etc/sysctl.d/{sysctl.get('priority', 60):02}-sitewright.conf"
    planned = PlannedFile(host["name"], path, "sysctl/sysctl.conf.sysctl",
                          {"site": site.name, "host": host["name"],
                           "settings": [settings[k] for k in sorted(settings)]},
                          0o644, "root", "sysctl", "apply")
    planned.apply = f"sysctl -p {path} (or sysctl --system)"
    return [planned]


# --- Django (src/plan/django.rs)

TUPLE_MARK = "__tuple__"


def django_files(site, host):
    if not site.django or "web" not in host["roles"]:
        return []
    return [PlannedFile(host["name"], site.django["settings_file"], "django/settings.py",
                        django_context(site, host), 0o644, "root", "django", "restart")]


def runtime_read(secret):
    """How the settings module reads a secret when Django starts: the code the plan picks, with
    the variable's name or the file's path quoted inside it (src/escape.rs PythonCode)."""
    if "env" in secret:
        return Markup(f"os.environ[{python_str(secret['env'])}]")
    return Markup(f"_secret_file({python_str(secret['file'])})")


def python_name(name):
    """A dotted name written bare, once checked to be one (src/escape.rs PythonCode::Name)."""
    ok = (bool(name) and name[0].isascii() and (name[0].isalpha() or name[0] == "_")
          and all(c.isascii() and (c.isalnum() or c in "_.") for c in name[1:]))
    if not ok:
        refuse(name, "a name must be letters, digits, `_` and `.`")
    return Markup(name)


def python_value(value):
    """A spec value as the Python format writes it; `{tuple: [...]}` becomes a marked tuple."""
    if isinstance(value, list):
        return [python_value(v) for v in value]
    if isinstance(value, dict):
        if list(value) == ["tuple"] and isinstance(value["tuple"], list):
            return {TUPLE_MARK: [python_value(v) for v in value["tuple"]]}
        return {k: python_value(v) for k, v in value.items()}
    return value


def django_tls(https):
    """The settings of a site served through nginx's TLS, HSTS as nginx sends it."""
    seconds, subdomains, preload = hsts_of(https["tls"])
    silenced = []
    if not preload:
        silenced.append({"id": "security.W021", "why": "tls.hsts.preload is off: a preload list entry is hard to undo, so only when asked"})
    if not subdomains:
        silenced.append({"id": "security.W005", "why": "tls.hsts.include_subdomains is off: not every subdomain serves HTTPS"})
    return {"proxy_ssl_header": {TUPLE_MARK: ["HTTP_X_FORWARDED_PROTO", "https"]},
            "ssl_redirect": True, "session_cookie_secure": True, "csrf_cookie_secure": True,
            "hsts_seconds": seconds, "hsts_subdomains": subdomains, "hsts_preload": preload,
            "referrer_policy": "same-origin", "content_type_nosniff": True,
            "frame_options": "DENY", "silenced": silenced}


def django_context(site, host):
    django = site.django
    https = (site.nginx or {}).get("https")
    server_name = https["server_name"] if https else None
    origins = None
    if https:
        port = https.get("listen", {}).get("port", 443)
        origins = [f"https://{server_name}" if port == 443 else f"https://{server_name}:{port}"]
    settings = [{"name": "LOGGING", "value": {
        "version": 1, "disable_existing_loggers": False,
        "handlers": {"stderr": {"class": "logging.StreamHandler"}},
        "root": {"handlers": ["stderr"], "level": "WARNING"}}}]
    for name, value in sorted(django.get("extra", {}).items()):
        settings.append({"name": name, "value": Markup("None") if value is None else python_value(value)})
    base = django.get("base_module")
    return {
        "site": site.name, "host": host["name"], "read_only": False,
        "base_module": python_name(base) if base else None,
        "debug": False,
        "allowed_hosts": [server_name] if server_name else [],
        "csrf_trusted_origins": origins,
        "secret_key": runtime_read(django["secret_key"]),
        "databases": django_databases(site, host),
        "tls": django_tls(https) if https else None,
        "add_apps": None, "cache": None,
        "settings": settings,
    }


def django_databases(site, host):
    """DATABASES: the primary as the default connection, its entries in the module's order."""
    pg, db = site.pg, site.django["database"]
    if not pg or not site.primary:
        return []
    target = site.primary
    local = target["name"] == host["name"]
    public = (pg.get("replication") or {}).get("public_port")
    age = db.get("conn_max_age")
    age = whole_secs(parse_micros(age)) if age is not None else None
    entries = [("ENGINE", "django.db.backends.postgresql"), ("NAME", db["name"]),
               ("USER", db["user"]), ("PASSWORD", runtime_read(db["password"])),
               ("HOST", "127.0.0.1" if local else target["address"]),
               ("PORT", public if public and not local else pg_port(pg))]
    if age is not None:
        entries.append(("CONN_MAX_AGE", age))
    if version_at_least(site.django["version"], 4, 1, 0) and age:
        entries.append(("CONN_HEALTH_CHECKS", True))
    options = client_tls(pg) if not local else None
    if options:
        entries.append(("OPTIONS", options))
    return [{"alias": "default", "why": "the primary",
             "entries": [{"key": k, "value": v} for k, v in entries]}]


# ---------------------------------------------------------------------------------------------
# Rendering (src/render.rs, src/escape.rs): every `{{ … }}` written in the file's format.

def to_text(value):
    """A value as minijinja prints it: true/false/none, not Python's True/False/None."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "none"
    return str(value)


def refuse(value, reason):
    raise RenderError(f"{str(value)[:40]!r} cannot be written safely: {reason}")


def scalar(value, what="only a single value fits here"):
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float, str)):
        return str(value)
    return refuse(value, what)


def is_pg_bare(text):
    """Words the postgresql.conf lexer reads unquoted as the same string: replica, 16GB, 0.9."""
    word = bool(text) and text[0].isascii() and text[0].isalpha() and all(
        c.isascii() and (c.isalnum() or c == "_") for c in text)
    digits = text.lstrip("-")
    end = next((i for i, c in enumerate(digits) if not (c.isdigit() and c.isascii() or c == ".")),
               len(digits))
    number, unit = digits[:end], digits[end:]
    with_unit = (bool(number) and number[0].isdigit() and number.count(".") <= 1
                 and not number.endswith(".") and all(c.isascii() and c.isalpha() for c in unit))
    return word or with_unit


PG_ESCAPES = {"'": "''", "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def pg_conf(value):
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        return refuse(value, "postgresql.conf values are single values")
    if is_pg_bare(value):
        return value
    if "\0" in value:
        return refuse(value, "PostgreSQL strings cannot hold NUL")
    quoted = []
    for c in value:
        if c in PG_ESCAPES:
            quoted.append(PG_ESCAPES[c])
        elif ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0:  # Rust's char::is_control
            quoted.append(f"\\{ord(c):03o}")
        else:
            quoted.append(c)
    return "'" + "".join(quoted) + "'"


def pg_hba(value):
    text = scalar(value, "a pg_hba.conf field holds one token")
    if not text:
        return refuse(text, "an empty pg_hba.conf field")
    if any(c in text for c in '"\n\r\0'):
        return refuse(text, 'pg_hba.conf has no way to write `"` or a line break')
    plain = all((c.isascii() and c.isalnum()) or c in "_.-:/" or (i == 0 and c == "+")
                for i, c in enumerate(text)) and not text.startswith(("#", "@", "/"))
    return text if plain else f'"{text}"'


def pg_pass(value):
    text = scalar(value)
    if any(c in text for c in "\n\r\0"):
        return refuse("<secret>", "a passfile entry is one line")
    return text.replace("\\", "\\\\").replace(":", "\\:")


NGINX_PLAIN = set("_.-:/[]@+=,*~")


def nginx(value):
    text = scalar(value)
    if "$" in text:
        return refuse(text, "nginx reads `$` as a variable and has no escape for it")
    if any(ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0 for c in text):
        return refuse(text, "control characters in an nginx value")
    if text and all((c.isascii() and c.isalnum()) or c in NGINX_PLAIN for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sysctl(value):
    text = scalar(value)
    if any(c in text for c in "\n\r\0") or text.startswith(("#", ";")) or text.strip() != text:
        return refuse(text, "a sysctl value is one line without leading `#`, `;` or blanks")
    return text


def sql(value):
    text = scalar(value)
    if "\0" in text:
        return refuse(text, "SQL strings cannot hold NUL")
    return "'" + text.replace("'", "''") + "'"


def cron(value):
    text = scalar(value)
    if any(ord(c) < 0x20 or 0x7f <= ord(c) < 0xa0 or c in "$`;&|<>'\"\\(){}!#~" for c in text):
        return refuse(text, "a cron command word cannot hold shell syntax or line breaks")
    return text.replace("%", "\\%")


def plain(value):
    text = scalar(value)
    if any(c in text for c in "\n\r\0"):
        return refuse(text, "a line break in a one-line value")
    return text


def python_str(text):
    out = ['"']
    for c in text:
        code = ord(c)
        if c in '\\"':
            out.append("\\" + c)
        elif c in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[c])
        elif 0x20 <= code <= 0x7e:
            out.append(c)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def python(value):
    """A Python literal. Maps come from serde_json in sitewright, so their keys are sorted."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Rust's {:?} and repr agree on plain floats; their exponent spellings (1e16 vs 1e+16)
        # differ, which generated sites never reach: they hold no floats for Python.
        return repr(value)
    if isinstance(value, str):
        return python_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(python, value)) + "]"
    if isinstance(value, dict) and list(value) == [TUPLE_MARK]:
        items = [python(v) for v in value[TUPLE_MARK]]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{python(k)}: {python(value[k])}" for k in sorted(value)) + "}"
    return refuse(value, "no Python literal for this value")


# A template's last extension picks its format (src/escape.rs Format::for_template).
FORMATS = {"pgconf": pg_conf, "pghba": pg_hba, "pgpass": pg_pass, "nginx": nginx,
           "sysctl": sysctl, "py": python, "sql": sql, "cron": cron, "txt": plain}


def format_of(template_name):
    return FORMATS.get(template_name.rsplit(".", 1)[-1])


@jinja2.pass_context
def finalize(context, value):
    """Every `{{ … }}`: safe strings (filters, macros) as they are, anything else escaped."""
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, Markup):
        return value
    write = format_of(context.name)
    if write is None:
        raise RenderError("the template's extension names no output format")
    return Markup(write(value))


@jinja2.pass_context
def ident(context, value):
    """`{{ name|ident }}`: a setting, variable or role name, bare (double-quoted in SQL)."""
    name = value if isinstance(value, str) else ""
    ok = (bool(name) and name[0].isascii() and (name[0].isalpha() or name[0] == "_")
          and all(c.isascii() and (c.isalnum() or c in "_.") for c in name[1:]))
    if not ok:
        refuse(name, "a name must be letters, digits, `_` and `.`")
    return Markup(f'"{name}"' if format_of(context.name) is sql else name)


def comment(value):
    """`{{ text|comment }}`: free text inside a comment, which must stay on its line."""
    text = to_text(value)
    if any(c in text for c in "\n\r\0"):
        raise RenderError("a comment cannot hold a line break")
    return Markup(text)


def make_environment():
    """One environment for every file, with minijinja's whitespace rules (src/render.rs)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        # Autoescape on only so that Jinja2 tracks which strings are already safe (Markup);
        # the escaping itself is the format's, done in finalize.
        autoescape=True, finalize=finalize)
    env.filters["ident"] = ident
    env.filters["comment"] = comment
    return env


def placeholder(secret):
    """What stands for a secret that was not resolved (src/render.rs `placeholder`)."""
    return f"<secret from env {secret['env']}>" if "env" in secret else \
        f"<secret from file {secret['file']}>"


def render_file(env, planned):
    context = dict(planned.context)
    for key, secret in planned.secrets.items():
        context[key] = placeholder(secret)
    try:
        return env.get_template(planned.template).render(context)
    except (RenderError, jinja2.TemplateError) as e:
        raise RenderError(f"template {planned.template} (for {planned.host}:{planned.path}): "
                          f"{e}") from e


def render_all(env, files):
    return [(planned, render_file(env, planned)) for planned in files]


# ---------------------------------------------------------------------------------------------
# manifest.json (src/manifest.rs)

def mask_passfile(text):
    """Each entry's password, the text after its fourth unescaped `:`, as ********."""
    out = []
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("#") or not line.strip():
            out.append(line)
            continue
        fields, escaped = 0, False
        for i, c in enumerate(line):
            if c == "\\" and not escaped:
                escaped = True
            elif c == ":" and not escaped:
                fields += 1
                if fields == 4:
                    out.append(line[:i + 1] + "********" + ("\n" if line.endswith("\n") else ""))
                    break
            else:
                escaped = False
        else:
            out.append("********\n")
    return "".join(out)


def shown(planned, content):
    return mask_passfile(content) if planned.passfile else content


_restart_settings = {}


def needs_restart(major, name):
    """True for a setting a change to which needs a restart, or one the table does not know."""
    if major not in _restart_settings:
        lines = Path(str(PG_SETTINGS).format(major=major)).read_text().splitlines()[1:]
        known = {}
        for line in lines:
            fields = line.split("\t")
            known[fields[0].lower()] = fields[6] == "postmaster"
        _restart_settings[major] = known
    return _restart_settings[major].get(name, True)


def conf_names(text):
    """The setting names a postgresql.conf sets, lower-cased (pg_settings::read_conf's keys)."""
    names = set()
    for line in text.splitlines():
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        end = next((i for i, c in enumerate(line) if c.isspace() or c == "="), len(line))
        names.add(line[:end].lower())
    return sorted(names)


def manifest_entry(planned, content):
    entry = {"host": planned.host, "path": planned.path, "mode": f"{planned.mode:04o}",
             "owner": planned.owner, "group": planned.owner,
             "sha256": hashlib.sha256(shown(planned, content).encode()).hexdigest(),
             "service": planned.service, "on_change": planned.on_change,
             "secret": planned.passfile}
    if planned.apply is not None:
        entry["apply"] = planned.apply
    if planned.pg_major is not None:
        settings = {name: "restart" if needs_restart(planned.pg_major, name) else "reload"
                    for name in conf_names(content)}
        if settings:
            entry["settings"] = settings
    return entry


def manifest_json(site, rendered):
    version = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]["version"]
    manifest = {"generator": f"sitewright {version}", "site": site.name,
                "files": [manifest_entry(p, c) for p, c in rendered]}
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


# Each host's own manifest (src/manifest.rs HOST_MANIFEST): its files alone, written after them.
HOST_MANIFEST = "etc/sitewright/manifest.json"


# ---------------------------------------------------------------------------------------------
# Commands

def destination(root, planned):
    return Path(root) / planned.host / planned.path.lstrip("/")


def write_file(path, content, mode):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        os.fchmod(f.fileno(), mode)  # the umask and an older file's mode must not win
        f.write(content)


def write_tree(site, rendered, out):
    made = set()
    for planned, content in rendered:
        path = destination(out, planned)
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        write_file(path, content, planned.mode)
    for host in dict.fromkeys(p.host for p, _ in rendered):
        path = Path(out) / host / HOST_MANIFEST
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(path, manifest_json(site, [(p, c) for p, c in rendered if p.host == host]), 0o644)
    write_file(Path(out) / "manifest.json", manifest_json(site, rendered), 0o644)


def load_site(spec_path):
    """YAML, schema, then the typed site: what every command starts with."""
    doc = load_yaml(spec_path)
    errors = validation_errors(make_validator(), doc)
    if errors:
        raise ValueError(f"{spec_path}: invalid spec:\n  " + "\n  ".join(errors))
    refuse_unported(doc)
    return Site(doc)


def command_render(spec_path, out):
    site = load_site(spec_path)
    rendered = render_all(make_environment(), plan(site))
    write_tree(site, rendered, out)
    hosts = len({p.host for p, _ in rendered})
    print(f"wrote {len(rendered) + hosts} files for {hosts} hosts and manifest.json to {out}")
    return 0


def command_diff(spec_path, live):
    site = load_site(spec_path)
    differs = False
    for planned, content in render_all(make_environment(), plan(site)):
        label = f"{planned.host}{planned.path}"
        path = destination(live, planned)
        try:
            current = shown(planned, path.read_text(encoding="utf-8", errors="replace"))
            before = f"a/{label}"
        except FileNotFoundError:
            current, before = "", "/dev/null"
        rendered = shown(planned, content)
        if current == rendered:
            continue
        differs = True
        for line in difflib.unified_diff(current.splitlines(keepends=True),
                                         rendered.splitlines(keepends=True), before, f"b/{label}"):
            sys.stdout.write(line if line.endswith("\n") else line + "\n")
    return 1 if differs else 0


def command_check(spec_path):
    site = load_site(spec_path)
    files = plan(site)
    print(f"ok: {len(site.hosts)} hosts, {len(files)} files")
    return 0


USAGE = """usage: baseline.py render SPEC -o OUT
       baseline.py diff SPEC --live DIR
       baseline.py check SPEC"""


def main(argv):
    match argv:
        case ["render", spec, "-o", out]:
            run, failed = (lambda: command_render(spec, out)), 1
        case ["diff", spec, "--live", live]:
            run, failed = (lambda: command_diff(spec, live)), 2
        case ["check", spec]:
            run, failed = (lambda: command_check(spec)), 1
        case _:
            print(USAGE, file=sys.stderr)
            return 2
    try:
        return run()
    except (OSError, ValueError, yaml.YAMLError, NotPorted, RenderError) as e:
        print(f"error: {e}", file=sys.stderr)
        return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
