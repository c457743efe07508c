"""checkov suppressions, written into the CloudFormation resource's metadata with a reason.

checkov reads `Metadata.checkov.skip` on each resource of the synthesized template; the
reason is its `comment`, which tests/infra/test_checkov_suppressions.py requires.
"""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import IConstruct

METADATA_KEY = "checkov"


def skip_check(scope: IConstruct, check_id: str, reason: str) -> None:
    """Suppress one checkov check (e.g. `CKV_AWS_117`) on the resource that `scope` renders."""
    resource = scope.node.default_child if not isinstance(scope, CfnResource) else scope
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{scope.node.path} renders no single CloudFormation resource")
    existing = resource.get_metadata(METADATA_KEY) or {"skip": []}
    skips = [*existing["skip"], {"id": check_id, "comment": reason}]
    resource.add_metadata(METADATA_KEY, {"skip": skips})
