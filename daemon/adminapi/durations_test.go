package adminapi

import (
	"reflect"
	"testing"
	"time"
)

// TestNoNanosecondDurationsOnTheWire walks every request and response type
// of the admin API (the OpenAPI table, which TestOpenAPICoversEveryRoute
// keeps equal to the router) and refuses a bare time.Duration anywhere in
// them: it would travel as a number of nanoseconds, where the rule is a
// string such as "30s" (protocol.Duration; docs/api.md#durations).
func TestNoNanosecondDurationsOnTheWire(t *testing.T) {
	dur := reflect.TypeOf(time.Duration(0))
	seen := map[reflect.Type]bool{}
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		if typ == dur {
			t.Errorf("%s is a time.Duration: it would be sent as nanoseconds; use protocol.Duration", path)
			return
		}
		if seen[typ] {
			return
		}
		seen[typ] = true
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(typ.Elem(), path+"[]")
		case reflect.Map:
			walk(typ.Elem(), path+"{}")
		case reflect.Struct:
			for i := range typ.NumField() {
				f := typ.Field(i)
				if !f.IsExported() || f.Tag.Get("json") == "-" {
					continue
				}
				walk(f.Type, path+"."+f.Name)
			}
		}
	}
	for route, o := range operations {
		for _, v := range []any{o.request, o.response} {
			if v != nil {
				walk(reflect.TypeOf(v), route+" "+reflect.TypeOf(v).String())
			}
		}
	}
	if len(seen) < 20 {
		t.Fatalf("walked only %d types: the operations table is not what this test thinks", len(seen))
	}
}
