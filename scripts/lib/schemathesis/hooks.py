"""schemathesis hooks for scripts/openapi-check.

JSON Schema's `integer` admits integral numbers written with a fraction
(`915.0`); the app's JSON parser takes integers only as integers and refuses
`915.0` (400). openapi.yaml says so in its description, which no schema
keyword can express, so generated bodies spell integral numbers as integers:
the data's meaning under the schema is unchanged, only its spelling.
"""

import schemathesis


def _integers_as_integers(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, list):
        return [_integers_as_integers(item) for item in value]
    if isinstance(value, dict):
        return {key: _integers_as_integers(item) for key, item in value.items()}
    return value


@schemathesis.hook
def map_body(context, body):
    return _integers_as_integers(body)
