//! Every rule `check` applies: a stable id, a severity, and the explanation `sitewright explain ID`
//! shows. Ids never change meaning, so CI logs and notes stay searchable.
//!
//! The registry below generates [`Rule`], one variant a rule, so an emission site names its rule
//! as a variant (a misspelt id does not compile) and `tests/it/rules.rs` can ask every variant for
//! a spec that trips it. The registry sits below [`crate::diagnostic`], which takes a `Rule`
//! and reads its severity from here; this module knows nothing of diagnostics.
//!
//! Retired ids, never to be given another meaning: PG014 (a replica of another major), PG021
//! (primary_conninfo on another port than the replicas' upstream) and PG022 (PostgreSQL listening
//! beyond loopback beside nginx's forward). No spec could trip them: the spec has one
//! `postgres.version` for the whole cluster, and the port and listen address each come from one
//! spec value that the plan writes into both files. What PG021 and PG022 guarded is held by a
//! test of the rendered files (tests/it/rules.rs) instead of a rule that can never fire.

use std::fmt;

/// How bad a problem is: an error makes `check` exit 1, a warning does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Warning => "warning",
            Self::Error => "error",
        })
    }
}

macro_rules! rules {
    ($($id:ident $severity:ident $summary:literal $explanation:literal;)*) => {
        /// One rule of `check`, named by its id.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule {
            $(#[doc = $summary] $id,)*
        }

        impl Rule {
            /// Every rule, in id order.
            pub const ALL: &[Rule] = &[$(Rule::$id),*];

            /// The id as `check` prints it and `explain` takes it: `PG017`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Rule::$id => stringify!($id),)*
                }
            }

            /// The severity every problem of this rule has.
            pub const fn severity(self) -> Severity {
                match self {
                    $(Rule::$id => Severity::$severity,)*
                }
            }

            /// One line: what the rule is about.
            pub const fn summary(self) -> &'static str {
                match self {
                    $(Rule::$id => $summary,)*
                }
            }

            /// Why the rule exists and what to do, as `explain` shows it.
            pub const fn explanation(self) -> &'static str {
                match self {
                    $(Rule::$id => $explanation,)*
                }
            }
        }
    };
}

rules! {
    DJ001 Error "The Django database host runs no PostgreSQL"
        "`django.database.host` names the host Django connects to; it must be a host with the postgres-primary or postgres-replica role, so that its address and port come from the same spec as the server's.";
    DJ002 Error "CONN_MAX_AGE is not whole seconds"
        "Django's CONN_MAX_AGE counts whole seconds; write `django.database.conn_max_age` as `60s` or `5min`.";
    DJ003 Error "A read-only instance without a base module"
        "A web host that is also a PostgreSQL replica runs CATMAID's read-only mirror, which adds the nolastlogin app to INSTALLED_APPS. That list comes from the application's own settings, so `django.base_module` must name them.";
    DJ004 Error "A database replica that is not a replica"
        "`django.database.replicas` adds read-only connections to the hosts it names; each must have the postgres-replica role.";
    DJ005 Error "A reserved dict key in extra"
        "sitewright writes Python tuples through a dict with the single key `__tuple__`, so no extra setting may use that key.";
    DJ006 Error "A SECURE_PROXY_SSL_HEADER other than the one nginx makes true"
        "SECURE_PROXY_SSL_HEADER makes Django believe a request came over HTTPS when the header says so. A client can send any header; only one that nginx overwrites on every request (X-Forwarded-Proto, with $scheme) is safe to trust, and nginx writes `https` in it for HTTPS. So the one right value is (\"HTTP_X_FORWARDED_PROTO\", \"https\"): another header can be forged, and another value (such as an inverted \"http\") makes Django take every HTTPS request for plain HTTP and redirect it forever. sitewright writes that value itself behind nginx.https, so `extra` also trips DJ009.";
    DJ009 Error "extra sets a setting that a typed field or the site decides"
        "`extra` is written last, so it would replace what sitewright writes. It may not set a setting that a typed field decides (SECRET_KEY and DATABASES, so that secrets are read at run time; ALLOWED_HOSTS; CACHES, SESSION_ENGINE and EMAIL_*; the HSTS settings, as nginx sends them) nor one the site decides (DEBUG, SECURE_PROXY_SSL_HEADER, the secure cookies and the rest of what `check --deploy` asks of a site served over TLS). The error names the field to set instead, or why sitewright decides it. The list is the one the plan writes the module from (`WRITTEN` in src/plan/django.rs); `sitewright explain` on the settings file shows where each comes from.";
    DJ010 Error "A Django older than sitewright writes for"
        "The settings module sitewright writes is for Django 3.2 and later: it sets SECURE_REFERRER_POLICY (from 3.0) and names the cache backends as 3.2 and later name them. Upgrade Django, or keep that site's settings by hand.";
    DJ011 Warning "A Django newer than sitewright knows"
        "sitewright knows the settings of Django up to 6.0. A newer release may rename or remove one that it writes; run `manage.py check --deploy` on the rendered module.";
    HBA001 Warning "A pg_hba.conf record that can never match"
        "PostgreSQL uses the first record that matches a connection. A record whose connections an earlier record already matches is never used: remove it, or move it up.";
    HBA002 Error "trust over the network"
        "`trust` lets anyone who can reach the port log in as any role without a password. Use it, if at all, only on `local` records (the Unix socket), and prefer peer there.";
    HBA003 Warning "md5 where scram-sha-256 is available"
        "md5 password hashes can be replayed from a stolen pg_hba-protected dump and are deprecated in PostgreSQL 18; every supported major speaks scram-sha-256.";
    HBA004 Warning "Password logins from anywhere"
        "A record for 0.0.0.0/0 or ::/0 with a password method lets the whole internet try passwords; name the networks the clients are in.";
    HBA005 Error "A backup that pg_hba.conf shuts out"
        "cron runs the nightly pg_dump (`postgres.backup`) as the postgres OS user, over the Unix socket, as the postgres role, with no password: the first pg_hba.conf record that matches that connection must be a local record with peer (or trust). sitewright writes `local all postgres peer` first unless `postgres.hba_local: replace` says that the spec's `hba` records replace the local ones; then one of them must let postgres in, before any local record that would refuse it or ask for a password. Add `{ type: local, databases: [all], users: [postgres], method: peer }` to `hba` ahead of the other local records, or drop `hba_local: replace`. A `+group` record is taken not to match postgres, which is a member of a group only if granted.";
    NET001 Error "Two services on one address and port"
        "Two listeners on the same host, address and port cannot both start: the second fails with 'address already in use'. Each port of nginx, PostgreSQL, PgBouncer and the application servers on a host must be its own.";
    NGX001 Error "A stream forward on the PostgreSQL public port"
        "`postgres.replication.public_port` is already nginx's forward to PostgreSQL; an extra `nginx.stream` forward cannot listen on it too.";
    NGX002 Error "A forwarded port without nginx"
        "`postgres.replication.public_port` makes nginx forward that port to PostgreSQL, which then listens on loopback; the spec needs an `nginx:` section with the version the primary runs.";
    NGX003 Warning "nginx configured but unused"
        "No host runs nginx: it needs a web host, a proxy host, or a forwarded PostgreSQL port.";
    NGX004 Error "The old TLS profile"
        "Mozilla's server-side TLS guidelines 6.0 removed the old profile: it needs TLS 1.0 and 1.1, which current browsers and OpenSSL 3 refuse. Use intermediate (TLS 1.2 and 1.3).";
    NGX005 Error "An OpenSSL without TLS 1.3"
        "Both TLS profiles offer TLS 1.3, which OpenSSL has from 1.1.1.";
    NGX006 Error "OCSP stapling without a trusted chain"
        "nginx verifies stapled OCSP responses with ssl_trusted_certificate, the issuer's chain; give it in `tls.trusted_certificate`.";
    NGX007 Warning "Proxy buffers that do not fit in memory"
        "Each connection may hold proxy_buffers' count times size. For the expected connections that should stay under a tenth of the host's memory, or nginx competes with everything else on it.";
    NGX008 Error "An nginx too old"
        "sitewright writes for nginx 1.18 and later.";
    NGX009 Error "Proxy buffers nginx refuses"
        "nginx needs proxy_busy_buffers_size to be at least the larger of proxy_buffer_size and one of proxy_buffers, and at most all proxy_buffers but one; sitewright writes a value between the two, so proxy_buffer_size must fit in proxy_buffers' count minus one times their size. Each buffer must also fit in proxy_max_temp_file_size (1GB, nginx's default). Raise proxy_buffers' count, or lower proxy_buffer_size.";
    NGX010 Warning "nginx and OpenSSL versions no known build pairs"
        "The TLS groups sitewright writes follow `nginx.openssl` (X25519MLKEM768 from OpenSSL 3.5), and an nginx built with an older OpenSSL refuses to start with them. Versions are compared by major.minor with the builds of Debian 11 (nginx 1.18, OpenSSL 1.1), Debian 12 (1.22, 3.0), Debian 13 (1.26, 3.5), Ubuntu 20.04 (1.18, 1.1), Ubuntu 22.04 (1.18, 3.0), Ubuntu 24.04 (1.24, 3.0) and RHEL 9 (1.20, 1.22 or 1.24, with 3.0). For an nginx built another way, check `nginx -V` and keep the warning.";
    NGX011 Error "OCSP stapling without a resolver"
        "nginx fetches OCSP responses from the responder named in the certificate, and needs a `resolver` to look that name up; without one it logs 'no resolver defined' and staples nothing. Give the DNS servers in `tls.resolver`; it is written only while stapling.";
    NGX012 Warning "HSTS kept too briefly"
        "Strict-Transport-Security protects only while browsers remember it: below six months (a year with `preload`, which the browsers' lists require) a returning visitor is open to a downgrade again. Mozilla's guidelines give two years, sitewright's default.";
    NGX013 Error "The session cookie listed as harmless"
        "The caching proxy serves from the cache, and stores, only requests whose cookies are all in `cache_proxy.harmless_cookies`; the session cookie marks a logged-in user, whose pages must never be stored nor served to others, so it cannot be harmless.";
    NGX014 Error "A static folder that holds private files"
        "Everything under a static location's `folder`, or a location's `alias`, is served to anyone who asks (nginx's `alias`: with `url: /static/`, /static/app.css is FOLDER/app.css). So the folder may hold neither the Django project (the folder of `django.settings_file`, or a parent of it) and its settings module, nor a TLS certificate or key the spec names, nor a secret file, nor PostgreSQL's data or configuration directory, and may not lie inside those directories. Serve a folder of public files only, such as the project's STATIC_ROOT.";
    NGX015 Error "A location nginx cannot serve as written"
        "A location of `nginx.https.locations` does one thing: `proxy` (to the application, `app`, or to servers of its own), `alias` (serve a folder) or `return` (a status, with a URL for a redirect or a text otherwise). Its URL is one no other location has, and not `/`, which sitewright writes for the application (the server's `directives` reach it). An alias location's URL ends with `/`: nginx's alias swaps the URL prefix for the folder, so `/media` would also serve `/media-private` from the folder's neighbour. `try_files` needs `alias`, the folder it looks in.";
    NGX016 Error "A directive the spec's nginx does not have"
        "A directive of the spec's own (`directives`, `http_directives`, `stream_directives`, and `try_files` and `return`) must be one that the nginx of `nginx.version` has, in the build the distribution ships: a misspelt name (the error gives the nearest one), one that arrived in a later release or left in an earlier one, or one from a module Debian's package does not build in, makes `nginx -t` fail and nginx refuse to start. The table is data/nginx/directives.tsv, read from nginx's own sources for every release from 1.18 (scripts/nginx-directives), and the builds' modules from their `nginx -V`.";
    NGX017 Error "A directive nginx refuses where or as it is written"
        "nginx takes each directive in some blocks only (http, server, location, stream, a stream server), with a set number of arguments, and, where its own standard parser reads the value, only values it can parse: on or off, a time such as 30s, a size such as 8k, a whole number, or one of a list of words. Every `$name` must be a variable that nginx has (or one the spec's `set` lines define), and a block directive (location, if, map, upstream) cannot be a one-line directive. A directive that nginx takes once per block cannot be given twice. The message says what nginx would accept.";
    NGX018 Error "A directive sitewright writes itself"
        "sitewright writes some directives at the same place from typed fields (the TLS lines from `tls`, `client_max_body_size`, `access_log`, a location's `proxy`, `alias`, `return`, `headers`, and its limits): nginx would refuse a second line of most of them (\"is duplicate\"), and a second `add_header` would break the repetition of the server's headers in its locations. Set the typed field the message names instead.";
    NGX019 Warning "A directive a lower block sets again"
        "nginx uses the directive of the innermost block: a directive in `http_directives` that every HTTPS server sitewright writes sets too, or one in `nginx.https.directives` that `location /` sets (its proxy headers and buffers), has no effect where the lower block sets its own. For array directives such as `proxy_set_header` the lower block's list replaces the whole upper one. Set it where it takes effect, or through the typed field.";
    NGX020 Warning "Directives no file holds"
        "`http_directives` are written on the hosts that serve HTTP (a web host with `nginx.https`, a proxy host with `nginx.cache_proxy`), and `stream_directives` in the stream block of the PostgreSQL primary when it forwards a port. With no such host they are written nowhere.";
    NGX021 Warning "A directive nginx warns about"
        "nginx still accepts the directive but warns each time it starts: it is deprecated (and may go in a later release; the message says what replaces it) or obsolete (nginx ignores it).";
    PG001 Error "A host both primary and replica"
        "A server is either the primary or a streaming replica of it.";
    PG002 Error "A PostgreSQL role without a postgres section"
        "Hosts with the postgres-primary or postgres-replica role need the `postgres:` section that says how the cluster runs.";
    PG003 Error "Not exactly one primary"
        "A cluster has one primary, which the replicas follow.";
    PG004 Error "Replicas without replication"
        "Replicas need `postgres.replication`: the role they log in as and its password.";
    PG005 Error "The public port is PostgreSQL's own"
        "nginx cannot listen on the port PostgreSQL listens on; pick another `public_port`.";
    PG006 Error "A setting written from a typed field"
        "Some postgresql.conf settings are written from typed fields of the spec (the port, the directories, SSL, replication, promotion, archiving, a replica's statement timeout, and the include directives include_dir, include and include_if_exists, which are written last) so that other files agree with them; set them there, not in `settings` or a host's `postgres_settings`. The list is the plan's own (plan/postgres/conf.rs), on every major that has the setting.";
    PG007 Error "A name that pg_hba.conf reads as a keyword"
        "pg_hba.conf reads all, sameuser, samerole, samegroup and replication as keywords in its database and user columns; a role or database of that name cannot be written there.";
    PG008 Error "promote_trigger_file on PostgreSQL 16 or later"
        "PostgreSQL 16 removed promote_trigger_file (a server with it in its configuration does not start). Promote with `pg_ctl promote` or `SELECT pg_promote()`.";
    PG009 Error "GSSAPI-encrypted records before PostgreSQL 12"
        "hostgssenc and hostnogssenc records arrived in PostgreSQL 12.";
    PG010 Error "A pg_hba.conf record that cannot work"
        "local records have no address and every other type needs one; cert needs hostssl; peer works only on local records.";
    PG011 Error "A statement timeout that is not whole milliseconds"
        "statement_timeout counts milliseconds, and 0 turns it off.";
    PG012 Error "A setting the major does not have"
        "Settings are checked against the table of every setting the spec's PostgreSQL major accepts, generated from the real server (data/postgres/). A setting of another major says when it came or went; a name the major's server still accepts (an alias, a hidden no-op) is PG027 instead.";
    PG013 Error "A value the setting does not accept"
        "Values are read as the server reads them: units are case-sensitive, and numbers must fit the setting's range.";
    PG015 Error "A replica that pg_hba.conf does not let in"
        "The first pg_hba.conf record that matches a replica's replication connection (from its address, or from 127.0.0.1 through nginx's forward) must accept it over SSL with a password. A `reject` or a record for other users placed earlier shuts it out.";
    PG016 Error "Replication over plain host with SSL on"
        "With SSL on, replication records should be hostssl: a `host` record also admits a replica that does not use SSL, and the WAL then crosses the network in the clear.";
    PG017 Error "A standby with less than its primary"
        "A standby's max_connections, max_prepared_transactions, max_locks_per_transaction, max_wal_senders and max_worker_processes must be at least its primary's, or it refuses to start or pauses recovery.";
    PG018 Error "Too few WAL senders"
        "Each replica holds a WAL sender, and a base backup takes one or two more: max_wal_senders must be at least the replicas plus 2.";
    PG019 Error "wal_level too low for replicas"
        "Streaming replicas need wal_level replica or logical on the primary.";
    PG020 Error "A replica that serves reads with hot_standby off"
        "A replica that serves read-only queries (a web host on it, or a replica statement timeout) must run with hot_standby on, or it accepts no connections.";
    PG023 Warning "Replicas that can fall behind for good"
        "Without WAL archiving or a replication slot, a replica that is down longer than the primary keeps WAL must be rebuilt from a new base backup. With neither `postgres.replication.wal_keep` nor `postgres.archive`, sitewright keeps 1GB; a smaller `wal_keep` without an archive warns: raise it to 1GB or more, or archive WAL.";
    PG024 Warning "shared_buffers over 40% of memory"
        "PostgreSQL relies on the operating system's page cache too; above 40% of the host's memory shared_buffers leaves too little for it.";
    PG025 Warning "work_mem times max_connections over memory"
        "Every connection may use work_mem for each sort or hash at once; if max_connections of them do, the host runs out of memory. A derived work_mem is at most the host's memory divided by max_connections, so the warning is about a value the spec wrote: lower work_mem or max_connections where the spec sets it.";
    PG026 Error "A hostssl record without SSL"
        "A hostssl record matches only connections over SSL, which a server without `ssl = on` never has: PostgreSQL 11 to 18 start, log `hostssl record cannot match because SSL is disabled`, and never use the record, so the clients it was meant for are refused or fall to a later record. Add `postgres.ssl` (the server's certificate and key), or make the record `host`.";
    PG027 Warning "An old name the server still accepts"
        "A setting renamed in a later major keeps its old name as an alias there (ssl_ecdh_curve for ssl_groups on 18), and a removed one may still be accepted with the one value that does nothing (default_with_oids = off from 12). The server starts, so this is a warning: write the new name, or remove the setting. Which names each major's server accepts is asked of the real servers (data/postgres/other-names.tsv).";
    PG028 Error "Settings the server refuses together at start"
        "Some constraints between postgresql.conf settings are checked only when the server starts, which then refuses to: WAL senders or archiving with wal_level minimal, and more connections reserved (superuser_reserved_connections, reserved_connections from 16, and on 11 max_wal_senders) than max_connections allows. sitewright derives values that meet them; a value the spec writes that breaks one is reported at its line.";
    PG029 Warning "Replicas or Django trusting any server certificate"
        "With `postgres.ssl` but no `postgres.ssl.ca`, replicas and Django on other hosts connect with sslmode=require: the connection is encrypted, but any certificate is accepted, so whoever can answer at the server's address in its place can read and change what passes. Add `ca:` under `postgres.ssl`, the CA certificate (a path on the clients) that signed the server certificates: they then connect with sslmode=verify-full and sslrootcert, and each server certificate must name the address its clients connect to (the primary's address, also for nginx's forwarded `public_port`; a replica's address for Django's replicas). The warning stays off when no client connects from another host.";
    PG030 Error "PostgreSQL over the network in plain text, unsaid"
        "Without `postgres.ssl`, replicas and Django on hosts other than their database server connect in plain text (libpq's `prefer` finds no SSL and goes on without it), so every query and row crosses the network readable. Add `postgres.ssl` (with `ca` for verified certificates), or say that the site accepts it with `postgres.plain_text: accepted` (a private network, or a tunnel of the site's own). `plain_text: accepted` beside `postgres.ssl` contradicts it and is refused too.";
    PG031 Warning "A file the include directives read twice"
        "`postgres.include_dir`, `include` and `include_if_exists` are written at the end of postgresql.conf, in that order, and PostgreSQL reads every file they name where it is named: a file named twice (in one list, in both, or a `.conf` file of the include_dir folder named again as a file) is read again each time, and its last reading is the one that counts. Paths are compared as the server resolves them, a relative one against the config directory. Name each file once, where it should be read.";
    PG032 Error "An include that reads sitewright's own files"
        "An include directive that names postgresql.conf itself, or an include_dir that is the config directory (which holds postgresql.conf), makes PostgreSQL read the file within itself: it stops with \"configuration file recursion\" and does not start. pg_hba.conf, the replication passfile, the role defaults SQL and PostgreSQL 11's recovery.conf are files of another syntax, or of settings PostgreSQL refuses in postgresql.conf: read as settings, they stop it too. Name a folder or files of their own, such as conf.d.";
    PG033 Warning "Included files in the data directory"
        "With postgresql.conf kept outside the data directory (Debian's /etc/postgresql/MAJOR/main), an include_dir or included file inside the data directory goes with the data rather than the configuration: pg_basebackup copies the primary's files to each replica it makes, replacing the replica's own, and a new data directory (initdb, pg_upgrade) starts without them. Keep them beside postgresql.conf, in the config directory.";
    PGB001 Error "A PgBouncer host that is not a host of the site"
        "`pgbouncer.hosts` names the hosts that run PgBouncer, each by its name in `hosts`.";
    PGB002 Error "PgBouncer without a primary"
        "PgBouncer serves the databases of the PostgreSQL primary: the site needs a `postgres:` section and a host with the postgres-primary role.";
    PGB003 Error "PgBouncer's pools need more connections than the primary allows"
        "Each PgBouncer keeps a pool per database and user, of `pool_size` (or `default_pool_size`) server connections and `reserve_pool_size` more when clients wait. Every host that runs PgBouncer has its own pools. Together, with the nightly pg_dump, they must fit in what the primary lets ordinary roles open: max_connections less superuser_reserved_connections and reserved_connections. Past that, the server refuses connections with 'too many clients already' while PgBouncer holds clients waiting. Lower the pool sizes, or raise max_connections (each connection costs the server memory: work_mem and more).";
    PGB004 Error "Transaction pooling with Django's persistent connections"
        "With `pool_mode: transaction` (or statement), PgBouncer hands a server connection to another client after each transaction. Django's persistent connections (CONN_MAX_AGE above 0) keep session state that then leaks between clients, and server-side cursors (which sitewright turns off then: DISABLE_SERVER_SIDE_CURSORS) would not outlive their transaction. Use `conn_max_age: 0s`, or `pool_mode: session`.";
    PGB005 Error "A database PgBouncer serves that pg_hba.conf refuses"
        "PgBouncer logs in to the primary as each of its users, to each database it serves, from its own host (or loopback, on the primary or through nginx's forward). sitewright adds the scram-sha-256 records for that after the spec's own `hba` records, so an earlier record of the spec that matches first (a reject, or a method other than a password one) refuses PgBouncer. Move the record, or narrow it.";
    PGB006 Error "A PgBouncer user without a password and no auth_query"
        "Without `auth_query`, PgBouncer checks each client against userlist.txt, which holds each user's SCRAM secret, made from its `password`: give each user a password, or let PgBouncer look secrets up on the server with `auth_query`.";
    PGB007 Error "Django through PgBouncer to something PgBouncer does not serve"
        "`django.database.pgbouncer` sends Django's connections through PgBouncer: the site needs a `pgbouncer:` section that serves Django's database and lets its user in.";
    PGB008 Error "PgBouncer's connections in plain text"
        "PgBouncer on another host than the primary reaches it over the network, and Django on a host without PgBouncer reaches PgBouncer over the network. Without TLS (`postgres.ssl` for the first, `pgbouncer.tls` for the second) passwords' proofs and queries cross the network in clear: give TLS, or say `postgres.plain_text: accepted`.";
    SEC001 Error "A secret written into the spec"
        "The spec is committed, so a secret is `{ env: NAME }` or `{ file: PATH }`, read only when a file needs it.";
    SITE001 Error "A host defined twice"
        "Host names name folders of the rendered tree and the hosts of every rule; each is defined once.";
    SITE002 Error "A role listed twice"
        "Each role of a host is listed once.";
    SITE003 Error "Two hosts with one address"
        "nginx's allow lists, pg_hba.conf records and listen lines tell hosts apart by address, so each host has its own. Loopback addresses are not compared: every machine has them, and a site laid out on one machine for testing puts every host on 127.0.0.1.";
    SYS001 Error "Both members of an exclusive pair"
        "vm.dirty_bytes and vm.dirty_ratio (and the background pair) exclude each other: the kernel zeroes one when the other is written, so the file's order would decide. Keep one.";
    SYS002 Error "A kernel parameter that does not exist"
        "Keys are checked against the kernel's parameters (data/sysctl/keys.tsv); `sysctl -p` fails on an unknown one.";
    SYS003 Error "A value of the wrong kind"
        "Each parameter's kind decides what it takes: sizes for bytes, durations for centiseconds, percentages for ratios.";
    SYS004 Error "kernel.shmmax below shared_buffers"
        "With shared_memory_type = sysv, PostgreSQL takes its shared memory as one System V segment, which kernel.shmmax must allow; it refuses to start otherwise.";
    WEB001 Error "A web host without nginx.https"
        "A web host runs nginx's HTTPS server in front of the application.";
    WEB002 Error "A web host without Django"
        "A web host runs the Django application: the spec needs a `django:` section.";
    WEB003 Error "A proxy host without nginx.cache_proxy"
        "A proxy host runs nginx's caching proxy.";
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule whose id is `id`, in any case.
pub(crate) fn rule(id: &str) -> Option<Rule> {
    Rule::ALL
        .iter()
        .copied()
        .find(|r| r.as_str().eq_ignore_ascii_case(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The registry is kept in id order, which is also the order `ALL` and `explain` list.
    #[test]
    fn ids_are_unique_and_in_order() {
        let ids: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn ids_are_found_in_any_case() {
        assert_eq!(rule("pg017"), Some(Rule::PG017));
        assert_eq!(Rule::PG017.to_string(), "PG017");
        assert_eq!(rule("PG999"), None);
    }
}
