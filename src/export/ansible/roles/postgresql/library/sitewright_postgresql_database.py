#!/usr/bin/python
# Shipped by sitewright with its Ansible export.
"""A PostgreSQL database owned by a role, created through psql when it is missing."""

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: sitewright_postgresql_database
short_description: A PostgreSQL database and its owner, through psql
options:
  name: {description: The database's name., required: true, type: str}
  owner: {description: "The role that owns it; without it, a new database is the superuser's and an existing one keeps its owner.", type: str}
  psql: {description: psql's argv, connecting as a superuser., required: true, type: list, elements: str}
"""


def literal(text):
    return "'" + text.replace("'", "''") + "'"


def identifier(text):
    return '"' + text.replace('"', '""') + '"'


def psql(module, sql):
    rc, out, err = module.run_command(module.params["psql"], data=sql, binary_data=True)
    if rc != 0:
        module.fail_json(msg="psql failed: %s" % err.strip())
    return out


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            owner=dict(type="str"),
            psql=dict(type="list", elements="str", required=True),
        ),
        supports_check_mode=True,
    )
    name, owner = module.params["name"], module.params["owner"]
    found = psql(
        module,
        "select pg_get_userbyid(datdba) from pg_database where datname = %s;\n" % literal(name),
    ).strip()
    if found == owner or (found and owner is None):
        module.exit_json(changed=False, database=name)
    if not module.check_mode:
        if found:
            psql(module, "ALTER DATABASE %s OWNER TO %s;\n" % (identifier(name), identifier(owner)))
        elif owner is None:
            psql(module, "CREATE DATABASE %s;\n" % identifier(name))
        else:
            psql(module, "CREATE DATABASE %s OWNER %s;\n" % (identifier(name), identifier(owner)))
    module.exit_json(changed=True, database=name)


if __name__ == "__main__":
    main()
