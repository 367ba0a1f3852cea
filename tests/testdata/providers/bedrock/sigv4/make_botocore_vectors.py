#!/usr/bin/env python3
"""Signs Bedrock Converse requests with botocore (AWS's own Python SigV4
implementation) at a fixed time and writes botocore_vectors.json, which
src/providers/bedrock/sigv4_test.cc compares the gateway's signer against.

Run: python3 make_botocore_vectors.py > botocore_vectors.json
"""
import datetime
import json
from unittest import mock
from urllib.parse import quote

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

# The Converse body the gateway builds for {"messages":[{"role":"user","content":"x"}]}.
BODY = '{"messages":[{"role":"user","content":[{"text":"x"}]}]}'
FIXED = datetime.datetime(2024, 5, 17, 9, 30, 0)
CASES = [
    # name, region, host (with port when not default), model id, stream, body, session token
    ("converse-model-with-colon", "us-east-1", "bedrock-runtime.us-east-1.amazonaws.com",
     "anthropic.claude-3-5-sonnet-20240620-v1:0", False,
     BODY, ""),
    ("converse-stream-session-token", "eu-central-1", "bedrock-runtime.eu-central-1.amazonaws.com",
     "anthropic.claude-3-haiku-20240307-v1:0", True,
     BODY,
     "IQoJb3JpZ2luX2VjEXAMPLETOKEN+/=="),
    ("converse-arn-model-id", "us-west-2", "bedrock-runtime.us-west-2.amazonaws.com",
     "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0", False,
     BODY, ""),
    ("converse-local-port", "us-east-1", "127.0.0.1:8080", "amazon.nova-lite-v1:0", False, BODY, ""),
]

out = []
for name, region, host, model, stream, body, token in CASES:
    path = "/model/" + quote(model, safe="") + ("/converse-stream" if stream else "/converse")
    scheme = "http" if host.startswith("127.") else "https"
    headers = {"content-type": "application/json",
               "accept": "application/vnd.amazon.eventstream" if stream else "application/json"}
    req = AWSRequest(method="POST", url=f"{scheme}://{host}{path}", data=body.encode(), headers=headers)
    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token or None)
    auth = botocore.auth.SigV4Auth(creds, "bedrock", region)
    seen = {}
    original = auth.canonical_request

    def capture(request, _original=original, _seen=seen):
        _seen["canonical_request"] = _original(request)
        return _seen["canonical_request"]

    auth.canonical_request = capture
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=FIXED, create=True), \
         mock.patch("botocore.auth.datetime") as dt:
        dt.datetime.utcnow.return_value = FIXED
        dt.datetime.now.return_value = FIXED
        dt.datetime.strptime = datetime.datetime.strptime
        auth.add_auth(req)
    out.append({
        "name": name, "region": region, "host": host, "model": model, "stream": stream, "body": body,
        "session_token": token, "amz_date": req.headers["X-Amz-Date"], "path": path,
        "canonical_request": seen["canonical_request"],
        "authorization": req.headers["Authorization"],
    })
print(json.dumps({"source": f"botocore {botocore.__version__} SigV4Auth (Apache-2.0)", "access_key_id": "AKIDEXAMPLE",
                  "secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "vectors": out}, indent=2))
