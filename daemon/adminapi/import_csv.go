package adminapi

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"

	"github.com/tally-licensing/tally/cluster/ledger"
	"github.com/tally-licensing/tally/daemon/assignments"
	"github.com/tally-licensing/tally/protocol"
)

// importCSV is POST /v1/accounts/{account}/assignments/import.csv: the same
// import as the JSON endpoint, for callers that hold the file itself (the
// web console, curl). The server parses the CSV; rows the parser refuses are
// reported next to the rows validation refuses, each with its line, and
// nothing is applied unless every row is valid.
func (a *api) importCSV(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	dry := false
	if v := q.Get("dry_run"); v != "" {
		var err error
		if dry, err = strconv.ParseBool(v); err != nil {
			return protocol.Errorf(protocol.CodeBadRequest, "dry_run=%q: want true or false", v)
		}
	}
	var body bytes.Buffer
	if _, err := body.ReadFrom(http.MaxBytesReader(w, r.Body, MaxImportBytes)); err != nil {
		return protocol.Errorf(protocol.CodeBadRequest, "reading the CSV (at most %d MB): %v", MaxImportBytes>>20, err)
	}
	rows, bad, err := assignments.Parse(&body, nil)
	if err != nil {
		var pe *assignments.ParseError
		if errors.As(err, &pe) {
			writeJSON(w, http.StatusOK, ledger.ImportReport{Account: r.PathValue("account"),
				Errors: []ledger.RowError{{Line: pe.Line, Kind: ledger.RowMalformed, Reason: pe.Err.Error()}}})
			return nil
		}
		return protocol.Errorf(protocol.CodeBadRequest, "malformed CSV: %v", err)
	}
	if len(bad) > 0 {
		// Validate the parsable rows too, so one answer lists every problem.
		rep, err := a.planImport(r, &ledger.ImportAssignments{Account: r.PathValue("account"), Rows: rows}, q.Get("product"))
		if err != nil {
			return err
		}
		rep.Rows += len(bad)
		rep.Errors = mergeRowErrors(bad, rep.Errors)
		rep.Applied = false
		writeJSON(w, http.StatusOK, rep)
		return nil
	}
	return a.runImport(w, r, ImportRequest{Product: q.Get("product"), Rows: rows, DryRun: dry})
}

// mergeRowErrors merges two line-ordered lists into one.
func mergeRowErrors(a, b []ledger.RowError) []ledger.RowError {
	out := make([]ledger.RowError, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0].Line <= b[0].Line {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}
