// Package svc runs tally-agent as an operating-system service (systemd on
// Linux, launchd on macOS, the Service Control Manager on Windows) through
// github.com/kardianos/service: the agent's configuration file, the service
// definition (with our own hardened systemd unit), and the Program whose
// Start and Stop the service manager calls.
//
// Design: docs/design.md#parts.
package svc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/kardianos/service"

	"github.com/tally-licensing/tally/agent"
)

// Name is the service's name in the service manager (tally-agent.service,
// the launchd label's last part, the Windows service name).
const Name = "tally-agent"

// Program is the agent as the service manager sees it. Start returns at once
// (Windows kills a service whose start blocks: error 1053); Stop cancels the
// agent and waits for it to release its leases.
type Program struct {
	cfg agent.Config

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// NewProgram returns a Program that runs the agent with cfg.
func NewProgram(cfg agent.Config) *Program {
	return &Program{cfg: cfg}
}

// Start launches the agent in the background. It fails only when the agent
// is already running.
func (p *Program) Start(service.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		select {
		case <-p.done:
		default:
			return errors.New("tally-agent is already running")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	p.cancel, p.done, p.err = cancel, done, nil
	go func() {
		defer close(done)
		// The error is returned by Run (and printed by the command), not logged here.
		err := agent.Run(ctx, p.cfg)
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
	}()
	return nil
}

// Stop stops the agent and waits until it has released its leases (bounded
// by agent.ReleaseTimeout) and returned.
func (p *Program) Stop(service.Service) error {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel()
	<-done
	return nil
}

// Done is closed when the agent has returned, whether stopped or failed.
func (p *Program) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return nil
	}
	return p.done
}

// Err is why the agent returned on its own (nil after a Stop).
func (p *Program) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Run is `tally-agent run`: it starts the program and stops it when ctx ends
// (SIGINT or SIGTERM, which is how systemd and launchd stop a service) or
// returns the agent's error when it stops on its own, so that the service
// manager restarts it. Under the Windows Service Control Manager it hands
// control to kardianos/service instead (see runWindowsService).
func Run(ctx context.Context, p *Program, svcConfig *service.Config) error {
	if !service.Interactive() && isWindows {
		return runWindowsService(p, svcConfig)
	}
	if err := p.Start(nil); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		_ = p.Stop(nil)
		return nil
	case <-p.Done():
		return p.Err()
	}
}

// ErrNotInstalled is returned by status for a service that is not registered.
var ErrNotInstalled = service.ErrNotInstalled

// Control runs one of install, uninstall, start, stop, restart on the
// service described by svcConfig.
func Control(svcConfig *service.Config, action string) error {
	s, err := service.New(NewProgram(agent.Config{}), svcConfig)
	if err != nil {
		return fmt.Errorf("%s service: %w", service.Platform(), err)
	}
	if err := service.Control(s, action); err != nil {
		return fmt.Errorf("%s: %w", action, err)
	}
	return nil
}

// Status reports whether the service is running, stopped or not installed.
func Status(svcConfig *service.Config) (string, error) {
	s, err := service.New(NewProgram(agent.Config{}), svcConfig)
	if err != nil {
		return "", fmt.Errorf("%s service: %w", service.Platform(), err)
	}
	st, err := s.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return "not installed", nil
	case err != nil && service.Platform() == "unix-systemv":
		// SysV's `service NAME status` exits non-zero for a stopped service.
		return "not running", nil
	case err != nil:
		return "", fmt.Errorf("ask %s for the service's status: %w", service.Platform(), err)
	}
	switch st {
	case service.StatusRunning:
		return "running", nil
	case service.StatusStopped:
		return "stopped", nil
	}
	return "unknown", nil
}

// Platform names the service manager in use, e.g. "linux-systemd".
func Platform() string { return service.Platform() }

// Definition says what registering sc would install on this machine's
// service manager: where, and the text where we decide it. With systemd
// that is our rendered unit (SystemdUnit); on the other managers
// kardianos/service writes its own built-in definition, which text
// describes instead of reproducing.
func Definition(sc *service.Config) (where, text string) {
	platform := service.Platform()
	cmdline := sc.Executable
	for _, a := range sc.Arguments {
		cmdline += " " + a
	}
	switch {
	case strings.Contains(platform, "systemd"):
		return "/etc/systemd/system/" + sc.Name + ".service", sc.Option["SystemdScript"].(string)
	case strings.Contains(platform, "darwin"):
		return "/Library/LaunchDaemons/" + sc.Name + ".plist",
			"a launchd daemon (RunAtLoad, KeepAlive) running: " + cmdline + "\n"
	case strings.Contains(platform, "windows"):
		return "the Service Control Manager, service " + sc.Name,
			"an automatic-start service, restarted 2 s after a failure, running: " + cmdline + "\n"
	case strings.Contains(platform, "systemv"):
		return "/etc/init.d/" + sc.Name,
			"kardianos/service's System V init script (no sandboxing; this machine does not run systemd), running: " + cmdline + "\n"
	}
	return "the " + platform + " service manager, service " + sc.Name, "the library's definition for " + platform + ", running: " + cmdline + "\n"
}
