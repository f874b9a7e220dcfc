"""The local Lambda service: sandboxes that run a function's package as AWS does, and the
Invoke API in front of them.

- `runtime`: `LambdaRuntime`, the harness side (an `infra.service.Invoker`): sandboxes
  per function, started on first invocation, reaped when idle;
- `sandbox`: one sandbox process; `bootstrap/`: the runtime directory a sandbox runs
  (Lambda's /var/runtime), which imports nothing of the harness;
- `packages`: what a sandbox can import (code root, layers, requirements, boto3);
- `interpreters`: which Python runs a `pythonX.Y` function;
- `invoke_api`: `POST /2015-03-31/functions/{name}/invocations`;
- `logs`: function logs, invocation reports and the console view of both.
"""
