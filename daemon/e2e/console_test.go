package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// browser starts a real headless Chromium (Debian's chromium package) for
// the console tests. TALLY_CHROMIUM overrides the binary; without one the
// test is skipped with the command that installs it (.ci/run does).
func browser(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("TALLY_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		t.Skip("no chromium for the browser test (apt-get install chromium, or set TALLY_CHROMIUM)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
		chromedp.NoSandbox, // containers and CI runners rarely allow the setuid sandbox
		// tallyd's admin address is HTTPS with the cluster's own CA, which
		// this throwaway browser profile does not trust.
		chromedp.IgnoreCertErrors,
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first action starts the browser; it must not run under a timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	// Confirm every "are you sure?" dialog, as the administrator would.
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			if _, err := chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true}); err != nil {
				t.Logf("accept dialog: %v", err)
			}
		}
	}()
	return ctx
}

// step runs browser actions with a deadline and fails the test with what
// the page showed if they do not complete.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(c, actions...); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		t.Fatalf("%s: %v\npage text:\n%s", what, err, body)
	}
}

// textOf reads the text of the first element matching a CSS selector.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(c, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

// screenshot saves the page when TALLY_SCREENSHOTS names a directory (the
// README's pictures are made this way: make screenshots).
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("TALLY_SCREENSHOTS")
	if dir == "" {
		return
	}
	step(t, ctx, "let the page settle", chromedp.Sleep(300*time.Millisecond))
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConsoleInBrowser drives the embedded console in a real headless
// browser against a real tallyd and agent: sign in, watch a lease appear
// when the agent checks out, revoke it from the page, and see the import
// page list a broken CSV row by line without applying anything.
func TestConsoleInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	ctx := browser(t)
	s := startServer(t)
	enroll := s.setupAccount("acme", "cad", 3)
	s.addMembers("acme", "ann@acme.test", "bob@acme.test", "dan@acme.test")
	s.mustCtl("products", "set", "acme", "phone_system", "5", "--name", "Phone System", "--feature", "cad", "--extension")
	s.mustCtl("products", "set", "acme", "call_recording", "2", "--addon")
	base := "https://" + s.adminAddr

	step(t, ctx, "open the console",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#signin-form")))
	// A wrong token is refused on the page, with the server's reason.
	step(t, ctx, "sign in with a wrong token",
		chromedp.Click(chromedp.CSS("#tab-token")),
		chromedp.SendKeys(chromedp.CSS("#signin-token"), "tat_nope"),
		chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitVisible(chromedp.CSS("#signin-error:not(:empty)")))
	refusal := textOf(t, ctx, "#signin-error")
	if !strings.Contains(refusal, "token") {
		t.Fatalf("wrong token refusal: %q", refusal)
	}
	screenshot(t, ctx, "signin")
	step(t, ctx, "sign in",
		chromedp.SetValue(chromedp.CSS("#signin-token"), s.token),
		chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitVisible(chromedp.CSS("#pools .pool[data-feature=cad]")))

	// A member with a Phone System license (the product of cad) signs in on
	// an agent and checks a seat out: the lease appears on the live page.
	s.mustCtl("users", "set-password", "acme", "dan@acme.test", "--password", passwordOf("dan@acme.test"))
	s.mustCtl("licenses", "assign", "phone_system", "dan@acme.test", "--account", "acme", "--ext", "199")
	a := startAgent(t, s, "agent-1", enroll)
	a.mustLogin(nil, "dan@acme.test", passwordOf("dan@acme.test"))
	step(t, ctx, "open the leases page",
		chromedp.Navigate(base+"/#/leases"),
		chromedp.WaitVisible(chromedp.CSS("#leases-empty")))
	a.mustCheckout("cad")
	leases := s.leases()
	if len(leases) != 1 {
		t.Fatalf("leases after checkout: %+v", leases)
	}
	id := leases[0].ID
	row := fmt.Sprintf(`#leases tr[data-key="lease-%d"]`, id)
	step(t, ctx, "the lease appears", chromedp.WaitVisible(chromedp.CSS(row)))
	text := textOf(t, ctx, row)
	if !strings.Contains(text, leases[0].Device) || !strings.Contains(text, "cad") {
		t.Fatalf("lease row %q does not show device %s and feature cad", text, leases[0].Device)
	}
	screenshot(t, ctx, "leases")

	// Revoke it from the page; the ledger marks it revoked.
	step(t, ctx, "revoke",
		chromedp.Click(chromedp.CSS(row+" button.revoke")),
		chromedp.WaitVisible(chromedp.CSS(row+" .pill.bad")))
	eventually(t, 10*time.Second, "the ledger has the lease revoked", func() error {
		for _, l := range s.leases() {
			if l.ID == id && !l.Revoked {
				return fmt.Errorf("lease %d not revoked", id)
			}
		}
		return nil
	})

	// The overview shows the pool's consumption and the device list the
	// agent's Device Code.
	step(t, ctx, "overview", chromedp.Navigate(base+"/#/overview"), chromedp.WaitVisible(chromedp.CSS("#pools")))
	// The revoked lease holds its seat until its horizon: the bar shows one
	// of three seats in use, drawn (a Content-Security-Policy that blocked
	// the page's styles would leave it empty).
	if got := textOf(t, ctx, `#pools .pool[data-feature="cad"] .active-count`); got != "1" {
		t.Fatalf("overview shows %q active cad seats, want 1", got)
	}
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	width, err := chromedp.Run(c, chromedp.Evaluate[float64](`(() => { const b = document.querySelector('#pools .pool[data-feature="cad"] .bar'); const a = b && b.querySelector('.active'); return a ? a.offsetWidth / b.offsetWidth : 0; })()`))
	cancel()
	if err != nil || width < 0.3 || width > 0.37 {
		t.Fatalf("the consumption bar's active part is %.2f of the bar (want 1/3): %v", width, err)
	}
	screenshot(t, ctx, "overview")
	// A refused checkout shows under the overview's refused checkouts.
	if r := a.checkout("nosuchapp"); r.code == 0 {
		t.Fatal("a checkout of a feature the account has no pool for succeeded")
	}
	step(t, ctx, "refused checkouts", chromedp.Navigate(base+"/#/leases"), chromedp.Navigate(base+"/#/overview"), chromedp.WaitVisible(chromedp.CSS("#denials")))
	if text := textOf(t, ctx, "#denials"); !strings.Contains(text, "nosuchapp") || !strings.Contains(text, "unknown_feature") {
		t.Fatalf("the overview's refused checkouts say %q", text)
	}
	step(t, ctx, "devices", chromedp.Navigate(base+"/#/devices"), chromedp.WaitVisible(chromedp.CSS("#devices")))
	text = textOf(t, ctx, "#devices")
	if !strings.Contains(text, leases[0].Device) {
		t.Fatalf("devices page %q lacks %s", text, leases[0].Device)
	}
	screenshot(t, ctx, "devices")
	// Remove it (a reinstalled machine must enroll again): the row goes, and
	// so does the ledger's record.
	devRow := fmt.Sprintf(`#devices tr[data-key="device-%s"]`, leases[0].Device)
	step(t, ctx, "remove the device",
		chromedp.Click(chromedp.CSS(devRow+" button.remove-device")),
		chromedp.WaitVisible(chromedp.CSS("#devices-empty")))
	if out := s.mustCtl("devices", "list", "--account", "acme"); strings.Contains(out, leases[0].Device) {
		t.Fatalf("the removed device is still enrolled:\n%s", out)
	}

	// CSV import: a broken row is listed with its line; nothing applies.
	csv := "Ext Key,Number,User,Addon license 1\n101,+15550100101,ann@acme.test,call_recording\n102,555-CALL,bob@acme.test,fax_machine\n"
	step(t, ctx, "import a broken CSV",
		chromedp.Navigate(base+"/#/import"),
		chromedp.WaitVisible(chromedp.CSS("#import-text")),
		chromedp.SetValue(chromedp.CSS("#import-text"), csv),
		chromedp.Click(chromedp.CSS("#import-apply")),
		chromedp.WaitVisible(chromedp.CSS("#import-errors")))
	text = textOf(t, ctx, "#import-errors")
	if !strings.Contains(text, "3") || !strings.Contains(text, "fax_machine") || !strings.Contains(text, "555-CALL") {
		t.Fatalf("import errors table: %q", text)
	}
	screenshot(t, ctx, "import")
	if out := s.mustCtl("licenses", "list", "--account", "acme", "--status", "assigned", "--json"); strings.Contains(out, "ann@acme.test") {
		t.Fatalf("a refused import assigned a license: %s", out)
	}
	step(t, ctx, "import the fixed CSV",
		chromedp.SetValue(chromedp.CSS("#import-text"), "Ext Key,Number,User,Addon license 1\n101,+15550100101,ann@acme.test,call_recording\n"),
		chromedp.Click(chromedp.CSS("#import-apply")),
		chromedp.WaitVisible(chromedp.CSS("#import-ok")))
	if out := s.mustCtl("licenses", "list", "--account", "acme", "--status", "assigned", "--json"); !strings.Contains(out, "ann@acme.test") {
		t.Fatalf("the applied import assigned nothing: %s", out)
	}
	step(t, ctx, "products", chromedp.Navigate(base+"/#/products"), chromedp.WaitVisible(chromedp.CSS("#licenses")))
	screenshot(t, ctx, "products")
	step(t, ctx, "cluster", chromedp.Navigate(base+"/#/cluster"), chromedp.WaitVisible(chromedp.CSS("#cluster")))
	screenshot(t, ctx, "cluster")
}

// TestConsoleMemberSession signs an account owner in with email and
// password and runs the member pages in the browser: add a member, change
// a role, invite, build a team, read the audit log (which names the
// owner), see the seats and the usage chart; then signs out, after which
// the session's credential no longer works. An assistant's read-only
// session gets no forms.
func TestConsoleMemberSession(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	ctx := browser(t)
	s := startServer(t)
	enroll := s.setupAccount("acme", "cad", 3)
	s.mustCtl("seats", "set", "acme", "4")
	s.mustCtl("users", "add", "acme", "own@acme.test", "--role", "owner", "--password", "correct horse")
	s.mustCtl("users", "add", "acme", "ast@acme.test", "--role", "assistant", "--password", "battery staple")
	s.mustCtl("users", "add", "acme", "tam@acme.test", "--password", "team lead 1")
	ag := startAgent(t, s, "agent-1", enroll)
	ag.mustLogin(nil, "tam@acme.test", "team lead 1")
	ag.mustCheckout("cad")
	base := "https://" + s.adminAddr

	signIn := func(email, password string) {
		t.Helper()
		step(t, ctx, "sign in as "+email,
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible(chromedp.CSS("#signin-form")),
			chromedp.Click(chromedp.CSS("#tab-password")),
			chromedp.SetValue(chromedp.CSS("#signin-account"), "acme"),
			chromedp.SetValue(chromedp.CSS("#signin-email"), email),
			chromedp.SetValue(chromedp.CSS("#signin-password"), password),
			chromedp.Click(chromedp.CSS("#signin-submit")),
			chromedp.WaitVisible(chromedp.CSS("#pools")))
	}
	js := func(expr string) string {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		v, err := chromedp.Run(c, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}

	// A wrong password is refused on the page.
	step(t, ctx, "open the console", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#signin-form")))
	step(t, ctx, "wrong password",
		chromedp.SetValue(chromedp.CSS("#signin-account"), "acme"),
		chromedp.SetValue(chromedp.CSS("#signin-email"), "own@acme.test"),
		chromedp.SetValue(chromedp.CSS("#signin-password"), "wrong horse"),
		chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitVisible(chromedp.CSS("#signin-error:not(:empty)")))
	if got := textOf(t, ctx, "#signin-error"); !strings.Contains(got, "wrong email or password") {
		t.Fatalf("wrong password refusal: %q", got)
	}

	signIn("own@acme.test", "correct horse")
	if who := textOf(t, ctx, "#whoami"); !strings.Contains(who, "own@acme.test (owner)") {
		t.Fatalf("header shows %q", who)
	}
	step(t, ctx, "seats and usage chart", chromedp.WaitVisible(chromedp.CSS("#seat-consumption")), chromedp.WaitVisible(chromedp.CSS("#usage-chart")))
	if got := textOf(t, ctx, "#seat-consumption .stat"); !strings.Contains(got, "2 / 4") {
		t.Fatalf("named-user seats show %q, want 2 / 4 (owner and tam; assistants hold none)", got)
	}
	// The "seats bought" line cannot be taken for a gridline: another
	// colour, thicker, dashed where gridlines are solid.
	if got := js(`(() => { const s = document.querySelector("#usage-chart .seats-line"), g = document.querySelector("#usage-chart .gridline");
		return [s.getAttribute("stroke") !== g.getAttribute("stroke"), +s.getAttribute("stroke-width") > +g.getAttribute("stroke-width"),
			s.getAttribute("stroke-dasharray") !== "", !g.hasAttribute("stroke-dasharray")].join(",") })()`); got != "true,true,true,true" {
		t.Fatalf("seats line vs gridline (colour, width, seats dashed, grid solid): %s", got)
	}
	screenshot(t, ctx, "overview-member")

	// Add a member with the form; the ledger has them.
	step(t, ctx, "add a member",
		chromedp.Navigate(base+"/#/members"),
		chromedp.WaitVisible(chromedp.CSS("#add-member")),
		chromedp.SetValue(chromedp.CSS("#add-member-email"), "cid@acme.test"),
		chromedp.Click(chromedp.CSS("#add-member button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`#members tr[data-key="user-cid@acme.test"]`)))
	if out := s.mustCtl("users", "show", "acme", "cid@acme.test", "--json"); !strings.Contains(out, `"role": "member"`) || !strings.Contains(out, `"status": "active"`) {
		t.Fatalf("cid in the ledger: %s", out)
	}
	// Change cid's role with the row's select.
	js(`(() => { const s = document.querySelector('#members tr[data-key="user-cid@acme.test"] .role-select'); s.value = "administrator"; s.dispatchEvent(new Event("change")); return "ok"; })()`)
	eventually(t, 10*time.Second, "cid becomes an administrator", func() error {
		if out := s.mustCtl("users", "show", "acme", "cid@acme.test", "--json"); !strings.Contains(out, `"role": "administrator"`) {
			return fmt.Errorf("cid: %s", out)
		}
		return nil
	})
	screenshot(t, ctx, "members")

	// Invite someone: a pending row that holds a seat.
	step(t, ctx, "invite",
		chromedp.Navigate(base+"/#/invitations"),
		chromedp.WaitVisible(chromedp.CSS("#invite")),
		chromedp.SetValue(chromedp.CSS("#invite-email"), "dee@acme.test"),
		chromedp.Click(chromedp.CSS("#invite button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`#invitations tr[data-key="invite-dee@acme.test"]`)))
	if got := textOf(t, ctx, "#seat-summary"); !strings.Contains(got, "4 of 4 seats in use") || !strings.Contains(got, "1 pending") {
		t.Fatalf("seat summary after the invitation: %q", got)
	}
	screenshot(t, ctx, "invitations")

	// A team with cid in it.
	step(t, ctx, "create a team",
		chromedp.Navigate(base+"/#/teams"),
		chromedp.WaitVisible(chromedp.CSS("#create-team")),
		chromedp.SetValue(chromedp.CSS("#create-team-name"), "design"),
		chromedp.Click(chromedp.CSS("#create-team button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#team-add")))
	js(`(() => { const f = document.querySelector('#team-add'); f.elements.team.value = "design"; f.elements.email.value = "cid@acme.test"; return "ok"; })()`)
	step(t, ctx, "add cid to design",
		chromedp.Click(chromedp.CSS("#team-add button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS(`#teams tr[data-key="team-design"] .chip`)))
	if got := textOf(t, ctx, `#teams tr[data-key="team-design"]`); !strings.Contains(got, "cid@acme.test") {
		t.Fatalf("design team row: %q", got)
	}
	// tam joins design and the owner makes tam its administrator (☆ → ★).
	s.mustCtl("teams", "add", "acme", "design", "tam@acme.test")
	tamToggle := `#teams tr[data-key="team-design"] .team-admin-toggle[data-email="tam@acme.test"]`
	step(t, ctx, "make tam administrator of design",
		chromedp.Navigate(base+"/#/overview"), chromedp.WaitVisible(chromedp.CSS("#pools")),
		chromedp.Navigate(base+"/#/teams"), chromedp.WaitVisible(chromedp.CSS(tamToggle)),
		chromedp.Click(chromedp.CSS(tamToggle)))
	eventually(t, 10*time.Second, "tam administers design", func() error {
		if out := s.mustCtl("users", "show", "acme", "tam@acme.test", "--json"); !strings.Contains(out, `"admin_of": [`) {
			return fmt.Errorf("tam: %s", out)
		}
		return nil
	})
	screenshot(t, ctx, "teams")

	// The audit log names the owner for each change made on the page.
	step(t, ctx, "audit", chromedp.Navigate(base+"/#/audit"), chromedp.WaitVisible(chromedp.CSS("#audit")))
	if got := textOf(t, ctx, "#audit"); !strings.Contains(got, "member:acme/own@acme.test") || !strings.Contains(got, "invite dee@acme.test") {
		t.Fatalf("audit page: %q", got)
	}
	// Nothing stray under the table (a left-out part once printed "null").
	if got := js(`Array.from(document.querySelector("#view").childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join("|")`); got != "" {
		t.Fatalf("stray text on the audit page: %q", got)
	}
	screenshot(t, ctx, "audit")

	// Sign out: the credential the tab held is dead.
	token := js(`sessionStorage.getItem("tally.token")`)
	step(t, ctx, "sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#signin-form")))
	eventually(t, 10*time.Second, "the signed-out session is refused", func() error {
		if code, _ := s.do(token, http.MethodGet, "/v1/accounts/acme/users", ""); code != 401 {
			return fmt.Errorf("status %d", code)
		}
		return nil
	})

	// An assistant reads without forms.
	signIn("ast@acme.test", "battery staple")
	step(t, ctx, "assistant's members page", chromedp.Navigate(base+"/#/members"), chromedp.WaitVisible(chromedp.CSS("#members")))
	if n := js(`String(document.querySelectorAll("#add-member, .delete-member, .role-select").length)`); n != "0" {
		t.Fatalf("a read-only session shows %s editing controls", n)
	}

	// tam, a team administrator, manages design's members and nothing else.
	step(t, ctx, "sign out the assistant", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#signin-form")))
	signIn("tam@acme.test", "team lead 1")
	if who := textOf(t, ctx, "#whoami"); !strings.Contains(who, "administers design") {
		t.Fatalf("team administrator's header: %q", who)
	}
	step(t, ctx, "team administrator's teams page", chromedp.Navigate(base+"/#/teams"), chromedp.WaitVisible(chromedp.CSS("#team-add")))
	if n := js(`String(document.querySelectorAll("#create-team, .delete-team").length)`); n != "0" {
		t.Fatalf("a team administrator sees %s team-level controls", n)
	}
	step(t, ctx, "team administrator's members page", chromedp.Navigate(base+"/#/members"), chromedp.WaitVisible(chromedp.CSS("#members")))
	if n := js(`String(document.querySelectorAll("#add-member, .delete-member, .role-select").length)`); n != "0" {
		t.Fatalf("a team administrator sees %s member editing controls", n)
	}
}
