// Command invitebatch sends Google Cloud Identity / Workspace user
// invitations in bulk from a CSV file: rate limited, resumable, and never
// emailing anyone twice by accident.
package main

import (
	"os"

	// The container image has no zoneinfo: a daily quota's reset is
	// midnight Pacific time, computed with the embedded database.
	_ "time/tzdata"
)

func main() {
	os.Exit(Main(os.Args[1:], systemEnv()))
}
