package ctl

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/tally-licensing/tally/cluster/ledger"
)

func TestProgressDrawsOnlyOnTerminals(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b) // a buffer is not a terminal
	p.show("parsing", 1000, 0, "rows")
	p.done()
	if b.Len() != 0 {
		t.Fatalf("drew on a non-terminal: %q", b.String())
	}
	p.tty = true
	p.show("uploading", 50, 100, "bytes")
	p.show("uploading", 100, 100, "bytes") // the last step is always drawn
	p.done()
	out := b.String()
	if !strings.Contains(out, "[===============               ] 50/100 bytes") || !strings.Contains(out, "100/100 bytes") || !strings.HasSuffix(out, "\n") {
		t.Fatalf("bar: %q", out)
	}
}

func TestMergeRowErrorsKeepsLineOrder(t *testing.T) {
	a := []ledger.RowError{{Line: 2}, {Line: 9}}
	b := []ledger.RowError{{Line: 1}, {Line: 5}, {Line: 12}}
	var lines []int
	for _, e := range mergeRowErrors(a, b) {
		lines = append(lines, e.Line)
	}
	if !reflect.DeepEqual(lines, []int{1, 2, 5, 9, 12}) {
		t.Fatalf("merged lines: %v", lines)
	}
}

func TestImportSampleCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main([]string{"import", "sample"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "Ext Key,Number,User,Addon license 1,Addon license 2,Addon license 3\n") {
		t.Fatalf("sample: %q", out.String())
	}
}
