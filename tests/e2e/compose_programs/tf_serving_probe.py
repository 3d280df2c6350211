"""Run in a container (`python -c ... MODEL`): can this container reach TF Serving
(http://tf-serving:8501)? Prints `reached` or `unreachable: <why>`."""

import sys
import urllib.error
import urllib.request

try:
    urllib.request.urlopen("http://tf-serving:8501/v1/models/" + sys.argv[1], timeout=10)
    print("reached")
except urllib.error.HTTPError as exc:
    print(f"reached ({exc.code})")
except Exception as exc:
    print(f"unreachable: {type(exc).__name__}: {exc}")
