"""A minimal Lambda custom runtime for handler.py, standard library only, so the cold start
measured is the function's own (its imports) plus the interpreter, and not a runtime library.

    python infra/bench/py_callback/bootstrap.py

Python puts this file's directory first on sys.path, so `handler` beside it imports. Protocol:
https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html
"""

import json
import os
import time
import traceback
import urllib.request

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"
# The Runtime API is always local; an http_proxy in the environment must not reroute it.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Context:
    """The parts of Lambda's context object a handler usually reads."""

    def __init__(self, headers):
        self.aws_request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn", "")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def _post(path, payload, error_type=None):
    headers = {"Content-Type": "application/json"}
    if error_type:
        headers["Lambda-Runtime-Function-Error-Type"] = error_type
    request = urllib.request.Request(API + path, data=json.dumps(payload).encode(),
                                     headers=headers, method="POST")
    with _http.open(request) as answer:
        answer.read()


def _error(exc):
    """The error document Lambda's own runtimes send."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_exception(exc),
    }


def main():
    try:
        import handler  # the init: everything handler.py does at import time
    except Exception as exc:
        _post("/init/error", _error(exc), "Runtime.ImportModuleError")
        raise SystemExit(1)

    while True:
        # No timeout: /next is a long poll that may wait any time for the next event.
        with _http.open(API + "/invocation/next") as answer:
            context = Context(answer.headers)
            event = json.loads(answer.read())
        request_id = context.aws_request_id
        try:
            result = handler.handler(event, context)
        except Exception as exc:
            _post(f"/invocation/{request_id}/error", _error(exc), "Unhandled")
            continue
        _post(f"/invocation/{request_id}/response", result)


if __name__ == "__main__":
    main()
