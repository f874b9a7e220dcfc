"""The local Lambda model: warm, isolated worker processes per function.

`infra.runtime.pool.LambdaRuntime` is the harness side (an `infra.service.Invoker`);
`infra.runtime.worker` runs inside each sandbox process. Nothing is imported here so
that a sandbox starts without loading the harness.
"""
