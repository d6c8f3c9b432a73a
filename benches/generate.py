#!/usr/bin/env python3
"""A realistic site spec of N hosts, for the benchmarks: one PostgreSQL primary, a streaming
replica per 50 hosts (at most 8), a caching proxy per 10 and web front ends (nginx and Django) for the rest,
with the CATMAID and IDR fixtures' features. Deterministic: the same N gives the same text.

    benches/generate.py 1000 > site.yaml
"""

import sys

SIZES = [("8GiB", 2, "hdd"), ("16GiB", 4, "ssd"), ("32GiB", 8, "ssd"), ("64GiB", 16, "nvme")]


def address(i):
    """The i-th host's address, in 10.0.0.0/8 so that 10,000 hosts fit."""
    return f"10.{i // 65536}.{i // 256 % 256}.{i % 256 or 1}" if i % 256 else f"10.{i // 65536}.{i // 256 % 256}.254"


def host(name, i, roles):
    memory, cpus, storage = SIZES[i % len(SIZES)]
    return (
        f"  - name: {name}\n    address: {address(i)}\n    memory: {memory}\n"
        f"    cpus: {cpus}\n    storage: {storage}\n    roles: [{roles}]\n"
    )


def site(n):
    # A cluster has a handful of replicas however large the site: each one's pg_hba.conf lists
    # every web host, so more would make the output grow with the square of the site.
    replicas = min(8, max(1, n // 50)) if n > 1 else 0
    proxies = max(1, n // 10) if n >= 4 else 0
    web = max(0, n - 1 - replicas - proxies)
    hosts = [host("db1", 1, "postgres-primary")]
    hosts += [host(f"db{r + 2}", r + 2, "postgres-replica") for r in range(replicas)]
    base = replicas + 2
    hosts += [host(f"proxy{p + 1}", base + p, "proxy") for p in range(proxies)]
    base += proxies
    hosts += [host(f"web{w + 1}", base + w, "web") for w in range(web)]
    backends = ", ".join(f"10.200.0.{b + 1}:4080" for b in range(4))
    nginx = [
        "nginx:\n",
        '  version: "1.26"\n',
        '  openssl: "3.5"\n',
    ]
    if web:
        nginx.append(
            "  https:\n"
            "    server_name: app.example.org\n"
            "    listen: { port: 443, redirect_port: 80 }\n"
            "    tls:\n"
            "      certificate: /etc/nginx/ssl/server.crt\n"
            "      certificate_key: /etc/nginx/ssl/server.key\n"
            "      profile: intermediate\n"
            "      hsts: { max_age: 730d, include_subdomains: true }\n"
            "    upstream:\n"
            "      servers: [127.0.0.1:8000]\n"
            "      protocol: asgi\n"
            "    static_locations:\n"
            "      - url: /static/\n"
            "        folder: /srv/app/static\n"
            "    client_body_buffer_size: 512kB\n"
            "    expected_connections: 100\n"
        )
    if proxies:
        nginx.append(
            "  cache_proxy:\n"
            "    server_name: data.example.org\n"
            "    listen: { port: 443, redirect_port: 80 }\n"
            "    tls:\n"
            "      certificate: /etc/nginx/ssl/data.crt\n"
            "      certificate_key: /etc/nginx/ssl/data.key\n"
            "      profile: modern\n"
            f"    backends: [{backends}]\n"
            "    cache:\n"
            "      directory: /var/cache/nginx/data\n"
            "      max_size: 50GB\n"
            "      inactive: 30d\n"
            "      valid: 1d\n"
            "    buster_port: 9000\n"
            "    timeout: 60s\n"
        )
    django = (
        "django:\n"
        '  version: "5.2"\n'
        "  settings_file: /srv/app/settings_production.py\n"
        "  base_module: app.settings\n"
        "  secret_key: { env: APP_SECRET_KEY }\n"
        "  database:\n"
        "    name: app\n"
        "    user: app_user\n"
        "    password: { env: APP_DB_PASSWORD }\n"
        "    conn_max_age: 60s\n"
        "  extra:\n"
        "    NODE_LIST_MAXIMUM_COUNT: 20000\n"
        '    NODE_PROVIDER: "postgis2d"\n'
        if web
        else ""
    )
    return (
        f"# A generated site of {n} hosts (benches/generate.py {n}).\n"
        f"site: bench{n}\n\nhosts:\n"
        + "".join(hosts)
        + "\npostgres:\n"
        "  version: 16\n"
        "  data_directory: /var/lib/postgresql/16/main\n"
        "  config_directory: /etc/postgresql/16/main\n"
        "  port: 5432\n"
        "  ssl:\n"
        "    cert: /etc/ssl/postgresql/server.crt\n"
        "    key: /etc/ssl/postgresql/server.key\n"
        "    ca: /etc/ssl/postgresql/site-ca.crt\n"
        "  replication:\n"
        "    user: replicator\n"
        "    password: { env: REPLICATION_PASSWORD }\n"
        "    public_port: 7432\n"
        "    wal_keep: 1GB\n"
        "  archive:\n"
        "    command: rsync -a %p postgres@db2:/srv/wal/%f\n"
        '    restore_command: cp /srv/wal/%f "%p"\n'
        "  backup:\n"
        "    database: app\n"
        "    directory: /srv/backup\n"
        '    schedule: "0 3 * * *"\n'
        "  hba:\n"
        "    - { type: local, databases: [all], users: [all], method: peer, comment: local roles }\n"
        "    - { type: hostssl, databases: [app], users: [reporting], address: 10.100.0.0/16, method: scram-sha-256, comment: reporting }\n"
        "  settings:\n"
        "    log_line_prefix: '%m [%p] %q%u@%d '\n"
        "\n"
        + "".join(nginx)
        + "\nsysctl:\n"
        "  roles: [postgres-primary, postgres-replica]\n"
        "  settings:\n"
        "    vm.swappiness: 10\n"
        "    vm.dirty_background_bytes: 256MB\n"
        "    vm.dirty_bytes: 1GB\n"
        "\n" + django
    )


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit() or int(sys.argv[1]) < 1:
        sys.exit("usage: benches/generate.py HOSTS")
    sys.stdout.write(site(int(sys.argv[1])))
