// Command invitebatch sends Google Cloud Identity / Workspace user
// invitations in bulk from a CSV file: rate limited, resumable, and never
// emailing anyone twice by accident.
package main

import "os"

func main() {
	os.Exit(Main(os.Args[1:], systemEnv()))
}
