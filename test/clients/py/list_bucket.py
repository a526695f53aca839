"""boto3 as an edge-agent client in the test/clients integration tests.

Lists a bucket through a session that resolves credentials with botocore's
default chain, and prints one JSON line per listing with the access key ID it
signed with (never a secret). With --until-rotated SECONDS it keeps one
session alive and lists until the key changes.
"""

import argparse
import json
import sys
import time

import boto3
from botocore.config import Config


def listing(session, client, bucket):
    out = client.list_objects_v2(Bucket=bucket)
    key_id = session.get_credentials().get_frozen_credentials().access_key
    keys = [o["Key"] for o in out.get("Contents", [])]
    print(json.dumps({"access_key_id": key_id, "keys": keys}), flush=True)
    return key_id


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--bucket", required=True)
    p.add_argument("--until-rotated", type=float, default=0)
    p.add_argument("--every", type=float, default=0.5)
    a = p.parse_args()

    session = boto3.session.Session()
    client = session.client(
        "s3",
        endpoint_url=a.endpoint,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )
    first = listing(session, client, a.bucket)
    if not a.until_rotated:
        return 0

    deadline = time.monotonic() + a.until_rotated
    while time.monotonic() < deadline:
        time.sleep(a.every)
        if listing(session, client, a.bucket) != first:
            return 0
    print("access key %s still in use after %ss" % (first, a.until_rotated), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
