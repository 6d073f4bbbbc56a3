package notify

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-smtp"
)

type plainBackend struct {
	mu   sync.Mutex
	msgs []string
}

type plainSession struct{ be *plainBackend }

func (s *plainSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *plainSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *plainSession) Data(r io.Reader) error {
	b, _ := io.ReadAll(r)
	s.be.mu.Lock()
	s.be.msgs = append(s.be.msgs, string(b))
	s.be.mu.Unlock()
	return nil
}
func (s *plainSession) Reset()        {}
func (s *plainSession) Logout() error { return nil }

// A relay without STARTTLS gets nothing unless the operator allowed clear
// text, and headers cannot be injected through a subject.
func TestSendRequiresSTARTTLSUnlessRelaxed(t *testing.T) {
	be := &plainBackend{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &plainSession{be}, nil }))
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	cfg := SMTP{Addr: ln.Addr().String(), From: "tally@example.test"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	msg := Message{To: "it@acme.test", Subject: "hello\r\nBcc: eve@evil.test", Body: "line one\nline two\n", ID: "x@tally"}
	err = cfg.Send(context.Background(), msg)
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Fatalf("send without STARTTLS: %v", err)
	}
	if len(be.msgs) != 0 {
		t.Fatal("a message went out in clear text")
	}
	cfg.StartTLS = "opportunistic"
	if err := cfg.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if len(be.msgs) != 1 {
		t.Fatalf("%d messages", len(be.msgs))
	}
	m := be.msgs[0]
	if strings.Contains(m, "\r\nBcc:") || !strings.Contains(m, "Subject: helloBcc: eve@evil.test\r\n") || !strings.Contains(m, "line one\r\nline two\r\n") || !strings.Contains(m, "Message-ID: <x@tally>") {
		t.Fatalf("message:\n%q", m)
	}
	for _, bad := range []SMTP{{Addr: "nohost", From: "a@b"}, {Addr: "h:25", From: "nobody"}, {Addr: "h:25", From: "a@b", StartTLS: "maybe"}} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}
