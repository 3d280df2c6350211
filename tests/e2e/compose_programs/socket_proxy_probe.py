"""Run in a worker container (`python -c`): every Docker API call the socket proxy must refuse
(exec, build, volumes, networks, info) and the trainer lifecycle it must allow (create, start,
wait, logs, remove); prints {call: HTTP status} as one JSON line."""

import json
import os
import urllib.error
import urllib.request

base = os.environ["DOCKER_HOST"].replace("tcp://", "http://")


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


out = {}
for name, method, path, body in [
    ("ping", "GET", "/_ping", None),
    ("exec_start", "POST", "/v1.41/exec/0123456789ab/start", {}),
    ("exec_inspect", "GET", "/v1.41/exec/0123456789ab/json", None),
    ("build", "POST", "/v1.41/build", None),
    ("volume_create", "POST", "/v1.41/volumes/create", {"Name": "e2e-should-not-exist"}),
    ("volumes_list", "GET", "/v1.41/volumes", None),
    ("network_create", "POST", "/v1.41/networks/create", {"Name": "e2e-should-not-exist"}),
    ("info", "GET", "/v1.41/info", None),
]:
    out[name] = call(method, path, body)[0]
status, raw = call(
    "POST",
    "/v1.41/containers/create",
    {
        "Image": os.environ["ML_TRAIN_IMAGE"],
        "Cmd": ["--help"],
        "NetworkDisabled": True,
        "Labels": {"ml.trainer": "1", "ml.e2e": "proxy-probe"},
    },
)
out["create"] = status
cid = json.loads(raw)["Id"] if status == 201 else None
if cid:
    out["start"] = call("POST", f"/v1.41/containers/{cid}/start")[0]
    status, raw = call("POST", f"/v1.41/containers/{cid}/wait")
    out["wait"] = status
    out["exit_code"] = json.loads(raw).get("StatusCode") if status == 200 else None
    status, raw = call("GET", f"/v1.41/containers/{cid}/logs?stdout=1&stderr=1")
    out["logs"] = status
    out["logs_have_usage"] = b"usage" in raw
    out["remove"] = call("DELETE", f"/v1.41/containers/{cid}")[0]
print(json.dumps(out))
