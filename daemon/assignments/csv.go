// Package assignments reads and writes the mass-configuration CSV
// (DESIGN.md §4): one row per assignment of a base license, with the columns
// Ext Key, Number, User, Addon license 1..N. It only deals with the file;
// the rules (known users, unique extensions, seats) live in the ledger,
// which applies them both to a dry run and inside the import command.
//
// Design: docs/design.md#data-model.
package assignments

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/tally-licensing/tally/cluster/ledger"
)

// Fixed columns before the add-on columns.
const (
	colExt = iota
	colNumber
	colUser
	fixedCols
)

// Header returns the header row for n add-on columns (at least one).
func Header(n int) []string {
	if n < 1 {
		n = 1
	}
	h := []string{"Ext Key", "Number", "User"}
	for i := 1; i <= n; i++ {
		h = append(h, fmt.Sprintf("Addon license %d", i))
	}
	return h
}

// Sample is the template `tallyctl import sample` prints: the header and
// two example rows.
func Sample() []byte {
	var b strings.Builder
	w := csv.NewWriter(&b)
	w.Write(Header(3))
	w.Write([]string{"101", "+15550100101", "ann@example.com", "call_recording", "device_mobile_app", "team_chat"})
	w.Write([]string{"102", "+15550100102", "bob@example.com", "device_desktop_app", "", ""})
	w.Flush()
	return []byte(b.String())
}

// ParseError is a file that is not CSV at all at some line (an unclosed
// quote, say); nothing after it can be read reliably.
type ParseError struct {
	Line int
	Err  error
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

// Parse reads the CSV from r. A UTF-8 byte-order mark (spreadsheets save
// one) is skipped, and the delimiter is ';' when the first line has more
// semicolons than commas outside quotes (spreadsheets in locales with a
// decimal comma save that), else ','. A first row whose first cell reads
// "Ext Key" is the header and skipped; empty rows are skipped. Rows with
// fewer than three columns come back as row errors, not rows, with their
// line. progress, if not nil, is called every 1,000 rows with the number
// read so far.
func Parse(r io.Reader, progress func(rows int)) ([]ledger.AssignmentRow, []ledger.RowError, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte("\ufeff")) {
		br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.Comma = detectDelimiter(br)
	cr.FieldsPerRecord = -1 // add-on columns vary
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	var rows []ledger.AssignmentRow
	var bad []ledger.RowError
	first := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, nil, &ParseError{Line: pe.Line, Err: pe.Err}
			}
			return nil, nil, fmt.Errorf("read CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if first {
			first = false
			if strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff")), "Ext Key") {
				continue
			}
		}
		if blank(rec) {
			continue
		}
		if len(rec) < fixedCols {
			bad = append(bad, ledger.RowError{Line: line, Kind: ledger.RowMalformed,
				Reason: fmt.Sprintf("%d columns; a row needs at least Ext Key, Number and User", len(rec))})
			continue
		}
		row := ledger.AssignmentRow{Line: line, ExtKey: strings.TrimSpace(rec[colExt]), Number: strings.TrimSpace(rec[colNumber]), User: strings.TrimSpace(rec[colUser])}
		for _, c := range rec[fixedCols:] {
			if c = strings.TrimSpace(c); c != "" {
				row.AddOns = append(row.AddOns, c)
			}
		}
		rows = append(rows, row)
		if progress != nil && len(rows)%1000 == 0 {
			progress(len(rows))
		}
	}
	if progress != nil {
		progress(len(rows))
	}
	return rows, bad, nil
}

// detectDelimiter looks at the first line (as much of it as is buffered)
// without consuming it: ';' if it has more semicolons than commas outside
// double quotes, else ','.
func detectDelimiter(br *bufio.Reader) rune {
	head, _ := br.Peek(br.Size())
	if i := bytes.IndexByte(head, '\n'); i >= 0 {
		head = head[:i]
	}
	commas, semis, quoted := 0, 0, false
	for _, c := range head {
		switch {
		case c == '"':
			quoted = !quoted
		case quoted:
		case c == ',':
			commas++
		case c == ';':
			semis++
		}
	}
	if semis > commas {
		return ';'
	}
	return ','
}

func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// Write writes rows in the import format, with as many add-on columns as
// the row with the most add-ons needs.
func Write(w io.Writer, rows []ledger.AssignmentRow) error {
	n := 1
	for _, r := range rows {
		if len(r.AddOns) > n {
			n = len(r.AddOns)
		}
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(Header(n)); err != nil {
		return fmt.Errorf("write CSV: %w", err)
	}
	rec := make([]string, fixedCols+n)
	for _, r := range rows {
		for i := range rec {
			rec[i] = ""
		}
		rec[colExt], rec[colNumber], rec[colUser] = r.ExtKey, r.Number, r.User
		copy(rec[fixedCols:], r.AddOns)
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write CSV: %w", err)
	}
	return nil
}
