package protocol

import "testing"

func TestCanonicalDeviceCode(t *testing.T) {
	for in, want := range map[string]string{
		"DEM0-ABCD-1234":  "DEM0-ABCD-1234",
		"demo-abcd-1234":  "DEM0-ABCD-1234",
		"DEMOABCD1234":    "DEM0-ABCD-1234",
		" dem0-abcd-i2l4": "DEM0-ABCD-1214",
		"dem0 abcd 1234":  "DEM0-ABCD-1234",
		"dev1":            "dev1", // not a Crockford code: kept as enrolled
		"box-01":          "box-01",
		"DEM0-ABCD-123U":  "DEM0-ABCD-123U", // U is not in the alphabet
	} {
		if got := CanonicalDeviceCode(in); got != want {
			t.Errorf("CanonicalDeviceCode(%q) = %q, want %q", in, got, want)
		}
	}
}
