package ledger

import (
	"fmt"
	"reflect"
)

// nilEntry names the first null entry in the snapshot's lists and maps of
// records ("accounts[2]"), or "". A snapshot comes from a peer or from a
// backup file an operator restores: a null record there must be refused
// with a clear error, never dereferenced (FuzzReadSnapshot found one).
func nilEntry(v any) string {
	return nilIn(reflect.ValueOf(v), "", 0)
}

func nilIn(v reflect.Value, path string, depth int) string {
	if depth > 6 {
		return ""
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return ""
		}
		return nilIn(v.Elem(), path, depth+1)
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			f := t.Field(i)
			name := f.Tag.Get("json")
			if name == "" || name == "-" {
				name = f.Name
			}
			if j := indexComma(name); j >= 0 {
				name = name[:j]
			}
			if p := nilIn(v.Field(i), join(path, name), depth+1); p != "" {
				return p
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			e := v.Index(i)
			if e.Kind() == reflect.Pointer && e.IsNil() {
				return fmt.Sprintf("%s[%d]", path, i)
			}
			if e.Kind() == reflect.Pointer || e.Kind() == reflect.Struct {
				if p := nilIn(e, fmt.Sprintf("%s[%d]", path, i), depth+1); p != "" {
					return p
				}
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			e := it.Value()
			if e.Kind() == reflect.Pointer && e.IsNil() {
				return fmt.Sprintf("%s[%v]", path, it.Key())
			}
			if e.Kind() == reflect.Pointer || e.Kind() == reflect.Struct {
				if p := nilIn(e, fmt.Sprintf("%s[%v]", path, it.Key()), depth+1); p != "" {
					return p
				}
			}
		}
	}
	return ""
}

func indexComma(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return i
		}
	}
	return -1
}

func join(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "." + b
}
