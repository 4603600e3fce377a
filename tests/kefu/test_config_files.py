"""The deployment files agree with kefu/settings.py.

The variables are read from settings.py's source (every `env.<type>("NAME", ...)` call), so
adding a setting without documenting it in .env.example and the README fails here, and so does
a compose file passing a variable the settings never read (a typo that silently does nothing).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "kefu" / "settings.py"
ENV_EXAMPLE = ROOT / ".env.example"
README = ROOT / "README.md"
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"
NGINX = DOCKER / "nginx.conf"

# In .env.example, entries after this line are Docker Compose's own variables, not Django's.
COMPOSE_SECTION = "# --- docker/compose.yaml only"
APP_SERVICES = ("web", "worker", "beat")
REQUIRED_SERVICES = {"mysql", "redis", "web", "worker", "beat", "nginx"}


# --- Parsers ----------------------------------------------------------------------------------


def env_variables(source: str) -> set[str]:
    """Names read from the environment: env.<type>("NAME", ...), env("NAME"), os.environ.get,
    os.environ["NAME"] and os.getenv. A name that is not a string literal cannot be documented,
    so it is an error."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            from_env = (
                isinstance(func, ast.Name)
                and func.id == "env"
                or isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id == "env"
            )
            from_os = isinstance(func, ast.Attribute) and ast.unparse(func) in (
                "os.environ.get",
                "os.getenv",
                "os.environ.setdefault",
            )
            if not (from_env or from_os):
                continue
            if isinstance(func, ast.Attribute) and func.attr == "read_env":
                continue
            first = node.args[0] if node.args else None
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                raise AssertionError(f"line {node.lineno}: environment name is not a literal")
            names.add(first.value)
        elif (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.slice, ast.Constant)
        ):
            names.add(node.slice.value)
    return names


def settings_variables() -> set[str]:
    names = env_variables(SETTINGS.read_text())
    # A parser that finds nothing would make every check below pass vacuously.
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "KEFU_VAR_DIR"} <= names
    return names


ENTRY = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=")


def env_example_entries() -> tuple[dict[str, str], dict[str, str]]:
    """(settings entries, compose-only entries), each name -> the comment line above it."""
    settings_part: dict[str, str] = {}
    compose_part: dict[str, str] = {}
    current = settings_part
    previous = ""
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.startswith(COMPOSE_SECTION):
            current = compose_part
        match = ENTRY.match(line)
        if match:
            name = match.group(1)
            assert name not in settings_part and name not in compose_part, f"{name} twice"
            current[name] = previous
        previous = line
    return settings_part, compose_part


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def environment_keys(service: dict) -> set[str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return {item.split("=", 1)[0] for item in env}
    return set(env)


def interpolated_variables(text: str) -> set[str]:
    """${NAME}, ${NAME:-default}, ${NAME:?error}; `$$` is a literal dollar for the container."""
    text = text.replace("$$", "")
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))


def command_words(service: dict) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else list(command)


def nginx_block(text: str, header: str) -> str:
    start = text.index(header)
    depth, i = 0, text.index("{", start)
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1 : j]
    raise AssertionError(f"unclosed block {header}")


# --- The parser itself ------------------------------------------------------------------------


def test_parser_finds_every_kind_of_read():
    source = (
        "import os\nenv = None\n"
        'A = env.str("A_STR", default="")\nB = env.int("B_INT", default=1)\n'
        'C = env.bool("C_BOOL")\nD = env.list("D_LIST", default=[])\n'
        'E = env.db_url("E_DB")\nF = env.email_url("F_MAIL")\nG = env("G_PLAIN")\n'
        'H = os.environ.get("H_OS")\nI = os.getenv("I_OS")\nJ = os.environ["J_OS"]\n'
        "environ.Env.read_env(BASE_DIR / '.env')\n"
    )
    assert env_variables(source) == {
        "A_STR",
        "B_INT",
        "C_BOOL",
        "D_LIST",
        "E_DB",
        "F_MAIL",
        "G_PLAIN",
        "H_OS",
        "I_OS",
        "J_OS",
    }
    with pytest.raises(AssertionError, match="not a literal"):
        env_variables('name = "X"\nenv.str(name)\n')


# --- .env.example -----------------------------------------------------------------------------


def test_env_example_lists_exactly_the_settings_variables():
    settings_part, _ = env_example_entries()
    expected = settings_variables()
    missing = sorted(expected - set(settings_part))
    stale = sorted(set(settings_part) - expected)
    assert not missing, f".env.example lacks {missing}"
    assert not stale, f".env.example lists variables settings.py does not read: {stale}"


def test_env_example_explains_each_variable_and_its_default():
    settings_part, compose_part = env_example_entries()
    for name, comment in {**settings_part, **compose_part}.items():
        assert comment.startswith("# ") and not ENTRY.match(comment), f"{name}: no comment above"
        assert "Default:" in comment, f"{name}: the comment does not give the default"


def test_env_example_compose_section_is_what_compose_interpolates():
    """Variables compose.yaml substitutes that Django does not read (database passwords, the
    host port) are documented in their own section, and nothing stale is left there."""
    _, compose_part = env_example_entries()
    own = interpolated_variables(COMPOSE.read_text()) - settings_variables()
    assert set(compose_part) == own


# --- compose.yaml -----------------------------------------------------------------------------


def test_compose_has_the_services():
    services = compose()["services"]
    assert set(services) >= REQUIRED_SERVICES


def test_app_services_build_from_the_dockerfile():
    services = compose()["services"]
    for name in APP_SERVICES:
        build = services[name].get("build")
        assert isinstance(build, dict), f"{name} has no build section"
        context = (COMPOSE.parent / build.get("context", ".")).resolve()
        assert context == ROOT, f"{name}: build context must be the repository root"
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE, name


def test_compose_passes_only_variables_the_settings_read():
    services = compose()["services"]
    known = settings_variables()
    ours = [
        name
        for name, service in services.items()
        if isinstance(service.get("build"), dict)
        and (
            COMPOSE.parent / service["build"].get("context", ".") / service["build"]["dockerfile"]
        ).resolve()
        == DOCKERFILE
    ]
    assert set(APP_SERVICES) <= set(ours)
    for name in ours:
        keys = environment_keys(services[name])
        assert keys, f"{name} sets no environment"
        unknown = sorted(keys - known)
        assert not unknown, f"{name}: kefu/settings.py reads no {unknown}"
    web_env = services["web"]["environment"]
    assert (
        web_env["DATABASE_URL"].startswith("mysql://") and "@mysql:3306/" in web_env["DATABASE_URL"]
    )
    assert web_env["REDIS_URL"].startswith("redis://redis:6379")
    # A missing SECRET_KEY must stop `up`, not give each replica a key of its own.
    assert ":?" in web_env["SECRET_KEY"]


def test_compose_commands_and_order():
    services = compose()["services"]
    web = command_words(services["web"])
    assert web[0] == "daphne" and "0.0.0.0" in web and "kefu.asgi:application" in web
    # Slow handshakes wait instead of being dropped (docs/realtime.md pitfall 11).
    assert web[web.index("--websocket_connect_timeout") + 1] == "20"
    worker, beat = command_words(services["worker"]), command_words(services["beat"])
    assert worker[:4] == ["celery", "-A", "kefu", "worker"]
    assert beat[:4] == ["celery", "-A", "kefu", "beat"]
    # Migrations run before web starts: web waits for a job that runs `migrate` and succeeds.
    migrations = [
        name
        for name, condition in services["web"]["depends_on"].items()
        if condition.get("condition") == "service_completed_successfully"
        and "migrate" in command_words(services[name])
    ]
    assert migrations, "web does not wait for migrations"
    assert services[migrations[0]]["depends_on"]["mysql"]["condition"] == "service_healthy"
    # Web replicas are possible: no fixed container name, no host port on web.
    assert "container_name" not in services["web"] and "ports" not in services["web"]


def test_compose_mysql_redis_nginx():
    services = compose()["services"]
    mysql = services["mysql"]
    assert mysql["image"].startswith("mysql:8")
    flags = command_words(mysql)
    assert "--character-set-server=utf8mb4" in flags
    assert any(f.startswith("--collation-server=utf8mb4") for f in flags)
    assert mysql["healthcheck"]["test"]
    assert services["redis"]["image"].startswith("redis:7")
    assert services["redis"]["healthcheck"]["test"]
    nginx = services["nginx"]
    assert any(v.split(":")[0] == "./nginx.conf" for v in nginx["volumes"])
    assert "web" in nginx["depends_on"] and nginx["ports"]


# --- nginx.conf -------------------------------------------------------------------------------


def test_nginx_proxies_websockets_to_web():
    text = NGINX.read_text()
    text = "\n".join(line.split("#", 1)[0] for line in text.splitlines())  # drop comments
    ws = nginx_block(text, "location /ws/")
    assert re.search(r"proxy_pass\s+\S+;", ws)
    assert re.search(r"proxy_http_version\s+1\.1;", ws)
    assert re.search(r"proxy_set_header\s+Upgrade\s+\$http_upgrade;", ws)
    connection = re.search(r"proxy_set_header\s+Connection\s+(\S+);", ws).group(1)
    if connection == "$connection_upgrade":
        assert re.search(r"map\s+\$http_upgrade\s+\$connection_upgrade\s*\{[^}]*upgrade;", text)
    else:
        assert connection.strip('"') == "upgrade"
    # The upstream is the compose service `web` on daphne's port.
    assert "web:8000" in text
    root = nginx_block(text, "location / ")
    assert "proxy_pass" in root


# --- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile():
    text = DOCKERFILE.read_text()
    lines = [line.strip() for line in text.replace("\\\n", " ").splitlines()]
    assert any(re.match(r"FROM\s+python:3\.11-slim\b", line) for line in lines)
    apt = " ".join(line for line in lines if "apt-get install" in line)
    for package in ("libmariadb-dev", "pkg-config", "build-essential"):
        assert package in apt, package
    assert any(re.match(r"COPY\s+.*requirements\.txt", line) for line in lines)
    assert any(re.search(r"pip install .*-r \S*requirements\.txt", line) for line in lines)
    assert any("manage.py collectstatic" in line for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    cmd = next(line for line in reversed(lines) if line.startswith("CMD "))
    assert "daphne" in cmd and "0.0.0.0" in cmd and "8000" in cmd
    assert '"--websocket_connect_timeout", "20"' in cmd


# --- README -----------------------------------------------------------------------------------


def test_readme_documents_every_variable():
    assert README.exists(), "README.md is missing"
    rows = {
        match.group(1)
        for line in README.read_text().splitlines()
        if (match := re.match(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", line))
    }
    missing = sorted(settings_variables() - rows)
    assert not missing, "README.md has no table row `| `NAME` | ... |` for: " + ", ".join(missing)
