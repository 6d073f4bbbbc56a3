package state

import (
	"errors"
	"os"
	"testing"
)

func TestDeriveDeviceCodeIsStableAndSpread(t *testing.T) {
	const id = "4f1c0de5a8b94e6c9d2f7a3b1c5e8d90"
	a := DeriveDeviceCode(id, "cluster-a\x00/var/lib/tally-agent")
	if err := ValidateDeviceCode(a); err != nil {
		t.Fatalf("derived code fails validation: %v", err)
	}
	// Same machine, same namespace: the same code, whatever the
	// surrounding whitespace of the ID file.
	if b := DeriveDeviceCode(id+"\n", "cluster-a\x00/var/lib/tally-agent"); b != a {
		t.Fatalf("same machine and namespace gave %s then %s", a, b)
	}
	// Another cluster, another state directory, another machine: other codes.
	others := map[string]string{
		"cluster":   DeriveDeviceCode(id, "cluster-b\x00/var/lib/tally-agent"),
		"state dir": DeriveDeviceCode(id, "cluster-a\x00/home/u/.config/tally-agent"),
		"machine":   DeriveDeviceCode("4f1c0de5a8b94e6c9d2f7a3b1c5e8d91", "cluster-a\x00/var/lib/tally-agent"),
	}
	for what, c := range others {
		if c == a {
			t.Errorf("a different %s gave the same code %s", what, c)
		}
	}
	// Many machines: no collision among a few thousand (60 bits).
	seen := map[string]bool{}
	for i := range 5000 {
		c := DeriveDeviceCode(string(rune('a'+i%26))+string(rune(i)), "ns")
		if seen[c] {
			t.Fatalf("collision at %d: %s", i, c)
		}
		seen[c] = true
	}
}

func TestDeriveDeviceCodeKnownAnswer(t *testing.T) {
	// Pinned: changing the derivation would give every installed device a
	// new code at its next reinstall, and the cluster would see a clone.
	if got := DeriveDeviceCode("00000000000000000000000000000000", "ns"); got != "B4E0-RQ5T-V1ZN" {
		t.Fatalf("DeriveDeviceCode(zero ID, ns) = %s", got)
	}
	if got := formatCode(0); got != "0000-0000-0000" {
		t.Fatalf("formatCode(0) = %s", got)
	}
	if got := formatCode(1<<60 - 1); got != "ZZZZ-ZZZZ-ZZZZ" {
		t.Fatalf("formatCode(max) = %s", got)
	}
	if got := formatCode(0x123456789ABCDEF); got != "28T5-CY4T-QKFF" {
		t.Fatalf("formatCode(0x123456789ABCDEF) = %s", got)
	}
}

func TestNormalizeDeviceCode(t *testing.T) {
	if got := NormalizeDeviceCode(" 7kq2-m9xd-4tpa "); got != "7KQ2-M9XD-4TPA" {
		t.Errorf("lower case: %s", got)
	}
	if got := NormalizeDeviceCode("O1LI-oOil-ABCD"); got != "0111-0011-ABCD" {
		t.Errorf("ambiguous letters: %s", got)
	}
}

func TestMachineIDOnThisSystem(t *testing.T) {
	id, err := MachineID()
	if _, statErr := os.Stat("/etc/machine-id"); statErr != nil {
		if !errors.Is(err, ErrNoMachineID) && err == nil && id == "" {
			t.Fatalf("MachineID() = %q, %v", id, err)
		}
		t.Skip("no /etc/machine-id here")
	}
	b, _ := os.ReadFile("/etc/machine-id")
	if len(b) > 0 && string(b) != "uninitialized\n" {
		if err != nil || id == "" {
			t.Fatalf("MachineID() = %q, %v with /etc/machine-id present", id, err)
		}
	}
}

func TestLoadOrCreateDeviceKeepsTheStoredCode(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	dev, err := d.LoadOrCreateDevice(func() (string, error) { return "7KQ2-M9XD-4TPA", nil })
	if err != nil || dev.DeviceCode != "7KQ2-M9XD-4TPA" {
		t.Fatalf("first load: %+v, %v", dev, err)
	}
	// An upgrade that derives differently must not change a stored code.
	dev, err = d.LoadOrCreateDevice(func() (string, error) { return "0000-0000-0000", nil })
	if err != nil || dev.DeviceCode != "7KQ2-M9XD-4TPA" {
		t.Fatalf("second load: %+v, %v", dev, err)
	}
	other, _ := Open(t.TempDir())
	if _, err := other.LoadOrCreateDevice(func() (string, error) { return "not-a-code", nil }); err == nil {
		t.Fatal("a malformed new code was accepted")
	}
	if _, err := os.Stat(other.File(DeviceFile)); err == nil {
		t.Fatal("a malformed new code was written")
	}
}
