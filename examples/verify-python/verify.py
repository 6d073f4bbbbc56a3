#!/usr/bin/env python3
"""Verify a Tally lease token with a stock JWT library (PyJWT).

    verify.py JWKS_FILE TOKEN [--device CODE] [--feature NAME]

JWKS_FILE is the cluster's public keys (`tally-agent jwks > jwks.json`, or
`tallyctl jwks -o jwks.json`). Tokens are EdDSA (Ed25519) JWS; PyJWT needs the
`cryptography` package for them (Debian: python3-jwt python3-cryptography).
Prints the claims as JSON and exits 0, or prints why and exits 1.
"""
import argparse
import json
import sys

import jwt  # PyJWT >= 2.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("jwks")
    ap.add_argument("token")
    ap.add_argument("--device", help="this device's Device Code (the token's audience)")
    ap.add_argument("--feature", help="the feature the token must grant")
    args = ap.parse_args()

    with open(args.jwks) as f:
        jwks = jwt.PyJWKSet.from_dict(json.load(f))
    try:
        kid = jwt.get_unverified_header(args.token).get("kid")
        keys = [k for k in jwks.keys if k.key_id == kid]
        if not keys:
            raise jwt.InvalidTokenError(f"signed with key {kid!r}, which is not in {args.jwks}")
        claims = jwt.decode(
            args.token,
            keys[0].key,
            algorithms=["EdDSA"],
            audience=args.device,
            leeway=60,  # tolerate a minute of clock difference with the signing server
            options={"require": ["exp", "iss", "aud"], "verify_aud": args.device is not None},
        )
        if args.feature is not None and claims.get("feat") != args.feature:
            raise jwt.InvalidTokenError(f"token is for feature {claims.get('feat')!r}, not {args.feature!r}")
    except jwt.InvalidTokenError as e:
        print(f"invalid token: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(claims, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
