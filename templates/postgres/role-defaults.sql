-- Role defaults that Django expects of its connections (site {{ site|comment }}): with them set,
-- Django sends no extra queries when it connects. Rendered by sitewright.
-- Apply on the primary: psql -f THIS_FILE
{% for d in defaults %}
ALTER ROLE {{ role|ident }} SET {{ d.name|ident }} TO {{ d.value }};
{% endfor %}
