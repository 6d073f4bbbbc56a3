package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vendorRun runs tally-vendor and fails the test unless it exits 0.
func vendorRun(t *testing.T, args ...string) string {
	t.Helper()
	r := run(t, nil, append([]string{bin("tally-vendor")}, args...)...)
	if r.code != 0 {
		t.Fatalf("tally-vendor %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// TestVendorEntitlementEndToEnd: a vendor key signs an entitlement for 5
// seats bound to one cluster's CA; that cluster refuses 6 seats and accepts
// 5; an application holding only the vendor's public key accepts a lease
// inside the entitlement and refuses one from another cluster, one for a
// feature outside it and one after its end; a signed true-up report
// verifies and the same report with one byte changed does not.
func TestVendorEntitlementEndToEnd(t *testing.T) {
	work := t.TempDir()
	var foreignToken string
	vkey := filepath.Join(work, "acme-vendor")
	vendorRun(t, "keygen", "--out", vkey)
	if fi, err := os.Stat(vkey + ".key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("vendor private key mode: %v %v", fi.Mode(), err)
	}
	pub := vkey + ".pub"

	s := startServer(t)
	enroll := s.setupAccount("globex", "countthings", 2)
	entFile := filepath.Join(work, "globex.ent")
	vendorRun(t, "sign", "--key", vkey+".key", "--vendor", "Acme Software", "--customer", "Globex",
		"--serial", "GLOBEX-1", "--feature", "countthings=5,addons=PHONE", "--days", "365",
		"--cluster-ca", s.caFile(), "--out", entFile)

	// Nothing is imported before the cluster trusts the vendor.
	if r := s.ctl("entitlements", "import", "globex", entFile); r.code == 0 || !strings.Contains(r.stderr, "trusts no vendor key") {
		t.Fatalf("import without a trusted vendor key: exit %d %s", r.code, r.stderr)
	}
	s.mustCtl("vendors", "trust", "Acme Software", pub)
	out := s.mustCtl("entitlements", "import", "globex", entFile)
	if !strings.Contains(out, "GLOBEX-1") {
		t.Fatalf("import: %s", out)
	}
	if r := s.ctl("pools", "set-seats", "globex", "countthings", "6"); r.code == 0 || !strings.Contains(r.stderr, "entitlement_limit") || !strings.Contains(r.stderr, "GLOBEX-1") {
		t.Fatalf("set-seats 6 beyond the entitlement: exit %d %s", r.code, r.stderr)
	}
	s.mustCtl("pools", "set-seats", "globex", "countthings", "5")
	if r := s.ctl("pools", "set-seats", "globex", "otherapp", "1"); r.code == 0 || !strings.Contains(r.stderr, "entitlement_limit") {
		t.Fatalf("a pool for a feature outside the entitlement: exit %d %s", r.code, r.stderr)
	}

	a := startAgent(t, s, "globex-1", enroll)
	token := a.mustCheckout("countthings")
	bundle := filepath.Join(work, "bundle.json")
	r := a.cli("entitlement", "--json")
	if r.code != 0 {
		t.Fatalf("tally-agent entitlement: %s", r.stderr)
	}
	if err := os.WriteFile(bundle, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := vendorRun(t, "verify-lease", "--pub", pub, "--bundle", bundle, "--feature", "countthings", token); !strings.Contains(out, "inside entitlement GLOBEX-1") {
		t.Fatalf("verify-lease: %s", out)
	}

	// The same check from Python with a stock JWT library, when present.
	if py := "/usr/bin/python3"; exec.Command(py, "-c", "import jwt, cryptography").Run() == nil {
		script := filepath.Join(repoRoot(t), "examples", "verify-python", "verify_entitlement.py")
		if r := run(t, nil, py, script, pub, bundle, token, "--feature", "countthings"); r.code != 0 || !strings.Contains(r.stdout, "GLOBEX-1") {
			t.Fatalf("verify_entitlement.py: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		defer func() {
			if r := run(t, nil, py, script, pub, bundle, foreignToken); r.code != 1 || !strings.Contains(r.stderr, "refused") {
				t.Errorf("verify_entitlement.py accepted another cluster's lease: exit %d %s", r.code, r.stderr)
			}
		}()
	} else {
		t.Log("no python3 with PyJWT and cryptography: the Python entitlement check is not run")
	}

	// Another cluster cannot import it (bound to the first CA), and its
	// leases do not verify against the vendor's entitlement.
	other := startServer(t)
	otherEnroll := other.setupAccount("globex", "countthings", 5)
	other.mustCtl("vendors", "trust", "Acme Software", pub)
	if r := other.ctl("entitlements", "import", "globex", entFile); r.code == 0 || !strings.Contains(r.stderr, "bound to the cluster CA") {
		t.Fatalf("another cluster imported the entitlement: exit %d %s", r.code, r.stderr)
	}
	b := startAgent(t, other, "other-1", otherEnroll)
	foreign := b.mustCheckout("countthings")
	foreignToken = foreign
	if r := run(t, nil, bin("tally-vendor"), "verify-lease", "--pub", pub, "--bundle", bundle, foreign); r.code == 0 {
		t.Fatalf("a lease from another cluster verified: %s", r.stdout)
	}

	// An entitlement that ends in a few seconds: leases end with it, and
	// after it no grant is made (not_entitled, counted as a denial).
	shortEnroll := s.setupAccount("initech", "countthings", 1)
	shortFile := filepath.Join(work, "initech.ent")
	end := time.Now().Add(6 * time.Second).UTC().Truncate(time.Second)
	vendorRun(t, "sign", "--key", vkey+".key", "--vendor", "Acme Software", "--customer", "Initech",
		"--serial", "INITECH-1", "--feature", "countthings=1", "--expires", end.Format(time.RFC3339),
		"--cluster-ca", s.caFile(), "--out", shortFile)
	s.mustCtl("entitlements", "import", "initech", shortFile)
	c := startAgent(t, s, "initech-1", shortEnroll)
	var lease struct {
		Expires time.Time `json:"expires"`
	}
	r = c.checkout("countthings", "--json")
	if r.code != 0 {
		t.Fatalf("checkout under the short entitlement: %s", r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), &lease); err != nil {
		t.Fatalf("checkout --json: %v: %s", err, r.stdout)
	}
	if lease.Expires.After(end) {
		t.Fatalf("lease runs to %v, past the entitlement's end %v", lease.Expires, end)
	}
	c.cli("release", "countthings")
	eventually(t, 30*time.Second, "checkouts stop at the entitlement's end", func() error {
		r := c.checkout("countthings")
		if r.code == 0 {
			return errNotYet("still granted")
		}
		if !strings.Contains(r.stderr, "not_entitled") {
			t.Fatalf("after the end: %s", r.stderr)
		}
		return nil
	})
	if out := s.mustCtl("report", "denials", "initech"); !strings.Contains(out, "not_entitled") {
		t.Fatalf("denials report: %s", out)
	}

	// A true-up report signed by the cluster verifies with nothing but the
	// file and the entitlement; one changed byte does not.
	repFile := filepath.Join(work, "report.jws")
	s.mustCtl("report", "usage", "--account", "globex", "--signed", "-o", repFile)
	out = vendorRun(t, "verify-report", "--entitlement", entFile, "--pub", pub, repFile)
	if !strings.Contains(out, "Report verified") || !strings.Contains(out, "GLOBEX-1") {
		t.Fatalf("verify-report: %s", out)
	}
	raw, err := os.ReadFile(repFile)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSpace(string(raw)), ".")
	p := []byte(parts[1])
	p[len(p)/2] ^= 1
	if p[len(p)/2] == '.' {
		p[len(p)/2] = 'A'
	}
	edited := filepath.Join(work, "edited.jws")
	os.WriteFile(edited, []byte(parts[0]+"."+string(p)+"."+parts[2]), 0o644)
	if r := run(t, nil, bin("tally-vendor"), "verify-report", "--entitlement", entFile, "--pub", pub, edited); r.code == 0 {
		t.Fatalf("an edited report verified: %s", r.stdout)
	}
}

type errNotYet string

func (e errNotYet) Error() string { return string(e) }
