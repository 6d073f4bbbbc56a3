package tallydcli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/daemon/notify"
)

// smtpFlags configure the e-mail reminders. Without --smtp-addr no mail is
// sent.
type smtpFlags struct {
	addr, from, user, passwordFile, startTLS, caFile string
	operator                                         string
	interval                                         time.Duration
}

func (f *smtpFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.addr, "smtp-addr", "", "SMTP relay host:port for reminders to account administrators (none: no e-mail)")
	c.Flags().StringVar(&f.from, "smtp-from", "", "From address of reminders")
	c.Flags().StringVar(&f.user, "smtp-user", "", "SMTP AUTH user name")
	c.Flags().StringVar(&f.passwordFile, "smtp-password-file", "", "file holding the SMTP AUTH password")
	c.Flags().StringVar(&f.startTLS, "smtp-starttls", "required", "STARTTLS: required, opportunistic or none")
	c.Flags().StringVar(&f.caFile, "smtp-cacert", "", "CA certificate(s) to verify the relay with (default: the system's)")
	c.Flags().StringVar(&f.operator, "operator-email", "", "the cluster operator's address: requests for more seats are mailed there")
	c.Flags().DurationVar(&f.interval, "notify-interval", time.Minute, "how often the leader looks for reminders due")
}

// config builds the notifier's SMTP settings; nil when mail is off.
func (f *smtpFlags) config() (*notify.SMTP, error) {
	if f.addr == "" {
		return nil, nil
	}
	c := &notify.SMTP{Addr: f.addr, From: f.from, Username: f.user, StartTLS: f.startTLS, Operator: f.operator}
	if f.passwordFile != "" {
		b, err := os.ReadFile(f.passwordFile)
		if err != nil {
			return nil, fmt.Errorf("smtp password: %w", err)
		}
		c.Password = strings.TrimRight(string(b), "\r\n")
	}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("smtp CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("smtp CA %s holds no PEM certificate", f.caFile)
		}
		c.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}
