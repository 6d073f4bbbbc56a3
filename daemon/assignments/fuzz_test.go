package assignments

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParse: any input either fails with a ParseError naming a line, or
// yields rows and row errors with positive, increasing lines, and what
// parses writes back and parses to the same rows.
func FuzzParse(f *testing.F) {
	f.Add(Sample())
	f.Add([]byte("Ext Key,Number,User\n101,,a@b.c\n\"x\n"))
	f.Add([]byte("1,2\n,,,\n3,4,5,6,7\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		rows, bad, err := Parse(bytes.NewReader(in), nil)
		if err != nil {
			if pe, ok := err.(*ParseError); ok && pe.Line < 1 {
				t.Fatalf("parse error at line %d", pe.Line)
			}
			return
		}
		last := 0
		for _, r := range rows {
			if r.Line <= last {
				t.Fatalf("row lines not increasing: %d after %d", r.Line, last)
			}
			last = r.Line
		}
		for _, e := range bad {
			if e.Line < 1 {
				t.Fatalf("row error at line %d", e.Line)
			}
		}
		var out bytes.Buffer
		if err := Write(&out, rows); err != nil {
			t.Fatal(err)
		}
		back, _, err := Parse(&out, nil)
		if err != nil || len(back) != len(rows) {
			t.Fatalf("re-parse: %v, %d rows of %d", err, len(back), len(rows))
		}
		for i := range rows {
			a, b := rows[i], back[i]
			if a.ExtKey != b.ExtKey || a.Number != b.Number || a.User != b.User || strings.Join(a.AddOns, ",") != strings.Join(b.AddOns, ",") {
				t.Fatalf("row %d changed in a round trip: %+v → %+v", i, a, b)
			}
		}
	})
}
