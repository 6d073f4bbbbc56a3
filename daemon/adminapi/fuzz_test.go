package adminapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"testing"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// FuzzRequestBodies decodes outside input into the body type of every
// admin API route that takes one (from the OpenAPI table, so a new route's
// body is fuzzed too) and into a forwarded ledger command: the decoder
// never panics and refuses with a bad_request error.
func FuzzRequestBodies(f *testing.F) {
	f.Add([]byte(`{"id":"acme","name":"Acme"}`))
	f.Add([]byte(`{"seats":3,"lease_ttl":"1h"}`))
	f.Add([]byte(`{"email":"a@b","role":"owner","password":"x","teams":["t"]}`))
	f.Add([]byte(`{"passphrase":"a long enough passphrase"}`))
	f.Add([]byte(`{"uses":-1,"devices":["A"]}`))
	f.Add([]byte(`{"type":"checkout","checkout":{}}`))
	var types []reflect.Type
	var names []string
	for name, o := range operations {
		if o.request != nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		types = append(types, reflect.TypeOf(operations[name].request))
	}
	types = append(types, reflect.TypeOf(ledger.Command{}))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range types {
			v := reflect.New(typ).Interface()
			r := httptest.NewRequest(http.MethodPost, "/v1/x", bytes.NewReader(data))
			_ = decode(r, v)
		}
	})
}
