package svc

import (
	"fmt"
	"os"
	"time"

	"github.com/kardianos/service"
)

const isWindows = true

// runWindowsService hands the process to the Service Control Manager, which
// calls Start and Stop. When the agent stops on its own (enrollment refused)
// the process exits non-zero so that the service's recovery actions apply:
// the SCM offers no other way for a service to stop itself with a failure.
func runWindowsService(p *Program, svcConfig *service.Config) error {
	s, err := service.New(p, svcConfig)
	if err != nil {
		return err
	}
	go func() {
		<-waitStarted(p)
		if err := p.Err(); err != nil {
			fmt.Fprintln(os.Stderr, "tally-agent:", err)
			os.Exit(1)
		}
	}()
	return s.Run()
}

// waitStarted waits for the program to be started and then to finish.
func waitStarted(p *Program) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		for p.Done() == nil {
			time.Sleep(100 * time.Millisecond)
		}
		<-p.Done()
	}()
	return ch
}
