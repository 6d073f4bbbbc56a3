#!/usr/bin/env python3
"""Verify a Tally lease token with a stock JWT library (PyJWT).

    verify.py JWKS_FILE TOKEN --device CODE --issuer CLUSTER-ID [--feature NAME]

JWKS_FILE is the cluster's public keys (`tally-agent jwks > jwks.json`, or
`tallyctl jwks -o jwks.json`). Tokens are EdDSA (Ed25519) JWS; PyJWT needs the
`cryptography` package for them (Debian: python3-jwt python3-cryptography).
Prints the claims as JSON and exits 0, or prints why and exits 1.

It is as strict as Tally's Go verifier (protocol/lease): the audience (this
device) and the issuer (the cluster ID) are required and checked, `aud` must
be exactly one device, every segment must be canonical unpadded base64url,
the header and the claims may not repeat a member or spell a known one in
another case, `exp`, `nbf` and `iat` must be integers in a sane range, and
`lid` a positive integer. A stock library alone accepts more than that.
"""
import argparse
import base64
import binascii
import json
import re
import sys
import time

import jwt  # PyJWT >= 2.0

# What the Go verifier reads; another case of one of these is refused.
HEADER_NAMES = ("alg", "kid", "typ", "crit")
CLAIM_NAMES = ("iss", "aud", "acct", "usr", "feat", "addons", "ent", "lid", "kind", "iat", "nbf", "exp")
# Times a token may carry: after 2000-01-01 and before 2200-01-01.
MIN_TIME, MAX_TIME = 946684800, 7258118400
B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


class Refused(Exception):
    pass


def b64decode_canonical(seg: str, what: str) -> bytes:
    """Decode unpadded base64url, refusing any other spelling of the bytes."""
    if not B64URL.match(seg) or len(seg) % 4 == 1:
        raise Refused(f"{what} is not unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))
    except (binascii.Error, ValueError) as e:
        raise Refused(f"{what} is not base64url: {e}")
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != seg:
        raise Refused(f"{what} is not canonical base64url (stray bits at the end)")
    return raw


def strict_object(raw: bytes, what: str, names) -> dict:
    """Parse a JSON object, refusing duplicate members and case variants."""

    def pairs(items):
        out = {}
        for k, v in items:
            if k in out:
                raise Refused(f"{what} has a duplicate {k!r} member")
            for n in names:
                if k != n and k.lower() == n:
                    raise Refused(f"{what} has a member {k!r}: the name is {n!r}")
            out[k] = v
        return out

    try:
        obj = json.loads(raw.decode("utf-8"), object_pairs_hook=pairs)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise Refused(f"{what} is not JSON: {e}")
    if not isinstance(obj, dict):
        raise Refused(f"{what} is not a JSON object")
    return obj


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_shape(token: str, device: str, issuer: str) -> dict:
    parts = token.split(".")
    if len(parts) != 3:
        raise Refused("a token has three dot-separated parts")
    header = strict_object(b64decode_canonical(parts[0], "header"), "header", HEADER_NAMES)
    claims = strict_object(b64decode_canonical(parts[1], "claims"), "claims", CLAIM_NAMES)
    sig = b64decode_canonical(parts[2], "signature")
    if header.get("alg") != "EdDSA":
        raise Refused(f"alg {header.get('alg')!r}: only EdDSA is accepted")
    if "crit" in header:
        raise Refused("header has a crit member; no JWS extensions are supported")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise Refused("header names no key (kid)")
    if len(sig) != 64:
        raise Refused(f"an Ed25519 signature is 64 bytes, not {len(sig)}")
    if not isinstance(claims.get("aud"), str):
        raise Refused("aud must be one device's code, a string")
    if claims["aud"] != device:
        raise Refused(f"token is for device {claims['aud']!r}, not {device!r}")
    if claims.get("iss") != issuer:
        raise Refused(f"token is from {claims.get('iss')!r}, not cluster {issuer!r}")
    for name in ("acct", "feat"):
        if not isinstance(claims.get(name), str) or not claims[name]:
            raise Refused(f"{name} is missing")
    if not is_int(claims.get("lid")) or claims["lid"] <= 0:
        raise Refused("lid must be a positive integer")
    for name in ("exp", "nbf", "iat"):
        v = claims.get(name)
        if name == "exp" and v is None:
            raise Refused("exp is missing")
        if v is not None and (not is_int(v) or not MIN_TIME <= v <= MAX_TIME):
            raise Refused(f"{name} must be an integer time between 2000 and 2200, not {v!r}")
    return header


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("jwks")
    ap.add_argument("token")
    ap.add_argument("--device", required=True, help="this device's Device Code (the token's audience)")
    ap.add_argument("--issuer", required=True, help="the cluster ID the token must come from (its iss)")
    ap.add_argument("--feature", help="the feature the token must grant")
    args = ap.parse_args()

    with open(args.jwks) as f:
        jwks = jwt.PyJWKSet.from_dict(json.load(f))
    try:
        header = check_shape(args.token, args.device, args.issuer)
        keys = [k for k in jwks.keys if k.key_id == header["kid"]]
        if not keys:
            raise Refused(f"signed with key {header['kid']!r}, which is not in {args.jwks}")
        claims = jwt.decode(
            args.token,
            keys[0].key,
            algorithms=["EdDSA"],
            audience=args.device,
            issuer=args.issuer,
            leeway=60,  # tolerate a minute of clock difference with the signing server
            options={"require": ["exp", "iss", "aud"], "verify_aud": True, "verify_iss": True},
        )
        if claims["exp"] < time.time() - 60:
            raise Refused("token expired")
        if args.feature is not None and claims.get("feat") != args.feature:
            raise Refused(f"token is for feature {claims.get('feat')!r}, not {args.feature!r}")
    except (jwt.InvalidTokenError, Refused) as e:
        print(f"invalid token: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(claims, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
