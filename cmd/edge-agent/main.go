// Command edge-agent gives a Linux edge device an AWS identity and keeps it
// alive: it installs the device's certificate (bootstrap), exchanges it for
// temporary AWS credentials at the IoT credentials provider and serves them to
// the device's processes (run), and sets up the fleet in the cloud (admin).
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := execute(newRootCmd()); err != nil {
		fmt.Fprintln(os.Stderr, "edge-agent:", err)
		os.Exit(exitCode(err))
	}
}
