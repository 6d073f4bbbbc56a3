package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/tally-licensing/tally/daemon/adminapi"
)

// mailbox is a real SMTP server (go-smtp) in the test process: STARTTLS
// with a certificate from a test CA, AUTH PLAIN only over TLS.
type mailbox struct {
	addr, caFile string
	mu           sync.Mutex
	msgs         []mail
}

type mail struct {
	from, to, user string
	tls            bool
	data           string
}

type mailSession struct {
	mb   *mailbox
	conn *smtp.Conn
	cur  mail
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *mailSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != "tally" || pass != "s3cret" {
			return errors.New("bad credentials")
		}
		s.cur.user = user
		return nil
	}), nil
}
func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.cur.user == "" {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	s.cur.from = from
	return nil
}
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error { s.cur.to = to; return nil }
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, s.cur.tls = s.conn.TLSConnectionState()
	s.cur.data = string(b)
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, s.cur)
	s.mb.mu.Unlock()
	return nil
}
func (s *mailSession) Reset()        { s.cur = mail{user: s.cur.user} }
func (s *mailSession) Logout() error { return nil }

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test relay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	mb := &mailbox{caFile: filepath.Join(dir, "relay-ca.pem")}
	if err := os.WriteFile(mb.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) { return &mailSession{mb: mb, conn: c}, nil }))
	srv.Domain = "localhost"
	srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	srv.AllowInsecureAuth = false // AUTH only after STARTTLS
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.addr = ln.Addr().String()
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return mb
}

// flags are tallyd's flags to send through mb every 200ms.
func (mb *mailbox) flags(t *testing.T) []string {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "smtp.password")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{"--smtp-addr", mb.addr, "--smtp-from", "tally@example.test", "--smtp-user", "tally", "--smtp-password-file", pw,
		"--smtp-cacert", mb.caFile, "--notify-interval", "200ms"}
}

func (mb *mailbox) to(rcpt string) []mail {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	var out []mail
	for _, m := range mb.msgs {
		if m.to == rcpt {
			out = append(out, m)
		}
	}
	return out
}

// TestReminderOncePerDayAcrossLeaderChange runs a three-node cluster of real
// tallyd processes sending through a real SMTP server, kills the leader
// after the day's reminder went out, and checks the new leader does not
// send it again while it does send another account's.
func TestReminderOncePerDayAcrossLeaderChange(t *testing.T) {
	mb := startMailbox(t)
	extra := append(append([]string{}, clusterSettings...), mb.flags(t)...)
	first := startServer(t, extra...)
	nodes := []*server{first}
	for i := 2; i <= 3; i++ {
		s := &server{t: t, dir: t.TempDir(),
			extra: extra, join: first, nodeID: fmt.Sprintf("node%d", i)}
		s.start()
		nodes = append(nodes, s)
	}

	createExpiring := func(s *server, id string) {
		t.Helper()
		req := adminapi.CreateAccountRequest{ID: id, AdminEmail: "it@" + id + ".test", SubscriptionEnd: time.Now().UTC().Add(60 * time.Hour)}
		// Leadership may still be settling on a loaded machine: retry
		// what the cluster calls temporary; a retry after a lost answer
		// finds the account created.
		eventually(t, 30*time.Second, "create account "+id, func() error {
			err := s.api(http.MethodPost, "/v1/accounts", req, nil)
			if err != nil && strings.Contains(err.Error(), "already_exists") {
				return nil
			}
			if err != nil && !strings.Contains(err.Error(), "not_leader") && !strings.Contains(err.Error(), "unavailable") && !strings.Contains(err.Error(), "timeout") {
				t.Fatal(err)
			}
			return err
		})
	}
	createExpiring(first, "acme")
	eventually(t, 30*time.Second, "acme's administrator gets the expiry reminder", func() error {
		if n := len(mb.to("it@acme.test")); n != 1 {
			return fmt.Errorf("%d mails", n)
		}
		return nil
	})
	m := mb.to("it@acme.test")[0]
	day := time.Now().UTC().Format(time.DateOnly)
	if !m.tls || m.user != "tally" || m.from != "tally@example.test" || !strings.Contains(m.data, "Subject: Tally: the subscription of acme ends in 3 days") ||
		!strings.Contains(m.data, "Message-ID: <acme.subscription-expiry."+day+"@tally>") {
		t.Fatalf("mail: tls=%v user=%q from=%q\n%s", m.tls, m.user, m.from, m.data)
	}

	var leader, survivor *server
	eventually(t, 30*time.Second, "the leader is known", func() error {
		v, err := clusterView(t, first)
		if err != nil {
			return err
		}
		leader, survivor = nil, nil
		for _, s := range nodes {
			if leaderID(s) == v.Leader {
				leader = s
			} else if survivor == nil {
				survivor = s
			}
		}
		if leader == nil {
			return fmt.Errorf("leader %q not among the nodes", v.Leader)
		}
		return nil
	})
	leader.proc.kill9()
	waitNewLeader(t, survivor, leader)
	// A second account due now: once its mail arrives, the new leader has
	// looked at every reminder due, acme's included.
	createExpiring(survivor, "beta")
	eventually(t, 30*time.Second, "the new leader sends beta's reminder", func() error {
		if n := len(mb.to("it@beta.test")); n != 1 {
			return fmt.Errorf("%d mails", n)
		}
		return nil
	})
	if n := len(mb.to("it@acme.test")); n != 1 {
		t.Fatalf("acme got %d reminders today across the leader change, want 1", n)
	}
	// The claims are in the audit log, one per account and day.
	out := survivor.mustCtl("audit", "--json", "--type", "claim_notification")
	recs := ndjsonRecords(t, out)
	if len(recs) != 2 || recs[0].Account != "acme" || recs[1].Account != "beta" || recs[0].Actor != "system:notifier" {
		t.Fatalf("claims in the audit log:\n%s", out)
	}
}
