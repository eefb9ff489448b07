package main

func ledgerCommand(e env, args []string) (int, error) {
	return exitUsage, usagef("ledger: not implemented yet")
}
