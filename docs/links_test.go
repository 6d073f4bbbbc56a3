// Package docs holds Tally's documentation; its test keeps the relative
// links of README.md and docs/*.md pointing at files and headings that
// exist.
package docs

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

var (
	linkRE   = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	anchorRE = regexp.MustCompile(`<a id="([^"]+)"></a>`)
	codeRE   = regexp.MustCompile("`[^`]*`")
)

// TestRelativeLinksResolve checks every relative link of the README and
// the docs: the file or directory exists, and a #fragment names a heading
// (as GitHub slugs it) or an <a id> of the target page.
func TestRelativeLinksResolve(t *testing.T) {
	pages, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, filepath.Join("..", "README.md"))
	checked := 0
	for _, page := range pages {
		links, err := pageLinks(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			if strings.Contains(l, "://") || strings.HasPrefix(l, "mailto:") {
				continue
			}
			checked++
			if err := checkLink(page, l); err != nil {
				t.Errorf("%s: link %q: %v", page, l, err)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d links: the link pattern is broken", checked)
	}
}

func checkLink(page, link string) error {
	path, frag, _ := strings.Cut(link, "#")
	target := page
	if path != "" {
		target = filepath.Join(filepath.Dir(page), path)
		if _, err := os.Stat(target); err != nil {
			return fmt.Errorf("no such file: %s", target)
		}
	}
	if frag == "" {
		return nil
	}
	if !strings.HasSuffix(target, ".md") {
		return fmt.Errorf("a #fragment on a file that is not markdown")
	}
	anchors, err := pageAnchors(target)
	if err != nil {
		return err
	}
	if !anchors[frag] {
		return fmt.Errorf("%s has no heading or anchor %q", target, frag)
	}
	return nil
}

// pageLinks returns the link targets of a page outside code.
func pageLinks(page string) ([]string, error) {
	var out []string
	err := eachProseLine(page, func(line string) {
		for _, m := range linkRE.FindAllStringSubmatch(codeRE.ReplaceAllString(line, ""), -1) {
			out = append(out, m[1])
		}
	})
	return out, err
}

// pageAnchors returns the fragments a page answers to: its headings as
// GitHub slugs them (duplicates numbered -1, -2…) and its <a id>s.
func pageAnchors(page string) (map[string]bool, error) {
	anchors := map[string]bool{}
	seen := map[string]int{}
	err := eachProseLine(page, func(line string) {
		for _, m := range anchorRE.FindAllStringSubmatch(line, -1) {
			anchors[m[1]] = true
		}
		if !strings.HasPrefix(line, "#") {
			return
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		s := slug(text)
		if n := seen[s]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			anchors[s] = true
		}
		seen[s]++
	})
	return anchors, err
}

// slug is GitHub's heading anchor: lower case, letters, digits, spaces as
// hyphens, hyphens and underscores kept, everything else dropped.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

// eachProseLine calls f with every line outside fenced code blocks.
func eachProseLine(page string, f func(string)) error {
	b, err := os.ReadFile(page)
	if err != nil {
		return err
	}
	fenced := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			f(line)
		}
	}
	return nil
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Named licenses: products, add-ons and extensions": "named-licenses-products-add-ons-and-extensions",
		"S1 — never over-grant":                            "s1--never-over-grant",
		"Ports of `make run`":                              "ports-of-make-run",
		"A local cluster: `scripts/cluster-up.sh`":         "a-local-cluster-scriptscluster-upsh",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
}

// goDocLinkRE matches a reference to a docs page (and heading) in Go
// source, as package doc comments write them: docs/design.md#lease-safety.
var goDocLinkRE = regexp.MustCompile(`docs/([\w.-]+\.md)(#[\w-]+)?`)

// TestGoCommentsLinkExistingDocs checks the docs/… references in the
// repository's Go files (package doc comments point at the design section
// they implement), so that renaming a heading cannot strand them.
func TestGoCommentsLinkExistingDocs(t *testing.T) {
	root := ".."
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "links_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range goDocLinkRE.FindAllStringSubmatch(string(b), -1) {
			if err := checkLink("x.md", m[1]+m[2]); err != nil {
				t.Errorf("%s: docs/%s%s: %v", path, m[1], m[2], err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
