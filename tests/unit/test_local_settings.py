"""custom.local: what a service asks of the local harness only (infra.local_settings)."""

from __future__ import annotations

import stat
from pathlib import Path

import jwt
import pytest

from infra.config import ConfigError
from infra.local_settings import BuildFailed, LocalSettings, load

REPO = Path(__file__).resolve().parents[2]


HEAD = "service: s\nprovider: {name: aws, runtime: python3.12}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "serverless.yml"
    path.write_text(text.replace("service: s\n", HEAD, 1))
    return path


def settings_of(path: Path) -> LocalSettings:
    return load(path, env={}).settings


def test_wschat_declares_its_local_settings() -> None:
    settings = settings_of(REPO / "serverless.yml")
    assert settings.web == REPO / "client" / "web"
    assert settings.secrets == {"CHAT_JWT_SECRET": "random"}
    assert settings.dev_token is not None and settings.dev_token.secret_env == "CHAT_JWT_SECRET"
    assert any("client.token" in line for line in settings.banner)


def test_a_service_without_the_block_asks_for_nothing() -> None:
    settings = settings_of(REPO / "tests" / "echo_service" / "serverless.yml")
    assert (settings.web, settings.secrets, settings.dev_token, settings.banner) == (
        None,
        {},
        None,
        (),
    )


def test_secrets_are_given_else_from_the_environment_else_new_each_run(tmp_path: Path) -> None:
    path = write(
        tmp_path, "service: s\ncustom:\n  local:\n    secrets: {A: random, B: random, C: random}\n"
    )
    settings = settings_of(path)
    values, generated = settings.secret_values({"A": "given"}, env={"B": "from-env"})
    assert (values["A"], values["B"], generated) == ("given", "from-env", {"C"})
    again, _ = settings.secret_values({"A": "given"}, env={"B": "from-env"})
    assert len(values["C"]) >= 32 and again["C"] != values["C"]


def test_dev_token_is_signed_with_its_secret(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "service: s\ncustom:\n  local:\n    secrets: {K: random}\n"
        "    devToken: {secretEnv: K, claims: {sub: dev}, ttlSeconds: 60}\n",
    )
    settings = settings_of(path)
    values, _ = settings.secret_values(env={})
    token = settings.mint_dev_token(values)
    assert token is not None
    claims = jwt.decode(token, values["K"], algorithms=["HS256"])
    assert claims["sub"] == "dev" and claims["exp"] - claims["iat"] == 60


def test_generated_secrets_are_written_for_local_tools_only_when_made_up(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "service: s\ncustom:\n  local:\n    secrets: {K: random}\n    secretsFile: .local/s.env\n",
    )
    settings = settings_of(path)
    values, generated = settings.secret_values(env={"K": "mine"})
    assert settings.write_secrets(values, generated) is None  # given: nothing to share
    values, generated = settings.secret_values(env={})
    written = settings.write_secrets(values, generated)
    assert written == tmp_path / ".local" / "s.env"
    assert written.read_text() == f"K={values['K']}\n"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600


def test_a_run_removes_its_secrets_file_but_not_a_later_runs(tmp_path: Path) -> None:
    settings = settings_of(
        write(
            tmp_path,
            "service: s\ncustom:\n  local:\n    secrets: {K: random}\n"
            "    secretsFile: .local/s.env\n",
        )
    )
    first, names = settings.secret_values(env={})
    second, _ = settings.secret_values(env={})
    settings.write_secrets(first, names)
    written = settings.write_secrets(second, names)  # a second run, on another port
    assert written is not None
    settings.remove_secrets(first, names)  # the first stops: the second's file stays
    assert written.read_text() == f"K={second['K']}\n"
    settings.remove_secrets(second, names)
    assert not written.exists()
    settings.remove_secrets(second, names)  # already gone: no error


def test_short_tags_elsewhere_in_the_file_do_not_hide_the_block(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "service: s\nprovider:\n  environment:\n    T: !Ref Table\n"
        "custom:\n  local:\n    web: site\n",
    )
    assert settings_of(path).web == (tmp_path / "site").resolve()


@pytest.mark.parametrize(
    "block",
    [
        "secrets: {K: fixed}",
        "secrets: [K]",
        "secrets: {K: random}\n    devToken: {secretEnv: OTHER}",
        "banner: one line",
        "allowedOrigins: [localhost:5173]",
        "allowedOrigins: {a: 1}",
    ],
)
def test_malformed_blocks_are_refused_by_name(tmp_path: Path, block: str) -> None:
    path = write(tmp_path, f"service: s\ncustom:\n  local:\n    {block}\n")
    with pytest.raises(ConfigError, match=r"custom\.local\."):
        settings_of(path)


def test_the_block_is_resolved_like_the_rest_of_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "service: s\ncustom:\n  site: public\n  secretName: TOKEN_KEY\n"
        "  local:\n    web: ${self:custom.site}\n    secretsFile: .local/${sls:stage}.env\n"
        "    secrets: {'${self:custom.secretName}': random}\n"
        "    devToken: {secretEnv: '${self:custom.secretName}', claims: {sub: dev}}\n"
        "    banner: [!Join [' ', [stage, '${sls:stage}']]]\n",
    )
    loaded = load(path, "qa", env={})
    settings = loaded.settings
    assert settings.web == (tmp_path / "public").resolve()
    assert settings.secrets_file == tmp_path / ".local" / "qa.env"
    assert settings.banner == ("stage qa",)
    # A secret whose name comes from a variable is made up like a literal one.
    assert set(loaded.secrets) == {"TOKEN_KEY"} and loaded.generated == {"TOKEN_KEY"}
    token = settings.mint_dev_token(loaded.secrets)
    assert token is not None
    assert jwt.decode(token, loaded.secrets["TOKEN_KEY"], algorithms=["HS256"])["sub"] == "dev"


def test_generated_secrets_stand_for_the_file_variables(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "service: s\nprovider:\n  runtime: python3.12\n  environment: {K_PARAM: /s/k}\n"
        "custom:\n  local:\n    secrets: {K: random}\n"
        "functions:\n  f:\n    handler: h.f\n    environment: {SEEN: '${env:K}'}\n",
    )
    loaded = load(path, env={})
    assert loaded.spec.functions["f"].environment["SEEN"] == loaded.secrets["K"]
    assert loaded.spec.parameters == {"/s/k": loaded.secrets["K"]}


def test_allowed_origins_are_read(tmp_path: Path) -> None:
    block = "allowedOrigins: ['http://localhost:5173', '*']"
    path = write(tmp_path, f"service: s\ncustom:\n  local:\n    {block}\n")
    assert settings_of(path).allowed_origins == ("http://localhost:5173", "*")


def test_build_commands_run_in_order_from_the_files_directory(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "service: s\ncustom:\n  local:\n    build:\n"
        "      - sh -c 'pwd > first'\n      - sh -c 'cat first > second'\n",
    )
    settings = settings_of(path)
    seen: list[str] = []
    settings.run_build(seen.append)
    assert seen == [
        "custom.local.build[0]: sh -c 'pwd > first'",
        "custom.local.build[1]: sh -c 'cat first > second'",
    ]
    assert (tmp_path / "second").read_text().strip() == str(tmp_path)


def test_a_failing_build_stops_the_start_naming_the_command_and_its_output(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        "service: s\ncustom:\n  local:\n    build: [\"sh -c 'echo no uv here; exit 3'\", "
        "touch never]\n",
    )
    with pytest.raises(BuildFailed) as failed:
        settings_of(path).run_build(echo=None)
    assert str(failed.value) == (
        "custom.local.build[0]: \"sh -c 'echo no uv here; exit 3'\" failed with exit status 3:"
        "\nno uv here"
    )
    assert not (tmp_path / "never").exists()
    missing = write(tmp_path, "service: s\ncustom:\n  local:\n    build: ./nowhere.sh\n")
    with pytest.raises(BuildFailed, match=r"^custom\.local\.build\[0\]: cannot run './nowhere"):
        settings_of(missing).run_build(echo=None)


@pytest.mark.parametrize("build", ["[1]", "{a: b}", '"sh -c \'unclosed"'])
def test_a_build_that_is_not_commands_is_refused(tmp_path: Path, build: str) -> None:
    path = write(tmp_path, f"service: s\ncustom:\n  local:\n    build: {build}\n")
    with pytest.raises(ConfigError, match=r"custom\.local\.build"):
        settings_of(path)
