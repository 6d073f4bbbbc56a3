package svc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/kardianos/service"

	"github.com/tally-licensing/tally/agent/api"
	"github.com/tally-licensing/tally/agent/state"
	"github.com/tally-licensing/tally/certs"
)

// File is the agent's configuration file (agent.yaml), written by
// `tally-agent install` and read by `tally-agent run --config`.
type File struct {
	// Servers are tallyd agent addresses (host:port).
	Servers []string `yaml:"servers"`
	// CA is the cluster CA certificate (PEM). Install copies the file it is
	// given next to agent.yaml, so the service does not depend on a file in
	// someone's home directory.
	CA string `yaml:"ca"`
	// State is the state directory (device identity, key, lease cache).
	State string `yaml:"state"`
	// Socket is the local API socket; empty means STATE/agent.sock.
	Socket string `yaml:"socket,omitempty"`
	// SocketGroup lets that group's members (users running licensed
	// applications) use the socket; empty means the service's user only.
	SocketGroup string `yaml:"socket_group,omitempty"`
	// EnrollTokenFile holds the enrollment token (0600). It is only read
	// until the device is enrolled.
	EnrollTokenFile string `yaml:"enroll_token_file,omitempty"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level,omitempty"`
}

// Paths of the files install writes.
type Paths struct {
	Config string // agent.yaml
	CA     string // ca.pem
	Token  string // enroll.token
}

// DefaultConfigDir is where install writes agent.yaml, ca.pem and
// enroll.token on this OS.
func DefaultConfigDir() string {
	switch runtime.GOOS {
	case "windows":
		base := os.Getenv("ProgramData")
		if base == "" {
			base = `C:\ProgramData`
		}
		return filepath.Join(base, "Tally", "agent")
	case "darwin":
		return "/Library/Application Support/Tally/agent"
	}
	return "/etc/tally-agent"
}

// DefaultServiceStateDir is the service's state directory on this OS (the
// interactive default, api.DefaultStateDir, is per user).
func DefaultServiceStateDir() string { return api.SystemStateDir() }

// PathsIn returns the files install writes for the configuration file
// configPath: ca.pem and enroll.token sit next to it.
func PathsIn(configPath string) Paths {
	dir := filepath.Dir(configPath)
	return Paths{Config: configPath, CA: filepath.Join(dir, "ca.pem"), Token: filepath.Join(dir, "enroll.token")}
}

// InstallOptions are the flags of `tally-agent install`.
type InstallOptions struct {
	Config      string // agent.yaml path
	Servers     []string
	CAFile      string // the CA to copy
	EnrollToken string
	State       string
	Socket      string
	SocketGroup string
	LogLevel    string
}

// Plan is what install would write: the configuration file, the copy of the
// CA and the enrollment token, all validated and rendered, nothing written
// yet. Write writes it; a dry run only prints it.
type Plan struct {
	File  *File
	Paths Paths
	// Body is agent.yaml exactly as it would be written.
	Body []byte
	// CAPEM is the CA to copy to Paths.CA; CopyCA is false when --ca already
	// names that file.
	CAPEM  []byte
	CopyCA bool
	// Token is the enrollment token for Paths.Token ("" when the device is
	// enrolled and none was given).
	Token string
}

// PlanConfig validates opts and renders what install would write, writing
// nothing.
func PlanConfig(opts InstallOptions) (*Plan, error) {
	p := PathsIn(opts.Config)
	if len(opts.Servers) == 0 {
		return nil, errors.New("no server given (pass --server host:port)")
	}
	for _, s := range opts.Servers {
		if s == "" || !strings.Contains(s, ":") {
			return nil, fmt.Errorf("--server %q is not host:port", s)
		}
	}
	if opts.CAFile == "" {
		return nil, errors.New("no cluster CA given (pass --ca FILE)")
	}
	caPEM, err := os.ReadFile(opts.CAFile)
	if err != nil {
		return nil, fmt.Errorf("--ca: %w", err)
	}
	if _, err := certs.ParseCertPEM(caPEM); err != nil {
		return nil, fmt.Errorf("--ca %s: %w", opts.CAFile, err)
	}
	if opts.State == "" {
		opts.State = DefaultServiceStateDir()
	}
	stateAbs, err := filepath.Abs(opts.State)
	if err != nil {
		return nil, err
	}
	enrolled := false
	if _, err := os.Stat(filepath.Join(stateAbs, state.CertFile)); err == nil {
		enrolled = true
	}
	token := strings.TrimSpace(opts.EnrollToken)
	if token == "" && !enrolled {
		return nil, errors.New("no enrollment token (pass --enroll-token, or $TALLY_ENROLL_TOKEN); the device in " + stateAbs + " is not enrolled")
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	f := &File{Servers: opts.Servers, CA: p.CA, State: stateAbs, Socket: opts.Socket, SocketGroup: opts.SocketGroup, LogLevel: opts.LogLevel}
	if token != "" {
		f.EnrollTokenFile = p.Token
	}
	body := marshalConfig(f)
	body = append([]byte("# Written by `tally-agent install`. The service runs `tally-agent run --config` on this file.\n"), body...)
	return &Plan{File: f, Paths: p, Body: body, CAPEM: caPEM, CopyCA: !samePath(opts.CAFile, p.CA), Token: token}, nil
}

// Write writes the plan's files: the token (0600) and the CA first, the
// configuration that names them last.
func (pl *Plan) Write() error {
	p := pl.Paths
	if err := os.MkdirAll(filepath.Dir(p.Config), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(p.Config), err)
	}
	if pl.Token != "" {
		if err := state.WriteFileAtomic(p.Token, []byte(pl.Token+"\n"), 0o600); err != nil {
			return err
		}
	}
	if pl.CopyCA {
		if err := state.WriteFileAtomic(p.CA, pl.CAPEM, 0o644); err != nil {
			return err
		}
	}
	return state.WriteFileAtomic(p.Config, pl.Body, 0o644)
}

// WriteConfig validates opts and writes agent.yaml, a copy of the CA and the
// enrollment token. Nothing is written unless every check passes.
func WriteConfig(opts InstallOptions) (*File, Paths, error) {
	pl, err := PlanConfig(opts)
	if err != nil {
		return nil, PathsIn(opts.Config), err
	}
	return pl.File, pl.Paths, pl.Write()
}

func samePath(a, b string) bool {
	x, err1 := filepath.Abs(a)
	y, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && x == y
}

// LoadConfig reads agent.yaml. Unknown keys are an error: a typo must not
// silently fall back to a default.
func LoadConfig(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the agent configuration: %w", err)
	}
	f, err := parseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// EnrollToken reads the token file named in the configuration; a missing
// file is no token (the device is enrolled and the file was removed).
func (f *File) EnrollToken() (string, error) {
	if f.EnrollTokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(f.EnrollTokenFile)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("enrollment token: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// ServiceConfig describes the service for kardianos/service: it runs
// `EXECUTABLE run --config CONFIG` (EXECUTABLE is this program), with our
// systemd unit, rendered here, on Linux.
func ServiceConfig(configPath, stateDir string) *service.Config {
	exe, err := os.Executable()
	if err != nil {
		exe = "/usr/bin/tally-agent"
	}
	return serviceConfig(exe, configPath, stateDir)
}

const serviceDescription = "Tally device agent: checks floating-license leases out for local applications"

func serviceConfig(exe, configPath, stateDir string) *service.Config {
	args := []string{"run", "--config", configPath}
	return &service.Config{
		Name:        Name,
		DisplayName: "Tally license agent",
		Description: serviceDescription,
		Executable:  exe,
		Arguments:   args,
		Option: service.KeyValue{
			"SystemdScript": SystemdUnit(exe, args, stateDir),
			// launchd: start at boot and restart when it exits.
			"RunAtLoad": true,
			"KeepAlive": true,
			// Windows: restart after a failure.
			"OnFailure":              "restart",
			"OnFailureDelayDuration": "2s",
			"DelayedAutoStart":       false,
		},
	}
}

// SystemdUnit is the agent's systemd unit, fully rendered: install hands it
// to kardianos/service (its SystemdScript option, which has no template
// markers left to fill in) instead of the library's default that waits
// 120 s between restarts and has no sandboxing; `install --dry-run` prints
// it; the .deb and .rpm packages ship it. The agent needs to write only its
// state directory (lease cache, socket) and to reach the network.
func SystemdUnit(exe string, args []string, stateDir string) string {
	cmdline := systemdEscapeExec(exe)
	for _, a := range args {
		cmdline += " " + systemdQuote(a)
	}
	return `[Unit]
Description=` + serviceDescription + `
Documentation=https://github.com/tally-licensing/tally
Wants=network-online.target
After=network-online.target
ConditionFileIsExecutable=` + systemdEscapeExec(exe) + `
# Never give up restarting (the default stops after 5 starts in 10 s).
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart=` + cmdline + `
Restart=always
RestartSec=2
# SIGTERM makes the agent release its leases; give it time to (5 s max).
KillSignal=SIGTERM
TimeoutStopSec=15
UMask=0077

NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=` + systemdEscapePath(stateDir) + `
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
CapabilityBoundingSet=
AmbientCapabilities=

[Install]
WantedBy=multi-user.target
`
}

// systemdEscapeExec escapes a program path for ExecStart= and conditions
// (spaces as \x20, as systemd-escape does).
func systemdEscapeExec(p string) string { return strings.ReplaceAll(p, " ", `\x20`) }

// systemdQuote quotes one ExecStart= argument.
func systemdQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$").Replace(s) + `"`
}

// systemdEscapePath quotes a path for a systemd path-list setting.
func systemdEscapePath(p string) string {
	if strings.ContainsAny(p, " \t\"") {
		return `"` + strings.ReplaceAll(p, `"`, `\"`) + `"`
	}
	return p
}
