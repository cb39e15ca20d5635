"""The container setup (``docker-compose.yaml``, ``Dockerfile``), checked without a Docker engine.

Nothing here builds or starts a container. The file is parsed with PyYAML (anchors and merge
keys resolved as Compose resolves them) and checked for what would otherwise only show when
someone runs ``docker compose up``: a missing service or folder, a dependency on a service that
does not exist, components that do not share the JWT secret, an image that does not install
the pinned requirements. When a Docker Compose v2 CLI is on the machine (``docker compose`` or
``docker-compose``), ``config -q`` validates the file against the Compose specification too;
when a copy of the Compose JSON schema is available offline (``COMPOSE_SPEC_SCHEMA``, or the
one shipped in the Python ``docker-compose`` package) it is used as well. Otherwise those two
checks skip with the reason.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import PROJECT
from tools.airflow_service import USERS, preloading

pytestmark = pytest.mark.deploy

COMPOSE_FILE = PROJECT / "docker-compose.yaml"
DOCKERFILE = PROJECT / "Dockerfile"
COMMON = "x-airflow-common"

# The services of Airflow's official docker-compose.yaml for 3.x, plus the mail catcher.
REQUIRED_SERVICES = {
    "postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
    "airflow-worker", "airflow-triggerer", "airflow-init", "mailpit",
}
# The command each long-running Airflow component must run (the triggerer runs the deferred
# waits for each client's month to close: without it the DAG never gets past them).
COMPONENT_COMMANDS = {
    "airflow-apiserver": "api-server",
    "airflow-scheduler": "scheduler",
    "airflow-dag-processor": "dag-processor",
    "airflow-worker": "celery worker",
    "airflow-triggerer": "triggerer",
}
# WeasyPrint (invoice PDFs) dlopens Pango and its FreeType backend at import.
PDF_LIBRARIES = ("libpango-1.0-0", "libpangoft2-1.0-0")


# ---------------------------------------------------------------------------------------------
# Reading the files


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), "no services mapping"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def airflow_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every service that runs Airflow: the required ``airflow-*`` ones and any other."""
    found = {name: svc for name, svc in services.items() if name.startswith("airflow-")}
    assert set(COMPONENT_COMMANDS) | {"airflow-init"} <= set(found)
    return found


_VARIABLE = re.compile(r"\$\$|\$\{(?P<braced>[^}]*)\}|\$(?P<named>[A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: Any) -> Any:
    """Compose's variable substitution with every variable unset: the file's own defaults."""
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        expression = match.group("braced") or ""
        for separator in (":-", "-"):
            if separator in expression:
                return expression.split(separator, 1)[1]
        return ""

    return _VARIABLE.sub(substitute, value)


def environment(service: dict[str, Any], raw: bool = False) -> dict[str, str]:
    """The service's environment as a dict; values interpolated unless ``raw``."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    values = {str(k): "" if v is None else str(v) for k, v in env.items()}
    return values if raw else {k: interpolate(v) for k, v in values.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host path as written, interpolated; container path) of each bind mount."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append((interpolate(volume["source"]), volume["target"]))
            continue
        source, _, rest = interpolate(volume).partition(":")
        if rest and source.startswith((".", "/", "~")):
            mounts.append((source, rest.split(":")[0]))
    return mounts


def host_path(source: str) -> Path:
    return (PROJECT / source).resolve() if not source.startswith("/") else Path(source)


def container_ports(service: dict[str, Any]) -> set[str]:
    """Container ports a service publishes or exposes (short or long syntax)."""
    ports = set()
    for entry in (service.get("ports") or []) + (service.get("expose") or []):
        port = entry.get("target") if isinstance(entry, dict) else str(entry).split(":")[-1]
        ports.add(str(port).split("/")[0])
    return ports


def command_text(service: dict[str, Any]) -> str:
    command = service.get("command") or ""
    return command if isinstance(command, str) else " ".join(str(part) for part in command)


def gitignored_top_level() -> set[str]:
    """Top-level names ignored by the repository's .gitignore (``data/``, ``/logs``, ...)."""
    gitignore = PROJECT / ".gitignore"
    names = set()
    for line in gitignore.read_text().splitlines() if gitignore.is_file() else []:
        line = line.strip()
        if line and not line.startswith(("#", "!")) and "*" not in line:
            names.add(line.strip("/"))
    return names


def created_by_init(services: dict[str, dict[str, Any]], container_path: str) -> bool:
    """airflow-init's script has a ``mkdir`` naming the folder (or a brace list with it)."""
    script = command_text(services.get("airflow-init", {}))
    for line in script.splitlines():
        if re.search(r"\bmkdir\b", line) and container_path in _expand_braces(line):
            return True
    return False


def chowned_by_init(services: dict[str, dict[str, Any]], container_path: str) -> bool:
    """airflow-init's script chowns the folder, by name or recursively from a parent."""
    script = command_text(services.get("airflow-init", {}))
    for line in script.splitlines():
        if not re.search(r"\bchown\b", line):
            continue
        words = _expand_braces(line)
        if container_path in words:
            return True
        recursive = re.search(r"\s-[A-Za-z]*R", line)
        if recursive and any(container_path.startswith(w + "/") for w in words if w.startswith("/")):
            return True
    return False


def _expand_braces(line: str) -> set[str]:
    """The words of a shell line, with ``/a/{b,c}`` expanded and quotes dropped."""
    words = set()
    for word in line.replace('"', " ").replace("'", " ").split():
        match = re.fullmatch(r"(.*)\{([^}]*)\}(.*)", word)
        if match:
            words.update(f"{match[1]}{part}{match[3]}" for part in match[2].split(","))
        else:
            words.add(word)
    return {w.rstrip("/") or "/" for w in words}


def container_to_host(mounts: list[tuple[str, str]], container_path: str) -> Path | None:
    """The host file behind ``container_path`` through the service's bind mounts."""
    target = PurePosixPath(container_path)
    best: tuple[int, Path] | None = None
    for source, mount_point in mounts:
        point = PurePosixPath(mount_point)
        if target == point or point in target.parents:
            depth = len(point.parts)
            if best is None or depth > best[0]:
                best = (depth, host_path(source) / target.relative_to(point))
    return best[1] if best else None


# ---------------------------------------------------------------------------------------------
# The services


def test_every_service_of_the_official_set_exists(services: dict[str, Any]) -> None:
    missing = REQUIRED_SERVICES - set(services)
    assert not missing, f"services missing from docker-compose.yaml: {sorted(missing)}"


def test_airflow_components_run_their_commands(services: dict[str, Any]) -> None:
    wrong = {
        name: command_text(services[name])
        for name, expected in COMPONENT_COMMANDS.items()
        if name in services and command_text(services[name]).strip() != expected
    }
    assert not wrong, f"Airflow components with the wrong command: {wrong} (expected {COMPONENT_COMMANDS})"


def test_airflow_services_build_the_project_image(
    compose: dict[str, Any], airflow_services: dict[str, Any]
) -> None:
    common = compose.get(COMMON)
    assert isinstance(common, dict), f"the `{COMMON}` anchor is missing"
    assert "build" in common, f"`{COMMON}` does not build the project's image"
    build = common["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    context_dir = host_path(interpolate(context))
    assert (context_dir / dockerfile).is_file(), f"{context_dir / dockerfile} does not exist"
    assert context_dir == PROJECT, f"the build context {context_dir} is not the repository"

    not_built = {
        name: svc.get("build", svc.get("image"))
        for name, svc in airflow_services.items()
        if svc.get("build") != build or svc.get("image") != common.get("image")
    }
    assert not not_built, f"Airflow services not using the project's image from `{COMMON}`: {not_built}"


def test_executor_is_celery_everywhere(compose: dict[str, Any], airflow_services: dict[str, Any]) -> None:
    executors = {
        name: environment(svc).get("AIRFLOW__CORE__EXECUTOR") for name, svc in airflow_services.items()
    }
    wrong = {name: value for name, value in executors.items() if value != "CeleryExecutor"}
    assert not wrong, f"services not on the CeleryExecutor: {wrong}"


def test_celery_workers_preload_what_the_tasks_import_as_make_service_does(
    compose: dict[str, Any], airflow_services: dict[str, Any]
) -> None:
    wanted = preloading("celery")
    for name, svc in airflow_services.items():
        env = environment(svc)
        assert {key: env.get(key) for key in wanted} == wanted, name


def test_airflow_services_share_the_common_environment(
    compose: dict[str, Any], airflow_services: dict[str, Any]
) -> None:
    common_env = environment(compose[COMMON])
    differing = {}
    for name, svc in airflow_services.items():
        env = environment(svc)
        diff = sorted(key for key, value in common_env.items() if env.get(key) != value)
        if diff:
            differing[name] = diff
    assert not differing, f"services whose environment drops or changes common variables: {differing}"


def test_jwt_secret_is_one_value_for_every_airflow_service(airflow_services: dict[str, Any]) -> None:
    secret = "AIRFLOW__API_AUTH__JWT_SECRET"
    secrets = {name: environment(svc).get(secret) for name, svc in airflow_services.items()}
    missing = sorted(name for name, value in secrets.items() if not value)
    assert not missing, f"services without AIRFLOW__API_AUTH__JWT_SECRET: {missing}"
    # Compared as written: `${A:-x}` and `${B:-x}` agree only until someone sets A.
    raw = {name: environment(svc, raw=True)[secret] for name, svc in airflow_services.items()}
    assert len(set(raw.values())) == 1, f"the JWT secret differs between services: {raw}"


def test_components_reach_each_other_by_service_name(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    env = environment(compose[COMMON])
    execution = urlsplit(env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", ""))
    assert execution.hostname == "airflow-apiserver" and execution.path.rstrip("/") == "/execution", (
        f"AIRFLOW__CORE__EXECUTION_API_SERVER_URL must be the API server's /execution/: {execution.geturl()}"
    )
    api_ports = container_ports(services["airflow-apiserver"])
    assert str(execution.port) in api_ports, (
        f"the API server does not serve port {execution.port}: {api_ports}"
    )

    for variable, scheme in (
        ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql"),
        ("AIRFLOW__CELERY__RESULT_BACKEND", "db+postgresql"),
        ("AIRFLOW__CELERY__BROKER_URL", "redis"),
    ):
        url = urlsplit(env.get(variable, ""))
        assert url.scheme.startswith(scheme), f"{variable} is not {scheme}: {url.geturl()}"
        assert url.hostname in services, f"{variable} points at {url.hostname}, which is not a service"


def test_pipeline_connections_and_paths(compose: dict[str, Any], services: dict[str, Any]) -> None:
    env = environment(compose[COMMON])
    for variable in ("AIRFLOW_CONN_DMS_SOURCE", "AIRFLOW_CONN_BILLING_DB", "AIRFLOW_CONN_SMTP_DEFAULT"):
        assert env.get(variable), f"{variable} is not set for the Airflow services"

    smtp = urlsplit(env["AIRFLOW_CONN_SMTP_DEFAULT"])
    assert smtp.scheme == "smtp" and smtp.hostname == "mailpit" and smtp.port == 1025, smtp.geturl()
    assert "disable_tls=true" in smtp.query and "disable_ssl=true" in smtp.query, (
        f"the mail catcher speaks plain SMTP: {smtp.geturl()}"
    )
    mailpit_ports = container_ports(services["mailpit"])
    assert "1025" in mailpit_ports, f"mailpit does not expose SMTP on 1025: {mailpit_ports}"

    ledger = urlsplit(env["AIRFLOW_CONN_BILLING_DB"])
    assert ledger.hostname in services, f"billing_db points at {ledger.hostname}, which is not a service"
    database = ledger.path.lstrip("/")
    init_sql = " ".join(
        path.read_text()
        for source, target in bind_mounts(services[ledger.hostname])
        if target == "/docker-entrypoint-initdb.d"
        for path in sorted(host_path(source).glob("*.sql"))
    )
    created = re.search(rf"\bCREATE\s+DATABASE\s+\"?{re.escape(database)}\"?\s*;", init_sql, re.IGNORECASE)
    assert created, f"no init script of {ledger.hostname} creates the `{database}` database of billing_db"


def test_data_and_config_paths_are_mounted(compose: dict[str, Any]) -> None:
    env = environment(compose[COMMON])
    mounts = bind_mounts(compose[COMMON])

    config = container_to_host(mounts, env.get("DMS_BILLING_CONFIG", ""))
    assert config is not None and config.is_file(), (
        f"DMS_BILLING_CONFIG={env.get('DMS_BILLING_CONFIG')} is not a repository file"
        f" through the mounts ({config})"
    )
    data = env.get("DMS_BILLING_DATA", "")
    assert container_to_host(mounts, data) is not None, (
        f"DMS_BILLING_DATA={data} is not on a bind mount: outputs would stay inside one container"
    )
    for folder in ("dags", "plugins", "include"):
        source = container_to_host(mounts, f"/opt/airflow/{folder}")
        assert source == PROJECT / folder, (
            f"/opt/airflow/{folder} is not the repository's {folder}/ ({source})"
        )


def test_bind_mounted_host_paths_exist_or_are_made_at_run_time(services: dict[str, Any]) -> None:
    ignored = gitignored_top_level()
    problems = []
    for name, svc in services.items():
        for source, target in bind_mounts(svc):
            path = host_path(source)
            if not path.is_relative_to(PROJECT):
                problems.append(f"{name}: {source} is outside the repository")
                continue
            top = path.relative_to(PROJECT).parts[0]
            if path.exists() and top not in ignored:
                continue  # part of the repository
            if top in ignored or created_by_init(services, target):
                continue  # made at run time
            problems.append(
                f"{name}: {source} does not exist, is not in .gitignore"
                f" and airflow-init does not create {target}"
            )
    assert not problems, "\n".join(problems)


def test_runtime_folders_are_given_to_the_airflow_user(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    """Whatever Airflow writes (logs, config, DMS_BILLING_DATA) is chowned by airflow-init."""
    env = environment(compose[COMMON])
    writable = {
        "/opt/airflow/logs",
        str(PurePosixPath(env.get("AIRFLOW_CONFIG", "/opt/airflow/config/airflow.cfg")).parent),
        env.get("DMS_BILLING_DATA", ""),
    }
    not_owned = sorted(
        path for path in writable
        if not (created_by_init(services, path) and chowned_by_init(services, path))
    )
    assert not not_owned, f"airflow-init does not create and chown: {not_owned}"


def test_depends_on_targets_exist_and_can_be_waited_for(services: dict[str, Any]) -> None:
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    problems = []
    for name, svc in services.items():
        for target, condition in depends_on(svc).items():
            if target not in services:
                problems.append(f"{name} depends on {target}, which is not a service")
            elif target == name:
                problems.append(f"{name} depends on itself")
            elif condition not in conditions:
                problems.append(f"{name} -> {target}: unknown condition {condition}")
            elif condition == "service_healthy" and "healthcheck" not in services[target]:
                problems.append(f"{name} waits for {target} to be healthy, but {target} has no healthcheck")
    assert not problems, "\n".join(problems)


def test_long_running_services_have_healthchecks(services: dict[str, Any]) -> None:
    without = sorted(
        name for name in REQUIRED_SERVICES - {"airflow-init"}
        if name in services and "healthcheck" not in services[name]
    )
    assert not without, f"services without a healthcheck: {without}"
    waits = depends_on(services["airflow-apiserver"])
    assert waits.get("airflow-init") == "service_completed_successfully", (
        "the Airflow components must wait for airflow-init to finish (migrations, login)"
    )


def test_worker_can_be_scaled_out(services: dict[str, Any]) -> None:
    worker = services["airflow-worker"]
    assert "container_name" not in worker, "a container_name prevents `--scale airflow-worker=N`"
    assert not worker.get("ports"), "host ports prevent `--scale airflow-worker=N`"


def test_airflow_init_migrates_and_writes_the_login(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    init = services["airflow-init"]
    env = environment(init)
    assert env.get("_AIRFLOW_DB_MIGRATE") == "true", "airflow-init does not migrate the metadata database"
    passwords_file = environment(compose[COMMON]).get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", "")
    assert container_to_host(bind_mounts(compose[COMMON]), passwords_file) is not None, (
        f"the passwords file {passwords_file!r} is not on a mount shared by airflow-init and the API server"
    )
    script = command_text(init)
    for variable in ("SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", "SIMPLE_AUTH_MANAGER_USERS"):
        assert variable in script, f"airflow-init does not write the passwords of the users ({variable})"


def test_named_users_as_in_make_service_and_no_password_in_git(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    """Who approved or triggered a month must be a name: no everyone-is-admin, no shipped password."""
    env = environment(compose[COMMON])
    assert env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "").lower() == "false", (
        "simple_auth_manager_all_admins must be off: every visitor would be an anonymous admin"
    )
    entries = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "").split(",")
    users = dict(entry.split(":")[:2] for entry in entries)
    assert users == USERS, f"the users and roles are not make service's (tools/airflow_service.py): {users}"

    passwords_file = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
    passwords = container_to_host(bind_mounts(compose[COMMON]), passwords_file)
    assert passwords.relative_to(PROJECT).parts[0] in gitignored_top_level(), (
        f"the passwords file {passwords} is not kept out of git"
    )
    assert "secrets." in command_text(services["airflow-init"]), "airflow-init does not make random passwords"
    shipped = sorted(
        f"{name}: {key}" for name, svc in services.items() for key in environment(svc)
        if key.endswith("PASSWORD") and name != "postgres"  # a user's, like _AIRFLOW_WWW_USER_PASSWORD
    )
    assert not shipped, f"passwords set in docker-compose.yaml: {shipped}"


# ---------------------------------------------------------------------------------------------
# The image


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    assert DOCKERFILE.is_file(), f"{DOCKERFILE} is missing"
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\s*\n", " ", "\n".join(lines))
    instructions = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            instructions.append((keyword.upper(), " ".join(arguments.split())))
    return instructions


def pinned(requirements: Path, name: str) -> str | None:
    match = re.search(rf"^{re.escape(name)}==(\S+)", requirements.read_text(), re.MULTILINE | re.IGNORECASE)
    return match.group(1) if match else None


def test_image_is_the_pinned_airflow() -> None:
    base = next(args for keyword, args in dockerfile_instructions() if keyword == "FROM")
    match = re.fullmatch(r"apache/airflow:(\S+)-python3\.11(?:\s+AS\s+\S+)?", base, re.IGNORECASE)
    assert match, f"the image is not built FROM apache/airflow:<version>-python3.11: {base}"
    for requirements in (PROJECT / "requirements.txt", PROJECT / "constraints.txt"):
        assert match.group(1) == pinned(requirements, "apache-airflow"), (
            f"FROM {base} is not the apache-airflow pinned in {requirements.name}"
        )


def test_image_installs_requirements_with_constraints_as_airflow() -> None:
    instructions = dockerfile_instructions()
    copied = " ".join(args for keyword, args in instructions if keyword in ("COPY", "ADD"))
    for name in ("requirements.txt", "constraints.txt"):
        assert re.search(rf"(^|\s){name}(\s|$)", copied), f"the Dockerfile does not copy {name}"

    user = "root"
    installs = []
    for keyword, args in instructions:
        if keyword == "USER":
            user = args.split(":")[0]
        elif keyword == "RUN" and re.search(r"\bpip install\b", args):
            installs.append((user, args))
    good = [
        (user, args) for user, args in installs
        if re.search(r"-r\s+\S*requirements\.txt\b", args) and re.search(r"-c\s+\S*constraints\.txt\b", args)
    ]
    assert good, f"no `pip install -r requirements.txt -c constraints.txt` in the Dockerfile: {installs}"
    assert all(user == "airflow" for user, _ in good), f"pip must run as the airflow user: {good}"


def test_image_has_the_pdf_libraries_and_our_fonts() -> None:
    instructions = dockerfile_instructions()
    apt = " ".join(args for keyword, args in instructions if keyword == "RUN" and "apt-get install" in args)
    packages = set(apt.split())
    missing = [name for name in PDF_LIBRARIES if name not in packages]
    assert not missing, f"the Dockerfile does not apt-get install {missing}"
    copied = [args.split() for keyword, args in instructions if keyword == "COPY"]
    assert any("include/" in words[:-1] for words in copied), "the image lacks include/ (the PDFs' fonts)"


def test_image_puts_the_project_on_the_python_path() -> None:
    env = " ".join(args for keyword, args in dockerfile_instructions() if keyword == "ENV")
    match = re.search(r"PYTHONPATH[= ](\S+)", env)
    assert match, "the Dockerfile does not set PYTHONPATH"
    entries = match.group(1).strip("\"'").split(":")
    for needed in ("/opt/airflow", "/opt/airflow/plugins"):
        assert needed in entries, f"PYTHONPATH={match.group(1)} lacks {needed} (include.dms_billing, plugins)"


def test_dockerignore_keeps_local_state_out_but_not_what_the_image_copies() -> None:
    dockerignore = PROJECT / ".dockerignore"
    assert dockerignore.is_file(), ".dockerignore is missing: .venv and data would be sent to the builder"
    patterns = [
        line.strip().rstrip("/") for line in dockerignore.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    for local in (".venv", "data", ".git", ".airflow", "logs"):
        assert local in patterns, f".dockerignore does not exclude {local}"

    copied = []
    for keyword, args in dockerfile_instructions():
        if keyword in ("COPY", "ADD"):
            words = [w for w in args.split() if not w.startswith("--")]
            copied.extend(w.rstrip("/") for w in words[:-1])
    excluded = [src for src in copied for pattern in patterns if fnmatch.fnmatch(src, pattern)]
    assert not excluded, f".dockerignore excludes files the Dockerfile copies: {excluded}"


# ---------------------------------------------------------------------------------------------
# Validation by Docker Compose itself, or by the Compose JSON schema, where available offline


def compose_cli() -> tuple[list[str] | None, str]:
    """A Docker Compose v2 command, or None with the reason there is none."""
    reasons = []
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    else:
        reasons.append("no docker CLI")
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    else:
        reasons.append("no docker-compose on PATH")
    for command in candidates:
        name = " ".join(command)
        try:
            result = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as error:
            reasons.append(f"`{name} version` failed: {error}")
            continue
        version = re.search(r"\bv?(\d+)\.\d+\.\d+", result.stdout)
        if result.returncode != 0 or not version:
            said = (result.stderr.strip() or result.stdout.strip()).splitlines()
            reasons.append(f"`{name}` is not available ({said[0] if said else f'exit {result.returncode}'})")
        elif int(version.group(1)) < 2:
            reasons.append(f"`{name}` is Compose {version.group(0)}, not v2 (an older file format)")
        else:
            return command, ""
    return None, "; ".join(reasons)


def test_docker_compose_config_accepts_the_file() -> None:
    command, reason = compose_cli()
    if command is None:
        pytest.skip(f"no Docker Compose v2 CLI to validate with: {reason}")
    result = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "--project-directory", str(PROJECT), "config", "-q"],
        capture_output=True, text=True, timeout=120, cwd=PROJECT,
    )
    assert result.returncode == 0, f"`{' '.join(command)} config -q` rejects the file:\n{result.stderr}"


# The Compose Specification's JSON schema (compose-spec, Apache-2.0), as built into Docker
# Compose v2.40.3: kept in the repository so the file is validated offline, in CI too.
BUNDLED_SCHEMA = PROJECT / "tests" / "deploy" / "fixtures" / "compose-spec.json"


def compose_schema() -> Path | None:
    explicit = os.environ.get("COMPOSE_SPEC_SCHEMA")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    if BUNDLED_SCHEMA.is_file():
        return BUNDLED_SCHEMA
    spec = importlib.util.find_spec("compose")  # the Python docker-compose package ships one
    for location in (spec.submodule_search_locations or []) if spec else []:
        for name in ("compose_spec.json", "config_schema_v3.9.json"):
            candidate = Path(location) / "config" / name
            if candidate.is_file():
                return candidate
    return None


def test_compose_file_matches_the_compose_json_schema(compose: dict[str, Any]) -> None:
    schema_file = compose_schema()
    if schema_file is None:
        pytest.skip("no copy of the Compose JSON schema offline (set COMPOSE_SPEC_SCHEMA to one)")
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(schema_file.read_text())
    errors = sorted(
        jsonschema.validators.validator_for(schema)(schema).iter_errors(interpolate(compose)),
        key=lambda error: list(error.absolute_path),
    )
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:20])


def test_airflow_init_creates_the_pools_the_billing_dag_takes_its_slots_from(compose: dict) -> None:
    """Without its pools the month's extractions and sends would never be scheduled."""
    from include.dms_billing.airflow.params import SMTP_POOL, SOURCE_POOL

    script = command_text(compose["services"]["airflow-init"])
    for pool in (SOURCE_POOL, SMTP_POOL):
        assert re.search(rf"airflow pools set {pool} \S+", script), pool
