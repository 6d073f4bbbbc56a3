// Package buildinfo says which build of Tally a binary is: the version the
// release build stamped into it (make dist and make packages set it with
// -ldflags "-X github.com/tally-licensing/tally/internal/buildinfo.version=V"),
// else what the Go toolchain recorded (module version, VCS revision).
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// version is set at link time; empty in a plain `go build`.
var version string

// Version is this binary's version: the stamped one, else the module
// version, else "devel" with the VCS revision when the toolchain recorded it.
func Version() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	v := "devel"
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if len(s.Value) > 12 {
				s.Value = s.Value[:12]
			}
			v += "-" + s.Value
		case "vcs.modified":
			if s.Value == "true" {
				v += "-dirty"
			}
		}
	}
	return v
}

// String is the --version line: version, Go version and platform.
func String(program string) string {
	return program + " " + Version() + " (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
}
