// Package systemd holds the edge-agent systemd unit, the one source of it:
// the .deb ships the file and `edge-agent service install` renders the same
// text through kardianos/service, so the two cannot drift.
package systemd

import _ "embed" // for the unit file

// ExecPath is the path of the binary that the packaged unit starts.
const ExecPath = "/usr/bin/edge-agent"

// UnitName is the name of the unit in systemd.
const UnitName = "edge-agent.service"

// Unit is the text of edge-agent.service exactly as packaged.
//
//go:embed edge-agent.service
var Unit string
