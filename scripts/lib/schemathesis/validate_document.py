"""Checks that a document is a valid OpenAPI 3.1 description, against the
OpenAPI 3.1 schema that the pinned schemathesis ships (and uses itself to
read documents). schemathesis tests an API with a document it can read even
when the document breaks the specification (a `links` member on an
operation instead of a response, say); this catches those mistakes.

    validate_document.py openapi.yaml
"""

import sys

import yaml
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

ERRORS_SHOWN_MAX = 20


def main(path):
    with open(path, encoding="utf-8") as file:
        document = yaml.safe_load(file)
    errors = list(OPENAPI_31_VALIDATOR.iter_errors(document))
    for error in errors[:ERRORS_SHOWN_MAX]:
        where = "/".join(str(part) for part in error.instance_path) or "(root)"
        print(f"{path}: {where}: {error.message}", file=sys.stderr)
    if errors:
        print(f"{path}: {len(errors)} violation(s) of the OpenAPI 3.1 schema", file=sys.stderr)
        return 1
    print(f"{path}: a valid OpenAPI 3.1 document")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
