// Package lease defines Tally lease tokens and verifies them offline.
//
// A tallyd cluster grants a device a lease on a feature by handing it a lease
// token. Any application can check that token with nothing but the cluster's
// public keys (a JWKS, RFC 7517): no network, no call to the server. This
// package imports only the standard library (and protocol/jws, its strict
// base64url decoder, which does too), so any Go program can use it.
//
// # Token format
//
// A token is a JWT (RFC 7519) in JWS compact serialization (RFC 7515):
//
//	base64url(header) "." base64url(payload) "." base64url(signature)
//
// base64url is unpadded; verification is strict about it (no padding, no
// line breaks, no non-canonical trailing bits). The protected header is
//
//	{"alg":"EdDSA","kid":"<thumbprint>","typ":"JWT"}
//
// alg is always EdDSA with an Ed25519 key (RFC 8037); tokens with any other
// alg, "none" included, are rejected. kid is the RFC 7638 JWK thumbprint of
// the signing public key (SHA-256, base64url, unpadded); see KeyID. The
// payload is a JSON object with these claims:
//
//	iss     string    cluster ID                       required
//	aud     string    Device Code                      required
//	acct    string    account ID                       required
//	usr     string    user                             optional
//	feat    string    feature / product                required
//	addons  []string  add-on codes                     optional
//	lid     uint64    lease ID (non-zero)              required
//	kind    string    "floating", "borrowed" or "node-locked"
//	iat     number    issued at, seconds since the epoch
//	nbf     number    not before, seconds since the epoch
//	exp     number    expires, seconds since the epoch  required
//
// Signer writes aud as a single string; Verify also accepts a one-element
// array, as other JWT libraries may write. Unknown claims are ignored. lid
// may exceed 2^53, so JavaScript verifiers should parse it as a big integer.
//
// The keys are published as a JWKS of OKP keys:
//
//	{"keys":[{"kty":"OKP","crv":"Ed25519","x":"<base64url key>","kid":"<thumbprint>","use":"sig","alg":"EdDSA"}]}
//
// Tokens are ordinary JWTs: stock libraries (go-jose, jose for Node, PyJWT
// with cryptography, ...) verify them with the same JWKS.
//
// # Verifying offline
//
//	jwks, err := os.ReadFile("/etc/myapp/tally-jwks.json") // fetched once from the cluster
//	if err != nil { ... }
//	keys, err := lease.ParseKeySet(jwks)
//	if err != nil { ... }
//
//	claims, err := keys.Verify(token, lease.Expect{
//		Issuer:  clusterID,  // optional: the cluster you enrolled with
//		Device:  deviceCode, // optional but recommended: this machine
//		Feature: "cad-pro",  // optional: what you are about to unlock
//		Leeway:  30 * time.Second,
//	})
//	switch lease.ReasonOf(err) {
//	case "":
//		// licensed until claims.Expires
//	case lease.ReasonExpired:
//		// renew the lease
//	default:
//		log.Printf("no license: %v", err)
//	}
//
// A KeySet is immutable and safe for concurrent use; build it once and share
// it. Verify is allocation-light and takes about as long as one Ed25519
// signature check. On failure the error is a *VerifyError whose Reason is
// stable (see Reason); if the signature was good but a claim check failed,
// the error's Claims field holds the authentic claims.
//
// # Signing
//
// Signing is for tallyd: GenerateKey, MarshalPrivateKey and ParsePrivateKey
// handle PKCS#8 PEM keys, and Signer turns Claims into a token.
//
// Design: docs/design.md#lease-tokens.
package lease
