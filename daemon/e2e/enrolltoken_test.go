package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/protocol"
)

// TestEnrollmentTokenLimits replays finding 6 over QUIC: a token made by
// hand enrolls one device, the ledger counts its uses, and a token naming
// its Device Codes cannot be used by a squatter for another code (nor to
// take the named code first with a different one).
func TestEnrollmentTokenLimits(t *testing.T) {
	s := startServer(t)
	s.mustCtl("accounts", "create", "acme")
	single := strings.TrimSpace(s.mustCtl("enroll-tokens", "create", "acme"))
	rawDevice(t, s, single, "FIRST-1")
	if _, err := enrollRaw(t, s, single, "SECOND-2"); protocol.CodeOf(err) != protocol.CodeEnrollTokenUsedUp {
		t.Fatalf("second device on a one-use token: %v, want enroll_token_used_up", err)
	}
	named := strings.TrimSpace(s.mustCtl("enroll-tokens", "create", "acme", "--uses", "5", "--device", "LAB-1,LAB-2"))
	if _, err := enrollRaw(t, s, named, "SQUAT-9"); protocol.CodeOf(err) != protocol.CodeEnrollTokenUsedUp {
		t.Fatalf("a code the token does not name: %v, want enroll_token_used_up", err)
	}
	rawDevice(t, s, named, "LAB-1")
	code, body := s.do(s.token, http.MethodGet, "/v1/accounts/acme/enroll-tokens", "")
	if code != 200 {
		t.Fatalf("list: %d %s", code, body)
	}
	var toks []ledger.EnrollToken
	json.Unmarshal([]byte(body), &toks)
	uses := map[int]int{}
	for _, x := range toks {
		uses[x.MaxUses] = x.Uses
	}
	if uses[1] != 1 || uses[5] != 1 || len(toks) != 2 {
		t.Fatalf("uses counted by the ledger: %+v", toks)
	}
	var devs []ledger.Device
	if err := s.api(http.MethodGet, "/v1/devices?account=acme", nil, &devs); err != nil || len(devs) != 2 {
		t.Fatalf("devices: %+v %v", devs, err)
	}
	if code, body := s.do(s.token, http.MethodPost, "/v1/accounts/acme/enroll-tokens", `{"uses":-3}`); code != http.StatusBadRequest {
		t.Fatalf("negative uses: %d %s", code, body)
	}
}
