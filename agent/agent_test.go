package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tally-licensing/tally/agent"
	"github.com/tally-licensing/tally/agent/api"
	"github.com/tally-licensing/tally/agent/cli"
	"github.com/tally-licensing/tally/agent/sdk"
	"github.com/tally-licensing/tally/agent/state"
	"github.com/tally-licensing/tally/protocol"
)

// The crash test re-runs this test binary as a bare agent and kills it.
const childEnv = "TALLY_AGENT_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "cli" {
		os.Exit(cli.Execute(context.Background(), []string{"run", "--state", os.Getenv("CHILD_STATE"),
			"--server", os.Getenv("CHILD_SERVER"), "--ca", os.Getenv("CHILD_CA"), "--enroll-token", os.Getenv("CHILD_TOKEN"),
			"--log-level", "debug"}, os.Stdout, os.Stderr))
	}
	if os.Getenv(childEnv) == "1" {
		err := agent.Run(context.Background(), agent.Config{
			StateDir:          os.Getenv("CHILD_STATE"),
			Servers:           []string{os.Getenv("CHILD_SERVER")},
			CAFile:            os.Getenv("CHILD_CA"),
			EnrollToken:       os.Getenv("CHILD_TOKEN"),
			HeartbeatInterval: 100 * time.Millisecond,
		})
		if err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type runningAgent struct {
	t      testing.TB
	dir    string
	socket string
	sdk    *sdk.Client
	logs   *logBuffer
	cancel context.CancelFunc
	done   chan error
}

// startAgent runs an agent on dir against srv and waits until it is enrolled
// and connected.
func startAgent(t testing.TB, srv *fakeServer, dir string, tweak ...func(*agent.Config)) *runningAgent {
	t.Helper()
	logger, logs := newLogger(t)
	cfg := agent.Config{
		StateDir:          dir,
		Servers:           []string{srv.addr},
		CAFile:            srv.caFile,
		EnrollToken:       srv.token,
		Logger:            logger,
		HeartbeatInterval: 100 * time.Millisecond,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	if cfg.SocketPath == "" {
		cfg.SocketPath = filepath.Join(dir, api.SocketName)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &runningAgent{t: t, dir: dir, socket: cfg.SocketPath, sdk: sdk.New(cfg.SocketPath), logs: logs, cancel: cancel, done: make(chan error, 1)}
	go func() { a.done <- agent.Run(ctx, cfg) }()
	t.Cleanup(func() { a.stop() })
	waitFor(t, "agent enrolled and connected", func() bool {
		select {
		case err := <-a.done:
			a.done <- err
			t.Fatalf("agent exited early: %v\nlogs:\n%s", err, logs)
		default:
		}
		st, err := a.sdk.Status(context.Background())
		return err == nil && st.Enrolled && st.Connected
	})
	return a
}

// stop cancels the agent and returns Run's result.
func (a *runningAgent) stop() error {
	a.t.Helper()
	a.cancel()
	select {
	case err := <-a.done:
		a.done <- err // keep it for a second stop
		return err
	case <-time.After(15 * time.Second):
		a.t.Fatal("agent did not stop")
		return nil
	}
}

func (a *runningAgent) status() *sdk.Status {
	a.t.Helper()
	st, err := a.sdk.Status(context.Background())
	if err != nil {
		a.t.Fatal(err)
	}
	return st
}

func (a *runningAgent) checkout(feature string) *sdk.Lease {
	a.t.Helper()
	l, err := a.sdk.Checkout(context.Background(), feature)
	if err != nil {
		a.t.Fatalf("checkout %s: %v", feature, err)
	}
	return l
}

func loadCache(t testing.TB, dir string) *state.Cache {
	t.Helper()
	d, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.LoadCache()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEnrollPersistsIdentityAndRestartReusesIt(t *testing.T) {
	srv := newFakeServer(t)
	dir := filepath.Join(t.TempDir(), "state")

	a := startAgent(t, srv, dir)
	st := a.status()
	if err := state.ValidateDeviceCode(st.DeviceCode); err != nil {
		t.Fatal(err)
	}
	if st.Account != "acme" || !st.Connected || st.Server != srv.addr {
		t.Fatalf("status after enrollment: %+v", st)
	}
	if got := srv.count(protocol.TypeEnroll); got != 1 {
		t.Fatalf("enroll requests = %d, want 1", got)
	}
	var enroll protocol.EnrollRequest
	if err := srv.requestsOf(protocol.TypeEnroll)[0].DecodeBody(&enroll); err != nil {
		t.Fatal(err)
	}
	if enroll.DeviceCode != st.DeviceCode || enroll.Token != srv.token || len(enroll.CSR) == 0 {
		t.Fatalf("enroll request = %+v", enroll)
	}

	var dev state.Device
	b, err := os.ReadFile(filepath.Join(dir, state.DeviceFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dev); err != nil {
		t.Fatal(err)
	}
	if dev.DeviceCode != st.DeviceCode || dev.Account != "acme" || dev.EnrolledAt.IsZero() || !strings.HasPrefix(dev.ServerCAFingerprint, "sha256:") {
		t.Fatalf("device.json = %+v", dev)
	}
	for name, mode := range map[string]os.FileMode{state.KeyFile: 0o600, state.CertFile: 0o644, "": 0o700} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s mode %v, want %v", filepath.Join(dir, name), fi.Mode().Perm(), mode)
		}
	}
	if err := a.stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}

	// Restart without a token: the stored certificate is used, no second enrollment.
	// (Count the first run's server-list requests: it may have stopped
	// before sending one.)
	serversBefore := srv.count(protocol.TypeServers)
	b2 := startAgent(t, srv, dir, func(c *agent.Config) { c.EnrollToken = "" })
	if got := b2.status().DeviceCode; got != st.DeviceCode {
		t.Fatalf("device code changed across restart: %s then %s", st.DeviceCode, got)
	}
	if got := srv.count(protocol.TypeEnroll); got != 1 {
		t.Fatalf("enroll requests after restart = %d, want 1", got)
	}
	// The restarted agent authenticates with the certificate: a servers
	// request from it reached the server as this device.
	waitFor(t, "servers request from the restarted agent", func() bool { return srv.count(protocol.TypeServers) > serversBefore })
}

func TestNotEnrolledWithoutToken(t *testing.T) {
	srv := newFakeServer(t)
	err := agent.Run(context.Background(), agent.Config{StateDir: t.TempDir(), Servers: []string{srv.addr}, CAFile: srv.caFile})
	if !errors.Is(err, agent.ErrNotEnrolled) || !strings.Contains(err.Error(), "--enroll-token") {
		t.Fatalf("Run = %v, want ErrNotEnrolled", err)
	}
}

func TestEnrollmentRefused(t *testing.T) {
	srv := newFakeServer(t)
	dir := t.TempDir()
	err := agent.Run(context.Background(), agent.Config{StateDir: dir, Servers: []string{srv.addr}, CAFile: srv.caFile, EnrollToken: "wrong"})
	if protocol.CodeOf(err) != protocol.CodeEnrollTokenInvalid {
		t.Fatalf("Run = %v, want %s", err, protocol.CodeEnrollTokenInvalid)
	}
	if _, err := os.Stat(filepath.Join(dir, api.SocketName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind after a failed start: %v", err)
	}
}

func TestCheckoutReleaseThroughSocket(t *testing.T) {
	srv := newFakeServer(t)
	srv.setSeats("cad", 2)
	a := startAgent(t, srv, t.TempDir())

	l1 := a.checkout("cad")
	if l1.Token == "" || l1.Feature != "cad" || l1.ID == 0 || l1.Expires.IsZero() || l1.Since.IsZero() {
		t.Fatalf("lease = %+v", l1)
	}
	l2 := a.checkout("cad")
	if l2.ID != l1.ID || l2.Token != l1.Token {
		t.Fatalf("second checkout returned another lease: %+v vs %+v", l2, l1)
	}
	if got := srv.count(protocol.TypeCheckout); got != 1 {
		t.Fatalf("server saw %d checkouts, want 1", got)
	}
	var req protocol.CheckoutRequest
	co := srv.requestsOf(protocol.TypeCheckout)[0]
	if err := co.DecodeBody(&req); err != nil {
		t.Fatal(err)
	}
	if req.Feature != "cad" || len(co.ID) != 32 {
		t.Fatalf("checkout request = %+v id %q", req, co.ID)
	}
	if st := a.status(); len(st.Leases) != 1 || st.Leases[0].ID != l1.ID {
		t.Fatalf("status leases = %+v", st.Leases)
	}
	if c := loadCache(t, a.dir); len(c.Leases) != 1 || c.Leases[0].Token != l1.Token {
		t.Fatalf("cache = %+v", c)
	}
	if fi, err := os.Stat(filepath.Join(a.dir, state.CacheFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("leases.json: %v %v", fi, err)
	}

	if err := a.sdk.Release(context.Background(), "cad"); err != nil {
		t.Fatal(err)
	}
	if got := srv.releasedIDs(); !slices.Equal(got, []uint64{l1.ID}) {
		t.Fatalf("server released %v, want [%d]", got, l1.ID)
	}
	if st := a.status(); len(st.Leases) != 0 {
		t.Fatalf("leases after release: %+v", st.Leases)
	}
	if c := loadCache(t, a.dir); len(c.Leases) != 0 {
		t.Fatalf("cache after release: %+v", c.Leases)
	}

	err := a.sdk.Release(context.Background(), "cad")
	if protocol.CodeOf(err) != protocol.CodeLeaseNotFound {
		t.Fatalf("release of a feature not held = %v, want %s", err, protocol.CodeLeaseNotFound)
	}
	if got := len(srv.releasedIDs()); got != 1 {
		t.Fatalf("a release of a feature not held reached the server")
	}
}

// rawPost sends a local API request without the SDK, to check HTTP statuses.
func rawPost(t *testing.T, socket, path, body string) (int, api.ErrorResponse) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	resp, err := hc.Post("http://agent"+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.ErrorResponse
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e
}

func TestCheckoutErrors(t *testing.T) {
	srv := newFakeServer(t)
	srv.setSeats("cad", 0)
	a := startAgent(t, srv, t.TempDir())

	_, err := a.sdk.Checkout(context.Background(), "cad")
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeNoSeat || !errors.Is(err, &protocol.Error{Code: protocol.CodeNoSeat}) {
		t.Fatalf("checkout with no seat = %#v, want *protocol.Error no_seat", err)
	}
	if !strings.Contains(pe.Message, "seats") {
		t.Fatalf("no_seat message lost: %q", pe.Message)
	}

	cases := []struct {
		body   string
		status int
		code   protocol.Code
	}{
		{`{"feature":"cad"}`, http.StatusConflict, protocol.CodeNoSeat},
		{`{"feature":"nope"}`, http.StatusNotFound, protocol.CodeUnknownFeature},
		{`{"feature":""}`, http.StatusBadRequest, protocol.CodeBadRequest},
		{`{"feature":"cad","wait":"soon"}`, http.StatusBadRequest, protocol.CodeBadRequest},
		{`not json`, http.StatusBadRequest, protocol.CodeBadRequest},
	}
	for _, c := range cases {
		status, e := rawPost(t, a.socket, api.PathCheckout, c.body)
		if status != c.status || e.Error == nil || e.Error.Code != c.code {
			t.Errorf("POST %s %s = %d %+v, want %d %s", api.PathCheckout, c.body, status, e.Error, c.status, c.code)
		}
	}
	if status, e := rawPost(t, a.socket, api.PathRelease, `{"feature":"cad"}`); status != http.StatusNotFound || e.Error.Code != protocol.CodeLeaseNotFound {
		t.Errorf("release not held = %d %+v", status, e.Error)
	}
	if status, e := rawPost(t, a.socket, "/v1/nothing", `{}`); status != http.StatusNotFound || e.Error.Code != protocol.CodeUnknownRequest {
		t.Errorf("unknown endpoint = %d %+v", status, e.Error)
	}
}

func TestSocketIsPrivateAndExclusive(t *testing.T) {
	srv := newFakeServer(t)
	dir := t.TempDir()
	a := startAgent(t, srv, dir)
	fi, err := os.Stat(a.socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode = %v, want socket 0600", fi.Mode())
	}

	// A second agent on the same socket refuses to start and leaves the first alone.
	err = agent.Run(context.Background(), agent.Config{StateDir: t.TempDir(), SocketPath: a.socket,
		Servers: []string{srv.addr}, CAFile: srv.caFile, EnrollToken: srv.token})
	if err == nil || !strings.Contains(err.Error(), "already listening") {
		t.Fatalf("second agent on the socket: %v", err)
	}
	if st := a.status(); !st.Connected {
		t.Fatal("first agent disturbed")
	}

	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a.socket); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket not removed on shutdown: %v", err)
	}

	// A regular file where the socket goes is never clobbered.
	if err := os.WriteFile(a.socket, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = agent.Run(context.Background(), agent.Config{StateDir: dir, Servers: []string{srv.addr}, CAFile: srv.caFile})
	if err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Fatalf("start over a regular file: %v", err)
	}
}

func TestShutdownReleasesEverything(t *testing.T) {
	srv := newFakeServer(t)
	srv.setSeats("cad", 1)
	srv.setSeats("sim", 1)
	a := startAgent(t, srv, t.TempDir())
	l1, l2 := a.checkout("cad"), a.checkout("sim")

	if err := a.stop(); err != nil {
		t.Fatalf("Run returned %v", err)
	}
	got := srv.releasedIDs()
	slices.Sort(got)
	want := []uint64{l1.ID, l2.ID}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("server saw releases %v, want %v", got, want)
	}
	if n := srv.activeLeases(); n != 0 {
		t.Fatalf("%d leases still held on the server", n)
	}
	c := loadCache(t, a.dir)
	if len(c.Leases) != 0 {
		t.Fatalf("cache not cleared: %+v", c.Leases)
	}
	if c.ServerTime.IsZero() {
		t.Fatal("the server-time mark was not kept across shutdown")
	}
	if _, err := os.Stat(a.socket); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket not removed: %v", err)
	}
}

func TestLostLeaseIsDropped(t *testing.T) {
	srv := newFakeServer(t)
	srv.setSeats("cad", 1)
	srv.setSeats("sim", 1)
	a := startAgent(t, srv, t.TempDir())
	lost, kept := a.checkout("cad"), a.checkout("sim")
	srv.loseLease(lost.ID)

	waitFor(t, "lost lease dropped", func() bool {
		st := a.status()
		return len(st.Leases) == 1 && st.Leases[0].ID == kept.ID
	})
	waitFor(t, "cache rewritten", func() bool {
		c := loadCache(t, a.dir)
		return len(c.Leases) == 1 && c.Leases[0].ID == kept.ID
	})
	logs := a.logs.String()
	if !strings.Contains(logs, `level=WARN msg="lease lost" feature=cad`) || !strings.Contains(logs, "code=lease_revoked") {
		t.Fatalf("no warning with the code for the lost lease; logs:\n%s", logs)
	}
	// The lost lease is no longer heartbeated; the kept one is.
	before := len(srv.heartbeatIDs())
	waitFor(t, "two more heartbeats", func() bool { return len(srv.heartbeatIDs()) >= before+2 })
	hbs := srv.heartbeatIDs()
	if last := hbs[len(hbs)-1]; !slices.Equal(last, []uint64{kept.ID}) {
		t.Fatalf("last heartbeat carried %v, want [%d]", last, kept.ID)
	}
	// A new checkout of the lost feature takes a new seat.
	if l := a.checkout("cad"); l.ID == lost.ID {
		t.Fatal("lost lease served again")
	}
}

func TestHeartbeatRenewsTokensAndFollowsServer(t *testing.T) {
	srv := newFakeServer(t)
	srv.setSeats("cad", 1)
	dir := t.TempDir()
	a := startAgent(t, srv, dir)
	code := a.status().DeviceCode
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}

	// Seed the cache with a lease the server holds for this device, and have
	// the server rotate tokens, ask for 100ms heartbeats and announce a node.
	l := srv.grant("cad", code)
	d, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cache := loadCache(t, dir)
	cache.Leases = []protocol.Lease{l}
	if err := d.SaveCache(cache); err != nil {
		t.Fatal(err)
	}
	srv.set(func(s *fakeServer) {
		s.rotate = true
		s.interval = 100 * time.Millisecond
		s.servers = append(s.servers, protocol.ServerInfo{ID: "node-2", Addr: "127.0.0.1:1"})
	})

	// The agent's own interval is an hour: only the server's answer can make
	// heartbeats come every 100ms.
	b := startAgent(t, srv, dir, func(c *agent.Config) { c.HeartbeatInterval = time.Hour; c.EnrollToken = "" })
	waitFor(t, "three heartbeats of the cached lease", func() bool {
		n := 0
		for _, ids := range srv.heartbeatIDs() {
			if slices.Equal(ids, []uint64{l.ID}) {
				n++
			}
		}
		return n >= 3
	})
	got := b.checkout("cad")
	if got.ID != l.ID || got.Token == l.Token || !strings.HasPrefix(got.Token, fmt.Sprintf("tok-%d-", l.ID)) {
		t.Fatalf("checkout after renewals = %+v, want lease %d with a renewed token", got, l.ID)
	}
	if !got.Expires.After(l.Expires) {
		t.Fatalf("expiry not moved: %v, was %v", got.Expires, l.Expires)
	}
	if n := srv.count(protocol.TypeCheckout); n != 0 {
		t.Fatalf("server saw %d checkouts, want 0", n)
	}
	st := b.status()
	if !slices.Equal(st.Servers, []string{srv.addr, "127.0.0.1:1"}) {
		t.Fatalf("servers = %v, want the leader %s then the announced node", st.Servers, srv.addr)
	}
	if c := loadCache(t, dir); !slices.Contains(c.Servers, "127.0.0.1:1") {
		t.Fatalf("learned servers not persisted: %v", c.Servers)
	}
}

// startChild runs this test binary as an agent process (mode "1": agent.Run,
// mode "cli": `tally-agent run`) and waits until it is connected.
func startChild(t *testing.T, mode string, srv *fakeServer, dir string) (*exec.Cmd, *sdk.Client) {
	t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"="+mode, "CHILD_STATE="+dir, "CHILD_SERVER="+srv.addr,
		"CHILD_CA="+srv.caFile, "CHILD_TOKEN="+srv.token)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	c := sdk.New(filepath.Join(dir, api.SocketName))
	waitFor(t, "child agent ready", func() bool {
		st, err := c.Status(context.Background())
		return err == nil && st.Connected
	})
	return child, c
}

func TestRunCommandReleasesOnSIGTERM(t *testing.T) {
	srv := newFakeServer(t)
	srv.setSeats("cad", 1)
	dir := t.TempDir()
	child, c := startChild(t, "cli", srv, dir)
	lease, err := c.Checkout(context.Background(), "cad")
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("tally-agent run after SIGTERM: %v (want exit 0)", err)
	}
	if got := srv.releasedIDs(); !slices.Equal(got, []uint64{lease.ID}) {
		t.Fatalf("server saw releases %v, want [%d]", got, lease.ID)
	}
	if _, err := os.Stat(filepath.Join(dir, api.SocketName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket left behind: %v", err)
	}
}

func TestCachedLeasesResumeAfterCrash(t *testing.T) {
	srv := newFakeServer(t)
	srv.setSeats("cad", 1)
	dir := t.TempDir()
	socket := filepath.Join(dir, api.SocketName)

	// Run the agent as a separate process and kill it: no release, no cleanup.
	child, c := startChild(t, "1", srv, dir)
	lease, err := c.Checkout(context.Background(), "cad")
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	if cache := loadCache(t, dir); len(cache.Leases) != 1 || cache.Leases[0].ID != lease.ID {
		t.Fatalf("cache after crash = %+v", cache)
	}
	if _, err := os.Stat(socket); err != nil {
		t.Fatalf("expected the killed agent's stale socket: %v", err)
	}

	// Restart: the stale socket is replaced, the cached lease is resumed
	// (heartbeated with its ID) and served without a new checkout.
	heartbeatsBefore := len(srv.heartbeatIDs())
	a := startAgent(t, srv, dir, func(c *agent.Config) { c.EnrollToken = "" })
	waitFor(t, "heartbeat of the resumed lease", func() bool {
		hbs := srv.heartbeatIDs()
		return len(hbs) > heartbeatsBefore && slices.Equal(hbs[len(hbs)-1], []uint64{lease.ID})
	})
	got := a.checkout("cad")
	if got.ID != lease.ID || got.Token != lease.Token {
		t.Fatalf("after restart: %+v, want the cached %+v", got, lease)
	}
	if n := srv.count(protocol.TypeCheckout); n != 1 {
		t.Fatalf("server saw %d checkouts, want 1", n)
	}
	if n := srv.count(protocol.TypeEnroll); n != 1 {
		t.Fatalf("server saw %d enrollments, want 1", n)
	}
}

func TestRetriedCheckoutReusesRequestID(t *testing.T) {
	srv := newFakeServer(t)
	srv.setSeats("cad", 1)
	a := startAgent(t, srv, t.TempDir())
	// The server grants the seat but the answer is lost; the agent retries.
	srv.set(func(s *fakeServer) { s.dropNext[protocol.TypeCheckout] = 1 })
	l := a.checkout("cad")

	reqs := srv.requestsOf(protocol.TypeCheckout)
	if len(reqs) != 2 || reqs[0].ID != reqs[1].ID {
		t.Fatalf("checkout requests = %d with IDs %v, want 2 with the same ID", len(reqs), []string{reqs[0].ID})
	}
	if n := srv.activeLeases(); n != 1 {
		t.Fatalf("server holds %d leases after a retried checkout, want 1", n)
	}
	if l.ID == 0 {
		t.Fatal("no lease")
	}
}

func TestReconnectsAfterConnectionLoss(t *testing.T) {
	srv := newFakeServer(t)
	srv.setSeats("cad", 1)
	srv.setSeats("sim", 1)
	a := startAgent(t, srv, t.TempDir())
	a.checkout("cad")
	srv.dropConnections()
	// The next request finds the connection gone and redials.
	if _, err := a.sdk.Checkout(context.Background(), "sim"); err != nil {
		t.Fatalf("checkout after the server dropped the connection: %v", err)
	}
	waitFor(t, "reconnected", func() bool { return a.status().Connected })
}

func TestClockRollbackRefusesTokens(t *testing.T) {
	srv := newFakeServer(t)
	srv.setSeats("cad", 1)
	var offset atomic.Int64 // the device clock's error
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	a := startAgent(t, srv, t.TempDir(), func(c *agent.Config) { c.Now = now })

	l := a.checkout("cad")
	offset.Store(int64(-4 * time.Minute)) // within tolerance
	if got := a.checkout("cad"); got.ID != l.ID {
		t.Fatal("lease changed")
	}

	offset.Store(int64(-10 * time.Minute))
	_, err := a.sdk.Checkout(context.Background(), "cad")
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != agent.CodeClockRollback {
		t.Fatalf("checkout with the clock 10m back = %v, want %s", err, agent.CodeClockRollback)
	}
	if !strings.Contains(pe.Message, "went back by 10m") {
		t.Fatalf("message does not say by how much: %q", pe.Message)
	}
	if status, e := rawPost(t, a.socket, api.PathCheckout, `{"feature":"cad"}`); status != http.StatusConflict || e.Error.Code != agent.CodeClockRollback {
		t.Fatalf("HTTP = %d %+v", status, e.Error)
	}
	if n := srv.count(protocol.TypeCheckout); n != 1 {
		t.Fatalf("server saw %d checkouts, want 1", n)
	}

	// The mark survives a restart: a clock set back while the agent was down
	// is still caught.
	mark := loadCache(t, a.dir).ServerTime
	if mark.IsZero() {
		t.Fatal("no server-time mark persisted")
	}
	a.stop()
	b := startAgent(t, srv, a.dir, func(c *agent.Config) { c.Now = now; c.EnrollToken = "" })
	if _, err := b.sdk.Checkout(context.Background(), "cad"); protocol.CodeOf(err) != agent.CodeClockRollback {
		t.Fatalf("after restart: %v, want %s", err, agent.CodeClockRollback)
	}
	offset.Store(0)
	if _, err := b.sdk.Checkout(context.Background(), "cad"); err != nil {
		t.Fatalf("with the clock fixed: %v", err)
	}
}

// TestOneRefusalDoesNotDropLeases: a single not_enrolled answer to a
// heartbeat (a server that restarted and answered from a ledger it had not
// replayed yet) leaves the leases alone; the same refusal repeated, spaced
// out, is believed: the leases are dropped and status says why.
func TestOneRefusalDoesNotDropLeases(t *testing.T) {
	srv := newFakeServer(t)
	srv.setSeats("cad", 1)
	a := startAgent(t, srv, t.TempDir())
	l := a.checkout("cad")
	srv.mu.Lock()
	srv.refuseDevice = 2
	srv.mu.Unlock()
	waitFor(t, "the refusals are used up and a heartbeat succeeds", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.refuseDevice == 0 && len(srv.requests) > 0 && srv.requests[len(srv.requests)-1].Type == protocol.TypeHeartbeat
	})
	before := len(srv.heartbeatIDs())
	waitFor(t, "two more heartbeats", func() bool { return len(srv.heartbeatIDs()) >= before+2 })
	if st := a.status(); len(st.Leases) != 1 || st.Leases[0].ID != l.ID || st.Problem != "" {
		t.Fatalf("after two refusals then success: %d leases, problem %q", len(st.Leases), st.Problem)
	}
	if strings.Contains(a.logs.String(), "leases are dropped") {
		t.Fatal("the agent dropped its leases on an unconfirmed refusal")
	}
	srv.mu.Lock()
	srv.refuseDevice = 1 << 30
	srv.mu.Unlock()
	waitFor(t, "a confirmed refusal drops the lease", func() bool {
		st := a.status()
		return len(st.Leases) == 0 && strings.Contains(st.Problem, "not_enrolled")
	})
}
