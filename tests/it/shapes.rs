//! Specs that set nothing but the site's shape (hosts' memory, cpus and storage, the workload,
//! where the web role sits, replicas, nginx's forward, verified SSL or plain text) get no warning:
//! a warning is about something the user wrote or can change, and sitewright's own derived values
//! are neither.
//! In-process, through the library's stages, as the sweep covers thousands of shapes.

use sitewright::load::load;
use sitewright::source::Source;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Web {
    Primary,
    OwnHost,
    Both,
}

/// One site's shape; everything else is left to sitewright.
#[derive(Debug, Clone, Copy)]
struct Shape {
    version: u32,
    workload: &'static str,
    storage: &'static str,
    memory_gib: u64,
    cpus: u32,
    /// Where the web role sits: the primary, a host of its own, or both.
    web: Web,
    replicas: usize,
    public_port: bool,
    ssl: bool,
}

fn spec(s: Shape) -> String {
    let host = |name: &str, n: usize, roles: &str| {
        format!(
            "  - {{ name: {name}, address: 192.0.2.{n}, memory: {}GiB, cpus: {}, storage: {}, roles: [{roles}] }}\n",
            s.memory_gib, s.cpus, s.storage
        )
    };
    let mut text = String::from("site: shape\nhosts:\n");
    text += &host(
        "db1",
        1,
        if s.web != Web::OwnHost {
            "postgres-primary, web"
        } else {
            "postgres-primary"
        },
    );
    for i in 0..s.replicas {
        text += &host(&format!("db{}", i + 2), i + 2, "postgres-replica");
    }
    if s.web != Web::Primary {
        text += &host("web1", 20, "web");
    }
    text += &format!(
        "postgres:\n  version: {v}\n  data_directory: /var/lib/postgresql/{v}/main\n  workload: {w}\n",
        v = s.version,
        w = s.workload
    );
    // SSL with the CA its clients verify it with, or plain text said plainly: without either a
    // replica or a web host of its own is an error (PG030), and SSL without the CA a warning
    // (PG029) about a field the user can add.
    text += if s.ssl {
        "  ssl: { cert: /etc/ssl/pg.crt, key: /etc/ssl/pg.key, ca: /etc/ssl/pg-ca.crt }\n"
    } else {
        "  plain_text: accepted\n"
    };
    if s.replicas > 0 || s.public_port {
        text +=
            "  replication:\n    user: replicator\n    password: { env: REPLICATION_PASSWORD }\n";
        if s.public_port {
            text += "    public_port: 7432\n";
        }
    }
    text += "nginx:\n  version: \"1.26\"\n  openssl: \"3.5\"\n  https:\n    server_name: shape.example.org\n    tls: { certificate: /etc/nginx/a.crt, certificate_key: /etc/nginx/a.key }\n    upstream: { servers: [127.0.0.1:8000] }\n";
    text += "django:\n  version: \"5.2\"\n  settings_file: /srv/app/settings.py\n  secret_key: { env: SECRET_KEY }\n  database: { name: app, user: app_user, password: { env: DB_PASSWORD } }\n";
    text
}

const WORKLOADS: &[&str] = &["web", "oltp", "dw", "mixed", "desktop"];
const STORAGE: &[&str] = &["hdd", "ssd", "nvme", "san"];
const CPUS: &[u32] = &[1, 2, 3, 4, 6, 8, 16, 32, 64, 128];

/// 1GiB to 4TiB by doubling, and a few sizes between.
fn memories() -> Vec<u64> {
    let mut out: Vec<u64> = (0..=12).map(|p| 1u64 << p).collect();
    out.extend([3, 6, 24, 96, 768]);
    out
}

/// Every topology: web on the primary, its own host or both, 0 to 2 replicas, with and without
/// nginx's forward and SSL.
fn topologies() -> Vec<(Web, usize, bool, bool)> {
    let mut out = Vec::new();
    for web in [Web::Primary, Web::OwnHost, Web::Both] {
        for replicas in 0..=2 {
            for public_port in [false, true] {
                for ssl in [false, true] {
                    out.push((web, replicas, public_port, ssl));
                }
            }
        }
    }
    out
}

/// The warnings of `shape`'s spec; an error fails the test, since a shape alone must be valid.
fn warnings(shape: Shape) -> Vec<String> {
    let text = spec(shape);
    let source = Source::from_bytes("site.yaml", text.clone().into_bytes()).unwrap();
    match load(&source) {
        Ok(loaded) => loaded
            .warnings
            .iter()
            .map(|d| format!("{}: {}", d.rule.unwrap_or("-"), d.message))
            .collect(),
        Err(invalid) => panic!("{shape:?} is refused: {:#?}\n{text}", invalid.diagnostics),
    }
}

#[test]
fn a_spec_of_nothing_but_its_shape_gets_no_warning() {
    let mut shapes = Vec::new();
    let topologies = topologies();
    let memories = memories();
    // Every tuning input against every other, each with a topology and a major in turn...
    let mut i = 0;
    for workload in WORKLOADS {
        for storage in STORAGE {
            for &memory_gib in &memories {
                for &cpus in CPUS {
                    let (web, replicas, public_port, ssl) = topologies[i % topologies.len()];
                    shapes.push(Shape {
                        version: 11 + (i % 8) as u32,
                        workload,
                        storage,
                        memory_gib,
                        cpus,
                        web,
                        replicas,
                        public_port,
                        ssl,
                    });
                    i += 1;
                }
            }
        }
    }
    // ...and every topology and major against every workload at the extremes of memory and cpus.
    for &(web, replicas, public_port, ssl) in &topologies {
        for version in 11..=18 {
            for workload in WORKLOADS {
                for (memory_gib, cpus) in [(1, 1), (1, 128), (4096, 1), (4096, 128)] {
                    shapes.push(Shape {
                        version,
                        workload,
                        storage: STORAGE[version as usize % STORAGE.len()],
                        memory_gib,
                        cpus,
                        web,
                        replicas,
                        public_port,
                        ssl,
                    });
                }
            }
        }
    }
    let mut found = std::collections::BTreeMap::<String, (usize, Shape)>::new();
    for shape in &shapes {
        for warning in warnings(*shape) {
            found.entry(warning).or_insert((0, *shape)).0 += 1;
        }
    }
    assert!(
        found.is_empty(),
        "{} shapes, warnings (with a count and the first shape of each): {found:#?}",
        shapes.len()
    );
}
