package adminapi

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tally-licensing/tally/protocol"
)

// TestOpenAPICoversEveryRoute checks the document against the router both
// ways, so an endpoint cannot be added without being documented (nor
// documented without existing), and that every schema reference resolves.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	served := append(Routes(), PublicRoutes()...)
	sort.Strings(served)
	documented := OpenAPIPaths()
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("route %q is served but not in /v1/openapi.json: add it to operations in openapi.go", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(served, d) {
			t.Errorf("%q is documented but not served", d)
		}
	}
	if pub, docPub := PublicRoutes(), openAPIPublic(); !slices.Equal(sorted(pub), docPub) {
		t.Errorf("public routes %v, documented as public %v", pub, docPub)
	}

	b, err := OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	n := 0
	for path, methods := range doc.Paths {
		for m, op := range methods {
			n++
			if !slices.Contains(served, strings.ToUpper(m)+" "+path) {
				t.Errorf("document has %s %s", m, path)
			}
			if op["summary"] == "" || op["responses"] == nil {
				t.Errorf("%s %s lacks a summary or responses", m, path)
			}
		}
	}
	if n != len(served) {
		t.Fatalf("document has %d operations, router %d", n, len(served))
	}
	for _, ref := range regexp.MustCompile(`"#/components/schemas/([A-Za-z0-9_]+)"`).FindAllStringSubmatch(string(b), -1) {
		if _, ok := doc.Components.Schemas[ref[1]]; !ok {
			t.Errorf("dangling schema reference %s", ref[1])
		}
	}
	if _, ok := doc.Components.Schemas["AuditRecord"]; !ok {
		t.Error("AuditRecord schema missing")
	}
}

func sorted(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}

// TestOpenAPIErrorsAndServers: the document has a servers entry, the
// error schema {"error":{code,message}} with every code, and per operation
// the codes it answers under their HTTP statuses.
func TestOpenAPIErrorsAndServers(t *testing.T) {
	for k := range opErrors {
		if !slices.Contains(OpenAPIPaths(), k) {
			t.Errorf("opErrors names %q, which is not an operation", k)
		}
	}
	b, err := openAPIFor("tally1.example.com:7444")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Servers []struct {
			URL       string `json:"url"`
			Variables map[string]struct {
				Default string `json:"default"`
			} `json:"variables"`
		} `json:"servers"`
		Paths      map[string]map[string]struct{ Responses map[string]map[string]any } `json:"paths"`
		Components struct {
			Schemas map[string]json.RawMessage `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL != "https://{node}" || doc.Servers[0].Variables["node"].Default != "tally1.example.com:7444" {
		t.Fatalf("servers: %+v", doc.Servers)
	}
	var errSchema struct {
		Required   []string `json:"required"`
		Properties struct {
			Error struct {
				Required   []string `json:"required"`
				Properties struct {
					Code struct {
						Enum []string `json:"enum"`
					} `json:"code"`
				} `json:"properties"`
			} `json:"error"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(doc.Components.Schemas[errorSchemaName], &errSchema); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(errSchema.Required, []string{"error"}) || !slices.Equal(errSchema.Properties.Error.Required, []string{"code", "message"}) {
		t.Fatalf("error schema: %s", doc.Components.Schemas[errorSchemaName])
	}
	for _, c := range []string{"confirmation_required", "invalid_argument", "not_leader", "unauthorized"} {
		if !slices.Contains(errSchema.Properties.Error.Properties.Code.Enum, c) {
			t.Errorf("error schema's code enum lacks %s", c)
		}
	}
	codesAt := func(path, method, status string) []string {
		r := doc.Paths[path][method].Responses[status]
		var out []string
		if list, ok := r["x-error-codes"].([]any); ok {
			for _, c := range list {
				out = append(out, c.(string))
			}
		}
		return out
	}
	if got := codesAt("/v1/licenses/{id}/terminate", "post", "409"); !slices.Contains(got, "confirmation_required") {
		t.Errorf("terminate's 409 codes: %v", got)
	}
	if got := codesAt("/v1/accounts/{account}/users", "post", "401"); !slices.Contains(got, "unauthorized") {
		t.Errorf("add user's 401 codes: %v", got)
	}
	if got := codesAt("/v1/accounts/{account}/users", "post", "503"); !slices.Contains(got, "not_leader") {
		t.Errorf("a write's 503 codes: %v", got)
	}
	if got := codesAt("/healthz", "get", "401"); got != nil {
		t.Errorf("a public route documents 401: %v", got)
	}
	// Every code an operation lists is in the schema's enum, under the
	// status it maps to.
	for path, methods := range doc.Paths {
		for m, o := range methods {
			if len(o.Responses) < 2 {
				t.Errorf("%s %s documents no error response", m, path)
			}
			for status := range o.Responses {
				for _, c := range codesAt(path, m, status) {
					if !slices.Contains(errSchema.Properties.Error.Properties.Code.Enum, c) {
						t.Errorf("%s %s answers %s, missing from the error schema", m, path, c)
					}
					if got := protocol.Code(c).HTTPStatus(); fmt.Sprint(got) != status {
						t.Errorf("%s %s lists %s under %s; it maps to %d", m, path, c, status, got)
					}
				}
			}
		}
	}
}
