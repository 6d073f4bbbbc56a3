package passwords

import (
	"errors"
	"strings"
	"testing"
)

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("not a PHC argon2id string: %s", h)
	}
	if ok, err := Verify(h, "correct horse"); err != nil || !ok {
		t.Fatalf("right password refused: %v %v", ok, err)
	}
	if ok, _ := Verify(h, "wrong horse!"); ok {
		t.Fatal("wrong password accepted")
	}
	h2, _ := Hash("correct horse")
	if h2 == h {
		t.Fatal("two hashes of one password share a salt")
	}
	if _, err := Hash("short"); err == nil {
		t.Fatal("short password accepted")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x$AA$AA", "$argon2id$v=19$m=8,t=1,p=1$!!$AA"} {
		if _, err := Verify(bad, "x"); !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

// A stored hash verifies as Verify does; no stored hash (no such member) is
// refused without an error, after a verification of its own.
func TestVerifyStored(t *testing.T) {
	h, err := Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := VerifyStored(h, "correct horse"); !ok || err != nil {
		t.Errorf("right password: %v, %v", ok, err)
	}
	if ok, err := VerifyStored(h, "wrong horse"); ok || err != nil {
		t.Errorf("wrong password: %v, %v", ok, err)
	}
	if ok, err := VerifyStored("", "correct horse"); ok || err != nil {
		t.Errorf("no such member: %v, %v", ok, err)
	}
	if _, err := VerifyStored("$md5$x", "p"); err == nil {
		t.Error("a malformed stored hash gave no error")
	}
}
