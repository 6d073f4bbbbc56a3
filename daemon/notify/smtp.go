package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"time"
)

// SMTP configures the relay reminders go through.
type SMTP struct {
	// Addr is the relay, host:port (587 for submission with STARTTLS).
	Addr string
	From string
	// Username and Password authenticate with AUTH PLAIN, only ever over
	// TLS (net/smtp refuses otherwise, except to localhost).
	Username string
	Password string
	// StartTLS is "required" (default: refuse a relay without it),
	// "opportunistic" or "none".
	StartTLS string
	// TLS verifies the relay's certificate (ServerName defaults to the
	// relay's host).
	TLS     *tls.Config
	Timeout time.Duration
	// Operator is the cluster operator's address: seat requests are
	// mailed there (empty: they are only recorded).
	Operator string
}

// Message is one e-mail.
type Message struct {
	To      string
	Subject string
	Body    string
	// ID becomes the Message-ID, so that even a duplicate would be
	// recognisable as one by mail clients.
	ID string
}

// Validate checks the configuration once at start-up.
func (c SMTP) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("smtp relay address %q: want host:port: %w", c.Addr, err)
	}
	if !strings.Contains(c.From, "@") {
		return fmt.Errorf("smtp from address %q is not an e-mail address", c.From)
	}
	if c.Operator != "" && !strings.Contains(c.Operator, "@") {
		return fmt.Errorf("operator address %q is not an e-mail address", c.Operator)
	}
	switch c.StartTLS {
	case "", "required", "opportunistic", "none":
	default:
		return fmt.Errorf("smtp starttls %q: want required, opportunistic or none", c.StartTLS)
	}
	return nil
}

// Send delivers m through the relay.
func (c SMTP) Send(ctx context.Context, m Message) error {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("smtp relay address %q: %w", c.Addr, err)
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("connect to smtp relay %s: %w", c.Addr, err)
	}
	// net/smtp has no context: a deadline bounds the whole conversation.
	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn.SetDeadline(deadline)
	cl, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp relay %s: %w", c.Addr, err)
	}
	defer cl.Close()
	if c.StartTLS != "none" {
		if ok, _ := cl.Extension("STARTTLS"); ok {
			cfg := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
			if c.TLS != nil {
				cfg = c.TLS.Clone()
				if cfg.ServerName == "" {
					cfg.ServerName = host
				}
			}
			if err := cl.StartTLS(cfg); err != nil {
				return fmt.Errorf("smtp relay %s: STARTTLS: %w", c.Addr, err)
			}
		} else if c.StartTLS == "" || c.StartTLS == "required" {
			return fmt.Errorf("smtp relay %s does not offer STARTTLS (set starttls to opportunistic or none to send in clear)", c.Addr)
		}
	}
	if c.Username != "" {
		if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password, host)); err != nil {
			return fmt.Errorf("smtp relay %s: authenticate as %s: %w", c.Addr, c.Username, err)
		}
	}
	if err := cl.Mail(c.From); err != nil {
		return fmt.Errorf("smtp relay %s: MAIL FROM %s: %w", c.Addr, c.From, err)
	}
	if err := cl.Rcpt(m.To); err != nil {
		return fmt.Errorf("smtp relay %s: RCPT TO %s: %w", c.Addr, m.To, err)
	}
	w, err := cl.Data()
	if err != nil {
		return fmt.Errorf("smtp relay %s: DATA: %w", c.Addr, err)
	}
	if _, err := w.Write(format(c.From, m)); err != nil {
		return fmt.Errorf("smtp relay %s: write message: %w", c.Addr, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp relay %s: message refused: %w", c.Addr, err)
	}
	if err := cl.Quit(); err != nil && !errors.Is(err, net.ErrClosed) {
		// The message was accepted at the end of DATA; a failed QUIT
		// does not unsend it.
		return nil
	}
	return nil
}

func format(from string, m Message) []byte {
	var b strings.Builder
	h := func(k, v string) {
		fmt.Fprintf(&b, "%s: %s\r\n", k, strings.NewReplacer("\r", "", "\n", "").Replace(v))
	}
	h("From", from)
	h("To", m.To)
	h("Subject", m.Subject)
	h("Date", time.Now().UTC().Format(time.RFC1123Z))
	if m.ID != "" {
		h("Message-ID", "<"+m.ID+">")
	}
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))
	return []byte(b.String())
}
