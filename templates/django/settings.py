"""Production settings of site {{ site|comment }} on {{ host|comment }}{% if read_only %}, a read-only instance{% endif %}.

Rendered by sitewright: change the site spec, not this file. Secrets are read
when Django starts, from the environment or a file; none is written here.
"""

{% if base_module %}
from {{ base_module }} import *  # noqa: F401,F403
{% endif %}
import os
import pathlib


def _secret_file(path):
    return pathlib.Path(path).read_text().rstrip("\n")


DEBUG = {{ debug }}
ALLOWED_HOSTS = {{ allowed_hosts }}
{% if csrf_trusted_origins %}
CSRF_TRUSTED_ORIGINS = {{ csrf_trusted_origins }}
{% endif %}
SECRET_KEY = {{ secret_key }}

DATABASES = {
{% for db in databases %}
    # {{ db.why|comment }}
    {{ db.alias }}: {
{% for e in db.entries %}
        {{ e.key }}: {{ e.value }},
{% endfor %}
    },
{% endfor %}
}
{% if tls %}

# Served through nginx over TLS. nginx overwrites X-Forwarded-Proto with the real
# scheme, so Django may trust it; cookies go over HTTPS only; HSTS as nginx sends it.
SECURE_PROXY_SSL_HEADER = {{ tls.proxy_ssl_header }}
SECURE_SSL_REDIRECT = {{ tls.ssl_redirect }}
SESSION_COOKIE_SECURE = {{ tls.session_cookie_secure }}
CSRF_COOKIE_SECURE = {{ tls.csrf_cookie_secure }}
SECURE_HSTS_SECONDS = {{ tls.hsts_seconds }}
SECURE_HSTS_INCLUDE_SUBDOMAINS = {{ tls.hsts_subdomains }}
SECURE_HSTS_PRELOAD = {{ tls.hsts_preload }}
SECURE_REFERRER_POLICY = {{ tls.referrer_policy }}
SECURE_CONTENT_TYPE_NOSNIFF = {{ tls.content_type_nosniff }}
X_FRAME_OPTIONS = {{ tls.frame_options }}
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

{% if cache %}
CACHES = {"default": {"BACKEND": {{ cache.backend }}{% if cache.location %}, "LOCATION": {{ cache.location }}{% endif %}{% if cache.options %}, "OPTIONS": {{ cache.options }}{% endif %}}}
{% endif %}
{% for s in settings %}
{{ s.name|ident }} = {{ s.value }}
{% endfor %}
