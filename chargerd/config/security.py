"""`security:` how the station looks after its own certificate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .schema import Checked, Key, dataclass_section
from .source import Node, Problem, join
from .values import integer_in


@dataclass(frozen=True)
class SecurityConfig:
    # days before the station (client) certificate expires that the station asks the CSMS
    # for a new one with SignCertificate (OCPP 2.0.1 A03; the 1.6 security whitepaper)
    renew_days: int = 30


KEYS: dict[str, Key] = {
    "renew_days": Key(integer_in(1, 3650)),
}

SECTION = dataclass_section("security", KEYS, SecurityConfig)


# --- csms: security_profile, ca_file, client_cert, client_key taken together ------------------
# (`chargerd check-config` and every start: read with the standard library only,
# chargerd/security/certificate.py and `ssl`, so the daemon never loads `cryptography`)


def check_csms(csms: Checked, section: Node | None, problems: list[Problem]) -> None:
    """Profile 2/3 need wss:// and a CA; profile 3 a client certificate and its key, which
    must belong together and be within their dates."""
    values, nodes = csms.values, csms.nodes
    fallback = section.line if section is not None else None

    def add(key: str, message: str, line_of: str | None = None) -> None:
        node = nodes.get(line_of or key) or nodes.get("security_profile")
        problems.append(Problem(node.line if node else fallback, join("csms", key), message))

    profile = values.get("security_profile", 1)
    if profile >= 2:
        url = values.get("url")
        if url is not None and not url.startswith("wss://"):
            add("url", f"security profile {profile} needs TLS; allowed: a wss:// URL")
        if "ca_file" not in values and not csms.invalid("ca_file"):
            add("ca_file", f"security profile {profile} checks the CSMS's certificate; allowed: "
                "the path of the CSMS root certificate(s) (PEM)", "security_profile")  # fmt: skip
    cert, key = values.get("client_cert"), values.get("client_key")
    if profile == 3 and not cert and not csms.invalid("client_cert"):
        add("client_cert", "security profile 3 authenticates with a client certificate; "
            "allowed: the path of the station's certificate (PEM)", "security_profile")  # fmt: skip
    if profile == 3 and not key and not csms.invalid("client_key"):
        add("client_key", "security profile 3 needs the client certificate's private key; "
            "allowed: the path of its key (PEM)", "security_profile")  # fmt: skip
    if (cert is None) != (key is None):
        missing = "client_key" if key is None else "client_cert"
        add(missing, "client_cert and client_key go together; allowed: both or neither",
            "client_cert" if key is None else "client_key")  # fmt: skip
    if values.get("ca_file") and profile >= 2:
        problem = _pem_problem(values["ca_file"], "certificate")
        if problem:
            add("ca_file", problem)
    if cert and key:
        for name, problem in _client_problems(cert, key):
            add(name, problem)


def _pem_problem(path: str, what: str) -> str | None:
    from ..security.certificate import read_pem

    try:
        read_pem(Path(path).read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return f"{path} holds no readable PEM {what} ({exc}); allowed: a PEM file"
    return None


def _client_problems(cert: str, key: str) -> list[tuple[str, str]]:
    import time

    from ..security.certificate import dates_problem, read_pem
    from ..security.keys import key_matches

    try:
        leaf = read_pem(Path(cert).read_text())[0]
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return [("client_cert", f"{cert} holds no readable PEM certificate ({exc})")]
    dates = dates_problem(leaf, time.time())
    found = []
    if dates:
        found.append(("client_cert", f"{dates}; allowed: a certificate valid today (renew it)"))
    try:
        if not key_matches(cert, key):
            found.append(("client_key", f"{key} is not the private key of {cert}; allowed: "
                          "the key the certificate was issued for"))  # fmt: skip
    except (OSError, ValueError, TypeError, UnicodeDecodeError) as exc:
        found.append(("client_key", f"{key} holds no readable unencrypted PEM private key "
                      f"({exc})"))  # fmt: skip
    return found
