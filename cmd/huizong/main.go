// Command huizong runs the huizong reporting server, and the operations
// around it: backup and restore of the embedded store.
//
//	huizong [serve] [-config file]   run the server (default)
//	huizong backup <file>            consistent online copy of the embedded store
//	huizong restore <file>           bring a backup back (server stopped)
//	huizong healthcheck              ask the local server's /readyz (containers)
//	huizong totals verify            compare every unit's totals with its records
//	huizong totals rebuild           rewrite the totals that drifted from the records
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	// The zone database travels in the binary: containers have none.
	_ "time/tzdata"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "huizong:", err)
		os.Exit(1)
	}
}
