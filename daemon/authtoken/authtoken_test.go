package authtoken

import (
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	tok, err := New(Admin)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(Admin, " "+tok.String()+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if got != tok {
		t.Fatalf("parsed %+v, want %+v", got, tok)
	}
	if !Matches(tok.Hash(), got.Secret) {
		t.Fatal("secret does not match its own hash")
	}
	other, _ := New(Admin)
	if Matches(tok.Hash(), other.Secret) {
		t.Fatal("another token's secret matched")
	}
}

func TestParseRejects(t *testing.T) {
	good, _ := New(Enroll)
	for _, s := range []string{"", "tet_", "tat_" + good.ID + "_" + good.Secret, "tet_zzzzzzzzzzzz_" + good.Secret, "tet_" + good.ID + "_short", "tet_" + good.ID} {
		if _, err := Parse(Enroll, s); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", s, err)
		}
	}
}
