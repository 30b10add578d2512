"""Bootstraps a fresh BottleCRM for the tests: an org, an org-bound JWT, a personal access token
with lead scopes, and a lead intake webhook. Prints KEY=VALUE lines (the tests' environment).

usage: bootstrap.py BASE_URL DEVLOGIN_JWT
"""
import json
import sys
import urllib.error
import urllib.request

base, jwt = sys.argv[1], sys.argv[2]


def call(method, path, token, body=None):
    req = urllib.request.Request(
        base + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        sys.exit(f"bootstrap: {method} {path} -> {e.code} {e.read()[:500]!r}")


def find(obj, *names):
    """The first value under any of `names`, searching nested dicts."""
    if isinstance(obj, dict):
        for n in names:
            if n in obj and obj[n]:
                return obj[n]
        for v in obj.values():
            got = find(v, *names)
            if got:
                return got
    return None


org = call("POST", "/api/org/", jwt, {"name": "Closer tests"})
org_id = find(org, "org_id", "id")
switched = call("POST", "/api/auth/switch-org/", jwt, {"org_id": org_id})
org_jwt = find(switched, "access_token", "access")
pat = call("POST", "/api/profile/tokens/", org_jwt,
           {"name": "closer", "scopes": ["leads:read", "leads:write"]})
token = find(pat, "token", "key", "raw")
intake = call("POST", "/api/leads/intakes/", org_jwt, {"name": "closer", "preset": "generic"})
print(f"BOTTLECRM_ORG_ID={org_id}")
print(f"BOTTLECRM_ADMIN_JWT={org_jwt}")
print(f"BOTTLECRM_TOKEN={token}")
print(f"BOTTLECRM_INTAKE_ID={find(intake, 'id')}")
# The URL the server reports names its configured public host; the tests post on loopback.
print(f"BOTTLECRM_INTAKE_URL={base}/api/public/leads/{find(intake, 'id')}/")
print(f"BOTTLECRM_INTAKE_KEY={find(intake, 'key')}")
