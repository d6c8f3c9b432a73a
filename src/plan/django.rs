//! The Django settings module of the web hosts: production values, the database it uses, and
//! secrets read at run time rather than written down.

use serde_json::{Value, json};

use super::{FileMeta, Mode, OnChange, PlannedFile, Service};
use crate::spec::{Django, Host, PythonValue, Role, SecretRef, Site};

pub(super) fn files(site: &Site, host: &Host) -> Vec<PlannedFile> {
    let (Some(django), true) = (&site.django, host.has(Role::Web)) else {
        return Vec::new();
    };
    vec![PlannedFile {
        host: host.name.clone(),
        path: django.settings_file.to_string(),
        template: "django/settings.py",
        context: context(site, django, host),
        meta: FileMeta::new(Mode::PUBLIC, "root", Service::Django, OnChange::Restart),
        secrets: Vec::new(),
    }]
}

/// How the settings module reads a secret when Django starts.
fn runtime_read(secret: &SecretRef) -> Value {
    match secret {
        SecretRef::Env(name) => json!({ "env": name }),
        SecretRef::File(path) => json!({ "file": path.as_str() }),
    }
}

fn context(site: &Site, django: &Django, host: &Host) -> Value {
    let mut allowed: Vec<String> = django.allowed_hosts.iter().map(|h| h.0.clone()).collect();
    if let Some(https) = site.nginx.as_ref().and_then(|n| n.https.as_ref())
        && !allowed.contains(&https.server_name)
    {
        allowed.insert(0, https.server_name.clone());
    }
    let db = &django.database;
    let target = db
        .host
        .as_ref()
        .and_then(|name| site.host(name.as_str()))
        .or_else(|| site.hosts_with(Role::PostgresPrimary).next());
    let pg = site.postgres.as_ref();
    let (db_host, db_port) = match (target, pg) {
        (Some(t), Some(pg)) if t.name == host.name => ("127.0.0.1".to_owned(), pg.port.0),
        (Some(t), Some(pg)) => {
            let forwarded = pg
                .replication
                .as_ref()
                .and_then(|r| r.public_port)
                .filter(|_| t.has(Role::PostgresPrimary));
            (t.address.to_string(), forwarded.unwrap_or(pg.port).0)
        }
        _ => ("127.0.0.1".to_owned(), 5432),
    };
    let mut options = serde_json::Map::new();
    if pg.is_some_and(|p| p.ssl.is_some()) && target.is_some_and(|t| t.name != host.name) {
        options.insert("sslmode".into(), json!("require"));
    }
    let conn_max_age = db.conn_max_age.and_then(|d| d.whole_secs());
    let extra: Vec<Value> = django
        .settings
        .iter()
        .map(|(name, value)| json!({ "name": name, "value": python_value(value) }))
        .collect();
    json!({
        "site": site.site,
        "host": host.name,
        "base_module": django.base_module.as_ref().map(|m| m.as_str()),
        "allowed_hosts": allowed,
        "secret_key": runtime_read(&django.secret_key),
        "database": {
            "name": db.name,
            "user": db.user,
            "password": runtime_read(&db.password),
            "host": db_host,
            "port": db_port,
            "conn_max_age": conn_max_age,
            "options": options,
        },
        "behind_tls_proxy": site.nginx.as_ref().is_some_and(|n| n.https.is_some()),
        "settings": extra,
    })
}

fn python_value(value: &PythonValue) -> Value {
    match value {
        PythonValue::Bool(b) => json!(b),
        PythonValue::Int(i) => json!(i),
        PythonValue::Float(f) => json!(f),
        PythonValue::Text(t) => json!(t),
        PythonValue::List(items) => Value::Array(items.iter().map(python_value).collect()),
        PythonValue::Dict(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), python_value(v)))
                .collect(),
        ),
    }
}
