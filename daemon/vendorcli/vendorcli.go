// Package vendorcli implements tally-vendor, the software vendor's command:
// key pairs, signed entitlements and true-up report checks. It needs no
// cluster and no network; everything it reads and writes is a file. See
// docs/vendors.md and docs/design.md#vendors.
package vendorcli

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/certs"
	"github.com/tally-licensing/tally/protocol/entitlement"
	"github.com/tally-licensing/tally/protocol/lease"
)

// Main runs tally-vendor with args and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(stderr, "tally-vendor: %v\n", err)
		return 1
	}
	return 0
}

func newRoot(stdin io.Reader, out io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "tally-vendor",
		Short: "Sign entitlements for customers' Tally clusters and check their usage reports",
		Long: `tally-vendor is for the software vendor, not the customer's administrator.

  tally-vendor keygen --out acme-vendor          # acme-vendor.key (keep it secret) and acme-vendor.pub (embed it in your app)
  tally-vendor sign --key acme-vendor.key --vendor "Acme Software" --customer "Globex" \
      --serial GLOBEX-2027-1 --feature countthings=25,overage=3,addons=PHONE --days 365 \
      --cluster-ca globex-ca.pem > globex.ent
  tally-vendor show --pub acme-vendor.pub globex.ent
  tally-vendor verify-report --entitlement globex.ent --pub acme-vendor.pub report.jws`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	root.AddCommand(newKeygen(out), newSign(out), newShow(out), newVerifyReport(out), newVerifyLease(stdin, out))
	return root
}

func newKeygen(out io.Writer) *cobra.Command {
	var prefix string
	var force bool
	c := &cobra.Command{
		Use:   "keygen --out PREFIX",
		Short: "Create a vendor Ed25519 key pair: PREFIX.key (0600) and PREFIX.pub",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if prefix == "" {
				return errors.New("--out PREFIX is required (writes PREFIX.key and PREFIX.pub)")
			}
			keyPath, pubPath := prefix+".key", prefix+".pub"
			if !force {
				for _, p := range []string{keyPath, pubPath} {
					if _, err := os.Stat(p); err == nil {
						return fmt.Errorf("%s exists; a vendor key is never replaced by accident (--force to overwrite)", p)
					}
				}
			}
			priv, err := lease.GenerateKey()
			if err != nil {
				return err
			}
			keyPEM, err := lease.MarshalPrivateKey(priv)
			if err != nil {
				return err
			}
			pubPEM, err := entitlement.MarshalPublicKey(priv.Public().(ed25519.PublicKey))
			if err != nil {
				return err
			}
			if err := certs.WriteFileAtomic(keyPath, keyPEM, 0o600); err != nil {
				return fmt.Errorf("write %s: %w", keyPath, err)
			}
			if err := certs.WriteFileAtomic(pubPath, pubPEM, 0o644); err != nil {
				return fmt.Errorf("write %s: %w", pubPath, err)
			}
			fmt.Fprintf(out, "wrote %s (private: keep it offline) and %s (public, kid %s)\n", keyPath, pubPath, entitlement.KeyID(priv.Public().(ed25519.PublicKey)))
			return nil
		},
	}
	c.Flags().StringVar(&prefix, "out", "", "path prefix of the key files")
	c.Flags().BoolVar(&force, "force", false, "overwrite existing key files")
	return c
}

type signFlags struct {
	key, vendor, customer, serial, supersedes, model string
	clusterID, caSHA, caFile, notBefore, expires     string
	days                                             int
	features                                         []string
	out                                              string
}

func newSign(out io.Writer) *cobra.Command {
	var f signFlags
	c := &cobra.Command{
		Use:   "sign --key KEY --vendor V --customer C --serial S --feature NAME=SEATS[,overage=N][,addons=A+B] (--days N | --expires DATE)",
		Short: "Sign an entitlement (a compact JWS) for one customer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ent, err := f.entitlement(time.Now().UTC())
			if err != nil {
				return err
			}
			keyPEM, err := os.ReadFile(f.key)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			priv, err := lease.ParsePrivateKey(keyPEM)
			if err != nil {
				return fmt.Errorf("--key %s: %w", f.key, err)
			}
			jws, err := entitlement.Sign(ent, priv)
			if err != nil {
				return err
			}
			if f.out == "" {
				_, err = fmt.Fprintln(out, jws)
				return err
			}
			return certs.WriteFileAtomic(f.out, []byte(jws+"\n"), 0o644)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.key, "key", "", "the vendor's private key (from keygen)")
	fl.StringVar(&f.vendor, "vendor", "", "the vendor's name")
	fl.StringVar(&f.customer, "customer", "", "the customer's name")
	fl.StringVar(&f.serial, "serial", "", "this entitlement's serial, unique per vendor")
	fl.StringVar(&f.supersedes, "supersedes", "", "the serial this one replaces (renewal, upgrade, downgrade)")
	fl.StringVar(&f.model, "model", "", "licensing model: floating, standard or mixed (empty: any)")
	fl.StringArrayVar(&f.features, "feature", nil, "NAME=SEATS[,overage=N][,addons=CODE+CODE] (repeat per feature)")
	fl.StringVar(&f.clusterID, "cluster-id", "", "bind to this cluster ID (tallyctl status prints it)")
	fl.StringVar(&f.caSHA, "ca-sha256", "", "bind to the cluster CA with this SHA-256 (hex)")
	fl.StringVar(&f.caFile, "cluster-ca", "", "bind to the cluster CA in this file (the customer's ca.pem)")
	fl.StringVar(&f.notBefore, "not-before", "", "start (YYYY-MM-DD or RFC 3339; default now)")
	fl.StringVar(&f.expires, "expires", "", "end (YYYY-MM-DD or RFC 3339)")
	fl.IntVar(&f.days, "days", 0, "end this many days after the start")
	fl.StringVar(&f.out, "out", "", "write to this file instead of standard output")
	return c
}

func (f *signFlags) entitlement(now time.Time) (entitlement.Entitlement, error) {
	var e entitlement.Entitlement
	if f.key == "" {
		return e, errors.New("--key is required")
	}
	start := now.Truncate(time.Second)
	if f.notBefore != "" {
		t, err := parseWhen(f.notBefore)
		if err != nil {
			return e, fmt.Errorf("--not-before: %w", err)
		}
		start = t
	}
	var end time.Time
	switch {
	case f.expires != "" && f.days != 0:
		return e, errors.New("give --expires or --days, not both")
	case f.expires != "":
		t, err := parseWhen(f.expires)
		if err != nil {
			return e, fmt.Errorf("--expires: %w", err)
		}
		end = t
	case f.days > 0:
		end = start.AddDate(0, 0, f.days)
	default:
		return e, errors.New("--days N or --expires DATE is required: an entitlement always ends")
	}
	bind := &entitlement.Binding{ID: f.clusterID, CASHA256: strings.ToLower(f.caSHA)}
	if f.caFile != "" {
		if bind.CASHA256 != "" {
			return e, errors.New("give --cluster-ca or --ca-sha256, not both")
		}
		p, err := os.ReadFile(f.caFile)
		if err != nil {
			return e, fmt.Errorf("--cluster-ca: %w", err)
		}
		ca, err := certs.ParseCertPEM(p)
		if err != nil {
			return e, fmt.Errorf("--cluster-ca %s: %w", f.caFile, err)
		}
		bind.CASHA256 = entitlement.CAFingerprint(ca)
	}
	if bind.ID == "" && bind.CASHA256 == "" {
		bind = nil
	}
	feats, err := parseFeatures(f.features)
	if err != nil {
		return e, err
	}
	return entitlement.Entitlement{
		Vendor: f.vendor, Customer: f.customer, Serial: f.serial, Supersedes: f.supersedes,
		Cluster: bind, Model: f.model, Features: feats,
		IssuedAt: now.Truncate(time.Second), NotBefore: start, Expires: end,
	}, nil
}

// parseFeatures reads NAME=SEATS[,overage=N][,addons=A+B].
func parseFeatures(specs []string) ([]entitlement.Feature, error) {
	if len(specs) == 0 {
		return nil, errors.New("--feature NAME=SEATS is required (repeat it for more features)")
	}
	var out []entitlement.Feature
	for _, spec := range specs {
		parts := strings.Split(spec, ",")
		name, seats, ok := strings.Cut(parts[0], "=")
		if !ok {
			return nil, fmt.Errorf("--feature %q: want NAME=SEATS", spec)
		}
		n, err := strconv.Atoi(seats)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--feature %q: seats %q is not a whole number of 1 or more", spec, seats)
		}
		f := entitlement.Feature{Name: strings.TrimSpace(name), Seats: n}
		for _, opt := range parts[1:] {
			k, v, _ := strings.Cut(opt, "=")
			switch k {
			case "overage":
				o, err := strconv.Atoi(v)
				if err != nil || o < 0 {
					return nil, fmt.Errorf("--feature %q: overage %q is not a whole number", spec, v)
				}
				f.Overage = o
			case "addons":
				for _, a := range strings.Split(v, "+") {
					if a = strings.TrimSpace(a); a != "" {
						f.AddOns = append(f.AddOns, a)
					}
				}
			default:
				return nil, fmt.Errorf("--feature %q: unknown option %q (want overage=N or addons=A+B)", spec, k)
			}
		}
		out = append(out, f)
	}
	return out, nil
}

func parseWhen(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither YYYY-MM-DD nor RFC 3339", s)
	}
	return t.UTC(), nil
}

func readVendorKeys(paths []string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--pub: %w", err)
		}
		k, err := entitlement.ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("--pub %s: %w", p, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func readTrimmed(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func newShow(out io.Writer) *cobra.Command {
	var pubs []string
	var asJSON bool
	c := &cobra.Command{
		Use:   "show [--pub VENDOR.pub] FILE",
		Short: "Print an entitlement (verified when --pub is given)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			jws, err := readTrimmed(args[0])
			if err != nil {
				return err
			}
			var e *entitlement.Entitlement
			status := "signature NOT checked (give --pub)"
			if len(pubs) > 0 {
				keys, err := readVendorKeys(pubs)
				if err != nil {
					return err
				}
				s, err := entitlement.Verify(jws, keys...)
				if err != nil {
					return err
				}
				e, status = &s.Entitlement, "signature verified (vendor key "+s.VendorKeyID+")"
			} else if e, err = entitlement.ParseUnverified(jws); err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(out).Encode(map[string]any{"entitlement": e, "not_before": e.NotBefore, "expires": e.Expires, "digest": entitlement.Digest(jws), "verified": len(pubs) > 0})
			}
			printEntitlement(out, e, entitlement.Digest(jws), status)
			return nil
		},
	}
	c.Flags().StringArrayVar(&pubs, "pub", nil, "vendor public key file(s) to verify with")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func printEntitlement(out io.Writer, e *entitlement.Entitlement, digest, status string) {
	fmt.Fprintf(out, "Entitlement %s (%s)\n", e.Serial, status)
	fmt.Fprintf(out, "  vendor:    %s\n  customer:  %s\n", e.Vendor, e.Customer)
	if e.Supersedes != "" {
		fmt.Fprintf(out, "  replaces:  %s\n", e.Supersedes)
	}
	if e.Cluster != nil {
		fmt.Fprintf(out, "  cluster:   id=%s ca_sha256=%s\n", orAny(e.Cluster.ID), orAny(e.Cluster.CASHA256))
	} else {
		fmt.Fprintf(out, "  cluster:   any (not bound)\n")
	}
	fmt.Fprintf(out, "  model:     %s\n  valid:     %s to %s\n  digest:    %s\n", orAny(e.Model), e.NotBefore.Format(time.RFC3339), e.Expires.Format(time.RFC3339), digest)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  FEATURE\tSEATS\tOVERAGE\tADD-ONS")
	for _, f := range e.Features {
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%s\n", f.Name, f.Seats, f.Overage, strings.Join(f.AddOns, ","))
	}
	tw.Flush()
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

func newVerifyReport(out io.Writer) *cobra.Command {
	var entFile, caSHA string
	var pubs []string
	var asJSON bool
	c := &cobra.Command{
		Use:   "verify-report [--entitlement ENT --pub VENDOR.pub | --ca-sha256 HEX] REPORT",
		Short: "Check a signed true-up report (tallyctl report usage --signed) and print it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			jws, err := readTrimmed(args[0])
			if err != nil {
				return err
			}
			if entFile != "" {
				if caSHA != "" {
					return errors.New("give --entitlement or --ca-sha256, not both")
				}
				ej, err := readTrimmed(entFile)
				if err != nil {
					return err
				}
				keys, err := readVendorKeys(pubs)
				if err != nil {
					return err
				}
				if len(keys) == 0 {
					return errors.New("--entitlement needs --pub VENDOR.pub to verify it")
				}
				s, err := entitlement.Verify(ej, keys...)
				if err != nil {
					return err
				}
				if s.Cluster == nil || s.Cluster.CASHA256 == "" {
					return fmt.Errorf("entitlement %s binds no cluster CA; give --ca-sha256", s.Serial)
				}
				caSHA = s.Cluster.CASHA256
			}
			r, err := entitlement.VerifyReport(jws, caSHA)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(out).Encode(r)
			}
			bound := "cluster CA " + r.CASHA256
			if caSHA == "" {
				bound += " (NOT compared with an entitlement: give --entitlement or --ca-sha256)"
			}
			fmt.Fprintf(out, "Report verified: cluster %s, account %s, %s to %s, signed under %s\n", r.Cluster, r.Account, r.From.Format(time.DateOnly), r.To.Format(time.DateOnly), bound)
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ENTITLEMENT\tFEATURE\tSEATS\tPEAK\tSEAT-DAYS\tOVERAGE DAYS\tDENIALS")
			lines := append([]entitlement.ReportLine(nil), r.Lines...)
			sort.Slice(lines, func(i, j int) bool { return lines[i].Serial+lines[i].Feature < lines[j].Serial+lines[j].Feature })
			for _, l := range lines {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%d\t%d\n", orDash(l.Serial), l.Feature, l.Seats, l.Peak, l.SeatDays, l.OverageDays, l.Denials)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVar(&entFile, "entitlement", "", "the entitlement the report is for (its cluster binding is checked)")
	c.Flags().StringArrayVar(&pubs, "pub", nil, "vendor public key file(s)")
	c.Flags().StringVar(&caSHA, "ca-sha256", "", "the cluster CA fingerprint the report must be signed under")
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return c
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newVerifyLease(stdin io.Reader, out io.Writer) *cobra.Command {
	var pubs []string
	var bundleFile, device, feature string
	c := &cobra.Command{
		Use:   "verify-lease --pub VENDOR.pub --bundle BUNDLE.json TOKEN|-",
		Short: "Check a lease token against its entitlement, as an application does (bundle: tally-agent entitlement --json)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := readVendorKeys(pubs)
			if err != nil {
				return err
			}
			if len(keys) == 0 {
				return errors.New("--pub VENDOR.pub is required")
			}
			b, err := os.ReadFile(filepath.Clean(bundleFile))
			if err != nil {
				return fmt.Errorf("--bundle: %w", err)
			}
			var bundle entitlement.Bundle
			if err := json.Unmarshal(b, &bundle); err != nil {
				return fmt.Errorf("--bundle %s: %w", bundleFile, err)
			}
			tok := args[0]
			if tok == "-" {
				raw, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
				if err != nil {
					return err
				}
				tok = strings.TrimSpace(string(raw))
			}
			c, ent, err := entitlement.VerifyLease(tok, bundle, entitlement.Expect{Device: device, Feature: feature}, keys...)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "valid: lease %d of %s for %s on %s, inside entitlement %s (%s), until %s\n", c.LeaseID, c.Feature, c.Account, c.Device, ent.Serial, ent.Customer, c.Expires.Format(time.RFC3339))
			return nil
		},
	}
	c.Flags().StringArrayVar(&pubs, "pub", nil, "vendor public key file(s)")
	c.Flags().StringVar(&bundleFile, "bundle", "", "the entitlement bundle (JSON)")
	c.Flags().StringVar(&device, "device", "", "expected Device Code (aud)")
	c.Flags().StringVar(&feature, "feature", "", "expected feature")
	return c
}
