package tallydcli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// fileConfig is tallyd's configuration file (YAML). Every key mirrors a
// flag; a flag given on the command line wins over the file.
type fileConfig struct {
	NodeID         string   `yaml:"node_id"`
	Data           string   `yaml:"data"`
	AgentAddr      string   `yaml:"agent_addr"`
	AdminAddr      string   `yaml:"admin_addr"`
	RaftAddr       string   `yaml:"raft_addr"`
	Hosts          []string `yaml:"hosts"`
	Advertise      string   `yaml:"advertise"`
	AdvertiseAdmin string   `yaml:"advertise_admin"`
	AdvertiseRaft  string   `yaml:"advertise_raft"`
	// Bootstrap founds a new cluster with this node; Join names a node of an
	// existing cluster to join instead. Exactly one of them.
	Bootstrap *bool `yaml:"bootstrap"`
	Join      *struct {
		Addr      string `yaml:"addr"`
		TokenFile string `yaml:"token_file"`
		CACert    string `yaml:"cacert"`
		// Nonvoter joins without a vote (tallyd join --nonvoter).
		Nonvoter bool `yaml:"nonvoter"`
	} `yaml:"join"`
	LeaseTTL          string `yaml:"lease_ttl"`
	HeartbeatInterval string `yaml:"heartbeat_interval"`
	MaxSkew           string `yaml:"max_skew"`
	RaftTimeout       string `yaml:"raft_timeout"`
	LogLevel          string `yaml:"log_level"`
	LogFormat         string `yaml:"log_format"`
	// SMTP relay for reminders (smtp.go).
	SMTP *struct {
		Addr         string `yaml:"addr"`
		From         string `yaml:"from"`
		User         string `yaml:"user"`
		PasswordFile string `yaml:"password_file"`
		StartTLS     string `yaml:"starttls"`
		CACert       string `yaml:"cacert"`
		Operator     string `yaml:"operator_email"`
	} `yaml:"smtp"`
	NotifyInterval string `yaml:"notify_interval"`
}

// joinSettings are the join parameters read from a config file.
type joinSettings struct {
	addr, token, caFile string
	nonvoter            bool
}

// applyConfigFile reads path and sets every flag the command line did not.
func applyConfigFile(cmd *cobra.Command, path string) (*joinSettings, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var fc fileConfig
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if fc.Bootstrap != nil && *fc.Bootstrap && fc.Join != nil {
		return nil, fmt.Errorf("config %s: set either bootstrap: true or join, not both", path)
	}
	set := func(flag, value string) error {
		if value == "" || cmd.Flags().Changed(flag) {
			return nil
		}
		if err := cmd.Flags().Set(flag, value); err != nil {
			return fmt.Errorf("config %s: %s: %w", path, strings.ReplaceAll(flag, "-", "_"), err)
		}
		return nil
	}
	for flag, value := range map[string]string{
		"node-id": fc.NodeID, "data": fc.Data, "agent-addr": fc.AgentAddr, "admin-addr": fc.AdminAddr, "raft-addr": fc.RaftAddr,
		"hosts": strings.Join(fc.Hosts, ","), "advertise": fc.Advertise, "advertise-admin": fc.AdvertiseAdmin, "advertise-raft": fc.AdvertiseRaft,
		"lease-ttl": fc.LeaseTTL, "heartbeat-interval": fc.HeartbeatInterval, "max-skew": fc.MaxSkew, "raft-timeout": fc.RaftTimeout,
		"log-level": fc.LogLevel, "log-format": fc.LogFormat,
	} {
		if err := set(flag, value); err != nil {
			return nil, err
		}
	}
	if s := fc.SMTP; s != nil {
		for flag, value := range map[string]string{"smtp-addr": s.Addr, "smtp-from": s.From, "smtp-user": s.User,
			"smtp-password-file": s.PasswordFile, "smtp-starttls": s.StartTLS, "smtp-cacert": s.CACert, "operator-email": s.Operator} {
			if err := set(flag, value); err != nil {
				return nil, err
			}
		}
	}
	if err := set("notify-interval", fc.NotifyInterval); err != nil {
		return nil, err
	}
	if fc.Bootstrap != nil {
		if err := set("bootstrap", fmt.Sprint(*fc.Bootstrap)); err != nil {
			return nil, err
		}
	}
	if fc.Join == nil {
		return nil, nil
	}
	if err := set("bootstrap", "false"); err != nil {
		return nil, err
	}
	js := &joinSettings{addr: fc.Join.Addr, caFile: fc.Join.CACert, nonvoter: fc.Join.Nonvoter}
	if fc.Join.TokenFile != "" {
		tok, err := os.ReadFile(fc.Join.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("config %s: join.token_file: %w", path, err)
		}
		js.token = strings.TrimSpace(string(tok))
	} else {
		js.token = os.Getenv("TALLY_TOKEN")
	}
	if js.addr == "" || js.caFile == "" || js.token == "" {
		return nil, fmt.Errorf("config %s: join needs addr, cacert and token_file (or TALLY_TOKEN)", path)
	}
	return js, nil
}
