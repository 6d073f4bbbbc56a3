package adminapi

import (
	"encoding/json"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
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
