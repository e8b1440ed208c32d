"""schemathesis hooks of scripts/api-test: the operator's token for admin routes, the tenant's key for the rest."""
import os

import schemathesis


@schemathesis.auth(refresh_interval=None)
class GatewayAuth:
    def get(self, case, context):
        return {"admin": os.environ["API_TEST_ADMIN_TOKEN"], "tenant": os.environ["API_TEST_TENANT_KEY"]}

    def set(self, case, data, context):
        # The document marks admin routes with the adminToken security scheme.
        schemes = {name for requirement in case.operation.definition.raw.get("security", []) for name in requirement}
        token = data["admin"] if "adminToken" in schemes else data["tenant"]
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {token}"
