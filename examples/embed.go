// Package examples holds the quick start's input and emulator seed,
// embedded so that `invitebatch demo` runs from any directory.
package examples

import _ "embed"

// UsersCSV is users.csv: the quick start's input, with a duplicate, an
// address that is not valid and one that would change the request path,
// on purpose.
//
//go:embed users.csv
var UsersCSV []byte

// EmulatorSeed is emulator-seed.csv: what the pretend Google side knows of
// the addresses of UsersCSV.
//
//go:embed emulator-seed.csv
var EmulatorSeed []byte
