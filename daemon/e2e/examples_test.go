package e2e

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/tally-licensing/tally/protocol/lease"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the module root (tests run in daemon/e2e).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestExamples runs examples/ against a real tallyd and tally-agent: the Go
// application (checkout, verify, activity, release), the shell wrapper
// around `tally-agent checkout`, and the Python verifier (PyJWT against the
// JWKS from `tally-agent jwks`) when python3 with PyJWT is installed.
func TestExamples(t *testing.T) {
	s := startServer(t, "--lease-ttl", "30s")
	tok := s.setupAccount("acme", "cad", 1)
	a := startAgent(t, s, "a", tok)
	root := repoRoot(t)
	env := []string{"TALLY_AGENT_SOCKET=" + a.socket, "PATH=" + binaries.Dir + string(os.PathListSeparator) + os.Getenv("PATH")}

	goApp := filepath.Join(t.TempDir(), "go-app")
	if out, err := exec.Command("go", "build", "-o", goApp, filepath.Join(root, "examples", "go-app")).CombinedOutput(); err != nil {
		t.Fatalf("build examples/go-app: %v\n%s", err, out)
	}
	r := run(t, env, goApp, "--feature", "cad", "--work", "1500ms")
	if r.code != 0 || !strings.Contains(r.stdout, "licensed: feature=cad") || !strings.Contains(r.stdout, "work done") {
		t.Fatalf("go-app: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if n := len(s.leases()); n != 0 {
		t.Fatalf("go-app left %d leases behind", n)
	}

	// The shell wrapper: the command sees the lease token in
	// $TALLY_LEASE_TOKEN, while $TALLY_TOKEN (tallyctl's admin token, issue
	// 15) reaches it unchanged; the seat is returned afterwards; with the
	// seat taken it exits 3.
	script := filepath.Join(root, "examples", "shell", "run-licensed.sh")
	r = run(t, append(env, "TALLY_TOKEN=tat_admin_token_of_the_caller"), "/bin/sh", script, "cad", "/bin/sh", "-c",
		`test -n "$TALLY_LEASE_TOKEN" && echo "$TALLY_LEASE_TOKEN" && echo "admin=$TALLY_TOKEN"`)
	if r.code != 0 {
		t.Fatalf("run-licensed.sh: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	token, admin, _ := strings.Cut(strings.TrimSpace(r.stdout), "\n")
	if admin != "admin=tat_admin_token_of_the_caller" {
		t.Fatalf("run-licensed.sh changed $TALLY_TOKEN, the admin token variable: %q", admin)
	}
	if c := claimsOf(t, token); c.Feature != "cad" {
		t.Fatalf("token for %q", c.Feature)
	}
	if n := len(s.leases()); n != 0 {
		t.Fatalf("run-licensed.sh left %d leases behind", n)
	}
	b := startAgent(t, s, "b", tok)
	held := b.mustCheckout("cad")
	r = run(t, append(env, "TALLY_WAIT=0s"), "/bin/sh", script, "cad", "true")
	if r.code != 3 || !strings.Contains(r.stderr, "no_seat") {
		t.Fatalf("run-licensed.sh with no free seat: exit %d (want 3)\n%s", r.code, r.stderr)
	}

	// The Python verifier, with a stock JWT library.
	python := "/usr/bin/python3"
	if err := exec.Command(python, "-c", "import jwt, cryptography").Run(); err != nil {
		t.Skipf("no python3 with PyJWT and cryptography (apt-get install python3-jwt python3-cryptography): %v", err)
	}
	jr := a.cli("jwks")
	if jr.code != 0 {
		t.Fatalf("tally-agent jwks: %s", jr.stderr)
	}
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwks, []byte(jr.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	verify := filepath.Join(root, "examples", "verify-python", "verify.py")
	device, issuer := claimsOf(t, held).Device, claimsOf(t, held).Issuer
	r = run(t, nil, python, verify, jwks, held, "--device", device, "--issuer", issuer, "--feature", "cad")
	if r.code != 0 {
		t.Fatalf("verify.py: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var claims map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &claims); err != nil || claims["feat"] != "cad" || claims["aud"] != device {
		t.Fatalf("verify.py printed %q (%v)", r.stdout, err)
	}
	for name, args := range map[string][]string{
		"another device":  {jwks, held, "--device", "0000-0000-0000", "--issuer", issuer},
		"another feature": {jwks, held, "--device", device, "--issuer", issuer, "--feature", "cam"},
		"another cluster": {jwks, held, "--device", device, "--issuer", "tally-someone-else"},
		"tampered":        {jwks, held[:len(held)-4] + "AAAA", "--device", device, "--issuer", issuer},
	} {
		if r := run(t, nil, append([]string{python, verify}, args...)...); r.code != 1 || !strings.Contains(r.stderr, "invalid token") {
			t.Errorf("verify.py accepted a token from %s: exit %d %s", name, r.code, r.stderr)
		}
	}
	// Issue 13 finding 9: tokens a stock library accepts and the Go
	// verifier refuses, correctly signed with the node's own key, must be
	// refused by the example too.
	keyPEM, err := os.ReadFile(filepath.Join(s.dir, "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := lease.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	kid := lease.KeyID(key.Public().(ed25519.PublicKey))
	b64 := base64.RawURLEncoding.EncodeToString
	sign := func(payload string) string {
		in := b64([]byte(`{"alg":"EdDSA","kid":"`+kid+`","typ":"JWT"}`)) + "." + b64([]byte(payload))
		return in + "." + b64(ed25519.Sign(key, []byte(in)))
	}
	now := time.Now().Unix()
	payload := func(aud, lid, exp string) string {
		return fmt.Sprintf(`{"iss":%q,"aud":%s,"acct":"acme","feat":"cad","lid":%s,"kind":"floating","iat":%d,"nbf":%d,"exp":%s}`, issuer, aud, lid, now, now-60, exp)
	}
	good := sign(payload(strconv.Quote(device), "7", strconv.FormatInt(now+600, 10)))
	if r := run(t, nil, python, verify, jwks, good, "--device", device, "--issuer", issuer); r.code != 0 {
		t.Fatalf("verify.py refused a well-formed token: %s", r.stderr)
	}
	sig := good[strings.LastIndexByte(good, '.')+1:]
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", sig[len(sig)-1])
	nonCanonical := good[:len(good)-1] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last^1])
	for name, tok := range map[string]string{
		"aud array":               sign(payload(`["`+device+`","OTHER"]`, "7", strconv.FormatInt(now+600, 10))),
		"exp 1e300":               sign(payload(strconv.Quote(device), "7", "1e300")),
		"lid 0":                   sign(payload(strconv.Quote(device), "0", strconv.FormatInt(now+600, 10))),
		"duplicate exp":           sign(strings.TrimSuffix(payload(strconv.Quote(device), "7", strconv.FormatInt(now+600, 10)), "}") + `,"exp":9999999999}`),
		"case-variant EXP":        sign(strings.TrimSuffix(payload(strconv.Quote(device), "7", strconv.FormatInt(now+600, 10)), "}") + `,"EXP":9999999999}`),
		"non-canonical signature": nonCanonical,
	} {
		if r := run(t, nil, python, verify, jwks, tok, "--device", device, "--issuer", issuer); r.code != 1 || !strings.Contains(r.stderr, "invalid token") {
			t.Errorf("verify.py accepted a token with %s: exit %d %s", name, r.code, r.stderr)
		}
		if _, err := lease.NewKeySet(key.Public().(ed25519.PublicKey)).Verify(tok, lease.Expect{Issuer: issuer, Device: device, Feature: "cad", Now: time.Now()}); err == nil {
			t.Errorf("the Go verifier accepted a token with %s", name)
		}
	}
}
