//! A generator of site specs that reaches every field and enum value of the schema: deterministic
//! by seed, so a failure found by `scripts/sweep` is reproduced by its seed alone. It draws the
//! shapes real sites take (a primary with 0 to 3 replicas, web hosts beside or on the database
//! hosts, a caching proxy, kernel settings) and, inside each, every optional part present and absent.
//! Some drawn specs are wrong on purpose (a promotion file on PostgreSQL 16, the old TLS profile):
//! `check` must refuse those, and the specs it accepts must work.

use std::fmt::Write as _;

/// SplitMix64: small, fast and the same on every machine, which is all a seeded generator needs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.below(100) < percent as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A number in `low..=high`.
    pub fn range(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high - low + 1)
    }
}

/// The seeds CI proves: enough for every major, both nginx builds, every field and at least 100
/// accepted specs (the generated-spec test fails otherwise). `SITEWRIGHT_SEEDS=FIRST..END`
/// picks others (scripts/sweep).
pub const CI_SEEDS: std::ops::Range<u64> = 0..210;

/// A generated spec and what running its files needs.
pub struct Generated {
    pub seed: u64,
    /// What kind of site it is, for the coverage line.
    pub shape: &'static str,
    pub yaml: String,
}

/// The two real nginx builds the tests run: Debian 12's and Debian 13's.
pub const NGINX_BUILDS: [(&str, &str); 2] = [("1.22", "3.0"), ("1.26", "3.5")];

const MEMORY: &[&str] = &[
    "1GiB", "1536MiB", "2GiB", "3GiB", "4GiB", "6GB", "8GiB", "12GiB", "16GiB", "24GiB", "32GiB",
    "48GiB", "64GiB", "96GiB", "128GiB", "192GiB", "256GiB", "512GiB", "768GiB", "1TiB", "1536GiB",
    "2TiB", "3TiB", "4TiB",
];
const CPUS: &[u32] = &[1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128];
const STORAGE: &[&str] = &["hdd", "ssd", "nvme", "san"];
const WORKLOADS: &[&str] = &["web", "oltp", "dw", "desktop", "mixed"];
const SIZES_SMALL: &[&str] = &[
    "4kB", "8kB", "16kB", "32kB", "64kB", "128kB", "256kB", "1MB",
];
const DURATIONS: &[&str] = &["30s", "90s", "5min", "1h", "12h", "1d", "7d", "30d"];

/// One host being drawn.
struct HostDraw {
    name: String,
    address: String,
    roles: Vec<&'static str>,
    server_name: Option<String>,
    postgres_settings: Vec<(String, String)>,
}

/// The spec of `seed`.
pub fn generate(seed: u64) -> Generated {
    let mut rng = Rng::new(seed);
    match rng.below(100) {
        0..=7 => proxy_site(&mut rng, seed),
        _ => cluster_site(&mut rng, seed),
    }
}

fn address(rng: &mut Rng, ipv6: bool, n: usize) -> String {
    if ipv6 {
        format!("2001:db8::{n:x}")
    } else {
        let _ = rng;
        format!("192.0.2.{n}")
    }
}

fn host_yaml(rng: &mut Rng, host: &HostDraw, out: &mut String) {
    let memory = rng.pick(MEMORY);
    let cpus = if rng.chance(50) {
        *rng.pick(CPUS)
    } else {
        rng.range(1, 128) as u32
    };
    let _ = write!(
        out,
        "  - name: {}\n    address: {}\n    memory: {memory}\n    cpus: {cpus}\n    storage: {}\n    roles: [{}]\n",
        host.name,
        host.address,
        rng.pick(STORAGE),
        host.roles.join(", ")
    );
    if let Some(name) = &host.server_name {
        let _ = writeln!(out, "    server_name: {name}");
    }
    if !host.postgres_settings.is_empty() {
        out.push_str("    postgres_settings:\n");
        for (k, v) in &host.postgres_settings {
            let _ = writeln!(out, "      {k}: {v}");
        }
    }
}

fn secret(rng: &mut Rng, env: &str, file: &str) -> String {
    if rng.chance(75) {
        format!("{{ env: {env} }}")
    } else {
        format!("{{ file: {file} }}")
    }
}

fn tls(rng: &mut Rng, indent: &str, name: &str) -> String {
    let mut out = format!(
        "{indent}tls:\n{indent}  certificate: /etc/ssl/certs/{name}.pem\n{indent}  certificate_key: /etc/ssl/private/{name}.key\n"
    );
    if rng.chance(70) {
        let profile = match rng.below(15) {
            0 => "old",
            1..=12 => "modern",
            _ => "intermediate",
        };
        let _ = writeln!(out, "{indent}  profile: {profile}");
    }
    if rng.chance(12) {
        let _ = writeln!(out, "{indent}  ocsp_stapling: true");
        if rng.chance(85) {
            let _ = writeln!(
                out,
                "{indent}  trusted_certificate: /etc/ssl/certs/{name}-chain.pem"
            );
        }
        if rng.chance(85) {
            let resolver = rng.pick(&["[192.0.2.53]", "[192.0.2.53, \"2001:db8::53\"]"]);
            let _ = writeln!(out, "{indent}  resolver: {resolver}");
        }
    } else if rng.chance(10) {
        let _ = writeln!(out, "{indent}  ocsp_stapling: false");
    }
    if rng.chance(40) {
        let mut parts = Vec::new();
        if rng.chance(60) {
            parts.push(format!(
                "max_age: {}",
                rng.pick(&["365d", "730d", "1d", "63072000s"])
            ));
        }
        if rng.chance(60) {
            parts.push(format!("include_subdomains: {}", rng.chance(50)));
        }
        if rng.chance(50) {
            parts.push(format!("preload: {}", rng.chance(50)));
        }
        let _ = writeln!(out, "{indent}  hsts: {{ {} }}", parts.join(", "));
    }
    out
}

fn listen(rng: &mut Rng, indent: &str, address: Option<&str>, https: u16, http: u16) -> String {
    if !rng.chance(50) {
        return String::new();
    }
    let mut parts = Vec::new();
    if let Some(address) = address
        && rng.chance(40)
    {
        parts.push(format!("address: {}", quote_address(address)));
    }
    if rng.chance(70) {
        parts.push(format!("port: {https}"));
    }
    if rng.chance(70) {
        parts.push(format!("redirect_port: {http}"));
    }
    format!("{indent}listen: {{ {} }}\n", parts.join(", "))
}

/// An IPv6 address in a flow mapping needs quotes: its colons would otherwise start a mapping.
fn quote_address(address: &str) -> String {
    if address.contains(':') {
        format!("\"{address}\"")
    } else {
        address.to_owned()
    }
}

fn nginx_head(rng: &mut Rng, out: &mut String) {
    let (version, openssl) = rng.pick(&NGINX_BUILDS);
    let _ = write!(
        out,
        "nginx:\n  version: \"{version}\"\n  openssl: \"{openssl}\"\n"
    );
    if rng.chance(25) {
        let layout = if rng.chance(50) { "rhel" } else { "debian" };
        let _ = writeln!(out, "  layout: {layout}");
    }
}

fn cache_proxy(rng: &mut Rng, proxy_address: &str, backends: &[String], out: &mut String) {
    out.push_str("  cache_proxy:\n    server_name: data.example.org\n");
    out.push_str(&listen(rng, "    ", Some(proxy_address), 443, 80));
    out.push_str(&tls(rng, "    ", "data.example.org"));
    let _ = writeln!(out, "    backends: [{}]", backends.join(", "));
    let _ = write!(
        out,
        "    cache:\n      directory: /var/cache/nginx/public\n      max_size: {}\n",
        rng.pick(&["1GB", "20GB", "500MB", "2TB"])
    );
    if rng.chance(50) {
        let _ = writeln!(out, "      inactive: {}", rng.pick(DURATIONS));
    }
    if rng.chance(50) {
        let _ = writeln!(out, "      valid: {}", rng.pick(DURATIONS));
    }
    if rng.chance(50) {
        let _ = writeln!(out, "    buster_port: {}", rng.pick(&[9000, 9001]));
    }
    if rng.chance(50) {
        let _ = write!(
            out,
            "    long_timeout:\n      port: {}\n      timeout: {}\n",
            rng.pick(&[8009, 8010]),
            rng.pick(&["5min", "10min", "1h"])
        );
        if rng.chance(50) {
            let _ = writeln!(out, "      backends: [192.0.2.60:4080]");
        }
    }
    if rng.chance(50) {
        out.push_str("    maintenance:\n      flag: /srv/www/maintenance.flag\n      page: /srv/www/maintenance/index.html\n");
        if rng.chance(50) {
            let _ = writeln!(
                out,
                "      retry_after: {}",
                rng.pick(&["10min", "1h", "600s"])
            );
        }
    }
    if rng.chance(40) {
        let _ = writeln!(
            out,
            "    harmless_cookies: [{}]",
            rng.pick(&["_ga", "_ga, _gid", "sessionid"])
        );
    }
    if rng.chance(40) {
        let _ = writeln!(
            out,
            "    session_cookie: {}",
            rng.pick(&["sessionid", "omero_session", "csrf_session"])
        );
    }
    if rng.chance(40) {
        let _ = writeln!(
            out,
            "    timeout: {}",
            rng.pick(&["3s", "30s", "60s", "2min"])
        );
    }
    if rng.chance(30) {
        let _ = writeln!(
            out,
            "    client_max_body_size: {}",
            rng.pick(&["64kB", "10MB"])
        );
    }
    if rng.chance(30) {
        directives(rng, "    ", SERVER_DIRECTIVES, out);
    }
}

/// A public read-only site of proxy hosts alone (IDR's front end).
fn proxy_site(rng: &mut Rng, seed: u64) -> Generated {
    let ipv6 = rng.chance(20);
    let count = rng.range(1, 2);
    let mut out = format!("site: public{}\nhosts:\n", seed % 1000);
    let hosts: Vec<HostDraw> = (1..=count)
        .map(|i| HostDraw {
            name: format!("proxy{i}"),
            address: address(rng, ipv6, 40 + i),
            roles: vec!["proxy"],
            server_name: None,
            postgres_settings: Vec::new(),
        })
        .collect();
    for host in &hosts {
        host_yaml(rng, host, &mut out);
    }
    nginx_head(rng, &mut out);
    let backends: Vec<String> = (0..rng.range(1, 3))
        .map(|i| format!("192.0.2.{}:4080", 61 + i))
        .collect();
    cache_proxy(rng, &hosts[0].address, &backends, &mut out);
    if rng.chance(40) {
        sysctl(rng, &mut out, &["proxy"]);
    }
    Generated {
        seed,
        shape: "proxy-only",
        yaml: out,
    }
}

fn sysctl(rng: &mut Rng, out: &mut String, roles: &[&str]) {
    out.push_str("sysctl:\n");
    if rng.chance(40) {
        let _ = writeln!(out, "  priority: {}", rng.range(10, 99));
    }
    if rng.chance(60) {
        let chosen: Vec<&str> = roles.iter().copied().filter(|_| rng.chance(60)).collect();
        let _ = writeln!(out, "  roles: [{}]", chosen.join(", "));
    }
    let profile = rng.chance(60);
    if profile {
        let _ = writeln!(out, "  profile: {}", rng.pick(&["database", "synapse"]));
    }
    if !profile || rng.chance(40) {
        out.push_str("  settings:\n");
        let _ = writeln!(out, "    vm.swappiness: {}", rng.range(0, 60));
        match rng.below(3) {
            0 => {
                let _ = writeln!(
                    out,
                    "    vm.dirty_background_bytes: {}\n    vm.dirty_bytes: {}",
                    rng.pick(&["64MB", "256MB"]),
                    rng.pick(&["512MB", "1GB"])
                );
            }
            1 => {
                let _ = writeln!(
                    out,
                    "    vm.dirty_background_ratio: \"{}%\"\n    vm.dirty_ratio: \"{}%\"",
                    rng.range(1, 5),
                    rng.range(6, 20)
                );
            }
            _ => {}
        }
        if rng.chance(40) {
            let _ = writeln!(
                out,
                "    vm.dirty_expire_centisecs: {}",
                rng.pick(&["200ms", "30s", "3000"])
            );
        }
        if rng.chance(30) {
            let _ = writeln!(out, "    net.core.somaxconn: {}", rng.pick(&[1024, 4096]));
        }
        if rng.chance(20) {
            let _ = writeln!(out, "    kernel.shmmax: {}", rng.pick(&["64GB", "1TB"]));
        }
    }
}

/// A PostgreSQL cluster with what may sit beside it: replicas, web hosts, a caching proxy.
fn cluster_site(rng: &mut Rng, seed: u64) -> Generated {
    let version = rng.range(11, 18);
    let replicas = rng.range(0, 3);
    let ipv6 = rng.chance(15);
    // Where Django runs: nowhere, hosts of its own, the primary, or a replica as a read-only mirror.
    let web = match rng.below(10) {
        0..=3 => "none",
        4..=6 => "own",
        7 => "primary",
        _ if replicas > 0 => "mirror",
        _ => "own",
    };
    let proxy = rng.chance(12);
    let public_port = replicas > 0 && rng.chance(50) || web == "own" && rng.chance(30);
    let stream_forward = rng.chance(12);
    let needs_nginx = web != "none" || proxy || public_port || stream_forward;

    let mut hosts = vec![HostDraw {
        name: "db1".to_owned(),
        address: address(rng, ipv6, 11),
        roles: vec!["postgres-primary"],
        server_name: None,
        postgres_settings: Vec::new(),
    }];
    for i in 0..replicas {
        hosts.push(HostDraw {
            name: format!("db{}", i + 2),
            address: address(rng, ipv6, 12 + i),
            roles: vec!["postgres-replica"],
            server_name: None,
            postgres_settings: Vec::new(),
        });
    }
    match web {
        "own" => {
            for i in 0..rng.range(1, 2) {
                hosts.push(HostDraw {
                    name: format!("web{}", i + 1),
                    address: address(rng, ipv6, 20 + i),
                    roles: vec!["web"],
                    server_name: (i == 1 && rng.chance(50)).then(|| "web2.example.org".to_owned()),
                    postgres_settings: Vec::new(),
                });
            }
        }
        "primary" => hosts[0].roles.push("web"),
        "mirror" => {
            hosts[1].roles.push("web");
            hosts[1].server_name = Some("mirror.example.org".to_owned());
        }
        _ => {}
    }
    if proxy {
        // On a host of its own, or beside the database (nginx's ports differ from PostgreSQL's).
        if rng.chance(25) {
            hosts[0].roles.push("proxy");
        } else {
            hosts.push(HostDraw {
                name: "proxy1".to_owned(),
                address: address(rng, ipv6, 40),
                roles: vec!["proxy"],
                server_name: None,
                postgres_settings: Vec::new(),
            });
        }
    }
    if rng.chance(15) {
        let setting = rng.pick(&[
            ("work_mem", "\"16MB\""),
            ("max_connections", "400"),
            ("log_min_duration_statement", "\"250ms\""),
            ("effective_io_concurrency", "100"),
        ]);
        let at = rng.below(replicas + 1);
        hosts[at]
            .postgres_settings
            .push((setting.0.to_owned(), setting.1.to_owned()));
    }

    let mut out = format!("site: site{}\nhosts:\n", seed % 1000);
    for host in &hosts {
        host_yaml(rng, host, &mut out);
    }

    // postgres
    let _ = write!(out, "postgres:\n  version: {version}\n");
    let layout_debian = rng.chance(60);
    if layout_debian {
        let _ = write!(
            out,
            "  data_directory: /var/lib/postgresql/{version}/main\n  config_directory: /etc/postgresql/{version}/main\n"
        );
    } else {
        out.push_str("  data_directory: /srv/pgdata\n");
    }
    if rng.chance(40) {
        let _ = writeln!(out, "  port: {}", rng.pick(&[5432, 5433, 6432]));
    }
    let ssl = rng.chance(60);
    if ssl {
        out.push_str("  ssl:\n    cert: /etc/ssl/postgresql/server.crt\n    key: /etc/ssl/postgresql/server.key\n");
        if rng.chance(70) {
            out.push_str("    ca: /etc/ssl/postgresql/site-ca.crt\n");
        }
    }
    // Plain text between hosts only when the spec says so; now and then said beside SSL, or not
    // said where it is needed, which check refuses (PG030).
    if !ssl && rng.chance(85) || ssl && rng.chance(3) {
        out.push_str("  plain_text: accepted\n");
    }
    if replicas > 0 || public_port || rng.chance(20) {
        let _ = write!(
            out,
            "  replication:\n    user: {}\n    password: {}\n",
            rng.pick(&["replicator", "replication_user"]),
            secret(
                rng,
                "REPLICATION_PASSWORD",
                "/etc/sitewright/replication.password"
            )
        );
        if public_port {
            let _ = writeln!(out, "    public_port: {}", rng.pick(&[7432, 15432]));
        }
        if rng.chance(60) {
            let _ = writeln!(
                out,
                "    wal_keep: {}",
                rng.pick(&["512MB", "1GB", "2GB", "16GB"])
            );
        }
        if rng.chance(30) {
            out.push_str("    passfile: /var/lib/postgresql/.pgpass-replication\n");
        }
        if rng.chance(20) {
            out.push_str("    promote_trigger_file: /var/lib/postgresql/promote.trigger\n");
        }
    }
    if rng.chance(40) {
        let _ = writeln!(
            out,
            "  archive:\n    command: {}",
            rng.pick(&[
                "cp %p /srv/wal-archive/%f",
                "rsync -a %p postgres@db2:/opt/postgresql_wal/%f",
                "test ! -f /srv/wal/%f && cp %p /srv/wal/%f",
            ])
        );
        if rng.chance(60) {
            out.push_str("    restore_command: cp /srv/wal-archive/%f \"%p\"\n");
        }
    }
    if rng.chance(75) {
        let _ = writeln!(out, "  workload: {}", rng.pick(WORKLOADS));
    }
    if rng.chance(25) {
        let _ = writeln!(
            out,
            "  replica_statement_timeout: {}",
            rng.pick(&["30s", "5min", "1h"])
        );
    }
    if rng.chance(45) {
        hba(rng, version, ssl, &mut out);
    }
    if rng.chance(40) {
        let _ = write!(
            out,
            "  backup:\n    database: {}\n    directory: {}\n",
            rng.pick(&["app", "catmaid"]),
            rng.pick(&["/srv/backups", "/opt/backup/psql"])
        );
        if rng.chance(50) {
            let _ = writeln!(
                out,
                "    schedule: \"{}\"",
                rng.pick(&["0 3 * * *", "*/30 1-5 * * 1-5", "15 2 1,15 * *"])
            );
        }
        if rng.chance(40) {
            out.push_str("    exclude_tables: [treenode_edge, audit_log]\n");
        }
    }
    if rng.chance(50) {
        out.push_str("  settings:\n");
        let choices: &[(&str, &str)] = &[
            ("autovacuum", "true"),
            ("log_min_duration_statement", "\"250ms\""),
            ("log_line_prefix", "\"%m [%p] %q%u@%d \""),
            ("random_page_cost", "1.5"),
            ("idle_in_transaction_session_timeout", "\"10min\""),
            ("track_io_timing", "true"),
            ("max_connections", "500"),
            ("log_checkpoints", "false"),
            ("default_statistics_target", "250"),
            ("shared_memory_type", "sysv"),
            ("huge_pages", "\"off\""),
            ("search_path", "'\"$user\", public, app'"),
            ("application_name", "\"it's ok\""),
            ("checkpoint_timeout", "\"15min\""),
            // Settings with a constraint between them that the server checks only at start.
            ("max_connections", "10"),
            ("wal_level", "minimal"),
            ("max_wal_senders", "0"),
            ("superuser_reserved_connections", "8"),
            ("archive_mode", "true"),
            ("hot_standby", "false"),
        ];
        let mut any = false;
        for (k, v) in choices {
            // A name drawn twice is a duplicate key, which the reader refuses: the first one wins.
            if out.contains(&format!("\n    {k}: ")) {
                continue;
            }
            if rng.chance(20) {
                let _ = writeln!(out, "    {k}: {v}");
                any = true;
            }
        }
        if !any {
            out.push_str("    autovacuum: true\n");
        }
    }

    // Drawn from a generator of their own, so that every other draw of a seed stays as it was.
    includes(
        &mut Rng::new(seed ^ 0x1_4C1D),
        version,
        layout_debian,
        &mut out,
    );

    let web_hosts: Vec<&HostDraw> = hosts.iter().filter(|h| h.roles.contains(&"web")).collect();
    if needs_nginx || rng.chance(5) {
        nginx_head(rng, &mut out);
        if stream_forward {
            let _ = writeln!(
                out,
                "  stream:\n    - listen: {}\n      to: {}",
                rng.pick(&[6379, 11211]),
                rng.pick(&[
                    "127.0.0.1:6380",
                    "192.0.2.50:6379",
                    "\"[2001:db8::50]:6379\""
                ])
            );
            if rng.chance(40) {
                directives(rng, "      ", STREAM_SERVER_DIRECTIVES, &mut out);
            }
        }
        if rng.chance(20) {
            out.push_str("  stream_directives:\n");
            directive_items(rng, "    ", STREAM_DIRECTIVES, &mut out);
        }
        if rng.chance(20) {
            out.push_str("  http_directives:\n");
            directive_items(rng, "    ", HTTP_DIRECTIVES, &mut out);
        }
        if !web_hosts.is_empty() {
            let only = (web_hosts.len() == 1).then(|| web_hosts[0].address.as_str());
            https(rng, only, &mut out);
        }
        if proxy {
            let backends = if web_hosts.is_empty() {
                vec!["192.0.2.61:4080".to_owned()]
            } else {
                vec!["192.0.2.61:4080".to_owned(), "192.0.2.62:4080".to_owned()]
            };
            let at = hosts
                .iter()
                .find(|h| h.roles.contains(&"proxy"))
                .unwrap()
                .address
                .clone();
            cache_proxy(rng, &at, &backends, &mut out);
        }
    }
    if rng.chance(50) {
        sysctl(
            rng,
            &mut out,
            &["postgres-primary", "postgres-replica", "web", "proxy"],
        );
    }
    if !web_hosts.is_empty() {
        django(rng, web == "mirror", &hosts, replicas, &mut out);
    }
    // Drawn after everything else, so that a seed without PgBouncer gives the spec it gave before.
    if rng.chance(35) {
        let web_names: Vec<&str> = web_hosts
            .iter()
            .filter(|h| !h.roles.contains(&"postgres-replica"))
            .map(|h| h.name.as_str())
            .collect();
        out = pgbouncer(rng, &out, &web_names);
    }
    Generated {
        seed,
        shape: match (web, proxy, replicas) {
            (_, true, _) => "cluster with a caching proxy",
            ("primary", ..) => "web on the primary",
            ("mirror", ..) => "read-only mirror on a replica",
            ("own", ..) => "cluster with web hosts",
            (_, _, 0) => "primary alone",
            _ => "primary and replicas",
        },
        yaml: out,
    }
}

/// `spec` with a `pgbouncer:` section: on the primary or the web hosts, serving Django's
/// database (and Django's connections through it, sometimes) or a database of its own, with
/// auth_file users or auth_query, and TLS to its clients when Django would cross the network.
fn pgbouncer(rng: &mut Rng, spec: &str, web: &[&str]) -> String {
    let mut out = spec.to_owned();
    let secure = spec.contains("  ssl:\n") || spec.contains("  plain_text: accepted\n");
    let on_web = !web.is_empty() && secure && rng.chance(50);
    let hosts = if on_web {
        web.join(", ")
    } else {
        "db1".to_owned()
    };
    let django = spec.contains("\ndjango:\n") && !web.is_empty();
    let pooled = django && rng.chance(60);
    let mode = *rng.pick(&["session", "transaction", "transaction", "statement"]);
    let _ = write!(out, "pgbouncer:\n  hosts: [{hosts}]\n");
    if rng.chance(50) {
        let _ = writeln!(out, "  port: {}", rng.pick(&["6433", "16432", "6543"]));
    }
    if rng.chance(70) {
        let _ = writeln!(out, "  pool_mode: {mode}");
    }
    let mode = if out.contains("  pool_mode: ") {
        mode
    } else {
        "transaction"
    };
    if rng.chance(60) {
        let _ = writeln!(out, "  default_pool_size: {}", rng.range(2, 15));
    }
    if rng.chance(40) {
        let _ = writeln!(out, "  reserve_pool_size: {}", rng.range(0, 3));
    }
    if rng.chance(40) {
        let _ = writeln!(
            out,
            "  max_client_conn: {}",
            rng.pick(&["50", "500", "2000"])
        );
    }
    let database = if django {
        "app"
    } else {
        *rng.pick(&["app", "reports"])
    };
    out.push_str("  databases:\n");
    let _ = writeln!(out, "    - name: {database}");
    if rng.chance(40) {
        let _ = writeln!(out, "      pool_size: {}", rng.range(2, 10));
    }
    if rng.chance(30) {
        out.push_str("    - { name: postgres }\n");
    }
    let query = rng.chance(30);
    out.push_str("  users:\n");
    for user in ["app", "reporter"].iter().take(rng.range(1, 2)) {
        if query && rng.chance(50) {
            let _ = writeln!(out, "    - {{ name: {user} }}");
        } else {
            let upper = user.to_ascii_uppercase();
            let _ = writeln!(
                out,
                "    - {{ name: {user}, password: {} }}",
                secret(
                    rng,
                    &format!("{upper}_DB_PASSWORD"),
                    &format!("/etc/sitewright/{user}-db.password")
                )
            );
        }
    }
    if query {
        let _ = write!(
            out,
            "  auth_query:\n    user: pgbouncer_auth\n    password: {}\n",
            secret(
                rng,
                "PGBOUNCER_AUTH_PASSWORD",
                "/etc/sitewright/pgbouncer-auth.password"
            )
        );
        if rng.chance(50) {
            out.push_str("    query: SELECT usename, passwd FROM pgbouncer.user_lookup($1)\n");
        }
    }
    // Django on a host without PgBouncer reaches it over the network: TLS, or the site's word.
    let crossing = pooled && !on_web && !spec.contains("  plain_text: accepted\n");
    if crossing || rng.chance(40) {
        out.push_str(
            "  tls:\n    cert: /etc/pgbouncer/server.crt\n    key: /etc/pgbouncer/server.key\n",
        );
        if rng.chance(50) {
            out.push_str("    ca: /etc/ssl/certs/pgbouncer-ca.crt\n");
        }
    }
    if rng.chance(20) {
        out.push_str("  config_directory: /etc/pgbouncer-app\n");
    }
    if pooled {
        out = out.replacen(
            "  database:\n    name: app\n",
            "  database:\n    name: app\n    pgbouncer: true\n",
            1,
        );
        // Django's persistent connections and transaction pooling do not mix (PGB004): most
        // draws keep to what check accepts.
        if mode != "session" && rng.chance(90) {
            out = out
                .replace("    conn_max_age: 60s\n", "    conn_max_age: 0s\n")
                .replace("    conn_max_age: 10min\n", "    conn_max_age: 0s\n");
        }
    }
    out
}

/// postgresql.conf's include directives: Debian's conf.d beside postgresql.conf or a folder
/// elsewhere, files that must exist and files that may not (the generated-spec test makes the
/// folder, with a file that sets a setting, and every file but those named `missing-*`). Now and
/// then one that check refuses (pg_hba.conf read as settings, PG032) or warns about (a file read
/// twice, PG031; one in the data directory, PG033).
fn includes(rng: &mut Rng, version: usize, layout_debian: bool, out: &mut String) {
    if rng.chance(45) {
        let dir = match rng.below(10) {
            0..=5 => "conf.d".to_owned(),
            6..=7 => "/etc/postgresql-common/sitewright.d".to_owned(),
            8 if layout_debian => format!("/var/lib/postgresql/{version}/main/conf.d"),
            _ => "conf.d/site".to_owned(),
        };
        let _ = writeln!(out, "  include_dir: {dir}");
    }
    if rng.chance(30) {
        let mut files: Vec<&str> = Vec::new();
        for file in [
            "shared.conf",
            "/etc/postgresql-common/shared.conf",
            "conf.d/late.conf",
        ] {
            if rng.chance(40) {
                files.push(file);
            }
        }
        if rng.chance(4) {
            files.push("pg_hba.conf");
        }
        if files.is_empty() {
            files.push("shared.conf");
        }
        let _ = writeln!(out, "  include: [{}]", files.join(", "));
    }
    if rng.chance(30) {
        let mut files: Vec<&str> = Vec::new();
        for file in [
            "local.conf",
            "missing-local.conf",
            "/etc/postgresql-common/missing.conf",
        ] {
            if rng.chance(50) {
                files.push(file);
            }
        }
        if rng.chance(5) {
            files.push("shared.conf");
        }
        if files.is_empty() {
            files.push("missing-local.conf");
        }
        let _ = writeln!(out, "  include_if_exists: [{}]", files.join(", "));
    }
}

fn hba(rng: &mut Rng, version: usize, ssl: bool, out: &mut String) {
    out.push_str("  hba:\n");
    let records: Vec<(&str, &str, &str, Option<&str>, &str)> = vec![
        ("local", "[all]", "[all]", None, "peer"),
        ("local", "[app]", "[app]", None, "scram-sha-256"),
        (
            "host",
            "[app]",
            "[app]",
            Some("192.0.2.0/24"),
            "scram-sha-256",
        ),
        ("host", "[app, catmaid]", "[app]", Some("10.0.0.0/8"), "md5"),
        (
            "hostssl",
            "[app]",
            "[+readers]",
            Some("198.51.100.0/24"),
            "scram-sha-256",
        ),
        ("hostssl", "[app]", "[app]", Some("203.0.113.7/32"), "cert"),
        ("hostnossl", "[all]", "[all]", Some("0.0.0.0/0"), "reject"),
        ("host", "[all]", "[all]", Some("192.0.2.99/32"), "reject"),
        ("local", "[sameuser]", "[all]", None, "trust"),
        ("host", "[app]", "[app]", Some("all"), "scram-sha-256"),
        ("host", "[app]", "[app]", Some("samehost"), "md5"),
        (
            "hostssl",
            "[replication]",
            "[replicator]",
            Some("2001:db8::12/128"),
            "scram-sha-256",
        ),
        (
            "host",
            "[samerole]",
            "[all]",
            Some("samenet"),
            "scram-sha-256",
        ),
        (
            "host",
            "[app]",
            "[app]",
            Some("2001:db8:1::/64"),
            "scram-sha-256",
        ),
        (
            "hostgssenc",
            "[app]",
            "[app]",
            Some("192.0.2.0/24"),
            "scram-sha-256",
        ),
        (
            "hostnogssenc",
            "[app]",
            "[app]",
            Some("192.0.2.0/24"),
            "scram-sha-256",
        ),
    ];
    let mut written = 0;
    for _ in 0..rng.range(1, 3) {
        let (kind, dbs, users, addr, method) = rng.pick(&records);
        // Keep most drawn records ones the cluster can use, so that most specs reach the servers.
        if (kind.starts_with("hostssl") && !ssl || kind.contains("gss") && version < 12)
            && rng.chance(80)
        {
            continue;
        }
        let _ = write!(
            out,
            "    - type: {kind}\n      databases: {dbs}\n      users: {users}\n      method: {method}\n"
        );
        if let Some(addr) = addr {
            let _ = writeln!(out, "      address: {}", quote_address(addr));
        }
        if rng.chance(50) {
            out.push_str("      comment: drawn by the generator; #1 of many\n");
        }
        written += 1;
    }
    if written == 0 {
        out.push_str(
            "    - type: local\n      databases: [all]\n      users: [all]\n      method: peer\n",
        );
    }
    // `replace` leaves the local records to the ones drawn above: with a backup and none for
    // postgres, check refuses it (HBA005).
    if rng.chance(30) {
        let _ = writeln!(out, "  hba_local: {}", rng.pick(&["keep", "replace"]));
    }
}

/// The HTTPS front end; `address` is the one web host's, when there is one (nginx on another
/// host could not listen on it).
fn https(rng: &mut Rng, address: Option<&str>, out: &mut String) {
    out.push_str("  https:\n    server_name: app.example.org\n");
    out.push_str(&listen(rng, "    ", address, 443, 80));
    out.push_str(&tls(rng, "    ", "app.example.org"));
    let servers: Vec<&str> = match rng.below(5) {
        0 => vec!["127.0.0.1:8000"],
        1 => vec!["127.0.0.1:8000", "127.0.0.1:8001"],
        3 => vec!["\"[2001:db8::30]:8000\"", "\"[::1]:8000\""],
        _ => vec!["192.0.2.30:8000", "192.0.2.31:8000", "127.0.0.1:8002"],
    };
    let _ = writeln!(
        out,
        "    upstream:\n      servers: [{}]",
        servers.join(", ")
    );
    if rng.chance(60) {
        let _ = writeln!(out, "      protocol: {}", rng.pick(&["wsgi", "asgi"]));
    }
    if rng.chance(50) {
        out.push_str(
            "    static_locations:\n      - url: /static/\n        folder: /srv/app/static\n",
        );
        if rng.chance(50) {
            out.push_str("      - url: /tiles/\n        folder: /srv/app/tiles/\n");
        }
    }
    if rng.chance(50) {
        let _ = writeln!(out, "    access_log: {}", rng.pick(&["off", "buffered"]));
    }
    if rng.chance(50) {
        let _ = writeln!(
            out,
            "    error_log_level: {}",
            rng.pick(&[
                "debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"
            ])
        );
    }
    if rng.chance(40) {
        let _ = writeln!(
            out,
            "    client_body_buffer_size: {}",
            rng.pick(&["16kB", "128kB", "512kB", "1MB"])
        );
    }
    if rng.chance(40) {
        let _ = writeln!(out, "    proxy_buffer_size: {}", rng.pick(SIZES_SMALL));
    }
    if rng.chance(40) {
        let _ = writeln!(
            out,
            "    proxy_buffers: {{ count: {}, size: {} }}",
            rng.pick(&[2, 4, 8, 16, 32, 64, 512]),
            rng.pick(SIZES_SMALL)
        );
    }
    if rng.chance(40) {
        let _ = writeln!(
            out,
            "    expected_connections: {}",
            rng.pick(&[10, 100, 1000, 10000])
        );
    }
    if rng.chance(40) {
        let _ = writeln!(
            out,
            "    client_max_body_size: {}",
            rng.pick(&["0B", "1MB", "100MB", "1GB"])
        );
    }
    if rng.chance(30) {
        out.push_str("    headers: { X-Frame-Options: DENY, X-Content-Type-Options: nosniff }\n");
    }
    if rng.chance(40) {
        directives(rng, "    ", SERVER_DIRECTIVES, out);
    }
    if rng.chance(50) {
        locations(rng, out);
    }
}

/// Directives each real nginx build accepts at its level, with one now and then that `check`
/// must refuse (and nginx too).
const SERVER_DIRECTIVES: &[&str] = &[
    "{ name: client_body_timeout, args: [30s] }",
    "{ name: keepalive_timeout, args: [65s] }",
    "{ name: send_timeout, args: [60] }",
    "{ name: large_client_header_buffers, args: [4, 16k] }",
    "{ name: proxy_read_timeout, args: [120s] }",
    "{ name: charset, args: [utf-8] }",
    "{ name: if_modified_since, args: [before] }",
    "{ name: reset_timedout_connection, args: [on] }",
];
const LOCATION_DIRECTIVES: &[&str] = &[
    "{ name: expires, args: [1h] }",
    "{ name: etag, args: [off] }",
    "{ name: charset, args: [utf-8] }",
    "{ name: proxy_read_timeout, args: [300s] }",
    "{ name: proxy_request_buffering, args: [off] }",
    "{ name: set, args: [$site_part, \"a b\"] }",
];
const HTTP_DIRECTIVES: &[&str] = &[
    "{ name: server_names_hash_bucket_size, args: [128] }",
    "{ name: client_header_timeout, args: [30s] }",
    "{ name: map_hash_bucket_size, args: [128] }",
    "{ name: variables_hash_max_size, args: [2048] }",
];
const STREAM_DIRECTIVES: &[&str] = &[
    "{ name: tcp_nodelay, args: [on] }",
    "{ name: proxy_timeout, args: [10m] }",
];
const STREAM_SERVER_DIRECTIVES: &[&str] = &[
    "{ name: proxy_timeout, args: [1h] }",
    "{ name: proxy_connect_timeout, args: [10s] }",
];
/// Directives `check` refuses: misspelt, misplaced, a bad value, a line sitewright writes, a
/// variable nginx lacks, and one that only 1.25.1 and later have.
const REFUSED_DIRECTIVES: &[&str] = &[
    "{ name: client_max_body_sise, args: [1m] }",
    "{ name: worker_processes, args: [2] }",
    "{ name: etag, args: [maybe] }",
    "{ name: server_tokens, args: [on] }",
    "{ name: add_header, args: [X-Request, $request_idd] }",
    "{ name: http2, args: [on] }",
];

/// `directives:` at `indent`, one or two of `pool`, or now and then one `check` refuses.
fn directives(rng: &mut Rng, indent: &str, pool: &[&str], out: &mut String) {
    let _ = writeln!(out, "{indent}directives:");
    directive_items(rng, &format!("{indent}  "), pool, out);
}

fn directive_items(rng: &mut Rng, indent: &str, pool: &[&str], out: &mut String) {
    let first = rng.below(pool.len());
    let _ = writeln!(out, "{indent}- {}", pool[first]);
    if rng.chance(40) {
        let second = (first + 1 + rng.below(pool.len() - 1)) % pool.len();
        let _ = writeln!(out, "{indent}- {}", pool[second]);
    }
    if rng.chance(4) {
        let _ = writeln!(out, "{indent}- {}", rng.pick(REFUSED_DIRECTIVES));
    }
}

/// One to three locations of the HTTPS server, of every kind.
fn locations(rng: &mut Rng, out: &mut String) {
    out.push_str("    locations:\n");
    let kinds = rng.range(1, 3);
    let first = rng.below(4);
    for k in 0..kinds {
        match (first + k) % 4 {
            0 => {
                out.push_str("      - url: /media/\n        alias: /srv/app/media\n");
                if rng.chance(50) {
                    out.push_str("        try_files: [$uri, =404]\n");
                }
                if rng.chance(50) {
                    out.push_str("        headers: { Cache-Control: public }\n");
                }
            }
            1 => {
                out.push_str("      - url: /upload/\n        proxy: app\n");
                if rng.chance(60) {
                    out.push_str("        client_max_body_size: 1GB\n");
                }
                if rng.chance(50) {
                    let _ = writeln!(
                        out,
                        "        rate_limit: {{ rate: {}, burst: {} }}",
                        rng.pick(&["10r/s", "30r/m"]),
                        rng.pick(&[0, 20])
                    );
                }
                if rng.chance(50) {
                    out.push_str("        connection_limit: 10\n");
                }
            }
            2 => {
                let _ = writeln!(
                    out,
                    "      - url: /tiles\n        proxy: [{}]",
                    rng.pick(&["127.0.0.1:9000", "192.0.2.70:9000, 192.0.2.71:9000"])
                );
            }
            _ => {
                let answer = rng.pick(&[
                    "{ code: 301, url: \"https://new.example.org$request_uri\" }",
                    "{ code: 410, text: gone }",
                    "{ code: 403 }",
                ]);
                let _ = writeln!(out, "      - url: /old/\n        return: {answer}");
            }
        }
        if rng.chance(40) {
            directives(rng, "        ", LOCATION_DIRECTIVES, out);
        }
    }
}

fn django(rng: &mut Rng, mirror: bool, hosts: &[HostDraw], replicas: usize, out: &mut String) {
    let version = rng.pick(&["4.2", "5.2"]);
    let _ = write!(
        out,
        "django:\n  version: \"{version}\"\n  settings_file: /srv/app/app/settings_production.py\n"
    );
    if mirror || rng.chance(75) {
        out.push_str("  base_module: mysite.settings\n");
    }
    if rng.chance(30) {
        out.push_str("  allowed_hosts: [app.example.org, .example.org]\n");
    }
    let _ = writeln!(
        out,
        "  secret_key: {}",
        secret(rng, "DJANGO_SECRET_KEY", "/etc/sitewright/django.key")
    );
    let _ = write!(
        out,
        "  database:\n    name: app\n    user: app\n    password: {}\n",
        secret(rng, "APP_DB_PASSWORD", "/etc/sitewright/app-db.password")
    );
    if rng.chance(20) {
        let host = &hosts[rng.below(replicas + 1)].name;
        let _ = writeln!(out, "    host: {host}");
    }
    if rng.chance(50) {
        let _ = writeln!(
            out,
            "    conn_max_age: {}",
            rng.pick(&["0s", "60s", "10min"])
        );
    }
    if replicas > 0 && rng.chance(30) {
        let names: Vec<&str> = hosts[1..=replicas]
            .iter()
            .map(|h| h.name.as_str())
            .collect();
        let _ = writeln!(out, "    replicas: [{}]", names.join(", "));
    }
    if mirror || rng.chance(40) {
        let backend = *rng.pick(&["memcached", "redis", "locmem"]);
        let _ = write!(out, "  cache:\n    backend: {backend}\n");
        match backend {
            "memcached" => out.push_str("    location: 127.0.0.1:11211\n"),
            "redis" => out.push_str("    location: 127.0.0.1:6379\n"),
            _ => {}
        }
        if backend == "memcached" && rng.chance(50) {
            out.push_str("    max_value_length: 10MB\n");
        }
    }
    if rng.chance(30) {
        let _ = writeln!(
            out,
            "  session_engine: {}",
            rng.pick(&["db", "cache", "cached_db", "file", "signed_cookies"])
        );
    }
    if rng.chance(30) {
        if rng.chance(50) {
            out.push_str("  email: dummy\n");
        } else {
            out.push_str("  email: { smtp: 127.0.0.1:25 }\n");
        }
    }
    if rng.chance(40) {
        out.push_str("  extra:\n");
        let choices: &[&str] = &[
            "PREPARED_STATEMENTS: true",
            "NODE_PROVIDER: postgis2d",
            "NODE_LIST_MAXIMUM_COUNT: 20000",
            "STATIC_EXTENSION_FILES: { tuple: [test.js, 'a \"quoted\" name'] }",
            "RATIO: 0.25",
            "NOTHING: null",
            "ADMINS: [[Ops, ops@example.org]]",
            "FEATURES: { tiles: true, limit: 3, name: \"x\\\\y\" }",
            // What only sitewright decides: check refuses it (DJ009).
            "DEBUG: true",
        ];
        let mut any = false;
        for choice in choices {
            if rng.chance(35) {
                let _ = writeln!(out, "    {choice}");
                any = true;
            }
        }
        if !any {
            out.push_str("    PREPARED_STATEMENTS: false\n");
        }
    }
}
