package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = "dev"

// toolVersion is the version to report: the build's, else the module's.
func toolVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// depVersion returns the version of a module dependency of the binary.
func depVersion(path string) string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "unknown"
}

func versionCommand(e env) error {
	_, err := fmt.Fprintf(e.stdout, "invitebatch %s\ngo %s %s/%s\ngoogle.golang.org/api %s\n",
		toolVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH, depVersion("google.golang.org/api"))
	return err
}
