//go:build !windows

package svc

import "github.com/kardianos/service"

const isWindows = false

func runWindowsService(*Program, *service.Config) error {
	panic("runWindowsService called outside Windows")
}
