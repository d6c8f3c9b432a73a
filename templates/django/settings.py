"""Production settings of site {{ site|comment }} on {{ host|comment }}.

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
{% macro secret(s) %}{% if s.env %}os.environ[{{ s.env }}]{% else %}_secret_file({{ s.file }}){% endif %}{% endmacro %}
SECRET_KEY = {{ secret(secret_key) }}

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": {{ database.name }},
        "USER": {{ database.user }},
        "PASSWORD": {{ secret(database.password) }},
        "HOST": {{ database.host }},
        "PORT": {{ database.port }},
{% if database.conn_max_age is not none %}
        "CONN_MAX_AGE": {{ database.conn_max_age }},
{% endif %}
{% if database.options %}
        "OPTIONS": {{ database.options }},
{% endif %}
    }
}
{% if behind_tls_proxy %}

# Served through nginx over TLS: cookies only over HTTPS, and nginx overwrites
# X-Forwarded-Proto with the real scheme, so Django may trust it.
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
{% endif %}
{% if settings %}

{% for s in settings %}
{{ s.name|ident }} = {{ s.value }}
{% endfor %}
{% endif %}
