// Package console is the administrators' web console: static pages embedded
// in tallyd and served on the admin address. The pages call the same /v1
// admin API as tallyctl, so the console can never do more than the caller's
// credentials allow, and there is nothing to build or install on the
// administrator's side.
//
// Design: docs/design.md#parts.
package console

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/tally-licensing/tally/daemon/assignments"
)

//go:embed static
var static embed.FS

// Handler serves the console: "/" is the single page, "/console/…" its
// assets. Every answer carries a strict Content-Security-Policy (no inline
// script, no third-party origin) because the page holds an admin credential.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		switch {
		case r.URL.Path == "/" || r.URL.Path == "/index.html":
			http.ServeFileFS(w, r, sub, "index.html")
		case r.URL.Path == "/console/sample.csv":
			h.Set("Content-Type", "text/csv; charset=utf-8")
			w.Write(assignments.Sample())
		case strings.HasPrefix(r.URL.Path, "/console/"):
			r2 := r.Clone(r.Context())
			r2.URL.Path = strings.TrimPrefix(r.URL.Path, "/console")
			files.ServeHTTP(w, r2)
		default:
			http.NotFound(w, r)
		}
	})
}
