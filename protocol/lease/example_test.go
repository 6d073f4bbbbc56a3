package lease_test

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/tally-licensing/tally/protocol/lease"
)

func Example() {
	// Server side (tallyd): a signing key and the JWKS it publishes.
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)) // use lease.GenerateKey() for real
	signer, _ := lease.NewSigner(key)
	jwks, _ := lease.NewKeySet(signer.PublicKey()).MarshalJSON()

	issued := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	token, _ := signer.Sign(lease.Claims{
		Issuer: "cluster-7f3a", Device: "DEV-ABCD-1234", Account: "acct-42",
		Feature: "cad-pro", AddOns: []string{"render"}, LeaseID: 7, Kind: lease.KindFloating,
		IssuedAt: issued, Expires: issued.Add(time.Hour),
	})

	// Application side, offline: only the JWKS is needed.
	keys, err := lease.ParseKeySet(jwks)
	if err != nil {
		panic(err)
	}
	want := lease.Expect{Device: "DEV-ABCD-1234", Feature: "cad-pro", Now: issued.Add(10 * time.Minute)}
	claims, err := keys.Verify(token, want)
	fmt.Println(claims.Feature, claims.AddOns, claims.LeaseID, claims.Expires, err)

	want.Now = issued.Add(2 * time.Hour)
	_, err = keys.Verify(token, want)
	fmt.Println(lease.ReasonOf(err))
	fmt.Println(err)

	want.Now, want.Device = issued, "DEV-OTHER"
	_, err = keys.Verify(token, want)
	fmt.Println(err)
	// Output:
	// cad-pro [render] 7 2026-11-22 10:00:00 +0000 UTC <nil>
	// expired
	// lease token expired: expired at 2026-11-22T10:00:00Z, 1h0m0s ago
	// lease token is for another device: expected device "DEV-OTHER", token is for device "DEV-ABCD-1234"
}
