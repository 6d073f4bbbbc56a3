#!/usr/bin/env python3
"""Check a Tally lease against the vendor entitlement it names, offline.

    verify_entitlement.py VENDOR_PUB BUNDLE TOKEN [--device CODE] [--feature NAME]

VENDOR_PUB is the vendor's public key (PEM, from `tally-vendor keygen`),
built into the application. BUNDLE is what the local agent serves
(`tally-agent entitlement --json > bundle.json`): the account's
entitlements, the cluster CA and the CA's certificates of the cluster's
lease-signing keys. Nothing else is trusted: the chain is

    vendor key -> entitlement -> cluster CA (ca_sha256) -> signing-key
    certificate -> lease token

Uses PyJWT and cryptography (Debian: python3-jwt python3-cryptography), the
same checks as Go's protocol/entitlement.VerifyLease. Prints the lease's
claims and the entitlement's serial as JSON and exits 0, or prints why and
exits 1.
"""
import argparse
import base64
import datetime
import hashlib
import json
import sys

import jwt  # PyJWT >= 2.0
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

LEEWAY = 60  # seconds of clock difference tolerated, as the Go verifier
ENT_TYPE = "tally-entitlement+jwt"
KEY_URI = "tally://signing-key/"


class Refused(Exception):
    pass


def b64url_sha256(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def unverified_claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def verify_entitlement(jws: str, vendor_key) -> dict:
    if jwt.get_unverified_header(jws).get("typ") != ENT_TYPE:
        raise Refused("the entitlement's typ is not " + ENT_TYPE)
    try:
        return jwt.decode(jws, vendor_key, algorithms=["EdDSA"], options={"require": ["iss", "sub", "jti", "iat", "exp"], "verify_exp": False})
    except jwt.InvalidTokenError as e:
        raise Refused(f"the entitlement is not signed by this vendor key: {e}")


def utc(cert: x509.Certificate, name: str) -> datetime.datetime:
    """A certificate time as aware UTC (cryptography < 42 has only naive ones)."""
    aware = getattr(cert, name + "_utc", None)
    if aware is not None:
        return aware
    return getattr(cert, name).replace(tzinfo=datetime.timezone.utc)


def certified_keys(ca: x509.Certificate, pems: list) -> tuple:
    """Lease-signing keys whose certificates the CA issued, and their cluster."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ca.public_key()
    keys, cluster = [], None
    for pem in pems:
        cert = x509.load_pem_x509_certificate(pem.encode())
        try:
            if cert.issuer != ca.subject:
                continue
            ca_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        except Exception:
            continue
        if not (utc(cert, "not_valid_before") <= now < utc(cert, "not_valid_after")):
            continue
        pub = cert.public_key()
        if not isinstance(pub, ed25519.Ed25519PublicKey):
            continue
        uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.UniformResourceIdentifier)
        ids = [u[len(KEY_URI):] for u in uris if u.startswith(KEY_URI)]
        if not ids:
            continue
        if cluster is not None and ids[0] != cluster:
            raise Refused("the bundle's key certificates name two clusters")
        cluster = ids[0]
        keys.append(pub)
    if not keys:
        raise Refused("no lease-signing key in the bundle is certified by its CA")
    return keys, cluster


def check(vendor_key, bundle: dict, token: str, device=None, feature=None) -> dict:
    ent_claim = unverified_claims(token).get("ent")
    if not ent_claim or ":" not in ent_claim:
        raise Refused("the lease names no entitlement (no ent claim)")
    serial, digest = ent_claim.split(":", 1)
    matches = [j for j in bundle["entitlements"] if b64url_sha256(j.strip().encode()) == digest]
    if not matches:
        raise Refused(f"entitlement {serial} is not in the bundle")
    ent = verify_entitlement(matches[0].strip(), vendor_key)
    if ent["jti"] != serial:
        raise Refused(f"the lease names serial {serial}, the entitlement is {ent['jti']}")

    ca = x509.load_pem_x509_certificate(bundle["ca"].encode())
    binding = ent.get("cluster") or {}
    fingerprint = ca.fingerprint(hashes.SHA256()).hex()
    if binding.get("ca_sha256") and binding["ca_sha256"] != fingerprint:
        raise Refused(f"entitlement {serial} binds cluster CA {binding['ca_sha256']}, the bundle's CA is {fingerprint}: another cluster")
    keys, cluster = certified_keys(ca, bundle["key_certs"])
    if binding.get("id") and binding["id"] != cluster:
        raise Refused(f"entitlement {serial} binds cluster {binding['id']}, the keys are cluster {cluster}")

    claims, last = None, None
    for key in keys:
        try:
            claims = jwt.decode(token, key, algorithms=["EdDSA"], issuer=cluster, audience=device, leeway=LEEWAY,
                                options={"require": ["exp", "iss", "aud", "lid"], "verify_aud": device is not None})
            break
        except jwt.InvalidSignatureError as e:
            last = e
        except jwt.InvalidTokenError as e:
            raise Refused(f"the lease: {type(e).__name__}: {e}")
    if claims is None:
        raise Refused(f"the lease is not signed by a key of cluster {cluster}: {last}")
    if claims.get("ent") != ent_claim:
        raise Refused("the lease's ent claim changed")
    if not isinstance(claims.get("lid"), int) or claims["lid"] <= 0:
        raise Refused("the lease has no lease ID")
    feat = claims.get("feat")
    if feature is not None and feat != feature:
        raise Refused(f"the lease is for {feat!r}, not {feature!r}")
    entitled = {f["name"]: f for f in ent["features"]}
    if feat not in entitled:
        raise Refused(f"feature {feat} is not in entitlement {serial}")
    for code in claims.get("addons") or []:
        if code not in (entitled[feat].get("addons") or []):
            raise Refused(f"add-on {code} of {feat} is not in entitlement {serial}")
    start = ent.get("nbf", ent["iat"])
    if claims["iat"] + LEEWAY < start:
        raise Refused(f"the lease was issued before entitlement {serial} starts")
    if claims["iat"] >= ent["exp"]:
        raise Refused(f"the lease was issued after entitlement {serial} ended")
    if claims["exp"] > ent["exp"] + LEEWAY:
        raise Refused(f"the lease runs past the end of entitlement {serial}")
    return {"claims": claims, "entitlement": serial, "customer": ent["sub"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("vendor_pub")
    ap.add_argument("bundle")
    ap.add_argument("token")
    ap.add_argument("--device", help="this device's Device Code (the lease's audience)")
    ap.add_argument("--feature", help="the feature the lease must grant")
    args = ap.parse_args()
    with open(args.vendor_pub, "rb") as f:
        vendor_key = serialization.load_pem_public_key(f.read())
    if not isinstance(vendor_key, ed25519.Ed25519PublicKey):
        print("the vendor key is not Ed25519", file=sys.stderr)
        return 1
    with open(args.bundle) as f:
        bundle = json.load(f)
    try:
        out = check(vendor_key, bundle, args.token.strip(), args.device, args.feature)
    except (Refused, jwt.InvalidTokenError, ValueError, KeyError) as e:
        print(f"refused: {e}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
