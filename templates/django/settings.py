"""Production settings of site {{ site|comment }} on {{ host|comment }}{% if read_only %}, a read-only instance{% endif %}.

Rendered by sitewright: change the site spec, not this file. Secrets are read
when Django starts, from the environment or a file; none is written here.
"""

{% if base_module %}
from {{ base_module|ident }} import *  # noqa: F401,F403
{% endif %}
import os
import pathlib


def _secret_file(path):
    return pathlib.Path(path).read_text().rstrip("\n")


DEBUG = False
ALLOWED_HOSTS = {{ allowed_hosts }}
{% if csrf_trusted_origins %}
CSRF_TRUSTED_ORIGINS = {{ csrf_trusted_origins }}
{% endif %}
{% macro secret(s) %}{% if s.env %}os.environ[{{ s.env }}]{% else %}_secret_file({{ s.file }}){% endif %}{% endmacro %}
SECRET_KEY = {{ secret(secret_key) }}

DATABASES = {
{% for db in databases %}
    # {{ db.why|comment }}
    {{ db.alias }}: {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": {{ db.name }},
        "USER": {{ db.user }},
        "PASSWORD": {{ secret(db.password) }},
        "HOST": {{ db.host }},
        "PORT": {{ db.port }},
{% if db.conn_max_age is not none %}
        "CONN_MAX_AGE": {{ db.conn_max_age }},
{% endif %}
{% if db.health_checks %}
        "CONN_HEALTH_CHECKS": True,
{% endif %}
{% if db.options %}
        "OPTIONS": {{ db.options }},
{% endif %}
    },
{% endfor %}
}
{% if tls %}

# Served through nginx over TLS. nginx overwrites X-Forwarded-Proto with the real
# scheme, so Django may trust it; cookies go over HTTPS only; HSTS as nginx sends it.
SECURE_PROXY_SSL_HEADER = {{ tls.proxy_ssl_header }}
SECURE_SSL_REDIRECT = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = {{ tls.hsts_seconds }}
SECURE_HSTS_INCLUDE_SUBDOMAINS = {{ tls.hsts_subdomains }}
SECURE_HSTS_PRELOAD = {{ tls.hsts_preload }}
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
{% if tls.silenced %}
{% for c in tls.silenced %}
# {{ c.id|comment }}: {{ c.why|comment }}.
{% endfor %}
SILENCED_SYSTEM_CHECKS = [*globals().get("SILENCED_SYSTEM_CHECKS", []){% for c in tls.silenced %}, {{ c.id }}{% endfor %}]
{% endif %}
{% endif %}
{% if add_apps %}

INSTALLED_APPS = [*INSTALLED_APPS{% for app in add_apps %}, {{ app }}{% endfor %}]
{% endif %}

{% for s in settings %}
{{ s.name|ident }} = {{ s.value }}
{% endfor %}
