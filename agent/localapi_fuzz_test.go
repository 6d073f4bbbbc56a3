package agent

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tally-licensing/tally/agent/api"
)

// FuzzLocalAPIBodies: request bodies on the agent's local socket (any local
// process may write them) never panic its decoder, for every body type.
func FuzzLocalAPIBodies(f *testing.F) {
	f.Add([]byte(`{"feature":"cad","wait":"30s"}`))
	f.Add([]byte(`{"lease_id":1}`))
	f.Add([]byte(`{"email":"a@b","password":"x"}`))
	f.Add([]byte(`{"feature":`))
	bodies := []func() any{
		func() any { return new(api.CheckoutRequest) }, func() any { return new(api.ReleaseRequest) },
		func() any { return new(api.ActivateRequest) }, func() any { return new(api.ActivityRequest) },
		func() any { return new(api.LoginRequest) },
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mk := range bodies {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/v1/x", bytes.NewReader(data))
			if !decode(w, r, mk()) && w.Code < 400 {
				t.Fatalf("refused body answered %d", w.Code)
			}
		}
	})
}
