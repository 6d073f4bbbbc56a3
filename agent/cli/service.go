package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kardianos/service"
	"github.com/spf13/cobra"

	"github.com/tally-licensing/tally/agent/svc"
)

// newServiceCommands are install, uninstall, start, stop, restart and
// service-status: registering tally-agent with the OS's service manager.
func newServiceCommands(g *globalFlags) []*cobra.Command {
	var configFile string
	configFlag := func(c *cobra.Command) {
		c.Flags().StringVar(&configFile, "config", filepath.Join(svc.DefaultConfigDir(), "agent.yaml"), "agent configuration file")
	}
	svcConfig := func() (*svcInfo, error) {
		abs, err := filepath.Abs(configFile)
		if err != nil {
			return nil, err
		}
		stateDir := g.state
		if fc, err := svc.LoadConfig(abs); err == nil && stateDir == "" {
			stateDir = fc.State
		}
		if stateDir == "" {
			stateDir = svc.DefaultServiceStateDir()
		}
		return &svcInfo{config: abs, state: stateDir}, nil
	}

	var opts svc.InstallOptions
	var dryRun, noService bool
	install := &cobra.Command{
		Use:   "install",
		Short: "Write the agent's configuration and register it as a system service",
		Long: "Write agent.yaml, a copy of the cluster CA and the enrollment token into the configuration directory\n" +
			"(" + svc.DefaultConfigDir() + " here), then register tally-agent with the service manager (" + svc.Platform() + ")\n" +
			"so that it starts at boot. Start it with `tally-agent start`. Needs administrator rights.\n" +
			"--dry-run writes and registers nothing: it prints every file install would write and the service definition, rendered.\n" +
			"--no-service writes the configuration only (the .deb and .rpm packages already ship the service).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.EnrollToken == "" {
				opts.EnrollToken = os.Getenv(EnrollTokenEnv)
			}
			abs, err := filepath.Abs(configFile)
			if err != nil {
				return err
			}
			opts.Config, opts.State, opts.Socket = abs, g.state, g.socket
			plan, err := svc.PlanConfig(opts)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			sc := svc.ServiceConfig(plan.Paths.Config, plan.File.State)
			if dryRun {
				printPlan(out, plan, sc, noService)
				return nil
			}
			if err := plan.Write(); err != nil {
				return err
			}
			fmt.Fprintf(out, "wrote %s (state directory %s)\n", plan.Paths.Config, plan.File.State)
			if noService {
				return nil
			}
			if err := svc.Control(sc, "install"); err != nil {
				return err
			}
			fmt.Fprintf(out, "registered the %s service with %s; start it with `tally-agent start`\n", sc.Name, svc.Platform())
			return nil
		},
	}
	configFlag(install)
	f := install.Flags()
	serverFlag(f, &opts.Servers)
	f.StringVar(&opts.CAFile, "ca", "", "cluster CA certificate (PEM); copied next to the configuration")
	f.StringVar(&opts.EnrollToken, "enroll-token", "", "enrollment token (or $"+EnrollTokenEnv+")")
	f.StringVar(&opts.LogLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&opts.SocketGroup, "socket-group", "", "let this group's members use the agent (socket 0660); default: the service's user only")
	f.BoolVar(&dryRun, "dry-run", false, "write nothing, register nothing: print what would be written and registered")
	f.BoolVar(&noService, "no-service", false, "write the configuration only; register no service (a package already did)")

	cmds := []*cobra.Command{install}
	for _, a := range []struct{ action, short string }{
		{"uninstall", "Remove the tally-agent service (the configuration and state stay)"},
		{"start", "Start the tally-agent service"},
		{"stop", "Stop the tally-agent service (it releases its leases first)"},
		{"restart", "Restart the tally-agent service"},
	} {
		c := &cobra.Command{
			Use:   a.action,
			Short: a.short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				info, err := svcConfig()
				if err != nil {
					return err
				}
				if err := svc.Control(svc.ServiceConfig(info.config, info.state), a.action); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: done\n", a.action)
				return nil
			},
		}
		configFlag(c)
		cmds = append(cmds, c)
	}
	st := &cobra.Command{
		Use:   "service-status",
		Short: "Show whether the tally-agent service is installed and running (`status` shows the agent itself)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info, err := svcConfig()
			if err != nil {
				return err
			}
			s, err := svc.Status(svc.ServiceConfig(info.config, info.state))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s)\n", s, svc.Platform())
			return nil
		},
	}
	configFlag(st)
	return append(cmds, st)
}

type svcInfo struct{ config, state string }

// printPlan is `install --dry-run`: every file with its mode and content
// (the token's value withheld), then the service definition as the service
// manager would get it.
func printPlan(w io.Writer, plan *svc.Plan, sc *service.Config, noService bool) {
	fmt.Fprintln(w, "dry run: nothing written, nothing registered. install would:")
	fmt.Fprintf(w, "\nwrite %s (0644):\n%s", plan.Paths.Config, plan.Body)
	if plan.CopyCA {
		fmt.Fprintf(w, "\nwrite %s (0644): the cluster CA certificate given with --ca\n", plan.Paths.CA)
	}
	if plan.Token != "" {
		fmt.Fprintf(w, "\nwrite %s (0600): the enrollment token (%d characters, not shown)\n", plan.Paths.Token, len(plan.Token))
	}
	if noService {
		fmt.Fprintln(w, "\nregister no service (--no-service)")
		return
	}
	where, text := svc.Definition(sc)
	fmt.Fprintf(w, "\nregister service %q with %s, as %s:\n%s", sc.Name, svc.Platform(), where, text)
}
