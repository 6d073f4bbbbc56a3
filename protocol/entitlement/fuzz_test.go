package entitlement_test

import (
	"testing"

	"github.com/tally-licensing/tally/protocol/entitlement"
)

// FuzzVerify feeds arbitrary text to the entitlement decoder: it must never
// panic, and whatever verifies must be a well-formed entitlement.
func FuzzVerify(f *testing.F) {
	pub, priv := vendorKey(f)
	c := newCluster(f, "tally-fuzz")
	jws, err := entitlement.Sign(sample(c), priv)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(jws)
	f.Add("a.b.c")
	f.Add(signRaw(f, priv, `{"iss":"v","sub":"c","jti":"s","features":[{"name":"f","seats":1}],"iat":1,"exp":99999999999}`))
	f.Fuzz(func(t *testing.T, s string) {
		got, err := entitlement.Verify(s, pub)
		if err == nil {
			if cerr := got.Check(); cerr != nil {
				t.Fatalf("verified an ill-formed entitlement: %v", cerr)
			}
		}
		_, _ = entitlement.ParseUnverified(s)
	})
}
