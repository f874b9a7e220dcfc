"""What a service asks of the local harness only: `custom.local` in its serverless.yml.

    custom:
      local:
        web: client/web                  # a static site served at / (relative to the file)
        secrets: {APP_SECRET: random}    # generated per run unless set in the environment
        secretsFile: .local/secrets.env  # where generated values are written for local tools
        devToken:                        # an HS256 token minted at start, for the banner
          secretEnv: APP_SECRET
          claims: {sub: dev, name: Dev}
          ttlSeconds: 86400
        banner: ["Connect: {ws_url}?token={token}"]   # extra banner lines
        allowedOrigins: [http://localhost:5173]      # pages elsewhere that may open WebSockets
        parameters: {...}                # SSM parameter values (read by infra.config)
        layers: {deps: {x86_64: build/x86.zip, arm64: build/arm.zip}}  # (infra.config)
        build: ./scripts/build_layer.sh  # commands `python -m infra` runs before it starts

Generated secrets stand for environment variables while the service file is resolved
(`${env:APP_SECRET}`) and supply the SSM parameters named by `*_PARAM` variables; they
never reach the sandboxes' environment (on AWS they would not be there either).
The block is resolved with the rest of the file (`${self:...}`, `${opt:stage}`, short
tags): `load` reads the definition and its settings together.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import yaml

from infra.apigateway.access import normalize_origin
from infra.config import ConfigError, find_definition, load_service
from infra.service import ServiceSpec

RANDOM = "random"


class BuildFailed(ConfigError):
    """A `custom.local.build` command failed: the service is not ready to run."""


class _TolerantLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags read as plain values: only the names under
    custom.local.secrets are taken from it, before the file is resolved."""


def _untagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_TolerantLoader.add_multi_constructor("!", _untagged)


@dataclass(frozen=True)
class DevToken:
    secret_env: str
    claims: Mapping[str, Any]
    ttl_s: int = 86400


@dataclass(frozen=True)
class LocalSettings:
    base_dir: Path
    web: Path | None = None
    secrets: Mapping[str, str] = field(default_factory=dict)  # name -> how to make it
    secrets_file: Path | None = None
    dev_token: DevToken | None = None
    banner: tuple[str, ...] = ()
    # Browser origins besides the gateway's own that may open WebSockets ("*": any).
    allowed_origins: tuple[str, ...] = ()
    # Commands run from the file's directory before the stack starts (e.g. what builds
    # the layers it runs), each split like a shell's words, none through a shell.
    build: tuple[str, ...] = ()

    @classmethod
    def parse(cls, local: Mapping[str, Any], base_dir: Path) -> LocalSettings:
        where = "custom.local"
        raw_secrets = local.get("secrets") or {}
        if not isinstance(raw_secrets, Mapping):
            raise ConfigError(f"{where}.secrets: expected a mapping of NAME: random")
        for name, how in raw_secrets.items():
            if how != RANDOM:
                raise ConfigError(f"{where}.secrets.{name}: only `random` is supported")
        token = local.get("devToken")
        dev_token = None
        if token is not None:
            if not isinstance(token, Mapping) or token.get("secretEnv") not in raw_secrets:
                raise ConfigError(f"{where}.devToken: secretEnv must name one of its secrets")
            claims = token.get("claims") or {}
            if not isinstance(claims, Mapping):
                raise ConfigError(f"{where}.devToken.claims: expected a mapping")
            dev_token = DevToken(
                str(token["secretEnv"]), dict(claims), int(token.get("ttlSeconds", 86400))
            )
        banner = local.get("banner") or []
        if not isinstance(banner, list):
            raise ConfigError(f"{where}.banner: expected a list of lines")
        origins = local.get("allowedOrigins") or []
        if isinstance(origins, str):
            origins = [origins]
        if not isinstance(origins, list) or not all(isinstance(o, str) for o in origins):
            raise ConfigError(f"{where}.allowedOrigins: expected a list of origins")
        bad = [o for o in origins if normalize_origin(o) is None]
        if bad:
            raise ConfigError(
                f"{where}.allowedOrigins: not an origin (scheme://host[:port], or *): "
                + ", ".join(bad)
            )
        build = local.get("build") or []
        if isinstance(build, str):
            build = [build]
        if not isinstance(build, list) or not all(isinstance(c, str) and c for c in build):
            raise ConfigError(f"{where}.build: expected a command or a list of commands")
        for i, command in enumerate(build):
            try:
                shlex.split(command)
            except ValueError as exc:
                raise ConfigError(f"{where}.build[{i}]: {exc}") from None
        web = local.get("web")
        secrets_file = local.get("secretsFile")
        return cls(
            base_dir=base_dir,
            web=(base_dir / str(web)).resolve() if web else None,
            secrets={str(k): str(v) for k, v in raw_secrets.items()},
            secrets_file=(base_dir / str(secrets_file)) if secrets_file else None,
            dev_token=dev_token,
            banner=tuple(str(line) for line in banner),
            allowed_origins=tuple(origins),
            build=tuple(build),
        )

    def run_build(self, echo: Callable[[str], None] | None = print) -> None:
        """Run the `build` commands in order from the file's directory, their output
        shown on stderr as it comes (`echo` None: only a failing command's, in the error);
        a command that fails stops here with a `BuildFailed` naming it."""
        for i, command in enumerate(self.build):
            where = f"custom.local.build[{i}]"
            if echo is not None:
                echo(f"{where}: {command}")
            try:
                done = subprocess.run(
                    shlex.split(command),
                    cwd=self.base_dir,
                    stdout=sys.stderr if echo else subprocess.PIPE,
                    stderr=None if echo else subprocess.STDOUT,
                    text=True,
                    check=False,
                )
            except OSError as exc:
                raise BuildFailed(f"{where}: cannot run {command!r}: {exc.strerror}") from None
            if done.returncode != 0:
                output = f":\n{done.stdout.rstrip()}" if done.stdout else ""
                raise BuildFailed(
                    f"{where}: {command!r} failed with exit status {done.returncode}{output}"
                )

    def secret_values(
        self, given: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None
    ) -> tuple[dict[str, str], set[str]]:
        """The value of each declared secret: `given`, else the environment's, else a
        fresh random one. Returns the values and the names generated this run."""
        return _secret_values(self.secrets, given, env)

    def mint_dev_token(self, values: Mapping[str, str]) -> str | None:
        """The banner's ready-to-use token, signed with its secret (HS256)."""
        if self.dev_token is None:
            return None
        now = int(time.time())
        claims = {**self.dev_token.claims, "iat": now, "exp": now + self.dev_token.ttl_s}
        return jwt.encode(claims, values[self.dev_token.secret_env], algorithm="HS256")

    def write_secrets(self, values: Mapping[str, str], names: set[str]) -> Path | None:
        """Write the generated `names` to `secretsFile` (0600) for local tools."""
        path = self.secrets_file
        if path is None or not names:
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(_secrets_text(values, names))
        return path

    def remove_secrets(self, values: Mapping[str, str], names: set[str]) -> None:
        """Remove `secretsFile` at the end of the run that wrote it, unless another run
        (on another port, in the same checkout) has written its own since: that run's
        local tools still read it."""
        path = self.secrets_file
        if path is None or not names:
            return
        with contextlib.suppress(FileNotFoundError):
            if path.read_text() == _secrets_text(values, names):
                path.unlink()


def _secrets_text(values: Mapping[str, str], names: set[str]) -> str:
    return "".join(f"{name}={values[name]}\n" for name in sorted(names))


@dataclass(frozen=True)
class LoadedService:
    """A definition read for a local run: the spec, its settings and this run's secrets."""

    path: Path
    spec: ServiceSpec
    settings: LocalSettings
    secrets: Mapping[str, str]
    generated: frozenset[str]


def load(
    path: Path,
    stage: str | None = None,
    region: str | None = None,
    *,
    given: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> LoadedService:
    """Read the definition at `path` (`infra.config.load_service`) with its `custom.local`
    settings, resolved like the rest of the file. The secrets stand for variables of that
    same file, so their names are first read as written; when they come from variables
    themselves, the file is read again with the names they resolve to."""
    env = os.environ if env is None else env
    path = find_definition(Path(path)).resolve()
    names = _declared_secret_names(path)
    for _ in range(2):
        values, generated = _secret_values(names, given, env)
        spec = load_service(path, stage, region, env={**env, **values}, parameter_values=values)
        settings = LocalSettings.parse(spec.local, spec.base_dir or path.parent)
        if set(settings.secrets) == set(names):
            break
        names = set(settings.secrets)
    else:
        raise ConfigError("custom.local.secrets: the names do not settle when resolved")
    return LoadedService(path, spec, settings, values, frozenset(generated))


def _declared_secret_names(path: Path) -> set[str]:
    """The names under custom.local.secrets as written (none when not a literal mapping)."""
    try:
        doc = yaml.load(path.read_text(), Loader=_TolerantLoader)
    except (OSError, yaml.YAMLError):
        return set()  # the service loader reports what is wrong with the file
    custom = doc.get("custom") if isinstance(doc, Mapping) else None
    local = custom.get("local") if isinstance(custom, Mapping) else None
    declared = local.get("secrets") if isinstance(local, Mapping) else None
    return {str(name) for name in declared} if isinstance(declared, Mapping) else set()


def _secret_values(
    names: Iterable[str], given: Mapping[str, str] | None, env: Mapping[str, str] | None
) -> tuple[dict[str, str], set[str]]:
    env = os.environ if env is None else env
    given = given or {}
    values: dict[str, str] = {}
    generated: set[str] = set()
    for name in names:
        value = given.get(name) or env.get(name)
        if not value:
            value = secrets.token_urlsafe(32)
            generated.add(name)
        values[name] = value
    return values, generated
