package lease_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tally-licensing/tally/protocol/lease"
)

// TestClaimsStrictness: the claims decoder is as strict as the header
// parser (issue 13 finding 9). A correctly signed token whose payload names
// a claim twice, or in another case, is refused as malformed: encoding/json
// would keep the last duplicate and match "EXP" to exp, where another
// verifier may read the first and ignore the other, so the two could
// disagree about what one token grants.
func TestClaimsStrictness(t *testing.T) {
	s := newSigner(t, 1)
	ks := lease.NewKeySet(s.PublicKey())
	in := sampleClaims()
	good := mustSign(t, s, in)
	if _, err := ks.Verify(good, expectFor(in)); err != nil {
		t.Fatal(err)
	}
	hdr := `{"alg":"EdDSA","kid":"` + s.KeyID() + `","typ":"JWT"}`
	exp, iat, nbf := in.Expires.Unix(), in.IssuedAt.Unix(), in.NotBefore.Unix()
	base := func(extra string) string {
		return `{"iss":"cluster-7f3a","aud":"DEV-ABCD-1234","acct":"acct-42","feat":"cad-pro","lid":17,"kind":"borrowed","iat":` +
			itoa(iat) + `,"nbf":` + itoa(nbf) + `,"exp":` + itoa(exp) + extra + `}`
	}
	if _, err := ks.Verify(signRaw(seedKey(1), hdr, base("")), expectFor(in)); err != nil {
		t.Fatalf("a plain hand-made payload: %v", err)
	}
	cases := map[string]string{
		"duplicate exp":         base(`,"exp":` + itoa(exp+86400*365)),
		"duplicate aud":         base(`,"aud":"OTHER-DEVICE"`),
		"upper-case EXP":        base(`,"EXP":` + itoa(exp+86400)),
		"mixed-case Feat":       base(`,"Feat":"everything"`),
		"escaped duplicate lid": base(`,"l\u0069d":99`),
	}
	for name, payload := range cases {
		t.Run(name, func(t *testing.T) {
			c, err := ks.Verify(signRaw(seedKey(1), hdr, payload), expectFor(in))
			ve := wantReason(t, c, err, lease.ReasonMalformed)
			if !strings.Contains(ve.Error(), "claims") {
				t.Errorf("message %q does not say the claims are at fault", ve)
			}
		})
	}
	// Unknown members in lower case stay allowed (newer minor versions).
	if _, err := ks.Verify(signRaw(seedKey(1), hdr, base(`,"jti":"x","note":{"a":[1,"}"]}`)), expectFor(in)); err != nil {
		t.Fatalf("an unknown member: %v", err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
