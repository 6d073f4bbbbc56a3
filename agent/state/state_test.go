package state

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tally-licensing/tally/protocol"
)

func TestDeviceCodeFormat(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		code, err := NewDeviceCode()
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidateDeviceCode(code); err != nil {
			t.Fatalf("generated code fails validation: %v", err)
		}
		if seen[code] {
			t.Fatalf("duplicate code %s", code)
		}
		seen[code] = true
	}
}

func TestValidateDeviceCode(t *testing.T) {
	for _, ok := range []string{"0000-0000-0000", "ABCD-EFGH-JKMN", "PQRS-TVWX-YZ19"} {
		if err := ValidateDeviceCode(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "ABCD-EFGH-JKM", "ABCD-EFGH-JKMNP", "ABCDEEFGHEJKMN", "ABCD-EFGH-JKMI",
		"ABCD-EFGH-JKML", "ABCD-EFGH-JKMO", "ABCD-EFGH-JKMU", "abcd-efgh-jkmn", "ABCD_EFGH_JKMN"} {
		if err := ValidateDeviceCode(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDirPermissionsAndRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir mode = %v, %v; want 0700", fi.Mode().Perm(), err)
	}

	dev, err := d.LoadDevice()
	if err != nil {
		t.Fatal(err)
	}
	again, err := d.LoadDevice()
	if err != nil {
		t.Fatal(err)
	}
	if again.DeviceCode != dev.DeviceCode {
		t.Fatalf("device code changed across loads: %s then %s", dev.DeviceCode, again.DeviceCode)
	}
	if d.Enrolled() {
		t.Fatal("enrolled without credentials")
	}

	if err := d.SaveCredentials([]byte("cert"), []byte("key")); err != nil {
		t.Fatal(err)
	}
	if !d.Enrolled() {
		t.Fatal("not enrolled after SaveCredentials")
	}
	want := map[string]os.FileMode{KeyFile: 0o600, CertFile: 0o644, DeviceFile: 0o600}

	now := time.Now().UTC().Truncate(time.Second)
	c := &Cache{ServerTime: now, Servers: []string{"a:1"}, Leases: []protocol.Lease{{ID: 7, Feature: "cad", Token: "t", Expires: now}}}
	if err := d.SaveCache(c); err != nil {
		t.Fatal(err)
	}
	want[CacheFile] = 0o600
	for name, mode := range want {
		fi, err := os.Stat(d.File(name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode = %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	got, err := d.LoadCache()
	if err != nil {
		t.Fatal(err)
	}
	if !got.ServerTime.Equal(now) || len(got.Leases) != 1 || got.Leases[0].ID != 7 || got.Servers[0] != "a:1" {
		t.Fatalf("cache round trip: %+v", got)
	}
	entries, _ := os.ReadDir(path)
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".json" && e.Name() != KeyFile && e.Name() != CertFile {
			t.Errorf("stray file %s left in state dir", e.Name())
		}
	}
}

func TestCorruptDeviceFileIsAnError(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.File(DeviceFile), []byte(`{"device_code":"nope"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := d.LoadDevice(); err == nil {
		t.Fatal("malformed device code accepted")
	}
}
