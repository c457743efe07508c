"""Local stand-in for API Gateway's JWT authorizer: an RS256 key pair, JWKS and tokens.

The key is made at first start and kept under the data directory (git-ignored). Tokens are
checked as the authorizer checks them: signature, issuer, audience and expiry.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from local.config import AUDIENCE, ISSUER

KEY_ID = "local-1"
ALL_SCOPES = "refunds:write refunds:read refunds:admin ledger:write"


def signing_key(path: Path) -> rsa.RSAPrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path.write_bytes(pem)
        path.chmod(0o600)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA key")
    return loaded


def jwks(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update(kid=KEY_ID, use="sig", alg="RS256")
    return {"keys": [public]}


def mint(
    key: rsa.RSAPrivateKey,
    scopes: str = ALL_SCOPES,
    subject: str = "local-user",
    email: str | None = "local.user@example.com",
    ttl_seconds: int = 3600,
    **extra: Any,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "scope": scopes,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_seconds,
        "jti": str(uuid.uuid4()),
        **extra,
    }
    if email:
        claims["email"] = email
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KEY_ID})


def verify(key: rsa.RSAPrivateKey, authorization: str | None) -> dict[str, Any] | None:
    """The token's claims as the authorizer passes them on, or None when it must be refused."""
    if not authorization or not authorization.lower().startswith("bearer "):
        return None
    token = authorization[7:].strip()
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.public_key(),
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError:
        return None
    return {name: _as_gateway_string(value) for name, value in claims.items()}


def _as_gateway_string(value: Any) -> str:
    """API Gateway hands every claim to the function as a string; lists as "[a b]"."""
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    return value if isinstance(value, str) else json.dumps(value)
